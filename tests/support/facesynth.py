"""A face test set built offline from real face photos pasted into clinical-looking scenes.

Why synthetic: no public clinical photo set may ship with the project, but the detector must be measured on
real faces at clinical scales. Real faces come from images that installed packages ship (scikit-image's
astronaut, matplotlib's Grace Hopper sample); their face boxes and eye centres were annotated by hand once
(the ``SOURCES`` table). Each sample pastes one or two heads, scaled to a 40-280 px face, flipped, tilted up
to +-15 degrees, half of them partly turned (a perspective that narrows one side by up to 35 %), onto
histology, a coffee-cup photo or a plain clinic wall, and records where every face and eye landed. Face-free
controls (histology, cell microscopy, retina, a radiograph-like phantom) check false positives.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from support import need

Box = tuple[float, float, float, float]
Point = tuple[float, float]


@dataclass(frozen=True)
class FaceSource:
    name: str
    load: Callable[[], np.ndarray]  # RGB uint8
    face: Box  # brow/hairline to chin, ear to ear (hand-annotated)
    eyes: tuple[Point, Point]  # eye centres, image-left first


def _astronaut() -> np.ndarray:
    data = need("skimage.data", "scikit-image's sample photos")

    return data.astronaut()


def _grace_hopper() -> np.ndarray:
    from PIL import Image

    matplotlib = need("matplotlib", "its sample data holds the Grace Hopper photo")

    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    return np.asarray(Image.open(path).convert("RGB"))


SOURCES = (
    FaceSource("astronaut", _astronaut, (182, 75, 270, 162), ((204, 102), (246, 103))),
    FaceSource("grace_hopper", _grace_hopper, (160, 140, 365, 330), ((222, 187), (305, 185))),
)


def _immuno() -> np.ndarray:
    data = need("skimage.data", "scikit-image's sample photos")

    return data.immunohistochemistry()


def _coffee() -> np.ndarray:
    data = need("skimage.data", "scikit-image's sample photos")

    return data.coffee()


def _cells() -> np.ndarray:
    data = need("skimage.data", "scikit-image's sample photos")

    return np.repeat(data.cell()[..., None], 3, axis=2)


def _retina() -> np.ndarray:
    data = need("skimage.data", "scikit-image's sample photos")

    return data.retina()


def _radiograph() -> np.ndarray:
    """A chest-film-like grey picture: a phantom's ellipses, blurred, on a dark vignette."""
    import cv2

    data = need("skimage.data", "scikit-image's sample photos")

    phantom = cv2.resize(data.shepp_logan_phantom(), (700, 700))
    yy, xx = np.mgrid[-1:1:700j, -1:1:700j]
    film = 0.55 * phantom + 0.35 * np.exp(-(xx**2 + yy**2) * 1.5)
    film = cv2.GaussianBlur(film, (0, 0), 3)
    return np.repeat((np.clip(film, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)


def _wall(rng: np.random.Generator, shape=(720, 960)) -> np.ndarray:
    """A plain clinic wall: one pale colour, a soft light gradient and sensor noise."""
    colour = rng.choice(np.array([[226, 232, 220], [210, 225, 235], [235, 228, 212], [200, 214, 205]]))
    ramp = np.linspace(0.9, 1.05, shape[1])[None, :, None]
    noise = rng.normal(0, 3, (*shape, 3))
    return np.clip(colour[None, None, :] * ramp + noise, 0, 255).astype(np.uint8)


BACKGROUNDS: tuple[Callable[[], np.ndarray], ...] = (_immuno, _coffee)
CONTROLS: dict[str, Callable[[], np.ndarray]] = {
    "histology": _immuno,
    "microscopy": _cells,
    "retina": _retina,
    "radiograph": _radiograph,
}


@dataclass
class FaceTruth:
    box: Box  # axis-aligned box around the (tilted) annotated face
    eyes: tuple[Point, Point]
    size: float  # annotated face width in pixels after scaling
    source: str
    tilt: float
    flipped: bool
    turn: float  # 0 frontal; 0.3 = the far half of the face 30 % narrower (partly turned away)


@dataclass
class Sample:
    name: str
    rgb: np.ndarray
    faces: list[FaceTruth] = field(default_factory=list)


def _background(rng: np.random.Generator) -> np.ndarray:
    import cv2

    pick = int(rng.integers(0, len(BACKGROUNDS) + 1))
    if pick == len(BACKGROUNDS):
        return _wall(rng)
    img = BACKGROUNDS[pick]()
    return cv2.resize(img, (960, int(960 * img.shape[0] / img.shape[1])), interpolation=cv2.INTER_CUBIC)


def _transform(pts: np.ndarray, hom: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2), hom).reshape(-1, 2)


def _turn(cx: float, cy: float, half: float, turn: float) -> np.ndarray:
    """A perspective that shrinks one side of the head, as a head turned partly away looks.

    ``turn`` in [-1, 1]: the fraction by which the far side's width shrinks (sign: which side).
    """
    import cv2

    far = 1 - abs(turn) / 2  # the far side also looks shorter
    src = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32)
    dst = src.copy()
    side = 1 if turn > 0 else 0
    for i in (1, 2) if side else (0, 3):
        dst[i] = [dst[i][0] * (1 - abs(turn)), dst[i][1] * far]
    centre = np.array([cx, cy], np.float32)
    return cv2.getPerspectiveTransform(src * half + centre, dst * half + centre).astype(np.float64)


