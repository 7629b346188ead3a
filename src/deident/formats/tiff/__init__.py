"""TIFF (classic and BigTIFF, stripped and tiled, multi-page), one concern per module.

- ``tags``: field types, tag names and the tables of what a page needs to be decoded;
- ``reader``: bounds-checked access to IFDs and values (also used for EXIF blocks, ``formats.exif``);
- ``rewrite``: the streaming rewriter and its page policies (copies image data byte for byte);
- ``document``: ``PageInfo`` (what a page holds) and ``TiffDocument``;
- ``opener``: the registry's entry point (DICOM preamble, whole-slide image, or plain TIFF).

Nothing is imported here: EXIF users load only ``tags`` and ``reader``.
"""
