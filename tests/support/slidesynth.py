"""A minimal 3DHISTECH MIRAX (MRXS) slide, written the way OpenSlide documents the format.

``X.mrxs`` (opaque bytes) beside a folder ``X/`` holding ``Slidedat.ini`` (key file), ``Index.dat`` and one
``Data0000.dat``. Index.dat: a five-character version and the SLIDE_ID, then little-endian int32s: pointers
to the hierarchical and non-hierarchical record tables; one record per ``VAL`` of the slidedat, each a
pointer to a linked list of data pages (the first page empty, the last one's next pointer 0). A
hierarchical page holds (image index, offset, length, file number) items, one per JPEG image of a zoom
level; a non-hierarchical page holds one item (0, 0, offset, length, file number): the macro, the label,
the preview, the camera positions. Images are JPEGs packed into the data file; the camera positions
put them on a plain grid without overlap.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from support import need

SLIDE_ID = "0f3d5c2a9b8e4d7c6a5b4c3d2e1f0a9b"
IMAGE = 256  # every stored image is IMAGE x IMAGE pixels
GRID = 4  # base images across and down
LEVELS = 3
# Planted in what de-identification must remove: the slidedat's free text, the data file's header, the label.
PLANTED = [b"SMITH_JANE", b"S17-04522", b"29/12/2020", b"MRK-PROJECT", b"MRK-DATAHEAD", b"MRK-COMPUTER"]


def jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def tissue_image(x: int, y: int, level: int) -> np.ndarray:
    rng = np.random.default_rng(100 * level + 10 * y + x)
    yy, xx = np.mgrid[0:IMAGE, 0:IMAGE]
    arr = np.stack([200 + (xx + x * 7) % 40, 110 + (yy + y * 5) % 60, 170 + ((xx + yy) % 50)], axis=2)
    return np.clip(arr + rng.integers(-10, 10, arr.shape), 0, 255).astype(np.uint8)


def label_image(w: int = 300, h: int = 320) -> np.ndarray:
    img = Image.new("RGB", (w, h), (250, 250, 245))
    d = ImageDraw.Draw(img)
    for i, y in enumerate(range(20, h - 30, 40)):
        d.text((10, y), f"SMITH JANE S17-0452{i}", fill=(0, 0, 0))
    return np.asarray(img).copy()


@dataclass
class MrxsSlide:
    mrxs: Path
    folder: Path
    tiles: list[bytes] = field(default_factory=list)  # every hierarchical image, as stored
    associated: dict[str, bytes] = field(default_factory=dict)  # macro / label / preview JPEG bytes
    positions: tuple[int, int] = (0, 0)  # (offset, length) of the camera position buffer in Data0000.dat


def make_mrxs(directory: Path, name: str = "S17-04522", *, general_extra: str = "") -> MrxsSlide:
    """Write ``name.mrxs`` and ``name/`` under ``directory``; return where the tiles and images are."""
    folder = directory / name
    folder.mkdir(parents=True)
    mrxs = directory / f"{name}.mrxs"
    mrxs.write_bytes(b"MRK-MRXSFILE SMITH_JANE\r\n")
    slide = MrxsSlide(mrxs, folder)

    data = bytearray(b"01.02" + SLIDE_ID.encode() + b"MRK-DATAHEAD SMITH_JANE\0" * 4)
    hier: list[list[tuple[int, int, int, int]]] = []
    for level in range(LEVELS):
        step = 1 << level
        items = []
        for y in range(0, GRID, step):
            for x in range(0, GRID, step):
                blob = jpeg(tissue_image(x, y, level))
                items.append((y * GRID + x, len(data), len(blob), 0))
                slide.tiles.append(blob)
                data += blob
        hier.append(items)
    macro = np.full((200, 600, 3), 230, np.uint8)
    macro[:, 420:] = label_image(180, 200)
    nonhier = []
    for role, arr in (("macro", macro), ("label", label_image()), ("preview", macro[::2, ::2].copy())):
        blob = jpeg(np.ascontiguousarray(arr))
        slide.associated[role] = blob
        nonhier.append((len(data), len(blob), 0))
        data += blob
    positions = b"".join(
        struct.pack("<bii", 1, (i % GRID) * IMAGE, (i // GRID) * IMAGE) for i in range(GRID * GRID)
    )
    slide.positions = (len(data), len(positions))
    nonhier.append((len(data), len(positions), 0))
    data += positions
    data += b"MRK-DATAHEAD trailing SMITH_JANE"
    (folder / "Data0000.dat").write_bytes(bytes(data))
    (folder / "Index.dat").write_bytes(_index(hier, nonhier))
    (folder / "Slidedat.ini").write_bytes(
        ("\ufeff" + _slidedat(general_extra)).replace("\n", "\r\n").encode()
    )
    return slide


def _index(hier, nonhier) -> bytes:
    head = b"01.02" + SLIDE_ID.encode()
    out = bytearray(head + b"\0" * 8)
    i32 = struct.Struct("<i")

    def put(values) -> int:
        at = len(out)
        out.extend(b"".join(i32.pack(v) for v in values))
        return at

    def listed(page: list[int]) -> int:
        first = put(page)
        return put([0, first])  # the empty first page, then the page with the items

    hier_records = [listed([len(items), 0, *[v for it in items for v in it]]) for items in hier]
    # A non-hierarchical page's next pointer is not always 0 (OpenSlide has seen 1253): one says so here.
    nonhier_records = [listed([1, 1253 if n == 0 else 0, 0, 0, *it]) for n, it in enumerate(nonhier)]
    out[len(head) : len(head) + 4] = i32.pack(put(hier_records))
    out[len(head) + 4 : len(head) + 8] = i32.pack(put(nonhier_records))
    return bytes(out)


def _slidedat(general_extra: str) -> str:
    levels = "\n".join(
        f"HIER_0_VAL_{z}=ZoomLevel_{z}\nHIER_0_VAL_{z}_SECTION=LAYER_0_LEVEL_{z}_SECTION"
        for z in range(LEVELS)
    )
    sections = "\n".join(
        f"[LAYER_0_LEVEL_{z}_SECTION]\nOVERLAP_X=0\nOVERLAP_Y=0\nMICROMETER_PER_PIXEL_X={0.25 * (1 << z)}\n"
        f"MICROMETER_PER_PIXEL_Y={0.25 * (1 << z)}\nIMAGE_FORMAT=JPEG\nIMAGE_FILL_COLOR_BGR=16777215\n"
        f"DIGITIZER_WIDTH={IMAGE}\nDIGITIZER_HEIGHT={IMAGE}\nIMAGE_CONCAT_FACTOR={0 if z == 0 else 1}\n"
        f"COMPRESSION_FACTOR=90\n"
        for z in range(LEVELS)
    )
    return f"""[GENERAL]
