"""JPEG: a segment walker in the words of ITU T.81 (markers, segments, entropy-coded data).

Scrubbing keeps the coding tables, frame and scan headers and the entropy-coded data byte for byte, plus
the APPn segments a decoder or viewer needs (JFIF without its thumbnail, ICC profile, Adobe); everything
else goes, including data after the first EOI (MPF previews, aCropalypse trailers). When the EXIF block
held a non-default Orientation a minimal EXIF segment carrying only that is written back.

Every kept byte is one a decoder uses: quantisation and Huffman tables no scan uses go, DNL goes, and
(``coded_view``) a scan keeps only the coded data of the MCUs the frame header declares (``jpeg_scan``).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace

from deident.errors import CorruptFile, UnsupportedFormat
from deident.findings import Action, Finding
from deident.formats.base import Context, ImageDims, Source
from deident.formats.exif import exif_items, orientation_exif
from deident.formats.iptc import IPTC_RESOURCE, iptc_identifiers, photoshop_resources
from deident.formats.items import Item, Parsed, per_bytes, plural
from deident.formats.jpeg_segments import (  # re-exported: the walker and marker table are jpeg's words
    APP0,
    APP1,
    APP2,
    APP13,
    APP14,
    COM,
    DAC,
    DRI,
    HIERARCHY,
    HUFFMAN_DCT,
    SOF,
    SOS,
    TABLES,
    Segment,
    segment_bytes,
    walk,
)
from deident.formats.photo import WholeFileDocument
from deident.formats.pixels import redact_image, to_stored
from deident.formats.xmp import xmp_identifiers
from deident.regions import Redaction

EXIF_SIG, XMP_SIG, XMP_EXT_SIG = (
    b"Exif\0\0",
    b"http://ns.adobe.com/xap/1.0/\0",
    b"http://ns.adobe.com/xmp/extension/\0",
)
JFIF_SIG, JFXX_SIG, ICC_SIG, MPF_SIG = b"JFIF\0", b"JFXX\0", b"ICC_PROFILE\0", b"MPF\0"
ADOBE_SIG, PHOTOSHOP_SIG = b"Adobe", b"Photoshop 3.0\0"

# Kept APPn segments: (marker, signature). Anything else of type APPn is dropped.
KEEP_APP = {(APP0, JFIF_SIG), (APP2, ICC_SIG), (APP14, ADOBE_SIG)}
ADOBE_SIZE = 12  # "Adobe", version, flags0, flags1, colour transform: all a decoder reads of APP14
ADOBE_VERSION = b"\x00\x64"  # 100, as libjpeg and Photoshop write it
# Colour transforms libjpeg knows, per component count, and the one it assumes for any other
# (jdapimin.c default_decompress_parms); with other counts it reads none.
ADOBE_TRANSFORMS: dict[int, tuple[tuple[int, ...], int]] = {3: ((0, 1), 1), 4: ((0, 2), 2)}
JFIF_SIZE = 14  # "JFIF\0", version, units, densities, thumbnail size (0x0 once its pixels are gone)
# Kinds for dropped APPn segments recognised by signature; the rest become "jpeg.appN".
APP_KIND = {
    (APP0, JFXX_SIG): ("jpeg.jfxx", "JFIF extension thumbnail"),
    (APP1, XMP_SIG): ("xmp", "XMP packet"),
    (APP1, XMP_EXT_SIG): ("xmp", "extended XMP"),
    (APP2, MPF_SIG): ("jpeg.mpf", "multi-picture index (previews after the image)"),
    (APP2, b"FPXR\0"): ("jpeg.app2", "FlashPix data"),
    (0xEB, b"JP"): ("jpeg.app11", "JPEG XT / JUMBF box (e.g. C2PA provenance)"),
    (APP13, PHOTOSHOP_SIG): ("jpeg.app13", "Photoshop resources"),
}


def _app_key(seg: Segment) -> tuple[int, bytes] | None:
    for key in (*KEEP_APP, *APP_KIND):
        if key[0] == seg.marker and seg.startswith(key[1]):
            return key
    return None


def exif_orientation(parsed: Parsed) -> int:
    for seg in parsed.chunks:
        if seg.marker == APP1 and seg.startswith(EXIF_SIG):
            _, summary = exif_items(seg.payload[6:], "")
            return summary.orientation if 1 <= summary.orientation <= 8 else 1
    return 1


def _adobe(payload: bytes, components: int) -> bytes | None:
    """An APP14 Adobe payload as decoding needs it: signature, version 100, flags zero and the colour
    transform (one libjpeg does not know written as the one it assumes); None when too short for libjpeg
    to read (it ignores it). Version and flags are read by nobody, so they could say anything."""
    if len(payload) < ADOBE_SIZE:
        return None
    known, assumed = ADOBE_TRANSFORMS.get(components, ((payload[11],), 0))
    return ADOBE_SIG + ADOBE_VERSION + bytes(4) + bytes((payload[11] if payload[11] in known else assumed,))


def _adobe_items(payload: bytes, components: int, where: str) -> Iterator[Item]:
    """What ``_adobe`` leaves out of an APP14 Adobe segment: bytes after its fields, the segment when
    too short, and version/flags/transform values rewritten."""
    kept = _adobe(payload, components)
    if kept is None:
        yield Item(
            "jpeg.app14", where, f"Adobe segment too short for a decoder to read, {len(payload)} bytes"
        )
        return
    if len(payload) > ADOBE_SIZE:
        extra = len(payload) - ADOBE_SIZE
        yield Item("jpeg.app14", where, f"{extra} bytes after the Adobe colour-transform fields")
    if kept != payload[:ADOBE_SIZE]:
        detail = "Adobe version and flags (no decoder reads them) or an unknown transform rewritten"
        yield Item("jpeg.app14", where, detail, Action.REPLACED)


def _components(parsed: Parsed) -> int:
    """The frame's component count (0 without a frame header)."""
    sof = next((s for s in parsed.chunks if s.marker in SOF and len(s.payload) >= 6), None)
    return sof.payload[5] if sof else 0


