"""Encapsulated Pixel Data: each compressed frame keeps only what its decoder needs (issue 19, item 1).

A VL photograph or secondary capture made from a camera JPEG carries the camera's EXIF (Artist, dates,
GPS), COM segments and whatever follows the end-of-image marker (a second, complete JPEG) inside its
Pixel Data fragments, where the PS3.15 table never looks. ``filter_fragments`` walks every frame with the
codec's own grammar and keeps the codestream only:

* JPEG (T.81, every JPEG transfer syntax): ``formats.jpeg.clean_jpeg`` (tables, frame and scan headers,
  entropy-coded data byte for byte, JFIF/ICC/Adobe), nothing after EOI;
* JPEG-LS (T.87): SOF55, LSE, DRI, scans and the APP8 "mrfx" colour transform; COM and other APPn go;
* JPEG 2000 / HTJ2K codestreams (T.800): COM markers go (main and tile-part headers, Psot adjusted, TLM
  dropped since its lengths would be stale); a JP2 wrapper is reduced to its signature, file type, header and
  codestream boxes;
* every frame: the bytes after its end marker; the Basic Offset Table is rebuilt from the frames;
* RLE (PS3.5 Annex G): ``rle_excess`` says what lies outside the segments' PackBits data; the frames are
  then coded again from their pixels (``pixels.clean_rle``), the one lossless path RLE already has for
  bits outside BitsStored.

The entropy-coded data is never decoded or changed, so the pixels are exactly what they were. When nothing
had to go, Pixel Data is left byte for byte as it was. ``fragment_findings`` is the same walk, read-only,
for ``check``. The re-encoding of redacted frames (``pixels.py``) is a separate concern.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass

from deident.errors import CorruptFile
from deident.findings import Action, Finding

WHERE = "(7FE0,0010) PixelData"
PADDING = (b"", b"\0", b"\xff")  # fragments are padded to an even length with one byte (0x00, some 0xFF)


@dataclass(frozen=True)
class Dropped:
    """One thing removed from a frame's codestream (never its content: only what and how large)."""

    kind: str
    where: str
    detail: str


FrameFilter = Callable[[bytes], tuple[bytes, list[Dropped]]]


# ---------------------------------------------------------------- JPEG (T.81): formats.jpeg's filter


def filter_jpeg(frame: bytes) -> tuple[bytes, list[Dropped]]:
    """The adapter to ``formats.jpeg``: its segment walker reports, its ``clean_jpeg`` keeps."""
    from deident.formats import jpeg

    parsed = jpeg.walk(frame)
    dropped = [
        Dropped(f"dicom.pixel-data.{item.kind}", item.where, item.detail)
        for item in jpeg.segment_items(frame, parsed)
        if item.kind != "trailer"  # reported below, with the DICOM padding byte allowed for
    ]
    dropped += _trailer(frame, parsed.end)
    return jpeg.clean_jpeg(frame), dropped


def _trailer(frame: bytes, end: int) -> list[Dropped]:
    rest = frame[end:]
    if rest in PADDING:
        return []
    return [Dropped("dicom.pixel-data.trailer", f"after the end marker at {end}", f"{len(rest)} bytes")]


# ---------------------------------------------------------------- JPEG-LS (T.87)

JLS_KEEP = {0xF7, 0xF8, 0xDD, 0xDA}  # SOF55, LSE (preset parameters, mapping tables), DRI, SOS
JLS_APP8_MRFX = b"mrfx"  # HP colour transform: decoders need it to restore RGB


