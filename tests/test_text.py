"""Burned-in text stage on generated label images: nothing legible left, controls untouched, PHI mode."""

from __future__ import annotations

import numpy as np
import pytest

from deident.denylist import DenyList
from deident.errors import StageUnavailable
from deident.formats.base import Context, Frame
from deident.options import Options, TextMode
from deident.regions import Redaction, redact
from deident.text import TextDetector, phi
from deident.text.detect import Line
from support import textsynth as ts


def _scrub(sample: ts.Sample, ctx: Context) -> tuple[np.ndarray, list]:
    regions = TextDetector(ctx.options).detect(Frame(0, sample.rgb), ctx)
    return redact(sample.rgb, [Redaction(r, "fill") for r in regions]), regions


@pytest.fixture(scope="module")
def all_ctx():
    from deident.keys import Keyring

    return Context(Options(text=TextMode.ALL, jobs=1), Keyring(b"deident-test-key-0123456789abcdef"))


def _assert_scrubbed(samples: list[ts.Sample], ctx: Context, min_lines: int) -> None:
    leaked, lines = [], 0
    for s in samples:
        out, regions = _scrub(s, ctx)
        assert all(r.kind == "text" and r.label == "text line" for r in regions)
        lines += len(s.lines)
        leaked += [(s.name, ln.text, ln.size, ln.angle) for ln in ts.leaked_lines(s, out)]
        if s.text_free:
            assert ts.changed_fraction(s.rgb, out) < 0.02, s.name
    assert lines >= min_lines
    assert leaked == []


@pytest.mark.slow
def test_synthetic_set_leaves_no_line_legible(all_ctx):
    _assert_scrubbed(ts.make_set(6, (800, 600), controls=2), all_ctx, 20)


@pytest.mark.slow
def test_small_text_on_large_photos(all_ctx):
    """14-48 px lines on 12-megapixel frames: the tiles must find what the overview shrinks away."""
    _assert_scrubbed([ts.make_sample(i, (4000, 3000), seed=9) for i in range(2)], all_ctx, 8)


@pytest.mark.slow
def test_a_small_weak_line_on_a_large_photo_that_reads_as_a_word_is_text(all_ctx):
    """A 14-px "Semi-Upright" on a 12 MP label: the detector scored it 0.59 and it read "sem-u-rht" at
    0.59 with no strokes seen, so the rule that a weak line on a photograph must read a letter at 0.8
    (made for a cuff's buttons) dropped it, and it was left legible (bench_text.py's large images)."""
    sample = ts.make_sample(100, (4000, 3000), n_lines=6, seed=42)
    assert ("Semi-Upright", 14) in [(ln.text, ln.size) for ln in sample.lines]
    _assert_scrubbed([sample], all_ctx, 6)


def test_a_fit_to_the_ink_leaves_no_glyph_of_the_line_out(all_ctx):
    """Ink is measured against the quad's ring: on a ground darkening along the line, the fit to the ink
    left "Pt: K" of "Pt: KOWALSKI Anna" out, legible. A fit that trims a line's end must read as the
    detector's quad does."""
    sample = ts.make_sample(7, (1600, 1200), seed=6)
    assert "Pt: KOWALSKI Anna" in [ln.text for ln in sample.lines]
    _assert_scrubbed([sample], all_ctx, 4)


def test_a_large_line_turned_on_its_side_is_covered_glyph_by_glyph(all_ctx):
    """The detector cuts "CD20" at 96 px, turned 90 degrees, into one quad a glyph, and a turned glyph
    reads as itself once in four: "D20" was left legible. Glyphs in line with text are text."""
    sample = ts.make_sample(15, (1024, 768), seed=5)
    assert ("CD20", 96, 90) in [(ln.text, ln.size, ln.angle) for ln in sample.lines]
    _assert_scrubbed([sample], all_ctx, 4)


def test_a_tall_line_is_read_by_its_core_too(all_ctx):
    """The label "AP" at 96 px turned 270 degrees: its quad reads "A" (0.93), too little for a line that
    tall, and was dropped as texture; its core reads "AP" (1.00), as the reading of every other line may."""
    sample = ts.make_sample(102, (1632, 1224), n_lines=6, seed=42)
    assert ("AP", 96, 270) in [(ln.text, ln.size, ln.angle) for ln in sample.lines]
    _assert_scrubbed([sample], all_ctx, 6)


def test_a_second_round_blob_does_not_swallow_a_line_kept_before_it(all_ctx):
    """A 14-px name 30 px below another label on tissue: the second round saw the two fresh fills and the
    tissue between them as one tall blob, which took the name's place and was then dropped as texture."""
    sample = ts.make_sample(5, (640, 480), seed=13)
    assert ("DAVIDSON, Douglas", 14, 0) in [(ln.text, ln.size, ln.angle) for ln in sample.lines]
    _assert_scrubbed([sample], all_ctx, 4)


def test_a_blob_in_a_tall_line_s_second_round_does_not_swallow_a_number_found_inside(all_ctx, monkeypatch):
    """Inside a very tall "line" that read as no text (the white swoosh on ultralytics' bus photo, AGPL and
    not bundled), the closer look found a fleet number, "10"; its second round, with the number filled,
    took the whole 188 x 201 crop for one line, which swallowed the number and was then dropped as
    texture: the scrub left the number and a check of its output refused the file. The crop's second
    round is simulated here (its overview returns that blob); the detector's first round, the recogniser
    and the rule that drops the blob are real."""
    from deident.text import _lines_inside, detect

    h, w = 201, 188
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:] = (30, 80, 200)  # the bus's blue
    ink = ts.render("10", 26, ts.fonts()[0], 0) > 127
    rgb[40 : 40 + ink.shape[0], 6 : 6 + ink.shape[1]][ink] = (235, 235, 235)
    whole = Line(np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32), 0.62)
    blob = Line(whole.quad.copy(), 0.52)
    monkeypatch.setattr(detect, "_overview", lambda *a, **k: [blob])

    eng = TextDetector._engine(all_ctx.options)
    inside = _lines_inside(eng, np.ascontiguousarray(rgb[..., ::-1]), whole)

    tops = [ln.quad.min(axis=0) for ln in inside]
    assert inside and all(ln.height < 64 for ln in inside), [ln.height for ln in inside]
    assert any(x <= 12 and 36 <= y <= 52 for x, y in tops), tops