SLIDE_VERSION=01.03
SLIDE_ID={SLIDE_ID}
SLIDE_NAME=SMITH_JANE_S17-04522
SLIDE_CREATIONDATETIME=29/12/2020 09:12:44
PROJECT_NAME=MRK-PROJECT
COMPUTER_NAME=MRK-COMPUTER
IMAGENUMBER_X={GRID}
IMAGENUMBER_Y={GRID}
OBJECTIVE_MAGNIFICATION=20
CameraImageDivisionsPerSide=1
{general_extra}
[HIERARCHICAL]
HIER_COUNT=1
HIER_0_NAME=Slide zoom level
HIER_0_COUNT={LEVELS}
{levels}
NONHIER_COUNT=2
NONHIER_0_NAME=Scan data layer
NONHIER_0_COUNT=3
NONHIER_0_VAL_0=ScanDataLayer_SlideThumbnail
NONHIER_0_VAL_0_SECTION=NONHIERLAYER_0_LEVEL_0_SECTION
NONHIER_0_VAL_1=ScanDataLayer_SlideBarcode
NONHIER_0_VAL_1_SECTION=NONHIERLAYER_0_LEVEL_1_SECTION
NONHIER_0_VAL_2=ScanDataLayer_SlidePreview
NONHIER_0_VAL_2_SECTION=NONHIERLAYER_0_LEVEL_2_SECTION
NONHIER_1_NAME=VIMSLIDE_POSITION_BUFFER
NONHIER_1_COUNT=1
NONHIER_1_VAL_0=default
NONHIER_1_VAL_0_SECTION=NONHIERLAYER_1_LEVEL_0_SECTION
INDEXFILE=Index.dat
[DATAFILE]
FILE_COUNT=1
FILE_0=Data0000.dat
{sections}
[NONHIERLAYER_0_LEVEL_0_SECTION]
THUMBNAIL_IMAGE_TYPE=JPEG
[NONHIERLAYER_0_LEVEL_1_SECTION]
BARCODE_IMAGE_TYPE=JPEG
SCANNER_HARDWARE_ID=MRK-COMPUTER
[NONHIERLAYER_0_LEVEL_2_SECTION]
PREVIEW_IMAGE_TYPE=JPEG
[NONHIERLAYER_1_LEVEL_0_SECTION]
VIMSLIDE_POSITION_DATA_FORMAT_VERSION=257
OPERATOR=MRK-COMPUTER
"""


HEADER = "Aperio Image Library v12.0.15"


IDENT = "Date = 12/29/2020|Time = 09:12:44|User = jdoe|Filename = SMITH_JANE_S17-04522|ScanScope ID = SS7731"


IDENT += "|Barcode = S17-04522-A1|Parmset = MRK-PARMSET"


BASE = (1536, 1024)  # width, height of level 0


TILE = 256


def tissue(w: int, h: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([200 + (xx % 37), 120 + (yy % 53), 180 + ((xx + yy) % 41)], axis=2)
    return np.clip(arr + rng.integers(-15, 15, arr.shape), 0, 255).astype(np.uint8)


def slide_glass(w: int = 600, h: int = 200, label_right: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(macro, label): glass with a pink tissue blob, a white paper label with dark writing at one end."""
    rng = np.random.default_rng(5)
    glass = np.clip(225 + rng.integers(-8, 8, (h, w, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(glass)
    d = ImageDraw.Draw(img)
    d.ellipse((w * 0.42, h * 0.2, w * 0.6, h * 0.8), fill=(214, 120, 170))
    lw = int(w * 0.3)
    x0 = w - lw if label_right else 0
    d.rectangle((x0, 0, x0 + lw - 1, h - 1), fill=(250, 250, 245))
    for i, y in enumerate(range(15, h - 20, 28)):
        d.text((x0 + 10, y), f"SMITH JANE S17-{4522 + i}", fill=(10, 10, 10))
    for k in range(0, lw - 20, 6):  # a barcode
        d.rectangle((x0 + 10 + k, h - 18, x0 + 12 + k + (k % 4), h - 4), fill=(0, 0, 0))
    macro = np.asarray(img).copy()
    label = np.rot90(macro[:, x0 : x0 + lw], 1)  # label photos are not always the macro's way up
    label = np.asarray(Image.fromarray(np.ascontiguousarray(label)).resize((h * 2, lw * 2)))
    return macro, label


def make_svs(path: Path, *, bigtiff: bool = False, with_label: bool = True) -> dict:
    """An SVS-like file: 3 tiled levels, a stripped thumbnail, a label and a macro, Aperio descriptions."""
    w, h = BASE
    base = tissue(w, h)
    levels = [base, base[::2, ::2].copy(), base[::4, ::4].copy()]
    macro, label = slide_glass()
    dims = f"{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}) JPEG/RGB Q=70"
    fields = f"AppMag = 20|StripeWidth = 2040|{IDENT}|MPP = 0.4990|Left = 25.69"
    common = {"metadata": None, "software": "MRK-SOFTWARE", "photometric": "rgb"}
    make = [(271, "s", 0, "MRK-SCANNER-MAKE", True)]
    tifffile = need("tifffile", "writes the synthetic SVS slide")
    with tifffile.TiffWriter(path, bigtiff=bigtiff) as tw:
        tw.write(
            levels[0],
            tile=(TILE, TILE),
            compression="zlib",
            description=f"{HEADER}\r\n{dims}|{fields}",
            datetime="2020:12:29 09:12:44",
            extratags=make,
            **common,
        )
        thumb = base[::8, ::8].copy()
        tw.write(
            thumb,
            rowsperstrip=16,
            description=f"{HEADER}\r\n{w}x{h} -> {thumb.shape[1]}x{thumb.shape[0]} - "
            f"|AppMag = 20|{IDENT}|MPP = 0.4990",
            **common,
        )
        for lvl in levels[1:]:
            tw.write(
                lvl,
                tile=(TILE, TILE),
                compression="zlib",
                subfiletype=1,
                description=f"{HEADER}\r\n{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}) "
                f"-> {lvl.shape[1]}x{lvl.shape[0]} JPEG/RGB Q=70|AppMag = 20|{IDENT}|MPP = 0.4990",
                **common,
            )
        if with_label:
            tw.write(
                label,
                rowsperstrip=label.shape[0],
                compression="zlib",
                subfiletype=1,
                description=f"{HEADER}\r\nlabel {label.shape[1]}x{label.shape[0]}\r\nMRK-LABEL-DESC",
                **common,
            )
        tw.write(
            macro,
            rowsperstrip=32,
            compression="zlib",
            subfiletype=9,
            description=f"{HEADER}\r\nmacro {macro.shape[1]}x{macro.shape[0]}",
            **common,
        )
    return {"levels": levels, "macro": macro, "label": label}