def _jfif_without_thumbnail(payload: bytes) -> bytes:
    return payload[:12] + b"\0\0" if len(payload) >= 14 else payload


def icc_profile(parsed: Parsed) -> tuple[list[Segment], bytes | None, Item | None]:
    """The APP2 ICC segments, the profile to write in their place (None: none) and the finding.

    A profile larger than one segment is split over several, numbered 1..n (ICC.1 annex B.4); segments
    out of that sequence cannot be put together, so they go.
    """
    from deident.formats import icc

    segs = [s for s in parsed.chunks if s.marker == APP2 and s.startswith(ICC_SIG) and len(s.payload) > 14]
    if not segs:
        return [], None, None
    where = f"APP2 segment at {segs[0].start}"
    parts = sorted((s.payload[12], s.payload[13], s.payload[14:]) for s in segs)
    if [p[:2] for p in parts] != [(n, len(parts)) for n in range(1, len(parts) + 1)]:
        return segs, None, Item("icc", where, f"ICC profile segments out of sequence, {len(segs)} segments")
    profile, item = icc.profile_item(b"".join(p[2] for p in parts), where)
    return segs, profile, item


def _icc_segments(profile: bytes) -> list[bytes]:
    size = 65533 - len(ICC_SIG) - 2
    parts = [profile[i : i + size] for i in range(0, len(profile), size)]
    return [
        segment_bytes(Segment(APP2, 0, ICC_SIG + bytes((n + 1, len(parts))) + part))
        for n, part in enumerate(parts)
    ]