def test_large_text_turned_a_quarter_is_found_whole(all_ctx):
    """A 96-px date turned 90 degrees on a radiograph: the detector saw only two 14-px slivers of it."""
    sample = ts.make_sample(14, (1280, 960), seed=14)
    assert ("2019-07-23 14:02", 96, 90) in [(ln.text, ln.size, ln.angle) for ln in sample.lines]
    _assert_scrubbed([sample], all_ctx, 4)


def test_a_glyph_between_two_pieces_of_a_line_is_text(all_ctx):
    """A 96-px date tilted 7 degrees, found as "2019", "-07" and "-23 14:02": the middle piece, 66 px
    tall, reads "0" alone and was dropped, leaving "-07" legible between two fills."""
    sample = ts.make_sample(2, (1280, 960), seed=14)
    assert ("2019-07-23 14:02", 96, -7) in [(ln.text, ln.size, ln.angle) for ln in sample.lines]
    _assert_scrubbed([sample], all_ctx, 4)


def test_a_small_line_going_on_over_a_ground_of_its_own_grey_is_followed(all_ctx):
    """A 14-px name in dark grey on a greyscale picture: "Douglas" of "DAVIDSON, Douglas" runs over dark
    bark, where the detector's heat is 0.01 at the frame's own scale (0.99 at 1.5): only "DAVIDSON," was
    found, and "Douglas" was left legible beside its fill. Past a small line's ends the detector looks
    again, enlarged, for the line's own continuation."""
    sample = ts.make_sample(5, (1024, 768), seed=22)
    sample.rgb = np.repeat(sample.rgb.mean(axis=2).round().astype(np.uint8)[:, :, None], 3, axis=2)
    assert ("DAVIDSON, Douglas", 14, 0) in [(ln.text, ln.size, ln.angle) for ln in sample.lines]
    _assert_scrubbed([sample], all_ctx, 3)


@pytest.mark.slow
def test_verification_pass_finds_nothing_on_filled_boxes(all_ctx):
    detector = TextDetector(all_ctx.options)
    for s in ts.make_set(3, (800, 600), seed=3):
        out, regions = _scrub(s, all_ctx)
        assert regions
        assert detector.detect(Frame(0, out), all_ctx) == [], s.name


@pytest.mark.slow
def test_same_input_same_regions(all_ctx):
    s = ts.make_sample(2, (800, 600), seed=5)
    detector = TextDetector(all_ctx.options)
    assert detector.detect(Frame(0, s.rgb), all_ctx) == detector.detect(Frame(0, s.rgb.copy()), all_ctx)


def _label_image(texts: list[tuple[str, str]], ground: str = "histology") -> ts.Sample:
    sample = ts.Sample("labels", ts.background(ground, (900, 700)))
    rng = np.random.default_rng(11)
    font = ts.fonts()[0]
    for kind, text in texts:
        assert ts.place(sample, kind, text, 30, font, 0, "plain", rng)
    return sample


MIXED = [
    ("safe", "H&E 40x"),
    ("safe", "100 µm"),
    ("safe", "Portable"),
    ("name", "DAVIDSON Douglas"),
    ("date", "01.09.2012"),
    ("mrn", "MRN 00482913"),
]


def test_phi_mode_keeps_stain_scale_and_markers(keyring):
    ctx = Context(Options(text=TextMode.PHI, jobs=1), keyring)
    sample = _label_image(MIXED)
    out, regions = _scrub(sample, ctx)
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"H&E 40x", "100 µm", "Portable"}
    assert all(r.label.startswith("text line (") for r in regions)
    assert not any("DAVIDSON" in r.label or "2012" in r.label for r in regions)


def test_keep_text_stays_visible_in_all_mode(keyring):
    ctx = Context(Options(text=TextMode.ALL, keep_text=(r"H&E\s*\d+x",), jobs=1), keyring)
    sample = _label_image(MIXED[:1] + MIXED[3:])
    out, _ = _scrub(sample, ctx)
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"H&E 40x"}


