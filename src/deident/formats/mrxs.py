"""3DHISTECH MIRAX (MRXS) slides: a file ``X.mrxs`` and a folder ``X/`` (Slidedat.ini, Index.dat, Data*.dat).

The ``.mrxs`` file itself holds nothing a reader needs (OpenSlide only checks that it exists); the slide is
the folder. ``Slidedat.ini`` is a key file: the scan's free text (slide name, dates, project, computer) in
``[GENERAL]``, the layers in ``[HIERARCHICAL]``: *hierarchical* ones (zoom levels of the tissue: JPEG, PNG
or BMP images packed into the data files) and *non-hierarchical* ones (camera positions and the "Scan data
layer": the label ``ScanDataLayer_SlideBarcode``, the macro ``ScanDataLayer_SlideThumbnail`` and its
preview ``ScanDataLayer_SlidePreview``). ``Index.dat`` maps each layer value (a *record*) to byte ranges
of the data files (OpenSlide's format notes: https://openslide.org/formats/mirax/).

What the scrub writes, from keep-lists, never by editing the original in place:

- ``Slidedat.ini`` rebuilt: ``[GENERAL]`` keeps only the keys a reader needs (``SLIDE_ID`` replaced by a
  keyed pseudonym), layer and section keys keep only values of their own form (numbers, layer names,
  image types); label, macro, preview and any unknown non-hierarchical value are taken out and the layer
  renumbered. Every dropped key is a finding (name and length, never the value).
- ``Index.dat`` written anew from the records kept: the same tissue byte ranges, nothing else.
- each data file at its own size, the kept ranges (tiles, camera positions) copied byte for byte at
  their offsets and **every other byte zero**: the removed images, headers and padding are gone, and
  every tile is where the index says.
- the ``.mrxs`` file empty (its own bytes are undocumented; a reader needs only its name).

Pixel stages see one bounded overview: the smallest zoom level of at most ``OVERVIEW_MAX_PIXELS``
assembled on its image grid (overlaps ignored). Something found there fails the file, as for TIFF slides.
"""

from __future__ import annotations

import configparser
import io
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from deident.errors import CorruptFile, UnsupportedFormat
from deident.findings import Action, Finding
from deident.formats.base import Context, Document, Frame, Source
from deident.regions import Redaction

SLIDEDAT = "Slidedat.ini"
INDEX_VERSION = b"01.02"
SLIDEDAT_MAX = 1 << 20
OVERVIEW_MAX_PIXELS = 4_000_000
MAX_PAGES = 1 << 20  # data pages per record: a loop guard

# Values of the "Scan data layer" and what they show: removed with their bytes.
ASSOCIATED = {
    "ScanDataLayer_SlideBarcode": "label",
    "ScanDataLayer_SlideThumbnail": "macro",
    "ScanDataLayer_SlidePreview": "preview",
}
# Non-hierarchical layers kept: the camera positions the tiles are placed by. Any other layer goes.
KEEP_NONHIER = {"VIMSLIDE_POSITION_BUFFER", "StitchingIntensityLayer"}
# [GENERAL] keys kept, each with the form of its value (SLIDE_ID is replaced by a keyed pseudonym).
GENERAL_KEEP = {
    "SLIDE_VERSION": r"\d{1,2}\.\d{1,2}",
    "IMAGENUMBER_X": r"\d{1,6}",
    "IMAGENUMBER_Y": r"\d{1,6}",
    "OBJECTIVE_MAGNIFICATION": r"\d{1,3}",
    "CameraImageDivisionsPerSide": r"\d{1,3}",
}
_NAME = re.compile(r"(?!.*\d{5})[A-Za-z][A-Za-z0-9_ .()-]{0,63}")  # a layer or section name: no long numbers
_FILE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}\.dat")
_NUMBER = re.compile(r"-?\d{1,12}(\.\d{1,12})?")
_IMAGE_TYPE = {"JPEG", "PNG", "BMP24"}
_HIER_KEY = re.compile(r"(HIER|NONHIER)_(\d+)_(NAME|COUNT|VAL_(\d+)(_SECTION)?)")