def segment_items(data: bytes, parsed: Parsed, decode: bool = True) -> Iterator[Item]:
    yield from coded_view(data, parsed, decode).items
    icc_item = icc_profile(parsed)[2]
    if icc_item is not None:
        yield icc_item
    jfif_seen = False  # clean_jpeg keeps the first JFIF segment only, cut to its standard 14 bytes
    for seg in parsed.chunks:
        m = seg.marker
        if m in TABLES or m == SOS:
            continue  # coding tables and scans: reported by coded_view
        where = f"{seg.name} segment at {seg.start}"
        if m == COM:
            yield Item("jpeg.com", where, f"comment, {len(seg.payload)} bytes")
        elif m == APP1 and seg.startswith(EXIF_SIG):
            items, summary = exif_items(seg.payload[6:], where)
            if items:  # the block's identifying values ride on its first item (one walk, two uses)
                items[0] = replace(items[0], values=tuple(summary.identifiers))
            yield from items
        elif m == APP13 and seg.startswith(PHOTOSHOP_SIG):
            resources = list(photoshop_resources(seg.payload[14:]))
            iptc = [block for rid, block in resources if rid == IPTC_RESOURCE]
            if iptc:
                values = tuple(v for block in iptc for v in iptc_identifiers(block))
                yield Item("iptc", where, "IPTC record", values=values)
            ids = [rid for rid, _ in resources]
            yield Item("jpeg.app13", where, f"Photoshop resources ({plural(len(ids), 'block')})")
        elif m == APP0 and seg.startswith(JFIF_SIG):
            if jfif_seen:
                yield Item("jpeg.app0", where, f"another JFIF segment, {len(seg.payload)} bytes")
            elif seg.payload[12:14] not in (b"", b"\0\0") or len(seg.payload) > JFIF_SIZE:
                extra = max(0, len(seg.payload) - JFIF_SIZE)
                yield Item(
                    "jpeg.jfif-thumbnail",
                    where,
                    f"JFIF thumbnail or extra data, {extra} bytes",
                    Action.REPLACED,
                )
            jfif_seen = True
        elif 0xE0 <= m <= 0xEF:
            key = _app_key(seg)
            if key == (APP14, ADOBE_SIG):
                yield from _adobe_items(seg.payload, _components(parsed), where)
            if key in KEEP_APP:
                continue
            kind, label = APP_KIND.get(key, (f"jpeg.app{m - 0xE0}", f"{len(seg.payload)} bytes"))
            values = tuple(xmp_identifiers(seg.payload)) if kind == "xmp" else ()
            yield Item(kind, where, f"{label}, {len(seg.payload)} bytes", values=values)
        else:
            yield Item("jpeg.marker", where, f"unknown segment 0x{m:02X}, {len(seg.payload)} bytes")
    if parsed.trailer:
        yield Item(
            "trailer", f"after end of image at {parsed.end}", f"{parsed.trailer} bytes after the image"
        )


def clean_jpeg(data: bytes, orientation: int = 1, decode: bool = True) -> bytes:
    """SOI, JFIF, [EXIF Orientation], ICC, Adobe, used tables, scans (their used data), EOI; nothing else."""
    parsed = walk(data)
    coded = coded_view(data, parsed, decode)
    icc_segs, profile, _ = icc_profile(parsed)
    view = memoryview(data)
    out: list[bytes | memoryview] = [b"\xff\xd8"]
    segs = parsed.chunks
    jfif = [s for s in segs if s.marker == APP0 and s.startswith(JFIF_SIG)][:1]
    for s in jfif:
        out.append(segment_bytes(Segment(APP0, s.start, _jfif_without_thumbnail(s.payload))))
    if orientation != 1:
        out.append(segment_bytes(Segment(APP1, 0, EXIF_SIG + orientation_exif(orientation))))
    for s in segs:
        if 0xE0 <= s.marker <= 0xEF:
            key = _app_key(s)
            if key == (APP14, ADOBE_SIG):  # its standard form only: anything else could be anything
                adobe = _adobe(s.payload, _components(parsed))
                if adobe is not None:
                    out.append(segment_bytes(Segment(APP14, s.start, adobe)))
            elif key == (APP2, ICC_SIG):  # the profile, cleaned, where its first segment was
                if profile is not None and s is icc_segs[0]:
                    out += _icc_segments(profile)
            elif key in KEEP_APP and key != (APP0, JFIF_SIG):  # JFIF: only the first, written above
                out.append(segment_bytes(s))
        elif coded.recoded is not None and (s.marker in TABLES or s.marker == SOS):
            continue  # written anew below
        elif s.start in coded.replaced:
            if coded.replaced[s.start] is not None:
                out.append(coded.replaced[s.start])
        elif s.marker == SOS:
            out.append(segment_bytes(s))
            out.append(view[s.start + 4 + len(s.payload) : s.scan_end])  # entropy-coded data, as it is
        elif s.marker in TABLES:
            out.append(segment_bytes(s))
    if coded.recoded is not None:
        out.append(coded.recoded)
    out.append(b"\xff\xd9")
    return b"".join(out)


@dataclass
class CodedView:
    """What a decoder reads of the tables and scans: segments rewritten or dropped, and why."""

    items: list[Item]
    replaced: dict[int, bytes | None]  # segment start -> bytes written instead (None: dropped)
    recoded: bytes | None = None  # every table, frame and scan written anew (content in the MCU padding)