@pytest.mark.parametrize(
    ("text", "identifying"),
    [
        ("H&E 40x", False),
        ("100 µm", False),
        ("Ki-67 10X", False),
        ("Semi-Upright", False),
        ("L", False),
        ("CD20", False),
        ("DAVIDSON DOUGLAS [M] 01.09.2012", True),
        ("S17-04522", True),
        ("Tel (617) 555-0143", True),
        ("j.smith@hospital.org", True),
        ("Age 93 yrs", True),
        ("12 Main Street", True),
        ("Zebulon", True),  # unknown words may be names: PHI mode fails closed
        ("590 601", True),  # IDs and dates written with spaces (issue 17)
        ("12 03 1970", True),
        ("4455 667", True),
        ("50 40", False),
        ("Gn 60", False),  # ultrasound read-outs and probe names
        ("C5-1", False),
        ("28Hz", False),
        ("TIB 0.2", False),
        ("LYMPH NODE", False),
        # ordinary words of signs and documents (wordfreq), unless common as names (census lists)
        ("NO LITTER", False),
        ("SPEED LIMIT", False),
        ("the markers are found at the two extreme parts of the", False),
        ("PHILIPS", False),  # a scanner maker (keep_words), though also a surname
        ("Philips Healthcare", False),
        ("6,001,271.61", False),  # an amount, not pieces of a date
        ("JOHN SMITH", True),
        ("Garcia", True),
        ("WHITE", True),  # as common a surname as it is a word: fails closed
        ("Pneumothorax Smith", True),
        ("HOPE DAY", True),  # ordinary words, each also a name: together, a name
        ("FOR LEASE", False),  # lease is a rare surname, "for" none
        ("BY636", True),  # letters and digits: an ID, not a word
        # derivations of ordinary words, rarer than ordinary words must be (issue 17, page.png)
        ("Region-based segmentation", False),
        ("These markers are pixels", False),
        ("unambiguously as either", False),
        ("Sven Jansen", True),  # names as rare, missing from the census lists: no ordinary stem
        ("Hastings Fields", True),  # an ordinary stem, but in the census lists
        ("segmentation 4455", True),
        # a title before a word that is also a name: a name (these were kept)
        ("Dr Hope", True),
        ("Mrs. Summer", True),
        ("Prof Love", True),
        ("seen by Dr. Day", True),
        ("MR. LITTLE", True),
        ("Ms Rose", True),
        ("Attending: May", True),  # a role a name follows, like a title
        ("Signed: Hope", True),
        ("resident macrophages", False),
        ("Attending Dr Hope", True),  # a title after a role is no name, the word after it is
        ("Prof. Dr. Hope", True),
        ("Dr J. Hope", True),  # initials between the title and the name
        ("DR J.HOPE", True),
        ("Phone number: 4521", True),
        ("Hope, MD", True),  # a degree after a word that is also a name
        ("May RN", True),
        ("HOPE^MAY", True),  # a DICOM person name: two name-like words
        ("Pneumothorax, MD", False),
        ("resident doctor", False),
        ("consultant radiologist", False),
        ("MR KNEE", False),  # MR in capitals, no full stop: the modality
        ("MR Brain with contrast", False),
        # clinical terms whose words alone count as names, and label words with no number after them
        ("white matter", False),
        ("GREY MATTER", False),
        ("histogram of grey values:", False),  # image analysis (issue 17, page.png)
        ("Grey", True),  # alone, as common a surname as a word
        ("Dr Grey values", True),
        ("long axis", False),
        # ultrasound and echo labels: planes, views, vessels, presets (words also surnames: Long, Page)
        ("RT KIDNEY LONG", False),
        ("THYROID RT LONG", False),
        ("PLAX", False),
        ("A4C", False),
        ("RT CCA PROX", False),
        ("SPLEEN LONG", False),
        ("Page 1/3", False),
        ("JOHN LONG", True),
        ("Dr Page", True),
        ("LONG 4455667", True),
        ("GA 20w3d", False),
        ("LVIDd 4.8 cm", False),
        ("PG 25 mmHg", False),
        ("ROTATOR CUFF", False),
        ("EDD 12/03/2027", True),
        ("JOHN BPD", True),
        ("AVA 1.2 cm2", True),  # Ava is a given name: fails closed
        # radiology, anatomy, devices and endoscopy
        ("Sag T1 FSE", False),
        ("DWI b1000", False),
        ("CTDIvol 12 mGy", False),
        ("L5-S1", False),
        ("Corpus callosum", False),
        ("Temporal bone", False),
        ("Foley catheter", False),
        ("Gastric antrum", False),
        ("Melanoma in situ", False),
        ("JOHN ULNA", True),
        ("C12345", True),
        ("Foley", True),  # the eponym alone is a surname
        # dermatology, pathology blocks and panels, a ruler's figures
        ("L forearm", False),
        ("R cheek", False),
        ("CHEEK", True),  # alone, a surname in the census lists
        ("DermLite polarized", False),
        ("Block A1", False),
        ("Figure 2A", False),
        ("A1B2C3", True),  # codes run together are a code
        ("Crd P21", False),  # an echo's preset and probe
        ("P214", True),
        ("mm 10 20 30 40", False),
        ("0 5 10 15 20", False),
        ("12 34 56", True),  # groups that run up, but not by a ruler's step
        ("MRN 10 20 30 40", True),
        ("Hodgkin lymphoma", False),
        ("methyl green", False),
        ("Dr White matter", True),
        ("Paget disease SMITH", True),
        ("Merkel cell", False),  # "cell" was a phone label on its own
        ("pH 7.4", False),
        ("Cell: 555 1234", True),
        ("Ph: 617 555 0143", True),
        # immunostains, staging and grading systems
        ("HMB-45", False),
        ("CD3/CD20", False),
        ("GATA3 positive", False),
        ("pT3 pN1a", False),
        ("T2N1M0", False),
        ("Gleason 3+4=7", False),
        ("Breslow 1.2 mm", False),
        ("Clark level IV", False),
        ("Clark", True),  # the eponym alone is a surname
        ("SMITH/JONES", True),
        ("N1234", True),
        # keep pieces joined without a space never make a name ("ma" + "rt" + "in")
        ("MARTIN", True),
        ("Fisher", True),
        ("Chester", True),
        ("H&E40x", False),
        # digits, letters, digits in one word are a code, though each piece is a keep form (GE's US1_UNCR)
        ("630P630", True),
        ("12A3456", True),
        ("area 1.2cm2", False),
        ("3x4 cm", False),
        # an ultrasound's read-outs as OCR gives them (deid-data's ultrasounds), and a probe's name
        ("4.0cm⁻", False),
        ("TIS0.0MI 0.6", False),
        ("2D--100%", False),
        ("H4.00 MHz", False),
        ("20dB/DR60", False),
        ("6C1 HD", False),
        ("18L6", False),
        ("78F78", True),
        ("2A1", True),
        ("HOPE--SMITH", True),
        ("Smith⁻", True),
        # day and month in the languages of reports from Germany, France, Spain and Italy
        ("am 12. März", True),
        ("le 12 mars", True),
        ("12 de marzo", True),
        ("Mai 2020", True),
        # a name that is an English word after a nursing title, a relation or a form's label
        ("Sister Hope", True),
        ("Mother: Hope", True),
        ("cc: Hope", True),
        ("his wife Grace", True),
        ("mother lesion", False),
        ("5 cc", False),
        ("Wife present", False),
    ],
)
def test_phi_vocabulary(text, identifying):
    assert (phi.classify(text, 0.99) is not None) is identifying


def test_ordinary_words_need_both_lists(monkeypatch):
    """Without wordfreq or the census names no word is ordinary: PHI mode falls back to its vocabulary."""
    assert phi.classify("NO LITTER", 0.99) is None
    monkeypatch.setattr(phi, "_lexicon", lambda: None)
    assert phi.classify("NO LITTER", 0.99) == "possible name"
    assert phi.classify("LYMPH NODE", 0.99) is None


def test_unreadable_line_counts_as_identifying():
    assert phi.classify("H&E", 0.1) == "unreadable"


def test_deny_list_terms_are_identifying():
    deny = DenyList(["Portable-Smith"])
    assert phi.classify("PORTABLE SMITH", 0.99, deny) is not None
    assert phi.classify("Portable", 0.99, DenyList(["Jones"])) is None