def filter_jpeg_ls(frame: bytes) -> tuple[bytes, list[Dropped]]:
    """JPEG-LS markers; scan data ends at 0xFF followed by a byte with its high bit set (T.87 A.1)."""
    if frame[:2] != b"\xff\xd8":
        raise CorruptFile("JPEG-LS frame has no start-of-image marker")
    out, dropped, pos, n = [b"\xff\xd8"], [], 2, len(frame)
    while True:
        while pos < n and frame[pos] == 0xFF and pos + 1 < n and frame[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 2 > n or frame[pos] != 0xFF:
            raise CorruptFile(f"JPEG-LS frame: expected a marker at byte {pos} (truncated or damaged)")
        marker, start = frame[pos + 1], pos
        pos += 2
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            return b"".join(out), dropped + _trailer(frame, pos)
        if marker == 0xD8:  # SOI again, after a SPIFF directory (T.87 annex G): written once
            continue
        if 0xD0 <= marker <= 0xD7:  # RSTn between scan intervals
            out.append(frame[start:pos])
            pos = _jls_scan_end(frame, pos)
            out.append(frame[start + 2 : pos])
            continue
        if pos + 2 > n:
            raise CorruptFile("JPEG-LS frame is truncated inside a segment header")
        length = struct.unpack(">H", frame[pos : pos + 2])[0]
        end = pos + length
        if length < 2 or end > n:
            raise CorruptFile(f"JPEG-LS frame: segment 0xFF{marker:02X} runs past the end")
        payload = frame[pos + 2 : end]
        if marker == 0xDA:
            scan_end = _jls_scan_end(frame, end)
            out.append(frame[start:scan_end])
            pos = scan_end
            continue
        if marker in JLS_KEEP or (marker == 0xE8 and payload.startswith(JLS_APP8_MRFX)):
            out.append(frame[start:end])
        else:
            name = "COM" if marker == 0xFE else f"APP{marker - 0xE0}" if 0xE0 <= marker <= 0xEF else None
            kind = "jpeg.com" if marker == 0xFE else f"jpeg.app{marker - 0xE0}" if name else "jpeg.marker"
            label = name or f"marker 0xFF{marker:02X}"
            dropped.append(
                Dropped(f"dicom.pixel-data.{kind}", f"{label} segment at {start}", f"{len(payload)} bytes")
            )
        pos = end


def _jls_scan_end(frame: bytes, pos: int) -> int:
    n = len(frame)
    while True:
        pos = frame.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            raise CorruptFile("JPEG-LS frame is truncated inside the image data (no end-of-image marker)")
        nxt = frame[pos + 1]
        if nxt >= 0x80 and not 0xD0 <= nxt <= 0xD7 and nxt != 0xFF:
            return pos
        if 0xD0 <= nxt <= 0xD7:
            return pos  # a restart marker: the walker copies it and continues the scan
        pos += 1


# ---------------------------------------------------------------- JPEG 2000 (T.800): formats.j2k_stream


def filter_jpeg2000(frame: bytes) -> tuple[bytes, list[Dropped]]:
    """The adapter to ``formats.j2k_stream``: what it took out, as DICOM findings."""
    from deident.formats import j2k_stream

    clean, items = j2k_stream.filter_jpeg2000(frame)
    return clean, [Dropped(f"dicom.pixel-data.{i.kind}", i.where, i.detail) for i in items]


# ---------------------------------------------------------------- RLE (PS3.5 Annex G)

RLE_HEADER = 64  # the segment count and 15 offsets, little endian UL (G.5)


def packbits_end(data: bytes, pos: int, end: int, length: int) -> tuple[int, int]:
    """Where the PackBits data from ``pos`` has yielded ``length`` bytes (G.3.2), and how many of its
    bytes say more than that: the literal bytes past the length, or 1 (the count byte) for a run past it.
    One step per control byte, so a run costs one step and a literal one slice. Raises CorruptFile when
    the data up to ``end`` yields fewer bytes: no decoder can fill the segment."""
    literal = False
    while length > 0:
        if pos >= end:
            raise CorruptFile(f"an RLE segment decodes to {length} bytes fewer than Rows x Columns")
        control = data[pos]
        if control == 128:  # -128: no operation
            pos += 1
            continue
        literal = control < 128  # a literal of control + 1 bytes, else the next byte 257 - control times
        length -= control + 1 if literal else 257 - control
        pos += control + 2 if literal else 2
        if pos > end:
            raise CorruptFile("an RLE segment ends inside its last literal or run")
    return pos, (-length if literal else 1) if length else 0


def rle_frame_excess(frame: bytes, segments: int, length: int) -> int:
    """How many bytes of an RLE frame no decoder needs to read its ``segments`` segments of ``length``
    bytes: a gap after the header, nonzero unused offsets, bytes between one segment's data and the next
    segment or the frame's end, and what a segment's last step yields past its length. A segment of odd
    length may end with one zero byte (G.5), and so may the frame when it would be odd (an Item's
    padding, PS3.5 A.4); nothing else. Raises CorruptFile for a header no decoder can follow (its count,
    offsets out of order or outside the frame)."""
    if len(frame) < RLE_HEADER:
        raise CorruptFile(f"an RLE frame of {len(frame)} bytes is shorter than its 64-byte header")
    header = struct.unpack("<16I", frame[:RLE_HEADER])
    count, offsets = header[0], list(header[1 : 1 + segments])
    if count != segments:
        raise CorruptFile(f"an RLE frame has {count} segments where its header needs {segments}")
    bounds = [*offsets[1:], len(frame)]
    if offsets[0] < RLE_HEADER or any(a >= b for a, b in zip(offsets, bounds, strict=True)):
        raise CorruptFile("an RLE frame's segment offsets are out of order or outside the frame")
    excess = offsets[0] - RLE_HEADER + 4 * sum(1 for o in header[1 + segments :] if o)
    for start, bound in zip(offsets, bounds, strict=True):
        end, past = packbits_end(frame, start, bound, length)
        odd = (end - start) % 2 == 1 or (bound == len(frame) and end % 2 == 1)  # the segment or fragment
        excess += past + bound - end - (odd and end < bound and frame[end] == 0)
    return excess


def rle_excess(ds) -> tuple[str, bytes]:
    """What RLE Pixel Data holds besides its frames' segment data (``rle_frame_excess``), frames after
    NumberOfFrames and a Basic Offset Table that is not the frames' offsets, said in sizes ("" when it is
    exactly its RLE data); and the Pixel Data with such a table emptied, which decoders can follow.
    Raises CorruptFile for a frame no decoder can read."""
    from pydicom.encaps import generate_frames

    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        segments = int(ds.get("SamplesPerPixel", 1) or 1) * (int(ds.BitsAllocated) // 8)
        frames_n = max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (AttributeError, TypeError, ValueError) as exc:
        raise CorruptFile(f"DICOM RLE pixel data has no usable frame size: {exc}") from exc
    if not 1 <= segments <= 15 or int(ds.BitsAllocated) % 8:
        raise CorruptFile(f"DICOM RLE cannot hold {segments} segments of BitsAllocated {ds.BitsAllocated}")
    try:
        data, bad_table = _valid_offset_table(bytes(ds.PixelData), frames_n)
        frames = generate_frames(data, number_of_frames=frames_n)
        excess, count = [], 0
        for count, frame in enumerate(frames, 1):  # one frame at a time
            if count <= frames_n:
                excess.append(_rle_frame(frame, segments, rows * columns, count - 1))
    except (ValueError, KeyError, struct.error) as exc:
        raise CorruptFile(f"DICOM encapsulated pixel data cannot be split into frames: {exc}") from exc
    if count < frames_n:
        raise CorruptFile(f"DICOM declares {frames_n} frames but its RLE pixel data holds {count}: truncated")
    parts = []
    if any(excess):
        frames_with = sum(1 for n in excess if n)
        parts.append(f"{sum(excess)} bytes outside the segments' data in {frames_with} of {frames_n} frames")
    if count > frames_n:
        parts.append(f"{count - frames_n} frame(s) after the {frames_n} declared (NumberOfFrames)")
    if bad_table:
        parts.append(f"a Basic Offset Table of {bad_table}")
    return "; ".join(parts), data


def _rle_frame(frame: bytes, segments: int, length: int, index: int) -> int:
    try:
        return rle_frame_excess(frame, segments, length)
    except CorruptFile as exc:
        raise CorruptFile(f"DICOM RLE frame {index}: {exc}; it cannot be checked") from exc


# ---------------------------------------------------------------- transfer syntax -> filter

_PREFIX = "1.2.840.10008.1.2.4."
FILTERS: dict[str, FrameFilter] = {
    **{f"{_PREFIX}{n}": filter_jpeg for n in (*range(50, 67), 70)},  # baseline ... lossless SV1
    **{f"{_PREFIX}{n}": filter_jpeg_ls for n in (80, 81)},
    **{f"{_PREFIX}{n}": filter_jpeg2000 for n in (90, 91, 92, 93, 201, 202, 203)},
}


@dataclass
class Filtered:
    """Pixel Data as it will be written: ``data`` None when the original bytes stay as they are."""

    data: bytes | None
    dropped: list[Dropped]
    extended: tuple[bytes, bytes] | None = None  # a rebuilt Extended Offset Table (offsets, lengths)

    def apply(self, ds) -> None:
        if self.data is None:
            return
        ds.PixelData = self.data
        ds["PixelData"].is_undefined_length = True
        if self.extended is not None:
            ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = self.extended

    def findings(self, action: Action) -> list[Finding]:
        return [Finding("dicom", d.kind, f"{WHERE} {d.where}", action, d.detail) for d in self.dropped]


def filter_fragments(ds) -> Filtered:
    """Every frame of encapsulated Pixel Data through its codec's filter; the offset table rebuilt.

    Transfer syntaxes without a filter here are left as they are: RLE (``rle_excess``), MPEG/HEVC video,
    JPEG XL.
    Raises CorruptFile when a frame does not follow its codec's grammar: it cannot be shown clean.
    """
    from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames

    ts = str(ds.file_meta.get("TransferSyntaxUID", "") if hasattr(ds, "file_meta") else "")
    codec = FILTERS.get(ts)
    if codec is None or "PixelData" not in ds:
        return Filtered(None, [])
    data = ds.PixelData
    if not data:
        return Filtered(None, [])
    frames_n = max(1, int(ds.get("NumberOfFrames", 1) or 1))
    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    dropped: list[Dropped] = []
    try:
        data, bad_table = _valid_offset_table(bytes(data), frames_n)
    except (ValueError, KeyError, struct.error) as exc:
        raise CorruptFile(f"DICOM encapsulated pixel data cannot be split into frames: {exc}") from exc
    if bad_table:
        dropped.append(Dropped("dicom.pixel-data.offset-table", "Basic Offset Table", bad_table))

    def frames():  # one frame at a time: a whole-slide image's frames are not all held twice
        try:
            yield from generate_frames(data, number_of_frames=frames_n, extended_offsets=extended)
        except (ValueError, KeyError, struct.error) as exc:
            raise CorruptFile(f"DICOM encapsulated pixel data cannot be split into frames: {exc}") from exc

    count, same = 0, True
    for i, frame in enumerate(frames()):  # first pass: what would go
        count += 1
        if i >= frames_n:
            continue
        clean, found = _filter_frame(codec, frame, i)
        _check_coded_size(clean, ds, i)
        prefix = f"frame {i}" if frames_n > 1 else "frame"
        dropped += [Dropped(d.kind, f"{prefix}: {d.where}", d.detail) for d in found]
        same = same and frame.startswith(clean) and frame[len(clean) :] in PADDING
    if count < frames_n:
        raise CorruptFile(
            f"DICOM declares {frames_n} frames but its encapsulated pixel data holds {count}: "
            "truncated or damaged"
        )
    if count > frames_n:  # an undeclared frame is still in the file for any reader to show
        extra = f"{count - frames_n} frame(s) after the {frames_n} declared (NumberOfFrames)"
        dropped.append(Dropped("dicom.pixel-data.excess", f"frames {frames_n}-{count - 1}", extra))
    if not dropped and same:
        return Filtered(None, [])
    second = itertools.islice(frames(), frames_n)  # second pass: only when something goes
    cleaned = [_filter_frame(codec, f, i)[0] for i, f in enumerate(second)]
    if extended is not None:
        rebuilt, offsets, lengths = encapsulate_extended(cleaned)
        return Filtered(rebuilt, dropped, (offsets, lengths))
    return Filtered(encapsulate(cleaned, has_bot=len(cleaned) > 1), dropped)


# Start-of-frame markers whose segment gives the coded size: JPEG's SOFn (T.81 B.2.2) and JPEG-LS's SOF55.
SIZE_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}


def coded_size(frame: bytes) -> tuple[int, int] | None:
    """(columns, rows) a filtered JPEG, JPEG-LS or JPEG 2000 frame codes, or None when not found."""
    siz = frame.find(b"\xff\x4f\xff\x51")  # SOC then SIZ (T.800 A.5.1), also inside a JP2 wrapper
    if siz >= 0 and len(frame) >= siz + 24:
        x, y, x0, y0 = struct.unpack(">IIII", frame[siz + 8 : siz + 24])
        return x - x0, y - y0
    pos = 2 if frame[:2] == b"\xff\xd8" else len(frame)
    while pos + 9 <= len(frame) and frame[pos] == 0xFF and frame[pos + 1] != 0xDA:
        if frame[pos + 1] in SIZE_MARKERS:
            rows, columns = struct.unpack(">HH", frame[pos + 5 : pos + 9])
            return columns, rows
        pos += 2 + struct.unpack(">H", frame[pos + 2 : pos + 4])[0]
    return None


def _check_coded_size(frame: bytes, ds, index: int) -> None:
    """A frame must code the size the header declares: rows a JPEG codes below Rows (a label cropped off
    by lowering Rows) are shown by any JPEG decoder of the frame and copied unchecked by a scrub that
    decodes nothing, so such a file is refused (pydicom refuses to decode it too)."""
    size = coded_size(frame)
    declared = (int(ds.get("Columns", 0) or 0), int(ds.get("Rows", 0) or 0))
    if size is not None and size != declared:
        raise CorruptFile(
            f"DICOM frame {index} codes {size[0]}x{size[1]} pixels, the header declares "
            f"{declared[0]}x{declared[1]} (Columns x Rows): what lies beyond cannot be checked"
        )


def _filter_frame(codec: FrameFilter, frame: bytes, index: int) -> tuple[bytes, list[Dropped]]:
    try:
        return codec(frame)
    except CorruptFile as exc:
        raise CorruptFile(f"DICOM frame {index}: {exc}; its codestream cannot be checked") from exc


def _valid_offset_table(data: bytes, frames_n: int) -> tuple[bytes, str]:
    """The data with its Basic Offset Table emptied when the table is not offsets of fragment starts
    (text can be hidden there), and why; else the data as it is and ""."""
    from pydicom.encaps import parse_basic_offsets, parse_fragments

    offsets = parse_basic_offsets(data)
    if not offsets:
        return data, ""
    size = struct.unpack("<I", data[4:8])[0]
    _, starts = parse_fragments(data[8 + size :])
    ok = (
        len(offsets) == frames_n
        and offsets[0] == 0
        and all(a < b for a, b in itertools.pairwise(offsets))
        and set(offsets) <= set(starts)
    )
    if ok:
        return data, ""
    return b"\xfe\xff\x00\xe0\0\0\0\0" + data[8 + size :], f"{size} bytes that are not frame offsets"