def companion(path: Path) -> Path:
    """The folder of ``X.mrxs`` (or of a temporary file written for it): ``X/`` beside it."""
    from deident.paths import temp_owner

    name = temp_owner(path.name) or path.name
    return path.with_name(name[: -len(".mrxs")])


# ---------------------------------------------------------------- the model


@dataclass
class Value:
    """One VAL of a layer: a record of Index.dat."""

    name: str
    section: str | None
    record: int  # its number in the hierarchical or non-hierarchical table
    ranges: list[tuple[int, int, int]] = field(default_factory=list)  # (file, offset, length)
    images: list[int] = field(default_factory=list)  # hierarchical: image index of each range
    unread: bool = False  # a record that could not be read (its bytes are zeroed in the output)


@dataclass
class Layer:
    name: str
    values: list[Value]


@dataclass
class Slide:
    ini: configparser.RawConfigParser
    bom: bool
    files: list[str]
    index_name: str
    hier: list[Layer]
    nonhier: list[Layer]


def _ini(folder: Path) -> tuple[configparser.RawConfigParser, bool]:
    path = folder / SLIDEDAT
    if path.stat().st_size > SLIDEDAT_MAX:
        raise CorruptFile(f"{SLIDEDAT} is larger than {SLIDEDAT_MAX} bytes")
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    ini = configparser.RawConfigParser(strict=False, interpolation=None)
    ini.optionxform = str  # keys are case-sensitive
    try:
        ini.read_string(raw.decode("utf-8-sig", "replace"))
    except configparser.Error as exc:
        raise CorruptFile(f"{SLIDEDAT} cannot be parsed: {type(exc).__name__}") from None
    return ini, bom


def _layers(ini: configparser.RawConfigParser, kind: str) -> list[Layer]:
    h = ini["HIERARCHICAL"]
    layers, record = [], 0
    for i in range(int(h.get(f"{kind}_COUNT", "0"))):
        values = []
        for j in range(int(h[f"{kind}_{i}_COUNT"])):
            values.append(Value(h[f"{kind}_{i}_VAL_{j}"], h.get(f"{kind}_{i}_VAL_{j}_SECTION"), record))
            record += 1
        layers.append(Layer(h[f"{kind}_{i}_NAME"], values))
    return layers


class _Index:
    """Index.dat: the version, SLIDE_ID, two table pointers; records are linked lists of data pages."""

    def __init__(self, data: bytes, slide_id: str):
        self.data = data
        head = INDEX_VERSION + slide_id.encode()
        if not data.startswith(head):
            raise CorruptFile("Index.dat does not start with the version and the slide's SLIDE_ID")
        self.roots = len(head)

    def int32(self, at: int) -> int:
        if not 0 <= at <= len(self.data) - 4:
            raise CorruptFile(f"Index.dat points past its end ({at})")
        return struct.unpack_from("<i", self.data, at)[0]

    def items(self, table: int, record: int, size: int) -> list[tuple[int, ...]]:
        """Every item of a record: ``size`` int32s each, over the record's pages.

        A non-hierarchical record (``size`` 5) is one page of one item after the empty first page; its
        next pointer is not always 0 (OpenSlide has seen 1253) and, like OpenSlide, is not followed.
        """
        head = self.int32(self.int32(self.roots + 4 * table) + 4 * record)  # the list's first (empty) page
        page = self.int32(head + 4)
        out: list[tuple[int, ...]] = []
        for _ in range(MAX_PAGES):
            count, nxt = self.int32(page), self.int32(page + 4)
            if count < 0 or page + 8 + 4 * size * count > len(self.data) or (size == 5 and count != 1):
                raise CorruptFile("Index.dat data page is damaged")
            out += [struct.unpack_from(f"<{size}i", self.data, page + 8 + 4 * size * k) for k in range(count)]
            if nxt == 0 or size == 5:
                return out
            page = nxt
        raise CorruptFile("Index.dat data pages loop")


