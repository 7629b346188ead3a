"""Barcodes: the ``barcode`` stage (see ``deident.stages``), beside ``text`` and ``faces``.

A code is not text: zxing-cpp finds and decodes it (no OCR), and it is hidden whatever it says.
``BarcodeDetector`` lives in ``deident.barcodes.detect``, imported only when a frame is checked.
"""
