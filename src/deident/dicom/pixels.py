"""Stored pixels <-> display frames, and lossless re-encoding after a redaction.

The pixel stages look at 8-bit RGB renderings (``display``); redactions are applied to the stored
values (``Pixels.redact``) so that 16-bit CT/MR keep their numbers outside the redacted regions. Pixel
Data is only ever decoded when a stage asks for frames, and only re-encoded when a frame was changed
(``encode.py``: in the input's transfer syntax family where it can, else Explicit VR Little Endian,
uncompressed): otherwise the original bytes are written as they were.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from deident.errors import CorruptFile, StageUnavailable, TooLarge
from deident.findings import Action, Finding
from deident.formats.pixels import local_contrast
from deident.regions import Redaction, redact

if TYPE_CHECKING:
    from deident.formats.base import Tiles

# Modality -> when its frames are photographs (the face stage only looks at photographs).
PHOTOGRAPHIC_MODALITIES = {
    **dict.fromkeys(("XC", "VL", "GM", "ES", "OP"), "always"),
    **dict.fromkeys(("SM", "OT"), "colour"),
    **dict.fromkeys(("CT", "MR", "CR", "DX", "MG", "PT", "NM", "XA", "RF", "US", "IO", "PX", "DOC"), "never"),
}
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"  # SC Image Storage classes: photos when in colour
COLOUR_PHOTOMETRICS = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"}
# The three Pixel Data elements (PS3.3 C.7.6.3): integers (native or encapsulated), float, double float.
PIXEL_ELEMENTS = {
    "PixelData": "(7FE0,0010) PixelData",
    "FloatPixelData": "(7FE0,0008) FloatPixelData",
    "DoubleFloatPixelData": "(7FE0,0009) DoubleFloatPixelData",
}
# What the decoded array is in, for each stored photometric interpretation (pydicom converts YBR to RGB).
DECODED_PHOTOMETRIC = {p: "RGB" for p in COLOUR_PHOTOMETRICS}


def is_photographic(ds) -> bool:
    colour = str(ds.get("PhotometricInterpretation", "")).strip() in COLOUR_PHOTOMETRICS | {"PALETTE COLOR"}
    rule = PHOTOGRAPHIC_MODALITIES.get(str(ds.get("Modality", "")).strip().upper())
    if rule is None and str(ds.get("SOPClassUID", "")).startswith(SECONDARY_CAPTURE_PREFIX):
        rule = "colour"
    return rule == "always" or (rule == "colour" and colour)


def mosaic_tiles(ds) -> Tiles | None:
    """The tile grid of a Siemens MOSAIC frame (ImageType holds MOSAIC: a volume's slices side by side in
    one frame), or None. A tile is the acquisition matrix's two sizes (AcquisitionMatrix: frequency rows,
    frequency columns, phase rows, phase columns; two of them are 0), in the order that divides the frame
    into as many tile columns as rows, as a mosaic is laid out (heudiconv's b0dwi_for_fmap: 150 x 152 px
    tiles, 9 x 9 in 1350 x 1368). Read from what the scrub keeps (not the private CSA header), so the
    output is looked at on the same grid as the input. A header whose sizes do not divide the frame (an
    interpolated mosaic) gives None: the frame is looked at whole, as before."""
    from deident.dicom.values import values_of
    from deident.formats.base import Tiles

    if "MOSAIC" not in {str(v).strip().upper() for v in values_of(ds.get("ImageType"))}:
        return None
    try:
        sizes = [int(v) for v in values_of(ds.get("AcquisitionMatrix")) if int(v) > 0]
        rows, columns = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError):
        return None
    if len(sizes) != 2:
        return None
    for width, height in (sizes, sizes[::-1]):
        across, down = divmod(columns, width), divmod(rows, height)
        if across[1] == down[1] == 0 and across[0] == down[0] > 1:
            return Tiles(width, height)
    return None


def one_rendering(ds) -> bool:
    """Colour and palette frames are shown one way (``Pixels.renderings``); a greyscale frame also under
    further windows, made from its values as redacted so far. A broken SamplesPerPixel: False."""
    try:
        colour = int(ds.get("SamplesPerPixel", 1) or 1) > 1
    except (TypeError, ValueError):
        return False
    return colour or str(ds.get("PhotometricInterpretation", "")).strip() == "PALETTE COLOR"


def pixel_element(ds) -> str | None:
    """The keyword of the dataset's pixel data element (Parametric Maps carry float pixels), or None."""
    return next((kw for kw in PIXEL_ELEMENTS if kw in ds), None)