def read_slide(folder: Path) -> Slide:
    ini, bom = _ini(folder)
    try:
        files = [ini["DATAFILE"][f"FILE_{i}"] for i in range(int(ini["DATAFILE"]["FILE_COUNT"]))]
        index_name = ini["HIERARCHICAL"]["INDEXFILE"]
        slide_id = ini["GENERAL"]["SLIDE_ID"]
        hier, nonhier = _layers(ini, "HIER"), _layers(ini, "NONHIER")
    except (KeyError, ValueError) as exc:
        raise CorruptFile(f"{SLIDEDAT} lacks a key a reader needs ({exc})") from None
    for name in [*files, index_name]:
        if not _FILE.fullmatch(name):
            raise CorruptFile(
                f"{SLIDEDAT} names a data or index file outside the slide folder ({len(name)} chars)"
            )
    index = _Index((folder / index_name).read_bytes(), slide_id)
    for n, layer in enumerate(hier):
        for v in layer.values:
            try:
                items = index.items(0, v.record, 4)
            except CorruptFile:
                if n == 0:
                    raise  # a zoom level: the tissue itself
                items = []  # another layer's record (filter, focus) OpenSlide does not read: not carried over
                v.unread = True
            for image, offset, length, fileno in items:
                v.ranges.append((fileno, offset, length))
                v.images.append(image)
    for layer in nonhier:
        for v in layer.values:
            try:
                v.ranges = [(f, o, n) for _, _, o, n, f in index.items(1, v.record, 5)]
            except CorruptFile:
                if _keeps(layer, v):
                    raise  # a record the output needs; a removed one's bytes are zeroed anyway
    sizes = [(folder / f).stat().st_size for f in files]
    for v in (v for layer in hier + nonhier for v in layer.values):
        for fileno, offset, length in v.ranges:
            if not (
                0 <= fileno < len(files) and offset >= 0 and length >= 0 and offset + length <= sizes[fileno]
            ):
                raise CorruptFile("Index.dat points outside the data files")
    return Slide(ini, bom, files, index_name, hier, nonhier)


def _keeps(layer: Layer, value: Value) -> bool:
    return layer.name in KEEP_NONHIER and value.name not in ASSOCIATED


# ---------------------------------------------------------------- the keep-list of Slidedat.ini


@dataclass
class CleanSlidedat:
    text: str
    dropped: list[tuple[str, str]]  # (where, value)


def clean_slidedat(slide: Slide, slide_id: str) -> CleanSlidedat:
    """Slidedat.ini rebuilt: kept keys in their own form, the non-hierarchical layers renumbered."""
    ini, dropped = slide.ini, []
    out: dict[str, dict[str, str]] = {"GENERAL": {}, "HIERARCHICAL": {}, "DATAFILE": {}}
    for key, value in ini["GENERAL"].items():
        if key == "SLIDE_ID":
            out["GENERAL"][key] = slide_id
        elif key in GENERAL_KEEP and re.fullmatch(GENERAL_KEEP[key], value):
            out["GENERAL"][key] = value
        else:
            dropped.append((f"[GENERAL] {_safe(key)}", value))
    h = out["HIERARCHICAL"]
    sections: list[str] = []
    for kind, layers in (("HIER", slide.hier), ("NONHIER", slide.nonhier)):
        kept = [
            Layer(layer.name, [v for v in layer.values if kind == "HIER" or _keeps(layer, v)])
            for layer in layers
        ]
        kept = [layer for layer in kept if layer.values]
        h[f"{kind}_COUNT"] = str(len(kept))
        for i, layer in enumerate(kept):
            h[f"{kind}_{i}_NAME"] = _named(layer.name)
            h[f"{kind}_{i}_COUNT"] = str(len(layer.values))
            for j, v in enumerate(layer.values):
                h[f"{kind}_{i}_VAL_{j}"] = _named(v.name)
                if v.section:
                    h[f"{kind}_{i}_VAL_{j}_SECTION"] = _named(v.section)
                    sections.append(v.section)
    h["INDEXFILE"] = slide.index_name
    for key, value in ini["HIERARCHICAL"].items():
        if not _HIER_KEY.fullmatch(key) and key not in ("HIER_COUNT", "NONHIER_COUNT", "INDEXFILE"):
            dropped.append((f"[HIERARCHICAL] {_safe(key)}", value))
    out["DATAFILE"] = {"FILE_COUNT": str(len(slide.files))} | {
        f"FILE_{i}": f for i, f in enumerate(slide.files)
    }
    for section in sections:
        out[section] = {}
        for key, value in ini[section].items() if ini.has_section(section) else ():
            if _NUMBER.fullmatch(value) or (key.endswith(("_FORMAT", "_TYPE")) and value in _IMAGE_TYPE):
                out[section][key] = value
            else:
                dropped.append((f"[{_safe(section)}] {_safe(key)}", value))
    for section in ini.sections():
        if section not in out:
            dropped.append((f"[{_safe(section)}]", " ".join(ini[section].values())))
    text = "".join(f"[{s}]\r\n" + "".join(f"{k}={v}\r\n" for k, v in keys.items()) for s, keys in out.items())
    return CleanSlidedat(("\ufeff" if slide.bom else "") + text, dropped)


