"""TIFF 6.0 / BigTIFF vocabulary: field types, tag names, and which tags a page needs to be decoded.

Tables only (Pillow keeps ``TiffTags`` apart from its plugin the same way): the reader, the rewriter and
the EXIF summary (``formats.exif``) read them; code names a tag as ``Tag.Compression``, never 259.
"""

from __future__ import annotations

from enum import IntEnum

# Field types, and per type (size of one value, struct code).
BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED = 1, 2, 3, 4, 5, 6, 7
SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE, IFD_OFFSET = 8, 9, 10, 11, 12, 13
LONG8, SLONG8, IFD8 = 16, 17, 18
TYPES = {1: (1, "B"), 2: (1, "B"), 3: (2, "H"), 4: (4, "I"), 5: (8, "II"), 6: (1, "b"), 7: (1, "B")}
TYPES |= {8: (2, "h"), 9: (4, "i"), 10: (8, "ii"), 11: (4, "f"), 12: (8, "d"), 13: (4, "I")}
TYPES |= {16: (8, "Q"), 17: (8, "q"), 18: (8, "Q")}
BYTE_TYPES = (BYTE, ASCII, SBYTE, UNDEFINED)  # one byte per value: no byte order to convert
POINTER_TYPES = (LONG, IFD_OFFSET, LONG8, IFD8)  # what an offset to a sub-IFD may be stored as

MAX_PAGES = 100_000
MAX_ENTRIES = 4096


class Tag(IntEnum):
    """The TIFF, EXIF and GeoTIFF tags deident keeps, drops by name, or reads (the names are the spec's)."""

    ProcessingSoftware = 11
    NewSubfileType = 254
    SubfileType = 255
    ImageWidth = 256
    ImageLength = 257
    BitsPerSample = 258
    Compression = 259
    PhotometricInterpretation = 262
    Threshholding = 263  # sic: the spec's spelling
    FillOrder = 266
    DocumentName = 269
    ImageDescription = 270
    Make = 271
    Model = 272
    StripOffsets = 273
    Orientation = 274
    SamplesPerPixel = 277
    RowsPerStrip = 278
    StripByteCounts = 279
    MinSampleValue = 280
    MaxSampleValue = 281
    XResolution = 282
    YResolution = 283
    PlanarConfiguration = 284
    PageName = 285
    GrayResponseUnit = 290
    GrayResponseCurve = 291
    ResolutionUnit = 296
    TransferFunction = 301
    Software = 305
    DateTime = 306
    Artist = 315
    HostComputer = 316
    Predictor = 317
    WhitePoint = 318
    PrimaryChromaticities = 319
    ColorMap = 320
    HalftoneHints = 321
    TileWidth = 322
    TileLength = 323
    TileOffsets = 324
    TileByteCounts = 325
    SubIFDs = 330
    InkSet = 332
    ExtraSamples = 338
    SampleFormat = 339
    SMinSampleValue = 340
    SMaxSampleValue = 341
    JPEGTables = 347
    JPEGInterchangeFormat = 513
    JPEGInterchangeFormatLength = 514
    YCbCrCoefficients = 529
    YCbCrSubSampling = 530
    YCbCrPositioning = 531
    ReferenceBlackWhite = 532
    XMP = 700
    ImageDepth = 32997  # SGI: volumetric pages (private, but needed to decode)
    TileDepth = 32998
    Copyright = 33432
    ModelPixelScale = 33550
    IPTC = 33723
    ModelTiepoint = 33922
    ModelTransformation = 34264
    Photoshop = 34377
    ExifIFD = 34665
    InterColorProfile = 34675
    GeoKeyDirectory = 34735
    GeoDoubleParams = 34736
    GeoAsciiParams = 34737
    GPSIFD = 34853
    DateTimeOriginal = 36867
    DateTimeDigitized = 36868
    OffsetTime = 36880
    OffsetTimeOriginal = 36881
    OffsetTimeDigitized = 36882
    MakerNote = 37500
    UserComment = 37510
    SubSecTime = 37520
    SubSecTimeOriginal = 37521
    SubSecTimeDigitized = 37522
    ImageSourceData = 37724
    XPTitle = 40091
    XPComment = 40092
    XPAuthor = 40093
    XPKeywords = 40094
    XPSubject = 40095
    InteropIFD = 40965
    ImageUniqueID = 42016
    CameraOwnerName = 42032
    BodySerialNumber = 42033
    LensSpecification = 42034
    LensMake = 42035
    LensModel = 42036
    LensSerialNumber = 42037
    DNGVersion = 50706
    UniqueCameraModel = 50708
    CameraSerialNumber = 50735


