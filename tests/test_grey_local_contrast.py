"""8-bit grey pictures are also looked at with local contrast, as DICOM frames and deep grey pictures are.

Turned grey, coloured print keeps only its difference in brightness: bench_recall's seven textsynth seeds
left 25 of 485 lines legible in grey and none in colour (docs/benchmarks.md). A viewer's contrast control
shows such print plainly; the local-contrast rendering shows it to the detector.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deident.options import FaceMode, TextMode
from support import textsynth as ts
from support.runs import scrub


def _grey(sample: ts.Sample) -> ts.Sample:
    sample.rgb = np.repeat(sample.rgb.mean(axis=2).round().astype(np.uint8)[:, :, None], 3, axis=2)
    return sample


def _scrubbed(tmp_path, name: str, rgb: np.ndarray, mode: str = "RGB"):
    src = tmp_path / "in" / f"{name}.png"
    src.parent.mkdir(exist_ok=True)
    Image.fromarray(rgb if mode == "RGB" else rgb[..., 0]).save(src)
    report = scrub([src], tmp_path / "out", text=TextMode.ALL, faces=FaceMode.OFF)
    out = next((tmp_path / "out").rglob(f"{name}.png"))
    return np.asarray(Image.open(out).convert("RGB")), report


@pytest.mark.parametrize(("seed", "index", "mode"), [(5, 2, "RGB"), (11, 12, "L"), (5, 13, "L")])
def test_grey_print_on_a_ground_of_its_brightness_is_covered(tmp_path, seed, index, mode):
    """Lines the displayed grey rendering hid (a name across dark wood, a phone number's "+44" over a coat)
    and its local-contrast rendering shows: none stays legible by textsynth's leak rule."""
    sample = _grey(ts.make_sample(index, (1024, 768), seed=seed))
    out, _ = _scrubbed(tmp_path, sample.name, sample.rgb, mode)
    assert [ln.text for ln in ts.leaked_lines(sample, out)] == []


def test_grey_text_free_pictures_stay_untouched(tmp_path):
    for i in range(3):
        sample = _grey(ts.make_sample(30 + i, (1024, 768), n_lines=0, seed=5))
        out, _ = _scrubbed(tmp_path, sample.name, sample.rgb)
        assert ts.changed_fraction(sample.rgb, out) == 0.0, sample.name


def test_the_cameramans_buttons_are_no_text_in_local_contrast(tmp_path):
    """Local contrast turns the cuff's four buttons into "0000", a reading of round glyphs alone: no text
    (as in the faint look). Only the face would be found here, and faces are off."""
    data = pytest.importorskip("skimage.data")
    camera = data.camera()
    out, _ = _scrubbed(tmp_path, "camera", np.repeat(camera[:, :, None], 3, axis=2), "L")
    assert np.array_equal(out[..., 0], camera)


def test_a_line_both_renderings_show_is_one_finding(tmp_path):
    """The local-contrast rendering finds again what the displayed one found: the report names each line
    once, under the displayed picture."""
    sample = ts.Sample("plain", np.full((300, 600, 3), 200, np.uint8))
    for k, text in enumerate(("JOHN SMITH", "MRN 4455667")):
        assert ts.place(sample, "name", text, 32, ts.fonts()[0], 0, "plain", np.random.default_rng(k))
    sample = _grey(sample)
    out, (result,) = _scrubbed(tmp_path, "plain", sample.rgb, "L")
    assert ts.leaked_lines(sample, out) == []
    texts = [f.where for f in result.findings if f.kind == "text.text"]
    assert len(texts) == len(sample.lines) == 2, texts
    assert not any("local contrast" in w for w in texts)


def test_a_grey_picture_over_the_bound_is_looked_at_as_displayed_only(tmp_path):
    """The grey view is a second text look; past ``GREY_VIEW_PIXELS`` it would take a worker over its
    memory bound (a 12 MP grey photo: 1,066 MiB), so such a picture is shown once."""
    from deident.formats.base import Context, Source, open_document
    from deident.formats.pixels import GREY_VIEW_PIXELS
    from deident.keys import Keyring
    from deident.options import Options

    ctx = Context(Options(jobs=1), Keyring(b"deident-test-key-0123456789abcdef"))
    for name, side in (("small", 1000), ("large", int(GREY_VIEW_PIXELS**0.5) + 1)):
        path = tmp_path / f"{name}.png"
        Image.fromarray(np.full((side, side), 128, np.uint8)).save(path)
        labels = [f.label for f in open_document(Source(path)).frames(ctx)]
        assert labels == (["image", "image, local contrast"] if name == "small" else ["image"]), name