def _named(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise UnsupportedFormat(
            f"{SLIDEDAT}: a layer or section name is not of the expected form ({len(value)} chars)"
        )
    return value


def _safe(name: str) -> str:
    return name if _NAME.fullmatch(name) else f"a key of {len(name)} chars"


# ---------------------------------------------------------------- the document


class MrxsDocument(Document):
    """A MIRAX slide: its folder read through Slidedat.ini and Index.dat, data files streamed."""

    format = "mrxs"

    def __init__(self, source: Source):
        self.source = source
        self.folder = companion(source.path)
        self.slide = read_slide(self.folder)
        self.scrubbed = False
        self.own_bytes = source.path.stat().st_size

    # -- what is there
    def _removed(self) -> list[tuple[str, Value]]:
        out = []
        for layer in self.slide.nonhier:
            for v in layer.values:
                if not _keeps(layer, v):
                    out.append((ASSOCIATED.get(v.name, "associated"), v))
        return out

    def _findings(self, action: Action) -> list[Finding]:
        out = []
        for role, v in self._removed():
            size = sum(n for _, _, n in v.ranges)
            what = {"label": "photo of the slide label", "macro": "whole slide, label included"}.get(
                role, "preview of the slide" if role == "preview" else "unidentified non-hierarchical record"
            )
            out.append(
                Finding("metadata", f"mrxs.{role}", f"record {v.record}", action, f"{what}, {size} bytes")
            )
        for v in (v for layer in self.slide.hier for v in layer.values if v.unread):
            out.append(
                Finding(
                    "metadata", "mrxs.unread", f"record {v.record}", action, "unreadable: not carried over"
                )
            )
        clean = clean_slidedat(self.slide, "0" * 32)
        for where, value in clean.dropped:
            out.append(
                Finding("metadata", "mrxs.slidedat", where, action, f"{SLIDEDAT} value, {len(value)} chars")
            )
        if self.own_bytes:
            out.append(
                Finding("metadata", "mrxs.file", ".mrxs file", action, f"{self.own_bytes} undocumented bytes")
            )
        gaps = self._nonzero_gaps()
        if gaps:
            out.append(
                Finding(
                    "metadata",
                    "mrxs.data",
                    "data files",
                    action,
                    f"{gaps} bytes outside the kept image records",
                )
            )
        return out

    def _kept_ranges(self) -> dict[int, list[tuple[int, int]]]:
        """Per data file, the sorted (offset, end) byte ranges the output copies."""
        ranges: dict[int, list[tuple[int, int]]] = {i: [] for i in range(len(self.slide.files))}
        kept = [v for layer in self.slide.hier for v in layer.values]
        kept += [v for layer in self.slide.nonhier for v in layer.values if _keeps(layer, v)]
        for v in kept:
            for fileno, offset, length in v.ranges:
                ranges[fileno].append((offset, offset + length))
        return {f: sorted(r) for f, r in ranges.items()}

    def _gaps(self, fileno: int) -> Iterator[tuple[int, int]]:
        size, at = (self.folder / self.slide.files[fileno]).stat().st_size, 0
        for a, b in self._kept_ranges()[fileno]:
            if a > at:
                yield at, a
            at = max(at, b)
        if size > at:
            yield at, size

    def _nonzero_gaps(self) -> int:
        """Bytes outside every kept record that are not zero (what the scrub zeroes); reads only the gaps."""
        total = 0
        for fileno, name in enumerate(self.slide.files):
            with open(self.folder / name, "rb") as fh:
                for a, b in self._gaps(fileno):
                    fh.seek(a)
                    for start in range(a, b, 1 << 22):
                        chunk = fh.read(min(1 << 22, b - start))
                        total += len(chunk) - chunk.count(0)
        return total

    def metadata_findings(self) -> list[Finding]:
        return [] if self.scrubbed else self._findings(Action.FOUND)

    def identifiers(self) -> list[str]:
        from deident.formats.items import clean_values

        values = [v for _, v in clean_slidedat(self.slide, "0" * 32).dropped]
        return clean_values(v for v in values if not _NUMBER.fullmatch(v.strip()))

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        found = self._findings(Action.REMOVED)
        self.slide_id = ctx.keyring.digest("mrxs.slide-id", self.slide.ini["GENERAL"]["SLIDE_ID"]).hex()[:32]
        found.append(
            Finding("metadata", "mrxs.slide-id", "[GENERAL] SLIDE_ID", Action.REPLACED, "keyed pseudonym")
        )
        levels = sum(len(layer.values) for layer in self.slide.hier)
        found.append(
            Finding(
                "metadata",
                "mrxs.tissue",
                "hierarchical records",
                Action.KEPT,
                f"{levels} tissue records copied byte for byte at their offsets",
            )
        )
        self.scrubbed = True
        return found

    # -- pixels: one bounded overview of the tissue
    def frames(self, ctx: Context) -> Iterator[Frame]:
        yield Frame(0, self._overview(), False, "tissue overview")

    def _overview(self):
        import numpy as np
        from PIL import Image

        ini, zoom = self.slide.ini, self.slide.hier[0] if self.slide.hier else None
        if zoom is None or zoom.name != "Slide zoom level":
            raise UnsupportedFormat("MRXS slide without a 'Slide zoom level' layer")
        across = int(ini["GENERAL"]["IMAGENUMBER_X"])
        down = int(ini["GENERAL"]["IMAGENUMBER_Y"])
        concat = 0
        for v in zoom.values:
            section = ini[v.section] if v.section and ini.has_section(v.section) else {}
            concat += int(section.get("IMAGE_CONCAT_FACTOR", 0))
            w, h = int(section.get("DIGITIZER_WIDTH", 0)), int(section.get("DIGITIZER_HEIGHT", 0))
            cols, rows = -(-across // (1 << concat)), -(-down // (1 << concat))
            if 0 < cols * w * rows * h <= OVERVIEW_MAX_PIXELS:
                break
        else:
            raise UnsupportedFormat(
                f"MRXS slide has no zoom level of at most {OVERVIEW_MAX_PIXELS} pixels for the pixel stages; "
                "run with --text off --faces off to scrub metadata and associated images only"
            )
        canvas = np.zeros((rows * h, cols * w, 3), np.uint8)
        for image, (fileno, offset, length) in zip(v.images, v.ranges, strict=True):
            x, y = (image % across) >> concat, (image // across) >> concat
            with open(self.folder / self.slide.files[fileno], "rb") as fh:
                fh.seek(offset)
                tile = np.asarray(Image.open(io.BytesIO(fh.read(length))).convert("RGB"))[:h, :w]
            canvas[y * h : y * h + tile.shape[0], x * w : x * w + tile.shape[1]] = tile
        return canvas

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        raise UnsupportedFormat(
            "text or a face was found in the tissue overview of an MRXS slide; redacting it would mean "
            "re-encoding every tile: crop or re-scan the slide, or check it by eye and use --text off"
        )

    # -- output
    def to_bytes(self, ctx: Context) -> bytes:
        self.write(io.BytesIO(), ctx)
        return b""

    def write(self, out, ctx: Context) -> None:
        """The ``.mrxs`` file is empty; the folder is written beside ``ctx.output`` (staged, then renamed)."""
        if not self.scrubbed:
            raise UnsupportedFormat("MRXS: write() before scrub_metadata()")
        final = ctx.output
        if final is None or not str(final).lower().endswith(".mrxs"):
            raise UnsupportedFormat(
                "MRXS output needs a destination named *.mrxs (its folder is written beside)"
            )
        target = companion(Path(final))
        if target.resolve() == self.folder.resolve():
            raise UnsupportedFormat("an MRXS slide cannot be scrubbed in place: write it elsewhere (-o DIR)")
        write_folder(self, target)


def write_folder(doc: MrxsDocument, target: Path) -> None:
    """Write the cleaned folder under a temporary name, flush it, then put it at ``target``."""
    import shutil
    import tempfile

    from deident.atomic import sync_dirs
    from deident.paths import temp_prefix

    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), dir=target.parent))
    os.chmod(stage, target.parent.stat().st_mode & 0o777)  # mkdtemp makes it private; the output is not
    try:
        clean = clean_slidedat(doc.slide, doc.slide_id)
        _put(stage / SLIDEDAT, [clean.text.encode("utf-8")])
        _put(stage / doc.slide.index_name, [_index_bytes(doc.slide, doc.slide_id)])
        ranges = doc._kept_ranges()
        for fileno, name in enumerate(doc.slide.files):
            _put(stage / name, _kept_bytes(doc.folder / name, ranges[fileno]))
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), dir=target.parent))
            os.replace(target, old / target.name)
            shutil.rmtree(old)
        os.replace(stage, target)
        sync_dirs([target.parent])  # the rename itself on disk
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _put(path: Path, chunks) -> None:
    with open(path, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())