@per_bytes
def coded_view(data: bytes, parsed: Parsed, decode: bool) -> CodedView:
    """Tables no scan uses, DNL, and coded data beyond the declared MCUs, per segment.

    ``decode`` (the caller has checked the declared size by then): libjpeg reads the coded data, for
    content in the MCU padding (``jpeg_padding``) and for coded data it did not use
    (``jpeg_scan.decoder_skips_data``); only then are the Huffman codes walked, which costs about 0.35 s
    per 1.5 MP photo in Python. Without it nothing is decoded: restart intervals beyond the declared image
    are cut all the same.
    """
    from deident.formats import jpeg_scan as js

    segs = [s for s in parsed.chunks if s.marker in TABLES or s.marker == SOS]
    plan = _table_plan(tuple((s.marker, s.payload) for s in segs))
    items: list[Item] = []
    replaced: dict[int, bytes | None] = {}
    for i, payload, kind, detail in plan.changes:
        seg = segs[i]
        kept = None if payload is None else segment_bytes(Segment(seg.marker, seg.start, payload))
        replaced[seg.start] = kept
        items.append(Item(kind, f"{seg.name} segment at {seg.start}", detail))
    if plan.frame is None:
        return CodedView(items, replaced)
    recoded = None
    walk_scans = False
    if decode:  # the size is checked by now: libjpeg may read the coded data
        recoded, warned = _padding(data, items)
        # Walk only what libjpeg says holds more than the declared image (one read answers both).
        walk_scans = js.decoder_skips_data(data) if warned is None else warned
    if not (walk_scans or plan.restart):
        return CodedView(items, replaced, recoded)
    frame, huffman, restart = plan.frame, {}, 0
    progressive = js.ProgressiveState() if frame.marker == js.PROGRESSIVE_HUFFMAN else None
    for seg in segs:
        if seg.marker == 0xC4:
            js.parse_dht(seg.payload, huffman)
        elif seg.marker == DRI and len(seg.payload) >= 2:
            restart = struct.unpack(">H", seg.payload[:2])[0]
        elif seg.marker == SOS:
            scan = js.ScanHeader.parse(seg.payload)
            if not walk_scans and not restart:  # the plan refused every frame but Huffman DCT
                continue
            coded = data[seg.start + 4 + len(seg.payload) : seg.scan_end]
            if walk_scans:
                trimmed = js.trim_scan(coded, frame, scan, huffman, restart, progressive)
            else:
                trimmed = js.cut_intervals(coded, frame, scan, restart)
            if trimmed.coded != coded:
                replaced[seg.start] = segment_bytes(seg) + trimmed.coded
                detail = f"{trimmed.dropped} bytes of coded data beyond the declared image"
                if not trimmed.dropped:
                    detail = "pad bits after the last coded unit (set to 1)"
                items.append(Item("jpeg.scan", f"scan at {seg.start}", detail))
    return CodedView(items, replaced, recoded)


def _padding(data: bytes, items: list[Item]) -> tuple[bytes | None, bool | None]:
    """(The tables, frame and scans written anew when the MCU padding holds content (``jpeg_padding``),
    with its item added to ``items``, else None; whether libjpeg warned, None when nothing was read)."""
    from deident.formats.jpeg_padding import check_padding

    checked = check_padding(data)
    if checked is None or checked.fix is None:
        return None, None if checked is None else checked.decoder_warned
    fix = checked.fix
    items.append(Item("jpeg.padding", "last MCU row/column", fix.detail, Action.REPLACED))
    fixed = fix.data
    coding = b"".join(
        segment_bytes(s) + (fixed[s.start + 4 + len(s.payload) : s.scan_end] if s.marker == SOS else b"")
        for s in walk(fixed).chunks
        if s.marker in TABLES or s.marker == SOS
    )
    return coding, checked.decoder_warned


@dataclass(frozen=True)
class _TablePlan:
    frame: object  # jpeg_scan.FrameHeader of the first frame, or None
    restart: bool  # a DRI segment is present (restart intervals can be counted without decoding)
    changes: tuple[
        tuple[int, bytes | None, str, str], ...
    ]  # (segment index, new payload or None, kind, detail)


