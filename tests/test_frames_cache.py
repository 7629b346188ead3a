"""Cine loops: overlays detected once across frames that share them, text in one frame only still found."""

from __future__ import annotations

import numpy as np

from deident.formats.base import Frame
from deident.frames_cache import detect_frames
from deident.regions import Region


class BrightBlobs:
    """A stand-in detector: a box around every connected patch of pure white; counts the pixels it saw."""

    name = "text"

    def __init__(self):
        self.seen = 0

    def detect(self, frame: Frame, ctx) -> list[Region]:
        import cv2

        self.seen += frame.rgb.shape[0] * frame.rgb.shape[1]
        mask = (frame.rgb == 255).all(axis=2).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        return [Region.box(x, y, x + w - 1, y + h - 1, "text") for x, y, w, h, _ in stats[1:n]]


def cine(frames: int = 12, seed: int = 3) -> np.ndarray:
    """Static white labels around a moving textured middle; frame 7 alone gets two more labels."""
    rng = np.random.default_rng(seed)
    video = np.zeros((frames, 240, 320, 3), np.uint8)
    video[:, 4:12, 4:40] = 255  # a name, top left, on every frame
    video[:, 228:236, 280:316] = 255  # a date, bottom right, on every frame
    video[:, 60:180, 100:220] = rng.integers(0, 200, (frames, 120, 120, 1), np.uint8)  # the moving image
    video[7, 100:106, 110:140] = 255  # text inside the moving image, in one frame only
    video[7, 200:206, 8:30] = 255  # and text on the static background, in that frame only
    return video


def boxes(regions: list[Region]) -> set[tuple[int, int, int, int]]:
    return {r.bbox() for r in regions}


def test_same_regions_as_looking_at_every_frame_whole_at_a_fraction_of_the_pixels():
    video = cine()
    frames = [Frame(i, video[i], photographic=False) for i in range(len(video))]
    whole, cached = BrightBlobs(), BrightBlobs()
    expected = [boxes(whole.detect(f, None)) for f in frames]
    got = [boxes(regions) for _, regions in detect_frames(frames, [cached], None)]
    assert got == expected
    assert {(110, 100, 139, 105), (8, 200, 29, 205)} <= got[7]
    assert not {(110, 100, 139, 105), (8, 200, 29, 205)} & got[6]
    assert cached.seen < 0.4 * whole.seen  # static areas were looked at once


def test_a_frame_that_changed_everywhere_is_looked_at_whole():
    video = cine()[:3]
    video[2] = 255 - video[2]  # a cut: nothing shared with the reference
    frames = [Frame(i, video[i], photographic=False) for i in range(3)]
    detector = BrightBlobs()
    got = [boxes(r) for _, r in detect_frames(frames, [detector], None)]
    assert got[2] == boxes(BrightBlobs().detect(frames[2], None))
    assert detector.seen > 2 * video[0].shape[0] * video[0].shape[1]