def check_size(ds, max_pixels: int) -> None:
    n = (
        int(ds.get("Rows", 0) or 0)
        * int(ds.get("Columns", 0) or 0)
        * max(1, int(ds.get("NumberOfFrames", 1) or 1))
    )
    if n > max_pixels:
        raise TooLarge(f"DICOM pixel data has {n} pixels, above the limit of {max_pixels} (--max-pixels)")


def check_length(ds) -> None:
    """Native (uncompressed) Pixel Data shorter than its header says means a truncated file."""
    expected = expected_native_bytes(ds)
    got = len(ds[pixel_element(ds)].value or b"") if expected is not None else 0
    if expected is not None and got < expected:
        raise CorruptFile(f"DICOM pixel data is truncated ({got} of {expected} bytes)")


def expected_native_bytes(ds) -> int | None:
    """Bytes of native Pixel Data the header declares; None for encapsulated data or a broken header."""
    from pydicom.pixels.utils import get_expected_length

    if not _native(ds):
        return None
    try:
        expected = get_expected_length(ds, unit="bytes")
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return expected if isinstance(expected, int) else None


NATIVE_DTYPES = {8: "u1", 16: "u2", 32: "u4"}  # BitsAllocated -> stored word (bits outside masked)


def _native(ds) -> bool:
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    kw = pixel_element(ds)
    return kw is not None and (kw != "PixelData" or ts is None or not ts.is_compressed)