def _huffman_read(scan, progressive: bool) -> tuple[str, ...]:
    """The Huffman table classes a scan decodes with (T.81 G.1.2): a sequential scan both; a progressive
    one DC (first pass) or AC (first pass and refinement), and a DC refinement none: it reads raw bits."""
    if not progressive:
        return ("dc", "ac")
    if scan.ss:
        return ("ac",)
    return () if scan.al_ah >> 4 else ("dc",)


def _table_plan(segments: tuple[tuple[int, bytes], ...]) -> _TablePlan:
    """Which tables no scan uses, and DNL, from the table, frame and scan headers alone.

    A function of those bytes only.
    A table definition is used when a later scan refers to its key before the key is defined again.
    """
    from deident.formats import jpeg_scan as js

    frames = [m for m, _ in segments if m in SOF]
    if (
        len(frames) > 1
        or any(m not in HUFFMAN_DCT for m in frames)
        or any(m in HIERARCHY for m, _ in segments)
    ):
        raise UnsupportedFormat(
            "arithmetic-coded, lossless or hierarchical JPEG is not supported: its coded data is not checked"
        )
    frame = next((js.FrameHeader.parse(m, p) for m, p in segments if m in SOF), None)
    if frame is not None and frame.height == 0:
        raise UnsupportedFormat(
            "JPEG whose height is given by a DNL segment (after the scan) is not supported"
        )
    tq = {c.id: c.tq for c in frame.components} if frame else {}
    progressive = frame is not None and frame.marker == js.PROGRESSIVE_HUFFMAN
    defs: list[tuple[int, tuple[str, int], bytes]] = []  # (segment index, key, raw table)
    used: set[int] = set()  # indices into defs
    latest: dict[tuple[str, int], int] = {}
    changes: list[tuple[int, bytes | None, str, str]] = []
    scans: list = []  # jpeg_scan.ScanHeader, in order
    for i, (marker, payload) in enumerate(segments):
        if marker == DRI and len(payload) != 2:
            raise CorruptFile(
                js.LONGER.format("restart interval") if payload[2:] else "JPEG: truncated DRI segment"
            )
        if marker == 0xDB:
            for tid, raw in js.parse_dqt(payload):
                latest[("q", tid)] = len(defs)
                defs.append((i, ("q", tid), raw))
        elif marker == 0xC4:
            for tc, th, raw in js.parse_dht(payload, {}):
                latest[("dc" if tc == 0 else "ac", th)] = len(defs)
                defs.append((i, ("dc" if tc == 0 else "ac", th), raw))
        elif marker == 0xDC:
            changes.append(
                (i, None, "jpeg.dnl", "number-of-lines segment (the height is in the frame header)")
            )
        elif marker == DAC:
            changes.append(
                (i, None, "jpeg.table", "arithmetic-coding conditioning table (Huffman-coded image)")
            )
        elif marker == SOS and frame is not None:
            scan = js.ScanHeader.parse(payload)
            scans.append(scan)
            read = _huffman_read(scan, progressive)
            for cid, td, ta in scan.components:
                keys = [("q", tq.get(cid, -1)), *((cls, {"dc": td, "ac": ta}[cls]) for cls in read)]
                used.update(latest[k] for k in keys if k in latest)
    if frame is not None:
        js.check_progression(frame, scans)
    by_segment: dict[int, list[tuple[int, tuple[str, int], bytes]]] = {}
    for n, (i, key, raw) in enumerate(defs):
        by_segment.setdefault(i, []).append((n, key, raw))
    for i, tables in by_segment.items():
        unused = [(key, raw) for n, key, raw in tables if n not in used]
        if not unused:
            continue
        kept = b"".join(raw for n, _, raw in tables if n in used)
        for key, raw in unused:
            kind = "quantisation" if key[0] == "q" else f"{key[0].upper()} Huffman"
            detail = f"{kind} table {key[1]} that no scan uses, {len(raw)} bytes"
            changes.append((i, kept or None, "jpeg.table", detail))
    restart = any(m == DRI for m, _ in segments)
    return _TablePlan(frame, restart, tuple(changes))


