"""The package's version, in a module of its own: the modules that stamp it on their outputs (reports,
the outputs' journal, DICOM headers) import it from here, not from the package whose ``scrub`` and
``check`` import the batch, which would close an import cycle."""

__version__ = "0.1.0"
