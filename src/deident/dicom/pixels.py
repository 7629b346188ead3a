"""Stored pixels <-> display frames, and lossless re-encoding after a redaction.

The pixel stages look at 8-bit RGB renderings (``display``); redactions are applied to the stored
values (``Pixels.redact``) so that 16-bit CT/MR keep their numbers outside the redacted regions. Pixel
Data is only ever decoded when a stage asks for frames, and only re-encoded when a frame was changed
(``encode.py``: in the input's transfer syntax family where it can, else Explicit VR Little Endian,
uncompressed): otherwise the original bytes are written as they were.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from deident.errors import CorruptFile, StageUnavailable, TooLarge
from deident.regions import Redaction, redact

# Modality -> when its frames are photographs (the face stage only looks at photographs).
PHOTOGRAPHIC_MODALITIES = {
    **dict.fromkeys(("XC", "VL", "GM", "ES", "OP"), "always"),
    **dict.fromkeys(("SM", "OT"), "colour"),
    **dict.fromkeys(("CT", "MR", "CR", "DX", "MG", "PT", "NM", "XA", "RF", "US", "IO", "PX", "DOC"), "never"),
}
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"  # SC Image Storage classes: photos when in colour
COLOUR_PHOTOMETRICS = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"}
# What the decoded array is in, for each stored photometric interpretation (pydicom converts YBR to RGB).
DECODED_PHOTOMETRIC = {p: "RGB" for p in COLOUR_PHOTOMETRICS}


def is_photographic(ds) -> bool:
    colour = str(ds.get("PhotometricInterpretation", "")).strip() in COLOUR_PHOTOMETRICS
    rule = PHOTOGRAPHIC_MODALITIES.get(str(ds.get("Modality", "")).strip().upper())
    if rule is None and str(ds.get("SOPClassUID", "")).startswith(SECONDARY_CAPTURE_PREFIX):
        rule = "colour"
    return rule == "always" or (rule == "colour" and colour)


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
    from pydicom.pixels.utils import get_expected_length

    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if "PixelData" not in ds or (ts is not None and ts.is_compressed):
        return
    try:
        expected = get_expected_length(ds, unit="bytes")
    except (AttributeError, KeyError, TypeError, ValueError):
        return
    got = len(ds.PixelData or b"")
    if isinstance(expected, int) and got < expected:
        raise CorruptFile(f"DICOM pixel data is truncated ({got} of {expected} bytes)")


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
            ts = ds.file_meta.get("TransferSyntaxUID", "unknown")
            raise StageUnavailable(
                f"no decoder for DICOM transfer syntax {getattr(ts, 'name', ts)} "
                "(install pylibjpeg with pylibjpeg-libjpeg / pylibjpeg-openjpeg, or pyjpegls)"
            ) from exc
        except Exception as exc:
            raise CorruptFile(f"DICOM pixel data cannot be decoded: {exc}") from exc
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        arr = arr.reshape((frames, int(ds.Rows), int(ds.Columns)) + ((samples,) if samples > 1 else ()))
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
        return frame.min()

    def redact(self, index: int, redactions: list[Redaction]) -> None:
        if not self.array.flags.writeable:
            self.array = self.array.copy()
        self.array[index] = redact(self.array[index], redactions, self.fill_value(index))
        self.dirty.add(index)
        self.redactions.setdefault(index, []).extend(redactions)

    def store(self) -> None:
        """Write the (changed) frames back into the dataset, uncompressed little endian: lossless."""
        from pydicom.uid import ExplicitVRLittleEndian

        ds = self.ds
        for _ in ds.iterall():  # convert raw elements before the encoding changes
            pass
        arr = self.array if self.array.shape[0] > 1 else self.array[0]
        if int(ds.get("BitsAllocated", 8)) == 1:
            from pydicom.pixels import pack_bits

            data = pack_bits(arr)
        else:
            data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        data += b"\0" * (len(data) % 2)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        for tag in (0x7FE00001, 0x7FE00002):  # extended offset table: encapsulated data only
            ds.pop(tag, None)
        ds.PixelData = data
        ds["PixelData"].VR = "OB" if int(ds.get("BitsAllocated", 8)) <= 8 else "OW"
        ds["PixelData"].is_undefined_length = False
        ds.PhotometricInterpretation = self.photometric
        if self.array.ndim == 4:
            ds.PlanarConfiguration = 0


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
    out = None
    for i, frame in enumerate(iter_pixels(ds)):
        if out is None:
            out = np.empty((n, *frame.shape), frame.dtype)
        out[i] = frame
    return out


def _window(frame: np.ndarray, ds) -> np.ndarray:
    """Modality LUT, then VOI window (first one) or VOI LUT, else min-max; returns HxW uint8."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(frame, ds).astype(np.float64)
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is not None and width is not None:
        c = float(centre[0] if _multi(centre) else centre)
        w = float(width[0] if _multi(width) else width)
        if w >= 1:
            scaled = ((values - (c - 0.5)) / max(w - 1, 1) + 0.5) * 255.0
            return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if "VOILUTSequence" in ds:
        values = apply_voi_lut(frame, ds).astype(np.float64)
    return _minmax(values)


def _multi(value) -> bool:
    return not isinstance(value, (str, bytes)) and hasattr(value, "__len__")


def _minmax(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, np.uint8)
    return np.rint((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _to_uint8(rgb: np.ndarray, bits: int = 8, lut: bool = False) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return np.ascontiguousarray(rgb)
    if lut:  # colour LUT output spans the full 16-bit range
        return (rgb.astype(np.uint32) >> 8).astype(np.uint8)
    return np.clip(rgb.astype(np.float64) * (255.0 / (2**bits - 1)), 0, 255).astype(np.uint8)