def _paste(
    canvas: np.ndarray, src: FaceSource, size: float, tilt: float, flip: bool, at: Point, turn: float = 0.0
) -> FaceTruth:
    """Warp the source head into ``canvas`` with a feathered elliptical mask; return where it landed."""
    import cv2

    img = src.load()
    x0, y0, x1, y1 = src.face
    (ex0, ey0), (ex1, ey1) = src.eyes
    if flip:
        img = img[:, ::-1]
        w = img.shape[1]
        x0, x1 = w - x1, w - x0
        (ex0, ey0), (ex1, ey1) = (w - ex1, ey1), (w - ex0, ey0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = size / (x1 - x0)
    m = cv2.getRotationMatrix2D((cx, cy), tilt, scale)
    m[:, 2] += np.array(at) - np.array([cx, cy])
    hom = np.vstack([m, [0, 0, 1]]) @ _turn(cx, cy, (x1 - x0), turn)
    h, w = canvas.shape[:2]
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    warped = cv2.warpPerspective(img, hom, (w, h), flags=flags)
    # Head mask: an ellipse around face plus hair, feathered, so no rectangular seam suggests a face.
    mask = np.zeros(img.shape[:2], np.float32)
    axes = (int((x1 - x0) * 0.85), int((y1 - y0) * 0.95))
    cv2.ellipse(mask, (int(cx), int(cy - (y1 - y0) * 0.1)), axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, (x1 - x0) * 0.08))
    alpha = cv2.warpPerspective(mask, hom, (w, h))[..., None]
    canvas[:] = np.clip(canvas * (1 - alpha) + warped * alpha, 0, 255).astype(np.uint8)
    corners = _transform(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64), hom)
    eyes = _transform(np.array([[ex0, ey0], [ex1, ey1]], np.float64), hom)
    box = (*corners.min(axis=0), *corners.max(axis=0))
    return FaceTruth(
        tuple(float(v) for v in box),
        (tuple(map(float, eyes[0])), tuple(map(float, eyes[1]))),
        float(size),
        src.name,
        float(tilt),
        flip,
        float(turn),
    )


def face_sample(rng: np.random.Generator, index: int, sizes: tuple[float, ...] | None = None) -> Sample:
    """One scene with one or two faces; ``sizes`` fixes the face widths (else drawn from 40-280 px)."""
    canvas = _background(rng).copy()
    h, w = canvas.shape[:2]
    count = len(sizes) if sizes else int(rng.integers(1, 3))
    sizes = sizes or tuple(float(rng.uniform(40, 280 if count == 1 else 200)) for _ in range(count))
    faces: list[FaceTruth] = []
    for k, size in enumerate(sizes):
        # Two faces sit in the left and right halves so heads never overlap.
        lo, hi = (0, w) if count == 1 else (k * w // count, (k + 1) * w // count)
        margin = size * 1.1
        x = float(rng.uniform(lo + margin, max(lo + margin + 1, hi - margin)))
        y = float(rng.uniform(size * 1.3, max(size * 1.3 + 1, h - size * 1.2)))
        src = SOURCES[int(rng.integers(0, len(SOURCES)))]
        tilt = float(rng.uniform(-15, 15))
        turn = float(rng.uniform(-0.35, 0.35)) if rng.random() < 0.5 else 0.0
        faces.append(_paste(canvas, src, size, tilt, bool(rng.integers(0, 2)), (x, y), turn))
    return Sample(f"face-{index:03d}", canvas, faces)


def control_samples() -> list[Sample]:
    """Face-free pictures of the kinds deident sees most: they must come out unchanged."""
    return [Sample(f"control-{name}", fn()) for name, fn in CONTROLS.items()]


def build_set(n_faces: int = 24, seed: int = 0) -> list[Sample]:
    """The whole set: ``n_faces`` face scenes then the controls; same seed, same pictures."""
    rng = np.random.default_rng(seed)
    return [face_sample(rng, i) for i in range(n_faces)] + control_samples()


def laplacian_detail(rgb: np.ndarray, box: Box) -> float:
    """Variance of the Laplacian inside ``box``: how much fine detail (edges, features) is left."""
    import cv2

    x0, y0, x1, y1 = (round(v) for v in box)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[max(0, y0) : y1, max(0, x0) : x1]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey.astype(np.float64), cv2.CV_64F).var())


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def covered(truth: FaceTruth, boxes: list[Box], min_cover: float = 0.8) -> bool:
    """A true face counts as found when one detected box covers most of its annotated box."""
    tx0, ty0, tx1, ty1 = truth.box
    area = (tx1 - tx0) * (ty1 - ty0)
    for b in boxes:
        ix = max(0.0, min(tx1, b[2]) - max(tx0, b[0]))
        iy = max(0.0, min(ty1, b[3]) - max(ty0, b[1]))
        if ix * iy >= min_cover * area:
            return True
    return False


if __name__ == "__main__":  # write the set to a folder for a look: python tests/support/facesynth.py OUTDIR
    import sys
    from pathlib import Path

    from PIL import Image

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "facesynth-out")
    out.mkdir(parents=True, exist_ok=True)
    for s in build_set():
        Image.fromarray(s.rgb).save(out / f"{s.name}.png")
        print(s.name, [(round(f.size), f.source, round(f.tilt, 1), round(f.turn, 2)) for f in s.faces])
