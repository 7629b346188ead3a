"""Redacted frames written back in the input's transfer syntax family; frames no redaction touched copied.

- JPEG Baseline, JPEG Extended (8-bit): a redacted frame has its coefficients edited in the DCT domain
  (``formats.jpeg_dct``): only the blocks under the redaction change, no generation loss.
- RLE Lossless, JPEG-LS Lossless, JPEG 2000 Lossless: a redacted frame is re-encoded losslessly in the
  same syntax by pydicom's encoder (when its plugin is installed).
- Anything else, or no encoder: the whole object is written uncompressed (Explicit VR Little Endian).

Frames no redaction touched keep their encoded bytes in the first two cases.

The way is chosen per object when a frame is redacted (``plan``) and reported for that frame, so the
report says which frames were re-encoded and how; a later frame that cannot go the same way (a ``blur``
redaction on a JPEG) turns the whole object uncompressed, and the report says so once.
"""

from __future__ import annotations

from dataclasses import dataclass

from deident.errors import CorruptFile
from deident.findings import Action, Finding

DCT_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}  # JPEG Baseline, Extended (8-bit)
LOSSLESS_SYNTAXES = {
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
}
# (transfer syntax, stored photometric) -> the photometric its frames decode to that its encoder takes back
# as they are: JPEG 2000's reversible colour transform (YBR_RCT) is the codec's own, so RGB frames are coded
# again exactly (pydicom-data's US1_J2KR.dcm, an ultrasound with burned-in text: 154 KB in; 923 KB out when
# written uncompressed, 152 KB re-encoded).
ENCODES_FROM = {("1.2.840.10008.1.2.4.90", "YBR_RCT"): "RGB"}
DCT, LOSSLESS, NATIVE = "dct", "lossless", "native"
# JPEG Lossless (Process 14): coded data deident cannot walk, so it is coded again (``recode_lossless_jpeg``)
LOSSLESS_JPEG_SYNTAXES = {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}
RECODE_TARGETS = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.5")  # JPEG-LS Lossless, then RLE Lossless


@dataclass(frozen=True)
class Plan:
    how: str  # DCT | LOSSLESS | NATIVE
    reason: str  # why, for the report


def plan(pixels, frame: int) -> Plan:
    """How this object's redacted frames will be written, given every redaction so far."""
    ds = pixels.ds
    ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    name = _syntax_name(ts)
    if pixels.plan is not None and pixels.plan.how == NATIVE:
        return pixels.plan
    if ts in DCT_SYNTAXES:
        from deident.formats.jpeg_dct import STYLES, unsupported_reason

        styles = {r.style for rs in pixels.redactions.values() for r in rs} - set(STYLES)
        if styles:
            return Plan(NATIVE, f"a {sorted(styles)[0]} redaction needs decoded pixels")
        reason = unsupported_reason(pixels.source_frames()[frame])
        if reason:
            return Plan(NATIVE, f"no DCT-domain redaction for this JPEG: {reason}")
        return Plan(DCT, f"redacted in the DCT domain ({name}): only the blocks under the redaction changed")
    if ts in LOSSLESS_SYNTAXES:
        encoder = _encoder(ts)
        stored = str(ds.get("PhotometricInterpretation", "")).strip()
        if encoder is None:
            return Plan(NATIVE, f"no {name} encoder installed")
        takes = ENCODES_FROM.get((ts, stored), stored)
        if takes != pixels.photometric or int(ds.get("BitsAllocated", 8)) == 1:
            return Plan(NATIVE, f"{name} frames decode to {pixels.photometric}, stored as {stored}")
        return Plan(LOSSLESS, f"re-encoded losslessly ({name})")
    return Plan(NATIVE, f"{name} is written uncompressed once a frame changes")


def findings(pixels, frame: int, before: Plan | None) -> list[Finding]:
    """What the report says about writing ``frame`` (and, once, about turning the object uncompressed)."""
    now = pixels.plan
    if now.how != NATIVE:
        return [Finding("dicom", f"dicom.frame-{now.how}", f"frame {frame}", Action.REPLACED, now.reason)]
    if before is not None and before.how == NATIVE:
        return []
    from deident.dicom.pixels import native_syntax

    n, syntax = pixels.array.shape[0], native_syntax(pixels.ds).name
    detail = f"all {n} frames decoded and written uncompressed ({syntax}): {now.reason}"
    return [Finding("dicom", "dicom.pixels-uncompressed", "(7FE0,0010) PixelData", Action.REPLACED, detail)]


