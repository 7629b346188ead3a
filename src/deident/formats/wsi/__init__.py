"""Whole-slide images (Aperio SVS, Hamamatsu NDPI, generic tiled pyramids): a page policy for rewrite_tiff.

A scanned slide is a TIFF whose pages are the tissue pyramid plus *associated images*: the label (a photo of
the slide label: accession number, patient name, barcode), the macro (the whole glass slide, label
included) and sometimes a thumbnail of the tissue. What identifies is in the associated images and in the
text tags (SVS ``ImageDescription`` carries Date, Time, User, Filename, ScanScope ID; NDPI a slide
reference and scanner serial).

Roles come from structure, not from words (``page_roles``): a page is tissue only when it is tiled, of the
base's aspect, no larger than the level before it and in the pyramid's run of pages; anything else is an
associated image and goes, whether or not its description says "label".

The policy, per page:

- tissue levels and the SVS thumbnail: kept, only ``DECODE_TAGS`` (+ the NDPI tags a reader needs), tiles
  copied byte for byte by ``rewrite_tiff`` in 4 MiB chunks (never held in memory), save for Deflate/LZW/
  LZMA/PackBits, JPEG, JPEG 2000 and WebP edge tiles whose padding holds something: those are re-coded with
  it blank (see ``tiff.rewrite.declared_blocks``); edge tiles of other codecs refuse the file;
- SVS ``ImageDescription``: rebuilt from a keep-list (header words, the dimension line, numeric
  ``AppMag``/``MPP``/... fields); everything else in it is dropped and reported field by field;
- label and unidentified associated pages: dropped;
- macro: dropped, or with ``--keep-macro`` decoded (it is small), its label end filled and re-encoded
  losslessly; its description records the filled columns so a later check can verify the fill.

Pixel stages see the kept macro, one bounded *tissue overview* (the largest kept level or thumbnail of
at most ``OVERVIEW_MAX_PIXELS``) and every other kept page that is not a level (the thumbnail), never the
base level. Text or faces found in the overview cannot be redacted without re-encoding the pyramid, so
``redact`` refuses (the file fails closed); in the macro or the thumbnail they are filled and the page
re-encoded losslessly.

Modules: ``description`` (the SVS ImageDescription keep-list), ``roles`` (which page is tissue, label or
macro, from structure), ``macro`` (the label end of a kept macro), ``document`` (``open_slide`` and the
``SlideDocument``). Nothing is imported here.
"""