def clean_native(ds, fix: bool) -> list[Finding]:
    """Native Pixel Data holds only what its header describes (issue 19, items 2 and 5).

    Bytes past the last frame (extra rows, a name) are cut off; in every stored word, bits above HighBit
    and below its low bit (HighBit - BitsStored + 1) are cleared, or set to the sign for signed data
    (PixelRepresentation 1), which is how a retired overlay (OverlayBitPosition 15) or text hides in
    them. Both are lossless: no reader may interpret those bytes or bits. ``fix`` False only reports.
    """
    layout = native_layout(ds)
    if layout is None:
        return []
    kw, expected, words, mask, sign = layout
    where, data = PIXEL_ELEMENTS[kw], ds[kw].value or b""
    out: list[Finding] = []
    action = Action.REMOVED if fix else Action.FOUND
    if len(data) > expected + expected % 2:
        extra = len(data) - expected
        detail = f"{extra} bytes after the last frame ({int(ds.get('NumberOfFrames', 1) or 1)} declared)"
        out.append(Finding("dicom", "dicom.pixel-data.excess", where, action, detail))
        data = data[:expected] + b"\0" * (expected % 2)
    if words is not None:
        arr = np.frombuffer(data, words, count=expected // words.itemsize)
        new, changed = _within_bits(arr, mask, sign)
        if changed:
            detail = f"{changed} stored values had bits set outside BitsStored/HighBit (an overlay or text)"
            out.append(Finding("dicom", "dicom.pixel-data.unused-bits", where, action, detail))
            data = new.astype(words).tobytes() + data[expected:]
    if kw in NAN_WORDS:
        data, changed = _canonical_nans(data, expected, kw, _little_endian(ds))
        if changed:
            detail = f"{changed} NaN values carried bits of their own (a payload of up to 51 bits each)"
            out.append(Finding("dicom", "dicom.pixel-data.nan-payload", where, action, detail))
    if fix and out:
        ds[kw].value = data
    return out


# Float pixels: (unsigned word, exponent mask, mantissa mask, the one quiet NaN written for every NaN).
# A NaN's sign and mantissa bits are free (IEEE 754): shown as the lowest finite value, read by any
# reader of the words.
NAN_WORDS = {
    "FloatPixelData": ("u4", 0x7F800000, 0x007FFFFF, 0x7FC00000),
    "DoubleFloatPixelData": ("u8", 0x7FF0000000000000, 0x000FFFFFFFFFFFFF, 0x7FF8000000000000),
}


def _canonical_nans(data: bytes, expected: int, kw: str, little: bool) -> tuple[bytes, int]:
    """``data`` with every NaN written as the quiet NaN, and how many NaNs differed from it."""
    word, exponent, mantissa, quiet = NAN_WORDS[kw]
    dtype = np.dtype(("<" if little else ">") + word)
    arr = np.frombuffer(data, dtype, count=expected // dtype.itemsize)
    nan = ((arr & dtype.type(exponent)) == exponent) & ((arr & dtype.type(mantissa)) != 0)
    changed = int(np.count_nonzero(nan & (arr != quiet)))
    if not changed:
        return data, 0
    new = np.where(nan, np.array(quiet, dtype), arr).astype(dtype)
    return new.tobytes() + data[expected:], changed


def _little_endian(ds) -> bool:
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    return ts is None or ts.is_little_endian


def native_layout(ds) -> tuple | None:
    """What ``clean_native`` reads besides the bytes: (element, declared bytes, word type, mask of the bits
    in use, sign bit); None for encapsulated data or a broken header."""
    expected = expected_native_bytes(ds)
    if expected is None:
        return None
    kw = pixel_element(ds)
    words, mask, sign = _word_layout(ds, expected) if kw == "PixelData" else (None, 0, 0)
    return kw, expected, words, mask, sign


def _within_bits(arr: np.ndarray, mask: int, sign: int) -> tuple[np.ndarray, int]:
    """Words with the bits outside ``mask`` cleared (set to the sign bit's value for signed data), and
    how many words that changed."""
    new = arr & mask
    if sign:
        negative = (arr & sign) != 0
        new = np.where(negative, new | ~(sign | (sign - 1)) & np.iinfo(arr.dtype).max, new)
    new = new.astype(arr.dtype)
    return new, int(np.count_nonzero(new != arr))


RLE_LOSSLESS = "1.2.840.10008.1.2.5"


def clean_rle(ds, fix: bool) -> list[Finding]:
    """RLE Pixel Data holds its pixels' every bit, and nothing else.

    RLE keeps every bit of every byte, so an overlay in bit 15 survives compression; pydicom masks it away
    when decoding (so the text stage never sees it) but other readers may show it. And a decoder reads only
    what each segment's offset and length lead it to, so text can sit in bytes none reads: after a
    segment's data, between the header and the first segment, in the header's unused offsets
    (``fragments.rle_excess``). Either way the frames are decoded without masking and, with ``fix``,
    re-encoded with pydicom's RLE encoder (lossless, the bits outside BitsStored/HighBit cleared). Exact
    RLE data with clean bits stays byte for byte. Every other compressed syntax stores the codec's
    precision only, and its frames are filtered by ``fragments.filter_fragments``."""
    from pydicom.pixels import pixel_array
    from pydicom.pixels.utils import get_expected_length

    from deident.dicom.fragments import rle_excess

    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if "PixelData" not in ds or str(ts or "") != RLE_LOSSLESS:
        return []
    excess, data = rle_excess(ds)
    try:
        words, mask, sign = _word_layout(ds, int(get_expected_length(ds, unit="bytes")))
    except (AttributeError, KeyError, TypeError, ValueError):
        words = None
    if words is None and not (excess and fix):
        return _rle_findings(excess, 0, fix)
    original, ds.PixelData = ds.PixelData, data  # an offset table that is not offsets, emptied
    try:
        arr = pixel_array(ds, raw=True, correct_unused_bits=False)
    except Exception as exc:
        raise CorruptFile(f"DICOM RLE pixel data cannot be decoded to check it: {exc}") from exc
    finally:
        ds.PixelData = original
    new, changed = arr, 0
    if words is not None:
        stored, changed = _within_bits(arr.view(words.newbyteorder("=")), mask, sign)
        new = stored.view(arr.dtype)
    if fix and (changed or excess):
        ds.compress(RLE_LOSSLESS, new, encoding_plugin="pydicom", generate_instance_uid=False)
    return _rle_findings(excess, changed, fix)


def _rle_findings(excess: str, changed: int, fix: bool) -> list[Finding]:
    where = PIXEL_ELEMENTS["PixelData"]
    action = Action.REPLACED if fix else Action.FOUND
    out = [Finding("dicom", "dicom.pixel-data.rle-excess", where, action, excess)] if excess else []
    if changed:
        detail = f"{changed} stored values had bits set outside BitsStored/HighBit (an overlay or text)"
        out.append(Finding("dicom", "dicom.pixel-data.unused-bits", where, action, detail))
    return out


def _word_layout(ds, expected: int):
    """(numpy word type, mask of the bits in use, sign bit or 0), or None when every bit is in use."""
    allocated = int(ds.get("BitsAllocated", 0) or 0)
    stored = int(ds.get("BitsStored", allocated) or allocated)
    high = int(ds.get("HighBit", stored - 1) if ds.get("HighBit") is not None else stored - 1)
    if allocated not in NATIVE_DTYPES or expected % (allocated // 8):
        return None, 0, 0
    low = max(0, high - stored + 1)
    high = min(high, allocated - 1)
    if low == 0 and high == allocated - 1:
        return None, 0, 0
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    big = ts is not None and str(ts) == "1.2.840.10008.1.2.2"
    words = np.dtype((">" if big else "<") + NATIVE_DTYPES[allocated])
    mask = ((1 << (high + 1)) - 1) ^ ((1 << low) - 1)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    return words, mask, (1 << high) if signed else 0


def decoders_refused(ds, exc: Exception) -> str:
    """Which decoders pydicom tried for this transfer syntax and why each refused, or which are missing.

    pydicom lists them one per line after a first line (the plugins' own words: a library and version, or
    "does not support 'JPEG Extended' for samples with 12-bit precision"); they never quote a value.
    """
    ts = ds.file_meta.get("TransferSyntaxUID", "unknown")
    name = getattr(ts, "name", str(ts))
    lines = [ln.strip().replace("\t", "") for ln in str(exc).splitlines()[1:] if ln.strip()]
    if not lines:
        return f"no installed decoder reads DICOM {name} pixel data ({exc})"
    if "missing dependencies" in str(exc):
        return f"no decoder for DICOM {name} pixel data is installed; install one of: " + "; ".join(lines)
    refused = f"no installed decoder accepts this DICOM {name} pixel data: tried " + "; ".join(lines)
    try:
        from pydicom.pixels.decoders.base import get_decoder

        missing = list(get_decoder(ts).missing_dependencies)
    except (NotImplementedError, ValueError, AttributeError):
        missing = []
    return refused + (f"; not installed: {'; '.join(missing)}" if missing else "")


@dataclass
class Pixels:
    """All frames of one dataset as stored values, shaped (frames, rows, columns[, samples])."""

    ds: object
    array: np.ndarray
    photometric: str
    dirty: set[int] = field(default_factory=set)
    redactions: dict[int, list[Redaction]] = field(default_factory=dict)  # every one so far, per frame
    plan: object = None  # how redacted frames are written (``encode.Plan``), once one is
    _source: list[bytes] | None = None  # the encapsulated frames as read

    def source_frames(self) -> list[bytes]:
        """The input's encoded frames, as read (kept before Pixel Data is first rewritten)."""
        if self._source is None:
            from pydicom.encaps import generate_frames

            n = int(self.ds.get("NumberOfFrames", 1) or 1)
            self._source = list(generate_frames(self.ds.PixelData, number_of_frames=n))
        return self._source

    @classmethod
    def decode(cls, ds, max_pixels: int) -> Pixels:
        check_size(ds, max_pixels)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = _decoded_frames(ds)
        except (NotImplementedError, RuntimeError) as exc:
            raise StageUnavailable(decoders_refused(ds, exc)) from exc
        except Exception as exc:
            raise CorruptFile(f"DICOM pixel data cannot be decoded: {exc}") from exc
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        shape = (frames, int(ds.Rows), int(ds.Columns)) + ((samples,) if samples > 1 else ())
        if arr.size != int(np.prod(shape)):
            raise CorruptFile(
                f"DICOM pixel data decodes to {arr.size} values, but Rows x Columns x NumberOfFrames x "
                f"SamplesPerPixel declares {int(np.prod(shape))} ({' x '.join(map(str, shape))}): "
                "the header does not describe the pixels, so they cannot all be checked"
            )
        arr = arr.reshape(shape)
        stored = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
        return cls(ds, arr, DECODED_PHOTOMETRIC.get(stored, stored))

    def display(self, index: int) -> np.ndarray:
        """Frame ``index`` as HxWx3 uint8: palette/RGB as colour, greyscale windowed, MONOCHROME1 inverted."""
        frame = self.array[index]
        if self.photometric == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            return _to_uint8(apply_color_lut(frame, self.ds), lut=True)
        if frame.ndim == 3:
            return _to_uint8(frame, bits=int(self.ds.get("BitsStored", 8) or 8))
        grey = _window(frame, self.ds)
        if self.photometric == "MONOCHROME1":
            grey = 255 - grey
        return np.repeat(grey[:, :, None], 3, axis=2)

    def renderings(self, index: int) -> Iterator[tuple[str, np.ndarray]]:
        """Frame ``index`` as the viewer shows it first, then what else a viewer can make visible.

        A greyscale frame is also rendered under each further stored window, over its full stored range
        and with local contrast (each pixel scaled between the lowest and highest value around it), so a
        label drawn at 3,100 on a 3,000 background, flat under a 1000/400 window, is read too (issue 19,
        item 3). Renderings equal to one already given are skipped. A colour frame of more than 8 bits
        stored is also rendered sample by sample with local contrast: its first rendering keeps each
        sample's high 8 bits, so a name drawn in the low byte (0x8000 against 0x80F0) was flat on screen
        and plain to pixel_array; one sample at a time, since a mix can be made to cancel. A colour frame
        with an ICC profile whose tone curve raises contrast is also rendered through it, as viewers do
        (``formats.pixels.managed_view``: a curve steep near black shows a name at level 2 at 205).
        """
        first = self.display(index)
        yield "", first
        frame = self.array[index]
        if self.photometric == "PALETTE COLOR":
            entries = self._duplicate_entries(frame)
            if entries is not None:
                yield "palette entries", entries
            return
        if frame.ndim == 3 and int(self.ds.get("BitsStored", 8) or 8) > 8:
            for c in range(frame.shape[2]):
                grey = local_contrast(_finite(frame[:, :, c].astype(np.float64)))
                yield f"sample {c + 1}, local contrast", np.repeat(grey[:, :, None], 3, axis=2)
        profile = _icc_profile(self.ds) if frame.ndim == 3 else None
        managed = _managed(first, profile) if profile else None
        if managed is not None:
            yield "as colour-managed", managed
        if one_rendering(self.ds):
            return
        from pydicom.pixels import apply_modality_lut

        values = _finite(apply_modality_lut(frame, self.ds).astype(np.float64))
        seen = [first[:, :, 0]]
        windows = _windows(self.ds)
        candidates = [(f"window {i + 2}", _linear(values, c, w)) for i, (c, w) in enumerate(windows[1:])]
        low, high = float(values.min()), float(values.max())
        if not any(c - w / 2 <= low and high <= c + w / 2 for c, w in windows) or not windows:
            candidates.append(("full stored range", _minmax(values)))  # a window clips some values
        candidates.append(("local contrast", local_contrast(values)))
        for label, grey in candidates:
            if self.photometric == "MONOCHROME1":
                grey = 255 - grey
            if any(np.array_equal(grey, s) for s in seen):
                continue
            seen.append(grey)
            yield label, np.repeat(grey[:, :, None], 3, axis=2)

    def fill_value(self, index: int):
        """The stored value shown black: minimum (MONOCHROME1 maximum), 0 in colour, darkest palette entry."""
        frame = self.array[index]
        if frame.ndim == 3:
            return 0
        if self.photometric == "MONOCHROME1":
            return frame.max()
        if self.photometric == "PALETTE COLOR":
            shown = self.display(index).astype(np.int32).sum(axis=2)
            return frame.flat[int(np.argmin(shown))]
        return _finite(frame).min()

    def redact(self, index: int, redactions: list[Redaction]) -> None:
        if not self.array.flags.writeable:
            self.array = self.array.copy()
        frame, stored = self.array[index], redactions
        if self.photometric == "PALETTE COLOR" and any(r.style != "fill" for r in redactions):
            frame = self._redact_shown(index, [r for r in redactions if r.style != "fill"])
            stored = [r for r in redactions if r.style == "fill"]  # fills last: they stay solid
        self.array[index] = redact(frame, stored, self.fill_value(index))
        self.dirty.add(index)
        self.redactions.setdefault(index, []).extend(redactions)

    def _redact_shown(self, index: int, redactions: list[Redaction]) -> np.ndarray:
        """Frame ``index`` of a palette image with ``redactions`` (blur, pixelate) applied to its colours,
        each changed pixel then stored as the palette entry nearest its new colour. Averaged palette
        indices are colours of no meaning: a blurred face of pydicom's OT-PAL-8-face.dcm came out as
        bands of blue."""
        shown = self.display(index)
        hidden = redact(shown, redactions)
        changed = (hidden != shown).any(axis=2)
        out = self.array[index].copy()
        if changed.any():
            values, colours = self._palette()
            wanted, where = np.unique(hidden[changed], axis=0, return_inverse=True)
            out[changed] = values[_nearest(wanted.astype(np.int32), colours)][where.ravel()]
        return out

    def _duplicate_entries(self, frame: np.ndarray) -> np.ndarray | None:
        """Which of several stored values shown in one colour each pixel holds (``formats.pixels``), or
        None: pixel_array hands any reader the stored values, so a name drawn in two values of one
        colour (duplicate LUT entries, or values past the LUT's end) is plain there and flat on screen."""
        from pydicom.pixels import apply_color_lut

        from deident.formats.pixels import duplicate_view

        if frame.dtype.kind not in "ui" or frame.min() < 0:
            return None
        values = np.arange(int(frame.max()) + 1)
        shown = _to_uint8(apply_color_lut(values.astype(frame.dtype), self.ds), lut=True)
        colours = np.concatenate([shown, np.full((len(shown), 1), 255, np.uint8)], axis=1)
        return duplicate_view(frame, colours)

    def _palette(self) -> tuple[np.ndarray, np.ndarray]:
        """(stored values, their displayed colours as int32), one value per distinct colour."""
        from pydicom.pixels import apply_color_lut

        entries, first = (int(v) for v in self.ds.RedPaletteColorLookupTableDescriptor[:2])
        values = np.arange(first, first + (entries or 65536))
        info = np.iinfo(self.array.dtype)
        values = values[(values >= info.min) & (values <= info.max)].astype(self.array.dtype)
        shown = _to_uint8(apply_color_lut(values, self.ds), lut=True)
        colours, keep = np.unique(shown, axis=0, return_index=True)
        return values[keep], colours.astype(np.int32)

    def store(self) -> None:
        """Write the (changed) frames back into the dataset, uncompressed little endian: lossless."""
        ds = self.ds
        syntax = native_syntax(ds)
        for _ in ds.iterall():  # convert raw elements before the encoding changes
            pass
        arr = self.array if self.array.shape[0] > 1 else self.array[0]
        kw = pixel_element(ds)
        if kw != "PixelData":  # float pixels: always native, written back in their own element
            ds[kw].value = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
            ds.file_meta.TransferSyntaxUID = syntax
            return
        if int(ds.get("BitsAllocated", 8)) == 1:
            from pydicom.pixels import pack_bits

            data = pack_bits(arr)
        else:
            data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        data += b"\0" * (len(data) % 2)
        ds.file_meta.TransferSyntaxUID = syntax
        for tag in (0x7FE00001, 0x7FE00002):  # extended offset table: encapsulated data only
            ds.pop(tag, None)
        ds.PixelData = data
        ds["PixelData"].VR = "OB" if int(ds.get("BitsAllocated", 8)) <= 8 else "OW"
        ds["PixelData"].is_undefined_length = False
        ds.PhotometricInterpretation = self.photometric
        if self.array.ndim == 4:
            ds.PlanarConfiguration = 0


def native_syntax(ds):
    """The transfer syntax a changed object's frames are written uncompressed in: Explicit VR Little
    Endian, or deflated where the input was (pydicom-data's image_dfl.dcm, 4.6 KB in, was 263 KB out)."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    ts = ds.file_meta.get("TransferSyntaxUID", "") if hasattr(ds, "file_meta") else ""
    return DeflatedExplicitVRLittleEndian if ts == DeflatedExplicitVRLittleEndian else ExplicitVRLittleEndian


def _decoded_frames(ds) -> np.ndarray:
    """All frames; an encapsulated multi-frame object decoded one frame at a time into one array.

    pydicom's whole-object decode converts colour (YBR to RGB) over every frame at once in floating
    point: the 120-frame 640x480 ultrasound cine peaked at 1.4 GB resident; frame by frame, the
    intermediate is one frame's worth. Same values (checked on pydicom's 119 decodable test files).
    """
    from pydicom.pixels import iter_pixels

    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if n == 1 or ts is None or not ts.is_encapsulated:
        return ds.pixel_array
    colour = _ycbcr_jpeg_frames(ds, ts, n)
    if colour is not None:
        return colour
    out = None
    for i, frame in enumerate(iter_pixels(ds, decoding_plugin=_fastest_plugin(ts))):
        if out is None:
            out = np.empty((n, *frame.shape), frame.dtype)
        out[i] = frame
    return out


YCBCR = frozenset({"YBR_FULL", "YBR_FULL_422"})


def _ycbcr_jpeg_frames(ds, ts, n: int) -> np.ndarray | None:
    """JPEG Baseline YCbCr frames turned to RGB by libjpeg-turbo itself (Pillow), or None where another
    path decodes them. pydicom keeps libjpeg's YCbCr and converts it in floating point, 0.8 s of the
    120-frame cine's decode, done twice a run (detection, verification). libjpeg's integer conversion
    gives the same values on the cine and on pydicom's 12 YBR JPEG Baseline test files (equal arrays);
    elsewhere it is within one level of pydicom's (green or blue, for about 0.1 % of YCbCr triples). A
    frame libjpeg would not convert (an Adobe marker, components named R, G, B) is left to pydicom, as is
    every frame where Pillow cannot decode JPEG (``_fastest_plugin``)."""
    import io

    from PIL import Image
    from pydicom.encaps import generate_frames

    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if _fastest_plugin(ts) != "pillow" or photometric not in YCBCR or samples != 3:
        return None
    shape = (int(ds.Rows), int(ds.Columns), 3)
    out = np.empty((n, *shape), np.uint8)
    done = 0
    for data in itertools.islice(generate_frames(ds.PixelData, number_of_frames=n), n):
        with Image.open(io.BytesIO(data)) as im:
            named_rgb = [c[0] for c in im.layer] == [ord("R"), ord("G"), ord("B")]
            if im.format != "JPEG" or im.mode != "RGB" or "adobe" in im.info or named_rgb:
                return None
            frame = np.asarray(im)
        if frame.shape != shape:
            return None
        out[done] = frame
        done += 1
    return out if done == n else None


def _fastest_plugin(ts) -> str:
    """Pillow for JPEG Baseline frames where it is installed, else pydicom's choice (GDCM first).

    Pillow's libjpeg-turbo gives the very values GDCM does (all 15 JPEG Baseline files of pydicom's test
    data, the 120-frame ultrasound cine among them: equal arrays) in 0.6 instead of 1.6 CPU-s on the
    cine, whose frames are decoded twice (detection, then verification of the written file).
    """
    from pydicom.pixels.decoders import JPEGBaseline8BitDecoder

    if ts == JPEGBaseline8BitDecoder.UID and "pillow" in JPEGBaseline8BitDecoder.available_plugins:
        return "pillow"
    return ""


def _window(frame: np.ndarray, ds) -> np.ndarray:
    """Modality LUT, then VOI window (first one) or VOI LUT, else min-max; returns HxW uint8."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = _finite(apply_modality_lut(frame, ds).astype(np.float64))
    windows = _windows(ds)
    if windows:
        return _linear(values, *windows[0])
    if "VOILUTSequence" in ds:
        values = apply_voi_lut(frame, ds).astype(np.float64)
    return _minmax(values)


def _windows(ds) -> list[tuple[float, float]]:
    """Every stored (WindowCenter, WindowWidth) pair with a usable width, in order."""
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is None or width is None:
        return []
    centres = list(centre) if _multi(centre) else [centre]
    widths = list(width) if _multi(width) else [width]
    try:
        pairs = [(float(c), float(w)) for c, w in zip(centres, widths, strict=False)]
    except (TypeError, ValueError):
        return []
    return [(c, w) for c, w in pairs if w >= 1]


def _linear(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """The PS3.3 C.11.2.1.2 linear VOI function to 8 bits."""
    scaled = ((values - (centre - 0.5)) / max(width - 1, 1) + 0.5) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _finite(values: np.ndarray) -> np.ndarray:
    """Float pixels (Parametric Maps) may hold NaN or infinities: shown as the lowest finite value."""
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return values
    finite = values[np.isfinite(values)]
    low = float(finite.min()) if finite.size else 0.0
    return np.nan_to_num(values, nan=low, posinf=float(finite.max()) if finite.size else 0.0, neginf=low)


def _multi(value) -> bool:
    return not isinstance(value, (str, bytes)) and hasattr(value, "__len__")


def _minmax(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, np.uint8)
    return np.rint((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _nearest(wanted: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Index of the colour nearest each of ``wanted`` (both Nx3 int32), about a million pairs at a time."""
    parts = np.array_split(wanted, 1 + len(wanted) * len(colours) // 2**20)
    return np.concatenate([((p[:, None, :] - colours[None]) ** 2).sum(axis=2).argmin(axis=1) for p in parts])


def _icc_profile(ds) -> bytes | None:
    """The ICC Profile a viewer applies to colour frames: the top-level one, else the first optical path's
    (a whole-slide image keeps it there; both are kept, cleaned, by ``binary_kept.csv``)."""
    if ds.get("ICCProfile"):
        return bytes(ds.ICCProfile)
    paths = ds.get("OpticalPathSequence") or []
    return next((bytes(item.ICCProfile) for item in paths if item.get("ICCProfile")), None)


def _managed(shown: np.ndarray, profile: bytes) -> np.ndarray | None:
    """The displayed frame (HxWx3 uint8) through its ICC profile, when that raises contrast 3x."""
    from PIL import Image

    from deident.formats.pixels import managed_view

    return managed_view(Image.fromarray(shown), profile)


def _to_uint8(rgb: np.ndarray, bits: int = 8, lut: bool = False) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return np.ascontiguousarray(rgb)
    if lut:  # colour LUT output spans the full 16-bit range
        return (rgb.astype(np.uint32) >> 8).astype(np.uint8)
    return np.clip(rgb.astype(np.float64) * (255.0 / (2**bits - 1)), 0, 255).astype(np.uint8)