# Values of Compression and PhotometricInterpretation the code tests for.
COMPRESSION_NONE, COMPRESSION_OLD_JPEG, COMPRESSION_JPEG = 1, 6, 7

# Compressions a refusal names, the ones a user meets: scanners and fax software write CCITT pages (2-4).
COMPRESSION_NAMES = {
    2: "CCITT modified Huffman",
    3: "CCITT Group 3 fax",
    4: "CCITT Group 4 fax",
    34887: "LERC",
    50000: "ZSTD",
    50002: "JPEG XL",
}


def compression_unchecked(compression: int) -> str:
    """Why a page whose blocks are coded in ``compression`` is refused, and the way out: a scanned page
    in CCITT Group 4 (pillow's Tests/images/pport_g4.tif) failed with its number alone."""
    name = COMPRESSION_NAMES.get(compression)
    named = f"{compression} ({name})" if name else str(compression)
    return (
        f"TIFF compression {named}: what its blocks hold cannot be checked; convert the page to PNG or to "
        "an uncompressed or LZW TIFF and scrub that"
    )


PHOTOMETRIC_PALETTE, PHOTOMETRIC_YCBCR = 3, 6

# Windows XPTitle .. XPSubject: UTF-16LE text in BYTE arrays.
XP_TAGS = (Tag.XPTitle, Tag.XPComment, Tag.XPAuthor, Tag.XPKeywords, Tag.XPSubject)

# Tags needed to decode and display a page: the rewriter keeps these and nothing else.
DECODE_TAGS: dict[int, str] = {
    t: t.name
    for t in (
        *(Tag.NewSubfileType, Tag.SubfileType, Tag.ImageWidth, Tag.ImageLength, Tag.BitsPerSample),
        *(Tag.Compression, Tag.PhotometricInterpretation, Tag.Threshholding, Tag.FillOrder),
        *(Tag.StripOffsets, Tag.Orientation, Tag.SamplesPerPixel, Tag.RowsPerStrip, Tag.StripByteCounts),
        *(Tag.MinSampleValue, Tag.MaxSampleValue, Tag.XResolution, Tag.YResolution),
        *(Tag.PlanarConfiguration, Tag.GrayResponseUnit, Tag.GrayResponseCurve, Tag.ResolutionUnit),
        *(Tag.TransferFunction, Tag.Predictor, Tag.WhitePoint, Tag.PrimaryChromaticities, Tag.ColorMap),
        *(Tag.HalftoneHints, Tag.TileWidth, Tag.TileLength, Tag.TileOffsets, Tag.TileByteCounts),
        *(Tag.InkSet, Tag.ExtraSamples, Tag.SampleFormat, Tag.SMinSampleValue, Tag.SMaxSampleValue),
        *(Tag.JPEGTables, Tag.YCbCrCoefficients, Tag.YCbCrSubSampling, Tag.YCbCrPositioning),
        *(Tag.ReferenceBlackWhite, Tag.ImageDepth, Tag.TileDepth, Tag.InterColorProfile),
    )
}
OFFSET_TAGS = {Tag.StripOffsets: Tag.StripByteCounts, Tag.TileOffsets: Tag.TileByteCounts}

# Decode tags a decoder reads only on some pages: tag -> (the tag that decides, its values where the tag is
# read). Anywhere else libtiff and Pillow ignore them and their values would travel through unread.
USED_ONLY_WITH: dict[int, tuple[int, frozenset[int]]] = {
    Tag.JPEGTables: (Tag.Compression, frozenset({COMPRESSION_JPEG})),
    Tag.ColorMap: (Tag.PhotometricInterpretation, frozenset({PHOTOMETRIC_PALETTE})),
    **dict.fromkeys(
        (Tag.YCbCrCoefficients, Tag.YCbCrSubSampling, Tag.YCbCrPositioning, Tag.ReferenceBlackWhite),
        (Tag.PhotometricInterpretation, frozenset({PHOTOMETRIC_YCBCR})),
    ),
}
# Tables indexed by sample value: monotone wherever they are curves (``rewrite.unused_tags``).
CURVE_TAGS = (Tag.TransferFunction, Tag.GrayResponseCurve)
NDPI_MCU_STARTS = 65426  # Hamamatsu: offsets of restart intervals inside a page's one JPEG strip