def redact_jpeg(original: bytes, redactions: list, redacted_pixels, reencode: bool = False) -> bytes:
    """The JPEG with ``redactions`` (stored coordinates) applied: the one place JPEG pixels change.

    In the DCT domain when possible (``formats.jpeg_dct``: only the touched blocks change); decode and
    re-encode (``redacted_pixels``) when ``reencode_reason`` gives a reason, the one place that decides
    (and that the report quotes).
    """
    if reencode_reason(original, redactions, reencode) is None:
        from deident.formats.jpeg_dct import DctUnsupported, redact_dct

        try:
            return redact_dct(original, redactions)
        except DctUnsupported:
            pass  # failed while encoding (MozJPEG could not make it progressive again): re-encode instead
    return reencode_jpeg(original, redacted_pixels)


def reencode_reason(original: bytes, redactions: list, reencode: bool) -> str | None:
    """Why ``redact_jpeg`` will decode and re-encode rather than edit coefficients; None if it will not."""
    if reencode:
        return "--reencode"
    try:
        from deident.formats.jpeg_dct import STYLES, unsupported_reason
    except ImportError:
        return "DCT-domain redaction is not installed"
    needs_pixels = sorted({r.style for r in redactions} - set(STYLES))
    if needs_pixels:
        return f"{' and '.join(needs_pixels)} needs decoded pixels"
    return unsupported_reason(original)


def reencode_jpeg(original: bytes, stored) -> bytes:
    """Encode redacted stored pixels with the original's quantisation tables and chroma subsampling."""
    from PIL import JpegImagePlugin

    from deident.formats.pixels import open_image

    src = open_image(original)
    kwargs = {"qtables": src.quantization} if getattr(src, "quantization", None) else {"quality": 95}
    sampling = JpegImagePlugin.get_sampling(src) if src.mode == "RGB" else -1
    if sampling != -1:
        kwargs["subsampling"] = sampling
    if src.info.get("icc_profile"):
        kwargs["icc_profile"] = src.info["icc_profile"]
    buf = io.BytesIO()
    stored.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


class JpegDocument(WholeFileDocument):
    format = "jpeg"
    # Let libjpeg read the coded data (``coded_view``): not when opened, only once ``prepare`` or
    # ``scrub_metadata`` runs (the caller has checked the declared size by then).
    decode = False

    def __init__(self, source: Source):
        super().__init__(source)
        self.pending: list[Redaction] = []
        self.reencode_reported = False  # the report says once why pixels were not edited in the DCT domain
        self._orientation = exif_orientation(walk(self.data))  # kept through scrub and re-encode

    def prepare(self, ctx: Context) -> None:
        super().prepare(ctx)
        self._size_checked()

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        self._size_checked()
        return super().scrub_metadata(ctx)

    def _size_checked(self) -> None:
        if not self.decode:
            self.decode, self._parsed = True, None

    def _items(self, data: bytes) -> list[Item]:
        return list(segment_items(data, walk(data), self.decode))

    def _kept(self) -> list[Item]:
        if self.orientation == 1:
            return []
        return [Item("exif.orientation", "APP1 segment", "display orientation (only this EXIF field)")]

    @property
    def orientation(self) -> int:
        return self._orientation

    def _clean(self, data: bytes) -> bytes:
        return clean_jpeg(data, self.orientation, self.decode)

    def _dims(self) -> ImageDims:
        for seg in walk(self.data).chunks:
            if seg.marker in SOF and len(seg.payload) >= 5:
                h, w = struct.unpack(">HH", seg.payload[1:5])
                return ImageDims(w, h)
        raise CorruptFile("JPEG has no frame header (SOF)")

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        img = self.stored(frame_index, ctx)
        stored = to_stored(redactions, self.orientation, img.size)
        self.pending += stored  # every redaction so far, re-applied to the original at each write
        self.edited[frame_index] = redact_image(img, stored)  # what frames() shows meanwhile
        reason = reencode_reason(self.data, self.pending, ctx.options.reencode)
        if reason is None or self.reencode_reported:
            return []
        self.reencode_reported = True
        detail = f"decoded and re-encoded with the input's quantisation tables ({reason})"
        return [Finding("pixels", "jpeg.reencoded", "image", Action.REPLACED, detail)]

    def _encode(self, ctx: Context) -> bytes:
        return redact_jpeg(self.data, self.pending, self.edited[0], ctx.options.reencode)


def open_jpeg(source: Source) -> JpegDocument:
    return JpegDocument(source)
