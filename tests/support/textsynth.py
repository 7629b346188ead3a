"""A labelled burned-in text test set built offline, and the leak score it is judged by.

Why synthetic: no public clinical image set with labelled burned-in PHI may ship with the project, but the
text stage must be measured on what a single Tesseract pass misses: labels rotated 90/180/270 degrees or a
few degrees, light text on dark, coloured text, 14-px text on multi-megapixel frames, text on tissue.
Backgrounds are real images scikit-image ships (histology, retina, coffee, camera) and a radiograph-like
phantom. Every line's exact ink pixels are recorded, so a scrub is scored without reading any text:
a line is *leaked* when some stretch of its ink keeps more than ``LEAK_RATIO`` of the contrast it had
against its own surroundings.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from support import need
from support import textsynth as ts

LEAK_RATIO = 0.35

# Identifying label lines (all invented) and harmless ones, with a kind for PHI-mode checks.
PHI_LINES = (
    ("name", "DAVIDSON, Douglas"),
    ("name", "Maria Gonzalez-Ruiz"),
    ("name", "Pt: KOWALSKI Anna"),
    ("date", "DOB 03/11/1948"),
    ("date", "01.09.2012"),
    ("date", "2019-07-23 14:02"),
    ("mrn", "MRN 00482913"),
    ("mrn", "S17-04522"),
    ("mrn", "Acc# A2318874"),
    ("phone", "Tel (617) 555-0143"),
    ("phone", "+44 20 7946 0958"),
    ("email", "j.smith@hospital.org"),
)
SAFE_LINES = ("H&E 40x", "100 µm", "Portable", "CD20", "Ki-67 10X", "1 mm", "Semi-Upright", "AP")


def _gray3(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        data = need("skimage.data", "scikit-image's sample photos")

        return _gray3(getattr(data, name)())

    return load


def _radiograph() -> np.ndarray:
    """A chest-film-like phantom: dark surround, bright smooth body, noise."""
    rng = np.random.default_rng(7)
    h, w = 600, 520
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    body = np.exp(-(((xx - w / 2) / (w * 0.33)) ** 2 + ((yy - h * 0.55) / (h * 0.42)) ** 4))
    lungs = sum(
        np.exp(-(((xx - cx) / (w * 0.12)) ** 2 + ((yy - h * 0.5) / (h * 0.22)) ** 2))
        for cx in (0.33 * w, 0.67 * w)
    )
    img = 20 + 180 * body - 70 * lungs + rng.normal(0, 6, (h, w))
    return _gray3(np.clip(img, 0, 255).astype(np.uint8))


BACKGROUNDS: dict[str, Callable[[], np.ndarray]] = {
    "histology": _skimage("immunohistochemistry"),
    "retina": _skimage("retina"),
    "coffee": _skimage("coffee"),
    "camera": _skimage("camera"),
    "radiograph": _radiograph,
}


def background(name: str, size: tuple[int, int]) -> np.ndarray:
    """The named background resized to (width, height)."""
    import cv2

    return cv2.resize(BACKGROUNDS[name](), size, interpolation=cv2.INTER_CUBIC)


def fonts() -> list[str]:
    """DejaVu TrueType fonts when the system has them ('' stands for Pillow's built-in font)."""
    found = sorted(glob.glob("/usr/share/fonts/truetype/dejavu/DejaVu*.ttf"))
    wanted = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")
    picked = [f for f in found if f.rsplit("/", 1)[-1] in wanted]
    return picked or [""]


def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


@dataclass
class Line:
    kind: str  # name | date | mrn | phone | email | safe
    text: str
    x: int  # top-left of ``ink`` in the image
    y: int
    ink: np.ndarray  # bool mask of the glyph pixels
    size: int  # font size in px
    angle: float


@dataclass
class Sample:
    name: str
    rgb: np.ndarray
    lines: list[Line] = field(default_factory=list)

    @property
    def text_free(self) -> bool:
        return not self.lines


def render(text: str, size: int, font: str, angle: float) -> np.ndarray:
    """Coverage (0-255) of ``text`` rotated by ``angle`` degrees counter-clockwise."""
    from PIL import Image, ImageDraw

    f = _font(font, size)
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=f)
    pad = max(2, size // 4)
    img = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 0)
    ImageDraw.Draw(img).text((pad - x0, pad - y0), text, fill=255, font=f)
    if angle % 90 == 0:
        img = img.rotate(angle, expand=True)
    else:
        img = img.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    return np.asarray(img)


def _colour(bg_patch: np.ndarray, rng: np.random.Generator, style: str) -> np.ndarray:
    light = float(bg_patch.mean()) < 110
    table = {
        "plain": [(255, 255, 255)] if light else [(0, 0, 0)],
        "coloured": [(255, 230, 40), (80, 255, 255), (255, 120, 255)]
        if light
        else [(200, 0, 0), (0, 0, 170)],
    }
    options = table[style]
    return np.array(options[int(rng.integers(len(options)))], np.float32)