# Tags that define the pixels: a page whose pixels are replaced takes these from the replacement.
PIXEL_TAGS = {256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 338, 339, 347}
PIXEL_TAGS |= {529, 530, 531, 532, 32997, 32998, 266, 280, 281, 340, 341}

# The standard form of every tag the rewriter copies: (allowed field types, count). A count is a number,
# "any" (a byte blob or one value per strip/tile), "spp" (1 to SamplesPerPixel values) or, for tables
# indexed by sample value, "curve" (2**BitsPerSample), "transfer" (1 or 3 such tables), "colormap" (3).
# A kept tag in another form is refused: its count decides how many bytes are copied, so an inflated one
# would carry whatever lies after its value into the output.
INT_TYPES, _RATIONAL = (SHORT, LONG, LONG8), (RATIONAL,)
_NUMERIC = (BYTE, SHORT, LONG, RATIONAL, SBYTE, SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE, LONG8, SLONG8)
_BLOB = (BYTE, UNDEFINED)
TAG_FORMS: dict[int, tuple[tuple[int, ...], int | str]] = {
    **dict.fromkeys((254, 255, 256, 257, 259, 262, 263, 266, 274, 277, 278), (INT_TYPES, 1)),
    **dict.fromkeys((284, 290, 296, 317, 322, 323, 332, 531, 32997, 32998), (INT_TYPES, 1)),
    **dict.fromkeys((273, 279, 324, 325), (INT_TYPES, "any")),
    **dict.fromkeys((258, 280, 281, 338, 339), (INT_TYPES, "spp")),
    **dict.fromkeys((340, 341), (_NUMERIC, "spp")),
    **dict.fromkeys((282, 283), (_RATIONAL, 1)),
    291: (INT_TYPES, "curve"),
    301: (INT_TYPES, "transfer"),
    318: (_RATIONAL, 2),
    319: (_RATIONAL, 6),
    320: (INT_TYPES, "colormap"),
    321: (INT_TYPES, 2),
    347: (_BLOB, "any"),
    529: (_RATIONAL, 3),
    530: (INT_TYPES, 2),
    532: (_RATIONAL, 6),
    34675: (_BLOB, "any"),
    # Hamamatsu NDPI tags formats.wsi keeps: format flag, source lens, slide offsets, focal plane, MCU starts
    65420: (INT_TYPES, 1),
    65421: ((FLOAT,), 1),
    **dict.fromkeys((65422, 65423, 65424), ((LONG, SLONG), 1)),
    **dict.fromkeys((65426, 65432), ((LONG, LONG8), "any")),
}

# Names for what gets dropped, so a report says "tiff.Artist" instead of a number.
TAG_NAMES: dict[int, str] = {
    t: t.name
    for t in (
        *(Tag.DocumentName, Tag.ImageDescription, Tag.Make, Tag.Model, Tag.PageName, Tag.Software),
        *(Tag.DateTime, Tag.Artist, Tag.HostComputer, Tag.SubIFDs, Tag.JPEGInterchangeFormat),
        *(Tag.JPEGInterchangeFormatLength, Tag.XMP, Tag.Copyright, Tag.ModelPixelScale, Tag.IPTC),
        *(Tag.ModelTiepoint, Tag.ModelTransformation, Tag.Photoshop, Tag.ExifIFD, Tag.GeoKeyDirectory),
        *(Tag.GeoDoubleParams, Tag.GeoAsciiParams, Tag.GPSIFD, Tag.ImageSourceData, Tag.InteropIFD),
        *(Tag.DNGVersion, Tag.UniqueCameraModel, Tag.CameraSerialNumber),
    )
}
GEO_TAGS = {33550, 33922, 34264, 34735, 34736, 34737}
TAG_KIND = {Tag.XMP: "xmp", Tag.IPTC: "iptc", Tag.GPSIFD: "exif.gps"} | dict.fromkeys(GEO_TAGS, "tiff.geo")

# Tags whose value is the offset of another IFD (EXIF, GPS, Interop; SubIFDs: reduced or raw images).
EXIF_POINTERS = {Tag.ExifIFD: "exif", Tag.GPSIFD: "gps", Tag.InteropIFD: "interop"}
SUB_IFD_TAGS = {*EXIF_POINTERS, Tag.SubIFDs}