def store(pixels) -> None:
    """Write Pixel Data back: redacted frames by the plan, every other frame as it was."""
    if pixels.plan is None or pixels.plan.how == NATIVE:
        pixels.store()
        return
    import numpy as np
    from pydicom.encaps import encapsulate

    ds = pixels.ds
    frames = list(pixels.source_frames())
    ts = str(ds.file_meta.TransferSyntaxUID)
    for i in sorted(pixels.dirty):
        if pixels.plan.how == DCT:
            from deident.formats.jpeg_dct import DctUnsupported, redact_dct

            try:
                frames[i] = redact_dct(frames[i], pixels.redactions[i])
            except DctUnsupported as exc:  # planned as possible: a libjpeg refusal here is a damaged frame
                raise CorruptFile(f"frame {i} cannot be redacted in the DCT domain: {exc}") from exc
        else:
            frames[i] = _encoded(ts, np.ascontiguousarray(pixels.array[i]), ds)
    for tag in (0x7FE00001, 0x7FE00002):  # extended offset table: rebuilt as a basic one below
        ds.pop(tag, None)
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True


def _encoded(ts: str, values, ds) -> bytes:
    """A frame coded again by pydicom's encoder, through the filter every input frame goes through: the
    JPEG 2000 encoder signs its codestream with a COM marker ("Created by OpenJPEG version 2.5.2"), which
    verification then found in the written file, and every JPEG 2000 Lossless object with a redacted
    frame was refused (pydicom-data's RG3_J2KR.dcm, a radiograph with burned-in text)."""
    from deident.dicom.fragments import FILTERS

    frame = _encoder(ts).encode(values, **_encode_args(ds))
    codec = FILTERS.get(ts)
    return codec(frame)[0] if codec is not None else frame


def _encoder(ts: str):
    from pydicom.pixels.encoders.base import get_encoder

    try:
        encoder = get_encoder(ts)
    except NotImplementedError:
        return None
    return encoder if encoder.is_available else None


def _encode_args(ds) -> dict:
    return {
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "samples_per_pixel": int(ds.get("SamplesPerPixel", 1) or 1),
        "bits_allocated": int(ds.BitsAllocated),
        "bits_stored": int(ds.get("BitsStored", ds.BitsAllocated)),
        "pixel_representation": int(ds.get("PixelRepresentation", 0) or 0),
        "photometric_interpretation": str(ds.PhotometricInterpretation).strip(),
        "planar_configuration": 0,
        "number_of_frames": 1,
    }


def _syntax_name(ts: str) -> str:
    from pydicom.uid import UID

    return UID(ts).name if ts else "unknown transfer syntax"


def recode_lossless_jpeg(ds, fix: bool, max_pixels: int) -> list[Finding]:
    """JPEG Lossless (Process 14) Pixel Data decoded and coded again by deident, pixels identical.

    Its scans are not Huffman-coded DCT blocks, so ``formats.jpeg`` cannot tell which coded bytes a decoder
    reads (rows hidden under a lowered frame height, bytes after the last row) and would refuse the file.
    Radiology archives hold many such studies: rather than refuse them or copy bytes unchecked, every frame
    is decoded and written again as JPEG-LS Lossless (else RLE Lossless, else uncompressed), and the new
    coding is accepted only if it decodes to the same pixels. ``check`` reports such an input as unchecked.
    """
    ts = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    if ts not in LOSSLESS_JPEG_SYNTAXES or "PixelData" not in ds:
        return []
    where = "(7FE0,0010) PixelData"
    if not fix:
        detail = f"{_syntax_name(ts)}: its coded data is checked only by coding it again (scrub)"
        return [Finding("dicom", "dicom.pixels-recoded", where, Action.FOUND, detail)]
    import numpy as np

    from deident.dicom.pixels import Pixels

    pixels = Pixels.decode(ds, max_pixels)  # names the decoders tried when none can (python-gdcm)
    values = pixels.array if pixels.array.shape[0] > 1 else pixels.array[0]
    for target in RECODE_TARGETS:
        if _encoder(target) is None:
            continue
        try:  # Dataset.compress sets Pixel Data, the transfer syntax and what goes with them on ``ds``
            ds.compress(target, values, generate_instance_uid=False)
            same = np.array_equal(ds.pixel_array, values)
        except Exception:  # this encoder does not take these pixels: try the next
            continue
        if same:
            for tag in (0x7FE00001, 0x7FE00002):  # an extended offset table described the old fragments
                ds.pop(tag, None)
            detail = f"{_syntax_name(ts)} frames coded again as {_syntax_name(target)}, pixels identical"
            return [Finding("dicom", "dicom.pixels-recoded", where, Action.REPLACED, detail)]
    pixels.store()
    detail = f"{_syntax_name(ts)} frames decoded and written uncompressed (no lossless encoder took them)"
    return [Finding("dicom", "dicom.pixels-recoded", where, Action.REPLACED, detail)]