def _kept_bytes(path: Path, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
    """The data file at its size: the kept ranges copied, every other byte zero."""
    size, at, chunk = path.stat().st_size, 0, 1 << 22
    with open(path, "rb") as fh:
        for a, b in [*ranges, (size, size)]:
            while at < a:
                n = min(chunk, a - at)
                yield bytes(n)
                at += n
            if b > at:
                fh.seek(at)
                while at < b:
                    data = fh.read(min(chunk, b - at))
                    if not data:
                        raise CorruptFile(f"{path.name} ended while it was copied")
                    yield data
                    at += len(data)


def _index_bytes(slide: Slide, slide_id: str) -> bytes:
    """Index.dat written anew: header, two tables, one list (empty head page, one data page) per record."""
    out = bytearray(INDEX_VERSION + slide_id.encode() + bytes(8))

    def append(values: list[int]) -> int:
        at = len(out)
        out.extend(struct.pack(f"<{len(values)}i", *values))
        return at

    def record(size_items: list[tuple[int, ...]]) -> int:
        page = append([len(size_items), 0, *[x for item in size_items for x in item]])
        return append([0, page])

    hier = [v for layer in slide.hier for v in layer.values]
    nonhier = [v for layer in slide.nonhier for v in layer.values if _keeps(layer, v)]
    hier_records = [
        record([(i, o, n, f) for i, (f, o, n) in zip(v.images, v.ranges, strict=True)]) for v in hier
    ]
    nonhier_records = [record([(0, 0, o, n, f) for f, o, n in v.ranges]) for v in nonhier]
    roots = len(INDEX_VERSION) + len(slide_id)
    struct.pack_into("<ii", out, roots, append(hier_records or [0]), append(nonhier_records or [0]))
    return bytes(out)


def open_mrxs(source: Source) -> MrxsDocument:
    folder = companion(source.path)
    if not (folder / SLIDEDAT).is_file():
        raise UnsupportedFormat(f"MRXS slide without its folder: {folder.name}/{SLIDEDAT} is missing")
    return MrxsDocument(source)
