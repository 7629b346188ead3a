"""The registry's opener for TIFF content: which document a file with a TIFF header becomes.

Kept apart from ``document`` so that neither the TIFF document nor the whole-slide module imports the
other's opener: ``formats.wsi`` builds on ``tiff.document``, and only this module knows both.
"""

from __future__ import annotations

import struct

from deident.errors import CorruptFile, UnsupportedFormat
from deident.formats.base import Document, Source


def open_tiff(source: Source) -> Document:
    """A TIFF document; a DICOM file whose 128-byte preamble holds a TIFF header goes to the DICOM opener.

    PS3.10 allows such dual-personality files (pydicom's CT_small.dcm is one). As TIFF, the patient's
    header would be invisible, so they must be read as DICOM whatever the registry order. Whole-slide
    images are recognised by ``formats.wsi`` from their page structure.
    """
    if source.head(132)[128:132] == b"DICM":
        import importlib

        from deident.formats.base import registered

        spec = next((s for s in registered() if s.name == "dicom"), None)
        if spec is None:
            raise UnsupportedFormat("DICOM file with a TIFF preamble, and DICOM support is not installed")
        module, func = spec.opener.split(":")
        return getattr(importlib.import_module(module), func)(source)
    try:
        from deident.formats.tiff.document import TiffDocument
        from deident.formats.wsi.document import open_slide

        return open_slide(source) or TiffDocument(source)
    except struct.error as exc:
        raise CorruptFile(f"TIFF structure is damaged: {exc}") from None