def test_keep_text_needs_every_character_covered():
    import re

    pats = (re.compile(r"\d+x", re.I),)
    assert phi.kept_by("40x", pats)
    assert not phi.kept_by("40x Smith", pats)


def test_missing_models_fail_closed(monkeypatch, tmp_path, keyring):
    from deident.text import engine

    monkeypatch.setattr(engine, "_engines", {})
    monkeypatch.setattr(engine, "model_dir", lambda: tmp_path)
    with pytest.raises(StageUnavailable, match="pip install rapidocr"):
        TextDetector(Options(jobs=1)).ensure_available()


def test_missing_package_fails_closed(monkeypatch):
    import sys

    from deident.text import engine

    monkeypatch.setattr(engine, "_engines", {})
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    with pytest.raises(StageUnavailable, match="pip install rapidocr"):
        TextDetector(Options(jobs=2)).ensure_available()


@pytest.mark.parametrize("side", [1500, 3000])
@pytest.mark.slow
def test_small_white_text_on_black_radiograph_frame(all_ctx, side):
    """The DICOM case: a flat black surround must not be taken for a redaction box and repainted."""
    import cv2

    img = np.zeros((side, side, 3), np.uint8)
    cv2.putText(img, "DOE JOHN 01.02.1950", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    grey = (200, 200, 200)
    cv2.putText(img, "MRN 00482913", (side // 2, side - 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, grey, 2)
    regions = TextDetector(all_ctx.options).detect(Frame(0, img, photographic=False), all_ctx)
    out = redact(img, [Redaction(r, "fill") for r in regions])
    assert int(out.max()) == 0


# --- PHI mode: lines the detector splits into fragments ---------------------------------------------


def _draw(sample: ts.Sample, kind: str, text: str, size: int, font: str, angle: float, at, colour) -> None:
    """``ts.place`` at a fixed spot: the detector's split of a line depends on where it lies."""
    cov = ts.render(text, size, font, angle)
    (x, y), (h, w) = at, cov.shape
    patch = sample.rgb[y : y + h, x : x + w].astype(np.float32)
    a = (cov.astype(np.float32) / 255.0)[..., None]
    ink = np.clip(patch * (1 - a) + np.float32(colour) * a, 0, 255)
    sample.rgb[y : y + h, x : x + w] = ink.astype(np.uint8)
    sample.lines.append(ts.Line(kind, text, x, y, cov >= 128, size, angle))


def _inside(region, line: ts.Line) -> bool:
    cx, cy = np.mean(region.polygon, axis=0)
    h, w = line.ink.shape
    return line.x <= cx <= line.x + w and line.y <= cy <= line.y + h


@pytest.mark.slow
def test_phi_mode_redacts_every_fragment_of_a_split_date(all_ctx, keyring):
    """A 96-px date tilted -7 degrees comes back as three quads ('2019', '-07', '2314:02'): only the
    last is a date piece on its own, so the run of fragments on one baseline must be judged together."""
    sample = ts.Sample("split-date", ts.background("histology", (1200, 900)))
    fonts = ts.fonts()
    _draw(sample, "date", "2019-07-23 14:02", 96, fonts[min(1, len(fonts) - 1)], -7, (100, 500), (200, 0, 0))
    for text, at in (("H&E 40x", (60, 60)), ("100 µm", (900, 80)), ("Portable", (800, 300))):
        _draw(sample, "safe", text, 30, fonts[0], 0, at, (0, 0, 0))
    date = sample.lines[0]
    found = TextDetector(all_ctx.options).detect(Frame(0, sample.rgb), all_ctx)
    assert sum(_inside(r, date) for r in found) >= 2, "no longer split: the test proves nothing"
    out, regions = _scrub(sample, Context(Options(text=TextMode.PHI, jobs=1), keyring))
    assert not ts.leaked(date, sample.rgb, out)
    assert sum(_inside(r, date) for r in regions) >= 2
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"H&E 40x", "100 µm", "Portable"}


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("2019-07-2", True),
        ("-2314:02", True),
        ("14:02", True),
        ("07-23", True),
        ("03/11/", True),
        ("2019-07-2 3mm", True),  # a unit after the piece does not explain it
        ("1:100", True),  # fails closed: a dilution reads like a time
        ("2019", False),  # a bare year or short number is kept (keep_patterns)
        ("-07", False),
        ("7-23", False),
        ("Ki-67 10X", False),
        ("Ki-6710X", False),
        ("CD20", False),
        ("H&E 40x", False),
        ("100 µm", False),
        ("1.125 mm", False),
        ("x400", False),
        ("ae1/ae3", False),
        ("S-100", False),
    ],
)
def test_number_pieces(text, piece):
    assert phi.number_piece(text) is piece
    if piece:
        assert phi.classify(text, 0.99) is not None


def _rect(cx: float, cy: float, length: float, height: float, angle: float) -> np.ndarray:
    """A detector-style quad (clockwise from the text's top-left) of a line tilted ``angle`` degrees."""
    t = np.radians(angle)
    u, v = np.array([np.cos(t), -np.sin(t)]), np.array([np.sin(t), np.cos(t)])
    c, dl, dh = np.array([cx, cy]), length / 2 * u, height / 2 * v
    return np.array([c - dl - dh, c + dl - dh, c + dl + dh, c - dl + dh], np.float32)


def _along_line(offset: float, length: float, height: float = 90, angle: float = -7, across: float = 0):
    """A fragment ``offset`` px along (and ``across`` px off) a baseline through (300, 500)."""
    t = np.radians(angle)
    u, v = np.array([np.cos(t), -np.sin(t)]), np.array([np.sin(t), np.cos(t)])
    cx, cy = np.array([300.0, 500.0]) + (offset + length / 2) * u + across * v
    return Line(_rect(cx, cy, length, height, angle), 0.9)


