"""Real MR frames are not filled with "text" (issue 17): a Siemens mosaic is looked at tile by tile, a ring
phantom is no letter O. Judged by the pixels written (pydicom, numpy) and by the contrast left on planted
ink (tests/support/textsynth.py), never by deident's own check.

The frames are heudiconv's test data (tests/data/real/README.md): axasc35.dcm, a 6 x 6 mosaic of 64-px EPI
slices, and the ring phantom of its MR scout.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from deident import batch
from deident.options import Options, TextMode
from support import textsynth as ts

REAL = Path(__file__).parent / "data" / "real"
OPTIONS = Options(jobs=1, key=b"mosaic-test-key-0123456789abcdef")
MOSAIC = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]


def _png(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(REAL / name) as im:
        return np.asarray(im)


def _scrub(path: Path, out: Path, **kw):
    (result,) = batch.scrub_paths([path], dataclasses.replace(OPTIONS, output_dir=out, **kw))
    return result


def _written(result) -> np.ndarray:
    import pydicom

    return pydicom.dcmread(result.output).pixel_array


def _mosaic(path: Path, pixels: np.ndarray) -> Path:
    from support.dicom import mr_image

    return mr_image(
        path, pixels, 8, ImageType=MOSAIC, AcquisitionMatrix=[64, 0, 0, 64], WindowCenter=128, WindowWidth=256
    )


# ---------------------------------------------------------------- the grid


def test_a_mosaic_s_grid_comes_from_its_acquisition_matrix():
    """The tile is the acquisition matrix's two sizes, in the order that lays the frame out as a square
    grid (heudiconv's b0dwi_for_fmap: [150, 0, 0, 152] in 1350 x 1368 -> 150 x 152 px tiles, 9 x 9); a
    frame that is no mosaic, or whose matrix does not divide it (an interpolated mosaic), has no grid."""
    from pydicom.dataset import Dataset

    from deident.dicom.pixels import mosaic_tiles
    from deident.formats.base import Tiles

    def header(image_type, matrix, rows, columns) -> Dataset:
        ds = Dataset()
        ds.ImageType, ds.AcquisitionMatrix, ds.Rows, ds.Columns = image_type, matrix, rows, columns
        return ds

    assert mosaic_tiles(header(MOSAIC, [150, 0, 0, 152], 1368, 1350)) == Tiles(150, 152)
    assert mosaic_tiles(header(MOSAIC, [64, 0, 0, 64], 384, 384)) == Tiles(64, 64)
    assert mosaic_tiles(header(MOSAIC, [0, 64, 64, 0], 384, 384)) == Tiles(64, 64)
    assert mosaic_tiles(header([*MOSAIC[:-1], "NORM"], [64, 0, 0, 64], 384, 384)) is None
    assert mosaic_tiles(header(MOSAIC, [64, 0, 0, 64], 400, 400)) is None  # interpolated: 400 / 64
    assert mosaic_tiles(header(MOSAIC, [64, 0, 0, 64], 64, 64)) is None  # one tile: a plain frame


def test_a_crop_sees_the_grid_moved():
    """Verification looks at crops: a crop from inside a tile sees that tile cut, then whole ones."""
    from deident.formats.base import Tiles

    grid = Tiles(64, 64).moved(100, 40)
    top = [(0, 0, 28, 24), (28, 0, 92, 24), (92, 0, 100, 24)]
    assert grid.boxes(100, 50) == [*top, (0, 24, 28, 50), (28, 24, 92, 50), (92, 24, 100, 50)]


# ---------------------------------------------------------------- real frames


def test_a_real_mosaic_keeps_its_slices(tmp_path):
    """heudiconv's axasc35.dcm: looked at whole, a column of three 64-px slices was one line that read
    "19" at 0.83, and 8.2 % of the frame (the column, x 197-259) was filled black. Looked at tile by tile,
    at most 1 % of the frame changes (the issue's bound for what lies outside text), and the column of
    slices is kept."""
    pixels = _png("mr_mosaic.png")
    result = _scrub(_mosaic(tmp_path / "mosaic.dcm", pixels), tmp_path / "out")
    after = _written(result)
    assert result.output and after.shape == pixels.shape
    assert np.mean(after != pixels) <= 0.01, np.mean(after != pixels)
    assert np.array_equal(after[:192, 192:256], pixels[:192, 192:256])


def test_a_ring_phantom_is_no_letter_o(tmp_path):
    """The ring phantom of heudiconv's MR scout (01-anat-scout/0001.dcm, 12-bit values 0-25), seen with
    local contrast, read "O" at 0.83 without the strokes of print, and 15 % of the 160-px frame was filled.
    A round glyph alone is no evidence of text (detect.ROUND): nothing changes."""
    pixels = _png("mr_scout_ring.png")
    assert pixels.dtype == np.uint16
    from support.dicom import mr_image

    path = mr_image(
        tmp_path / "scout.dcm",
        pixels,
        12,
        ImageType=["ORIGINAL", "PRIMARY", "M", "ND", "NORM"],
        AcquisitionMatrix=[0, 160, 160, 0],
        WindowCenter=21,
        WindowWidth=50,
    )
    assert np.array_equal(_written(_scrub(path, tmp_path / "out")), pixels)


# ---------------------------------------------------------------- burned-in text still goes


def _plant(rgb: np.ndarray, text: str, size: int, x: int, y: int) -> ts.Line:
    """White print on the frame at (x, y), as a scanner burns it in."""
    cover = ts.render(text, size, ts.fonts()[0], 0)
    h, w = cover.shape
    alpha = cover.astype(np.float32)[..., None] / 255.0
    patch = rgb[y : y + h, x : x + w].astype(np.float32)
    rgb[y : y + h, x : x + w] = np.clip(patch * (1 - alpha) + 255 * alpha, 0, 255).astype(np.uint8)
    return ts.Line("name", text, x, y, cover >= 128, size, 0)


@pytest.mark.parametrize("text_mode", [TextMode.ALL, TextMode.PHI])
def test_a_name_in_a_tile_and_across_tiles_is_still_redacted(tmp_path, text_mode):
    """On the real mosaic, a name burned into one 64-px tile (over the slice) and a name with a birth date
    written across the top row's tiles (the corner where scanners print) are both redacted: each tile is
    looked at as a picture, and the whole frame's lines that cross tiles are kept when they are no taller
    than a line in a tile can be."""
    rgb = np.repeat(_png("mr_mosaic.png")[..., None], 3, axis=2).copy()
    lines = [
        _plant(rgb, "Pt: DOE", 11, 67, 150),  # inside the tile at (64, 128)
        _plant(rgb, "Pt: KOWALSKI Anna 03/11/1948", 12, 6, 2),  # across the first four tiles
    ]
    assert lines[0].x + lines[0].ink.shape[1] <= 128 and lines[0].y + lines[0].ink.shape[0] <= 192
    assert lines[1].x + lines[1].ink.shape[1] > 192
    pixels = np.ascontiguousarray(rgb[..., 0])
    result = _scrub(_mosaic(tmp_path / "named.dcm", pixels), tmp_path / "out", text=text_mode)
    after = np.repeat(_written(result)[..., None], 3, axis=2)
    assert [ln.text for ln in lines if ts.leaked(ln, rgb, after)] == []