def place(sample: Sample, kind: str, text: str, size: int, font: str, angle: float, style: str, rng) -> bool:
    """Draw one line at a free random spot; False when no spot was free."""
    cov = render(text, size, font, angle)
    h, w = cov.shape
    H, W = sample.rgb.shape[:2]
    if h >= H or w >= W:
        return False
    for _ in range(60):
        x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
        if all(_apart((x, y, w, h), ln) for ln in sample.lines):
            break
    else:
        return False
    patch = sample.rgb[y : y + h, x : x + w].astype(np.float32)
    if style == "plain" and float(patch.std()) > 45:  # keep labels legible: put a plate behind busy spots
        style = "coloured"
    colour = _colour(patch, rng, style)
    a = (cov.astype(np.float32) / 255.0)[..., None]
    sample.rgb[y : y + h, x : x + w] = np.clip(patch * (1 - a) + colour * a, 0, 255).astype(np.uint8)
    sample.lines.append(Line(kind, text, x, y, cov >= 128, size, angle))
    return True


def _apart(box: tuple[int, int, int, int], ln: Line) -> bool:
    x, y, w, h = box
    gap = 2 * ln.size
    lh, lw = ln.ink.shape
    return x + w + gap < ln.x or ln.x + lw + gap < x or y + h + gap < ln.y or ln.y + lh + gap < y


ANGLES = (0, 90, 180, 270, 4, -7, 0, 0)
SIZES = (14, 18, 24, 32, 48, 96)
STYLES = ("plain", "coloured")


def make_sample(index: int, size: tuple[int, int] = (1024, 768), n_lines: int = 4, seed: int = 0) -> Sample:
    """One image: a background and ``n_lines`` lines varied by index (0 lines = a text-free control)."""
    rng = np.random.default_rng(seed * 100_003 + index)
    names = list(BACKGROUNDS)
    bg = names[index % len(names)]
    sample = Sample(f"{bg}-{index}", background(bg, size))
    all_fonts = fonts()
    for k in range(n_lines):
        j = index * 7 + k
        if k % 3 == 2:
            kind, text = "safe", SAFE_LINES[j % len(SAFE_LINES)]
        else:
            kind, text = PHI_LINES[j % len(PHI_LINES)]
        place(
            sample,
            kind,
            text,
            SIZES[j % len(SIZES)] if min(size) >= 600 else 14 + (j % 3) * 6,
            all_fonts[j % len(all_fonts)],
            ANGLES[(index + k) % len(ANGLES)],
            STYLES[j % len(STYLES)],
            rng,
        )
    return sample


def make_set(
    count: int, size: tuple[int, int] = (1024, 768), controls: int = 0, seed: int = 0
) -> list[Sample]:
    """``count`` labelled images plus ``controls`` text-free ones, all deterministic for a seed."""
    out = [make_sample(i, size, seed=seed) for i in range(count)]
    out += [make_sample(count + i, size, n_lines=0, seed=seed) for i in range(controls)]
    return out


def _contrast(img: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Per-ink-pixel distance to the local background (the ink inpainted from its surroundings)."""
    import cv2

    bg = cv2.inpaint(img, ink.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return np.abs(img.astype(np.float32) - bg.astype(np.float32)).max(axis=2)


def leaked(line: Line, before: np.ndarray, after: np.ndarray) -> bool:
    """True when any stretch of the line (about two text heights long) keeps > LEAK_RATIO of its contrast."""
    m = 2 * line.size
    lh, lw = line.ink.shape
    H, W = before.shape[:2]
    x0, y0 = max(0, line.x - m), max(0, line.y - m)
    x1, y1 = min(W, line.x + lw + m), min(H, line.y + lh + m)
    ink = np.zeros((y1 - y0, x1 - x0), bool)
    ink[line.y - y0 : line.y - y0 + lh, line.x - x0 : line.x - x0 + lw] = line.ink
    c0 = _contrast(np.ascontiguousarray(before[y0:y1, x0:x1]), ink)
    c1 = _contrast(np.ascontiguousarray(after[y0:y1, x0:x1]), ink)
    vertical = lh > lw
    step = max(4, 2 * line.size)
    length = ink.shape[0] if vertical else ink.shape[1]
    for s in range(0, length, step):
        sl = (slice(s, s + step), slice(None)) if vertical else (slice(None), slice(s, s + step))
        sel = ink[sl]
        if sel.sum() < 8:
            continue
        base = float(c0[sl][sel].mean())
        if base > 1e-3 and float(c1[sl][sel].mean()) / base > LEAK_RATIO:
            return True
    return False


def leaked_lines(sample: Sample, after: np.ndarray) -> list[Line]:
    return [ln for ln in sample.lines if leaked(ln, sample.rgb, after)]


def changed_fraction(before: np.ndarray, after: np.ndarray) -> float:
    return float(np.any(before != after, axis=2).mean())


HARMLESS = {"Portable", "L", "H&E", "H&E 40x"}


def lines_image(texts: list[str], seed: int, grey: bool):
    import numpy as np

    sample = ts.Sample("batch", ts.background("radiograph" if grey else "histology", (900, 640)))
    rng = np.random.default_rng(seed)
    for text in texts:
        kind = "safe" if text in HARMLESS else "name"
        assert ts.place(sample, kind, text, 34, ts.fonts()[0], 0, "plain", rng), text
    if grey:
        mono = sample.rgb.mean(axis=2).astype(np.uint8)
        sample.rgb = np.dstack([mono] * 3)
    return sample