def test_runs_follow_a_tilted_baseline():
    from deident.text import _runs

    lines = [
        _along_line(0, 420),  # 0: '2019-07-2'
        _along_line(400, 400),  # 1: overlaps 0 along the line, as the detector's pieces do
        _along_line(860, 200),  # 2: 60 px after 1 (under one height): same run
        _along_line(0, 420, across=95),  # 3: the next line down, touching 0
        _along_line(1300, 200),  # 4: 240 px after 2: a separate label
        _along_line(1075, 200, height=40),  # 5: beside 2 but less than half its height
        _along_line(300, 400, angle=30),  # 6: crosses 0 and 1 at another angle
    ]
    assert _runs(lines) == [[0, 1, 2]]
    vertical = [Line(_rect(100, 200 + 200 * k, 180, 40, 90), 0.9) for k in range(2)]  # a 90-degree line
    assert _runs(vertical) == [[0, 1]] or _runs(vertical) == [[1, 0]]


def _fragments(*texts: str) -> tuple[list, list]:
    from deident.text.engine import Recognised

    lines, off = [], 0.0
    for t in texts:
        lines.append(_along_line(off, 30 * len(t), height=40))
        off += 30 * len(t) + 10
    return lines, [Recognised(t, 0.99) for t in texts]


def test_joined_fragments_decide_for_the_whole_run(monkeypatch):
    from deident.text import _phi_categories, engine
    from deident.text.engine import Recognised

    calls = []

    def union_read(eng, bgr, quads):
        calls.append(quads)
        return [Recognised("Portable SMITH", 0.95) for _ in quads]

    monkeypatch.setattr(engine, "recognise", union_read)
    lines, texts = _fragments("Tel (617) 555-", "0143")  # the phone number only joined
    assert _phi_categories(None, None, lines, texts, None)[1] == "phone"
    lines, texts = _fragments("(617) 555-", "0143", "Portable")
    assert _phi_categories(None, None, lines, texts, None) == ["phone"] * 3
    assert calls == []  # the joined text sufficed: no extra read
    lines, texts = _fragments("Portable", "AP")  # harmless apart and joined: the union quad is read once
    assert _phi_categories(None, None, lines, texts, None) == ["possible name"] * 2
    assert len(calls) == 1 and len(calls[0]) == 1
    union = calls[0][0]
    assert union.min(axis=0)[0] <= lines[0].quad.min(axis=0)[0] + 1
    assert union.max(axis=0)[0] >= lines[1].quad.max(axis=0)[0] - 1
    lone = [lines[0], _along_line(3000, 240, height=40)]
    assert _phi_categories(None, None, lone, texts, None) == [None, None]
    assert len(calls) == 1  # lines apart are never read again


def test_fragments_joined_without_a_space_make_no_new_words(monkeypatch):
    """'+ Cist Mag' and '1.06 cm' on an ultrasound: joined as 'Mag1.06' they made an unknown "word"."""
    from deident.text import _phi_categories, engine
    from deident.text.engine import Recognised

    monkeypatch.setattr(engine, "recognise", lambda eng, bgr, quads: [Recognised("Cist Mag 1.06 cm", 0.99)])
    lines, texts = _fragments("+ Cist Mag", "1.06 cm")
    assert _phi_categories(None, None, lines, texts, None) == [None, None]
    lines, texts = _fragments("(617) 555-", "0143")  # numbers still join without a space
    assert _phi_categories(None, None, lines, texts, None) == ["phone", "phone"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("TIB 0.2", True),  # ultrasound read-outs: a label of keep words, decimal values
        ("MI 1.1", True),
        ("Mag 1.06 cm", True),
        ("H&E 40x", True),
        ("TIB 12", False),  # a bare number may begin an ID written with a space ("12 345678")
        ("TIB 10.02", False),  # four digits: may be a piece of a date
        ("0.2", False),  # no label
        ("LIVER", False),  # no value: may be a word of the name beside it
        ("Gram 0.2 Smith", False),
        ("Tel 0.2", False),
    ],
)
def test_read_outs(text, field):
    assert phi.read_out(text) is field


def test_a_read_out_beside_an_identifying_fragment_stays(monkeypatch):
    """On an ultrasound's header "TIB 0.2" stands a word space from the time "2:56:22 PM": the run rule
    filled both. A read-out is spared only beside a fragment identifying alone."""
    from deident.text import _phi_categories, engine
    from deident.text.engine import Recognised

    monkeypatch.setattr(
        engine, "recognise", lambda eng, bgr, quads: [Recognised("TIB 0.2 X", 0.99)] * len(quads)
    )
    lines, texts = _fragments("TIB 0.2", "2:56:22 PM")
    assert _phi_categories(None, None, lines, texts, None) == [None, "partial date or number"]
    lines, texts = _fragments("JOHN SMITH", "Mag 1.06 cm")
    assert _phi_categories(None, None, lines, texts, None) == ["possible name", None]
    # a partly identifying line still goes whole: no read-out, or a run only its join makes identifying
    for pair in (
        ("TIB 12", "345678"),
        ("LIVER", "JOHN SMITH"),
        ("12 03", "1970"),
        ("12 03", "1970", "TIB 0.2"),
    ):
        lines, texts = _fragments(*pair)
        assert None not in _phi_categories(None, None, lines, texts, None), pair


def _header_band(rows: int) -> tuple[ts.Sample, str]:
    """A black picture with a blue band over its top ``rows``, as an ultrasound's header, and a font."""
    rgb = np.zeros((120, 640, 3), np.uint8)
    rgb[:rows] = (38, 58, 92)
    return ts.Sample("header", rgb), ts.fonts()[0]


def _scanner_header(gap: int) -> ts.Sample:
    """An ultrasound's header band: white 16-px read-outs, a date and a time, as on OBXXXX1A.dcm."""
    sample, font = _header_band(70)
    white = (255, 255, 255)
    _draw(sample, "safe", "MI 1.1", 16, font, 0, (300, 8), white)
    _draw(sample, "date", "5/25/2011", 16, font, 0, (420, 8), white)
    _draw(sample, "safe", "TIB 0.2", 16, font, 0, (300, 36), white)
    width = ts.render("TIB 0.2", 16, font, 0).shape[1]
    _draw(sample, "time", "2:56:22 PM", 16, font, 0, (300 + width + gap, 36), white)
    return sample


