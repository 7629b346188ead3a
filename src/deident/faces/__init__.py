"""Faces and eyes: find every face in a photographic frame and say what to hide.

``FaceDetector`` is the pipeline's ``faces`` stage (see ``deident.stages``). It returns ``face`` regions
(whole head with hairline and ears; the pipeline blurs, pixelates or fills them) or, in ``--faces eyes``
mode, ``eyes`` bars across both eyes built from the eye landmarks. Detection and the model load live in
``deident.faces.yunet`` and are imported only when a frame is checked.

Verification: the pipeline runs ``detect`` again on the redacted frame and fails the file if anything is
returned. In blur/pixelate/fill modes that means no face is left to find. In eyes mode a face stays
findable, so ``detect`` returns a bar only for faces whose eyes are still visible (the pixels around both
eye centres are not one flat colour); ``eyes_visible`` says the same as a boolean.
"""

from __future__ import annotations

from deident.errors import StageUnavailable
from deident.formats.base import Context, Frame
from deident.memo import Memo
from deident.options import FaceMode, Options
from deident.regions import Region

INSTALL_HINT = (
    "the face model could not load: reinstall deident (it ships faces/models/"
    "face_detection_yunet_2023mar.onnx) and make sure opencv-python-headless >= 4.8 is installed"
)


# The faces of the last few frames, by content: the text stage asks for a frame's faces first when it
# looks for badges around them (``deident.text.detect.near_faces``), and the face stage then finds them here.
_found: Memo[list] = Memo(4)


class FaceDetector:
    """The ``faces`` stage: YuNet over an image pyramid, regions shaped by ``deident.faces.geometry``."""

    name = "faces"
    runs_beside = False  # OpenCV's thread count is one setting for the whole process

    def __init__(self, options: Options):
        self.options = options

    def _threads(self, ctx: Context | None) -> int | None:
        """One thread per worker when files run in parallel, so workers do not fight over cores."""
        opts = ctx.options if ctx is not None else self.options
        return 1 if opts.jobs > 1 else None

    def ensure_available(self) -> None:
        try:
            from deident.faces import yunet

            yunet.load()  # each look sets its run's thread count (``find_faces``)
        except Exception as exc:  # any load failure means the check cannot run: fail closed
            raise StageUnavailable(f"{INSTALL_HINT} ({type(exc).__name__})") from exc

    def faces(self, frame: Frame, ctx: Context | None = None):
        """Raw detections (``yunet.Face``) of a photographic frame, for callers that need landmarks."""
        if not frame.photographic:
            return []
        self.ensure_available()
        import hashlib

        import numpy as np

        from deident.faces import yunet

        rgb = np.ascontiguousarray(frame.rgb)
        threads = self._threads(ctx)
        key = (rgb.shape, threads, hashlib.blake2b(rgb.data, digest_size=16).digest())
        return list(_found.get(key, lambda: yunet.find_faces(rgb, threads)))

    def detect(self, frame: Frame, ctx: Context) -> list[Region]:
        from deident.faces import geometry

        faces = self.faces(frame, ctx)
        if ctx.options.faces is FaceMode.EYES:
            return [r for i, f in enumerate(faces, 1) if (r := _eyes_region(frame, f, i)) is not None]
        return [
            Region(geometry.head_polygon(f), "face", f"face {i}", f.score) for i, f in enumerate(faces, 1)
        ]

    def eyes_visible(self, frame: Frame, ctx: Context) -> bool:
        """True when some face in the frame still shows its eyes (what eyes-mode verification checks)."""
        from deident.faces import geometry

        return any(not geometry.eyes_flat(frame.rgb, f) for f in self.faces(frame, ctx))


def _eyes_region(frame: Frame, face, i: int) -> Region | None:
    """An eye bar where the eyes still show; the whole head (blurred) where no bar can be placed."""
    from deident.faces import geometry

    if not geometry.eyes_placeable(face):
        return Region(
            geometry.head_polygon(face), "face", f"face {i} (no eye landmarks: face blurred)", face.score
        )
    if geometry.eyes_flat(frame.rgb, face):
        return None
    return Region(geometry.eye_bar(face), "eyes", f"eyes of face {i}", face.score)


__all__ = ["INSTALL_HINT", "FaceDetector"]
