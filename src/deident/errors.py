"""Exceptions that turn into a ``failed`` file result with a clear reason, never a traceback."""

from __future__ import annotations


class DeidentError(Exception):
    """Base class: the message is shown to the user as the reason a file was not made safe."""


class UnsupportedFormat(DeidentError):
    """The content is not a format deident can check, whatever the file's extension says."""


class CorruptFile(DeidentError):
    """The content claims a supported format but cannot be parsed or decoded."""


class TooLarge(DeidentError):
    """Decoding would exceed the configured pixel limit (decompression-bomb guard)."""


class StageUnavailable(DeidentError):
    """A check could not run (missing engine or model): the file must not be called safe."""


class VerificationFailed(DeidentError):
    """The written output still carries something the scrub was meant to remove."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C: the run stopped cleanly. ``results`` holds every file that finished (outputs in place)."""

    def __init__(self, results: list):
        super().__init__()
        self.results = results


class RunUnavailable(DeidentError):
    """The batch cannot run at all (e.g. no Dask worker joined, the workers do not see the files)."""