def test_phi_mode_keeps_a_read_out_a_word_space_from_a_time(keyring):
    """The time is filled and "TIB 0.2" beside it stays legible (pixels); main filled both."""
    sample = _scanner_header(gap=16)  # ink 24 px apart, 12-px capitals: two fields, one run
    out, regions = _scrub(sample, Context(Options(text=TextMode.PHI, jobs=1), keyring))
    tib, time = sample.lines[2:]
    assert any(_inside(r, time) for r in regions) and not any(_inside(r, tib) for r in regions)
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"MI 1.1", "TIB 0.2"}
    assert not any(r.label == "text line" for r in regions)


def test_phi_mode_fills_a_read_out_run_into_a_time_whole(keyring):
    """Without a gap the detector reads "TIB 0.2 2:56:22 PM" as one line: filled whole, never halved."""
    sample = _scanner_header(gap=0)
    out, _ = _scrub(sample, Context(Options(text=TextMode.PHI, jobs=1), keyring))
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"MI 1.1"}


@pytest.mark.parametrize(
    ("first", "core", "kept"),
    [
        (("Leut t s t e", 0.59), ("Let us first determine", 1.0), "Let us first determine"),
        (("JOHN SMITH LIVER", 0.6), ("LIVER", 0.99), "JOHN SMITH LIVER"),  # shorter: never replaces
        (("LIVER", 0.99), ("LIVER X", 1.0), "LIVER"),  # confident reads are not read again
    ],
)
def test_poor_read_is_read_again_from_the_core(monkeypatch, first, core, kept):
    from deident.text import _read, engine
    from deident.text.engine import Recognised

    line = _along_line(0, 300, height=40, angle=0)

    def recognise(eng, bgr, quads):
        return [Recognised(*(first if np.allclose(q, line.quad) else core)) for q in quads]

    monkeypatch.setattr(engine, "recognise", recognise)
    assert _read(None, None, [line])[0].text == kept


def test_poor_union_read_does_not_redact(monkeypatch):
    from deident.text import _phi_categories, engine
    from deident.text.engine import Recognised

    monkeypatch.setattr(engine, "recognise", lambda eng, bgr, quads: [Recognised("Xq", 0.2) for _ in quads])
    lines, texts = _fragments("Portable", "AP")
    assert _phi_categories(None, None, lines, texts, None) == [None, None]


def _cut_by_border(bg: str, angle: float, cut: float, edge: str) -> ts.Sample:
    """'DOB 03/11/1948' (40 px, white) at ``angle`` degrees with ``cut`` of its width beyond ``edge``."""
    sample = ts.Sample(f"{bg}-cut-{edge}", ts.background(bg, (800, 600)))
    cov = ts.render("DOB 03/11/1948", 40, ts.fonts()[0], angle)
    h, w = cov.shape
    width = sample.rgb.shape[1]
    x, y = (width - round(w * (1 - cut)), 250) if edge == "right" else (-round(w * cut), 250)
    x0, x1 = max(0, x), min(width, x + w)
    inside = cov[:, x0 - x : x1 - x]
    a = (inside.astype(np.float32) / 255)[..., None]
    patch = sample.rgb[y : y + h, x0:x1].astype(np.float32)
    sample.rgb[y : y + h, x0:x1] = np.clip(patch * (1 - a) + 255 * a, 0, 255).astype(np.uint8)
    sample.lines.append(ts.Line("date", "DOB", x0, y, inside >= 128, 40, angle))
    return sample


@pytest.mark.parametrize(
    ("bg", "angle", "cut", "edge"),
    [
        ("camera", 35, 0.2, "right"),
        ("coffee", -35, 0.2, "right"),
        ("histology", 35, 0.35, "right"),
        ("histology", 35, 0.2, "left"),
        ("histology", -35, 0.35, "left"),
    ],
)
def test_rotated_line_cut_by_the_border_is_covered_to_the_border(all_ctx, bg, angle, cut, edge):
    """Issue 18 item 7: glyphs of a 35-degree line running off the picture stayed beside the bar."""
    sample = _cut_by_border(bg, angle, cut, edge)
    out, regions = _scrub(sample, all_ctx)
    assert ts.leaked_lines(sample, out) == []
    h, w = sample.rgb.shape[:2]
    assert all(0 <= x <= w and 0 <= y <= h for r in regions for x, y in r.polygon)  # clipped to the frame


def test_phi_fill_spares_the_harmless_line_below(keyring):
    """Dense print on a busy background: the halo of a name line's fill reached 7 px into the harmless
    line below it (MARKET under a name on a real sign photo) and cut its glyphs in half."""
    sample = ts.Sample("dense", ts.background("histology", (700, 400)))
    font = ts.fonts()[0]
    _draw(sample, "name", "JOHN SMITH", 30, font, 0, (100, 150), (255, 255, 255))
    _draw(sample, "safe", "LIVER BIOPSY", 30, font, 0, (100, 181), (255, 255, 255))
    out, _ = _scrub(sample, Context(Options(text=TextMode.PHI, jobs=1), keyring))
    name, safe = sample.lines
    assert ts.leaked(name, sample.rgb, out) is False
    ys, xs = np.nonzero(safe.ink)
    ink = (safe.y + ys, safe.x + xs)
    assert np.abs(out[ink].astype(int) - sample.rgb[ink].astype(int)).max(axis=1).mean() < 2


def test_line_inside_the_frame_is_not_carried_to_its_edge(all_ctx):
    """A sign line 28 px inside a 231-px photo's edge was filled out to the edge, over the sign's border and
    the trees: the carry was decided from the grown fill against the grown height, so any line within
    about three of its heights of an edge counted as cut by it. Measured on the line itself, it is not."""
    sample = ts.Sample("near-edge", ts.background("histology", (600, 400)))
    _draw(sample, "name", "JOHN SMITH", 30, ts.fonts()[0], 0, (50, 150), (255, 255, 255))
    out, _ = _scrub(sample, all_ctx)
    assert ts.leaked_lines(sample, out) == []
    line = sample.lines[0]
    ys, xs = np.nonzero(line.ink)
    rows, left = slice(line.y + ys.min(), line.y + ys.max() + 1), line.x + xs.min() - 20
    assert left >= 30
    assert np.array_equal(out[rows, :left], sample.rgb[rows, :left])


def test_boxed_figures_near_the_edge_are_not_carried_to_it(all_ctx):
    """Figures in a scanned table, each inside a drawn box between two rules: the detector's quads take in
    the box and the rules, so no plain ring fits them to their ink and their 25-px height made a 12-px line
    16 px from the edge count as cut by it (easyocr_width_ths.png of ../shared's real-world set: 4.61 % of
    the frame filled outside its text). Fitted to the line's own band of ink and measured against its
    glyphs' height, neither line is carried; both stay hidden."""
    import cv2

    width, text, font = 340, "6,001,271.61", ts.fonts()[0]
    sample = ts.Sample("boxed", np.full((70, width, 3), 205, np.uint8))
    sample.rgb[[10, 44], :] = 150  # the table's rules
    tw = ts.render(text, 16, font, 0).shape[1]
    for x in (30, width - 16 - tw):
        _draw(sample, "id", text, 16, font, 0, (x, 18), (60, 60, 60))
        cv2.rectangle(sample.rgb, (x - 4, 15), (x + tw + 3, 40), (220, 70, 70), 1)
    out, _ = _scrub(sample, all_ctx)
    assert ts.leaked_lines(sample, out) == []
    assert np.array_equal(out[:, :18], sample.rgb[:, :18])  # the left figure's box starts at x=26
    assert np.array_equal(out[:, -6:], sample.rgb[:, -6:])  # the right one's ends 12 px from the edge


@pytest.mark.slow
def test_sign_text_is_covered_tightly(all_ctx):
    """Large sign text on a plain panel: the fill follows the ink, not the detector's loose quad (a 71-px
    Hangul line came back 94 px high and 30 px wider, and the sign around it was slabbed)."""
    fonts = ts.fonts()
    sample = ts.Sample("sign", np.full((400, 900, 3), (40, 120, 60), np.uint8))
    for text, at in (("SPEED LIMIT", (120, 80)), ("JOHN SMITH", (140, 230))):
        _draw(sample, "name", text, 80, fonts[0], 0, at, (250, 250, 250))
    out, _ = _scrub(sample, all_ctx)
    assert ts.leaked_lines(sample, out) == []
    near = np.zeros(sample.rgb.shape[:2], bool)
    for ln in sample.lines:  # each line's ink box, grown by 12 px
        ly, lx = np.nonzero(ln.ink)
        y0, x0 = ln.y + ly.min() - 12, ln.x + lx.min() - 12
        near[max(0, y0) : ln.y + ly.max() + 13, max(0, x0) : ln.x + lx.max() + 13] = True
    changed = np.abs(out.astype(np.int16) - sample.rgb.astype(np.int16)).max(axis=2) > 40
    assert (changed & ~near).sum() <= 0.002 * changed.size


def test_a_neutralised_fill_takes_the_colour_around_it_not_the_ink_beside_it():
    """Verification repaints the pipeline's own fills before looking for text. Inpainting a fill from its
    border pulled a logo's wing tips, just under a label's fill, up into it as a grey band like blurred
    print, and the detector took the band and the logo for a line spanning the label (easyocr_Photo-8.jpg
    of ../shared's real-world set, once fills followed their polygons: 11.6 % of the frame filled again).
    On a plain ground verification now paints the fill with the ground's median colour; on a textured one
    (where a flat patch reads as a word) and in the detection pass it still inpaints."""
    from deident.text.detect import neutralise_boxes

    bgr = np.full((120, 220, 3), 250, np.uint8)
    bgr[30:56, 40:180] = 0  # the fill
    bgr[57:90, 60:160:4] = 40  # thin dark strokes, one pixel under it
    out = neutralise_boxes(bgr, plain=True)
    assert out[30:56, 40:180].min() >= 240
    assert np.array_equal(out[60:120], bgr[60:120])  # the strokes and the rest stay as they were
    assert neutralise_boxes(bgr)[30:56, 40:180].min() < 200  # inpainted: the strokes drawn up into it
    rng = np.random.default_rng(3)
    tissue = rng.integers(60, 200, (120, 220, 3), dtype=np.uint8)
    tissue[30:56, 40:180] = 0
    assert np.ptp(neutralise_boxes(tissue, plain=True)[35:50, 50:170].astype(int)) > 20  # not flat


def test_an_arrow_beside_a_distance_is_not_filled_with_it(all_ctx):
    """A road sign's distance with its arrow 8 px beside it: the arrow is ink inside the detector's quad,
    and the fill of "205Km" took it (1.15 % of easyocr_korean.png of ../shared's real-world set). A lone
    blob at a line's end, 1.5 times as long as the glyphs are high, is left out when the line reads the
    same without it; the distance itself is still hidden."""
    import cv2

    fonts = ts.fonts()
    sample = ts.Sample("sign", np.full((200, 520, 3), (40, 120, 60), np.uint8))
    _draw(sample, "safe", "205Km", 44, fonts[0], 0, (60, 70), (245, 245, 245))
    ly, lx = np.nonzero(sample.lines[0].ink)
    x1, mid = 60 + lx.max() + 8, 70 + (ly.min() + ly.max()) // 2  # the arrow: 60 px from 8 px after the m
    arrow = [(x1, mid - 6), (x1 + 45, mid - 6), (x1 + 45, mid - 14), (x1 + 60, mid), (x1 + 45, mid + 14)]
    arrow += [(x1 + 45, mid + 6), (x1, mid + 6)]
    cv2.fillPoly(sample.rgb, [np.array(arrow, np.int32)], (245, 245, 245))
    out, _ = _scrub(sample, all_ctx)
    assert ts.leaked_lines(sample, out) == []
    shaft = (slice(mid - 5, mid + 6), slice(x1 + 12, x1 + 45))
    assert np.array_equal(out[shaft], sample.rgb[shaft])  # the arrow beyond the halo keeps its pixels


def test_phi_mode_keeps_a_pathologist_s_labels_and_hides_a_titled_name(keyring):
    """A micrograph's labels in PHI mode, judged by pixels: the diagnosis, the cells and the stain read
    stay legible; "Dr Hope" (a title before a word that is also a name) is hidden. Before, every one of
    the clinical lines was filled: their words are too rare in English to be ordinary ("carcinoma"), or
    taken for a phone label ("cell", "pH") or a surname ("white")."""
    sample = _label_image(
        [
            ("safe", "Squamous cell carcinoma"),
            ("safe", "keratinocytes with mitoses"),
            ("safe", "white matter, pH 7.4"),
            ("phi", "Dr Hope"),
        ]
    )
    out, _ = _scrub(sample, Context(Options(text=TextMode.PHI, jobs=1), keyring))
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"Squamous cell carcinoma", "keratinocytes with mitoses", "white matter, pH 7.4"}


def test_phi_mode_keeps_ultrasound_measurements_and_hides_the_patient(keyring):
    """An ultrasound's labels in PHI mode, judged by pixels: the view, the plane and the measurements
    stay legible; the patient's name and record number are hidden. Before, every clinical line was
    filled: "LONG" is a surname too, and BPD, EF, TAPSE, PSV and the rest were unknown words."""
    sample = _label_image(
        [
            ("safe", "RT KIDNEY LONG"),
            ("safe", "BPD 4.52 cm"),
            ("safe", "EF 60% TAPSE 2.1 cm"),
            ("safe", "LT ICA PSV 85 cm/s"),
            ("name", "DOE JANE"),
            ("mrn", "MRN 4455667"),
        ],
        ground="radiograph",
    )
    out, _ = _scrub(sample, Context(Options(text=TextMode.PHI, jobs=1), keyring))
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"RT KIDNEY LONG", "BPD 4.52 cm", "EF 60% TAPSE 2.1 cm", "LT ICA PSV 85 cm/s"}


# The mission patch on scikit-image's astronaut (512x512): its centre and radius, and the ring of radii its
# two curved lines of crew names fill ("COLLINS ASHBY" above, "COLEMAN HAWLEY TOGNINI" below, 7-8 px).
PATCH_CENTRE, PATCH_RADIUS, NAME_RING = (170, 385), 45, (24, 36)
CREW = ("COLLINS", "ASHBY", "COLEMAN", "HAWLEY", "TOGNINI")


def _crew_read(rgb: np.ndarray) -> dict[str, float]:
    """Tesseract's best similarity to each crew name on the patch: each curved line unrolled (polar
    coordinates around the patch's centre) into a straight strip at about 4x, upright, read in grey and
    inverted grey, as a block and as one line."""
    import difflib
    import itertools
    import re

    import cv2
    import pytesseract

    r = PATCH_RADIUS
    polar = cv2.warpPolar(rgb, (4 * r, 720), PATCH_CENTRE, r, cv2.WARP_POLAR_LINEAR)  # rows: 0.5 degree
    ring = slice(4 * NAME_RING[0], 4 * NAME_RING[1])
    top = cv2.rotate(polar[380:700, ring], cv2.ROTATE_90_COUNTERCLOCKWISE)  # 190-350 degrees: tops outwards
    bottom = cv2.rotate(polar[20:340, ring], cv2.ROTATE_90_CLOCKWISE)  # 10-170 degrees: tops inwards
    best = dict.fromkeys(CREW, 0.0)
    for strip in (top, bottom):
        grey = cv2.cvtColor(np.ascontiguousarray(strip), cv2.COLOR_RGB2GRAY)
        for img, psm in itertools.product((grey, 255 - grey), (6, 7)):
            for word in re.findall(r"[A-Za-z]{3,}", pytesseract.image_to_string(img, config=f"--psm {psm}")):
                for name in CREW:
                    best[name] = max(best[name], difflib.SequenceMatcher(None, name, word.upper()).ratio())
    return best


@pytest.mark.slow
def test_the_crew_names_on_the_astronaut_s_patch_are_hidden(tmp_path, monkeypatch):
    """Print on the body around a face (badges, name tags, mission patches) is looked at enlarged
    (``detect.near_faces``): the crew names on the astronaut's patch, curved and 7-8 px high, which the
    detector sees only as faint heat at the frame's scale, are filled; judged by Tesseract, which reads
    "COLEMAN" on the input. Before, only the face was blurred."""
    data = pytest.importorskip("skimage.data", reason="scikit-image's sample photos")
    from click.testing import CliRunner
    from PIL import Image

    from deident.cli import cli

    monkeypatch.chdir(tmp_path)
    rgb = data.astronaut()
    Image.fromarray(rgb).save(tmp_path / "astronaut.png")
    assert max(_crew_read(rgb).values()) == 1.0  # Tesseract reads a crew name on the input
    run = CliRunner().invoke(cli, ["scrub", "astronaut.png", "-o", "out", "-j", "1"])
    assert run.exit_code == 0, run.output
    out = np.asarray(Image.open(tmp_path / "out" / "astronaut.png").convert("RGB"))
    read = _crew_read(out)
    assert max(read.values()) < 0.7, read


@pytest.mark.parametrize(
    ("line", "category"),
    [
        ("Leeds Teaching Hospitals", "institution"),
        ("UNIVERSITY HOSPITAL LEEDS", "institution"),
        ("University of Leeds", "institution"),
        ("Moffitt Cancer Center", "institution"),
        ("Dermatology Clinic", None),  # a unit's own name
        ("Radiology Department, University Hospital", None),
        ("Emergency Department", None),
        ("H&E 40x", None),
    ],
)
def test_a_line_naming_an_institution_is_identifying(line, category):
    """Institutions are named with words wordfreq rates as common English ("Leeds" among them): a line
    with an institution word and any other word that is no unit, clinical or keep word names one."""
    from deident.text import phi

    assert phi.classify(line, 0.99) == category


def test_phi_mode_fills_a_hospital_s_name_and_keeps_the_stain(keyring):
    """An ultrasound-like header band: the hospital's name is filled, the read-out beside it stays
    (pixels judged by textsynth's leak rule)."""
    sample, font = _header_band(90)
    white = (255, 255, 255)
    _draw(sample, "institution", "University Hospital Leeds", 16, font, 0, (40, 12), white)
    _draw(sample, "safe", "H&E 40x", 16, font, 0, (40, 52), white)
    out, _ = _scrub(sample, Context(Options(text=TextMode.PHI, jobs=1), keyring))
    visible = {ln.text for ln in sample.lines if ts.leaked(ln, sample.rgb, out)}
    assert visible == {"H&E 40x"}
