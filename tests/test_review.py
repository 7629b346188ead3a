"""The review page and the reviewer's decisions, judged from outside: the page in real headless
Chromium and Firefox (their network logs, what it shows, what it exports), outputs read back with Pillow."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from support.pagedriver import BROWSERS, ESCAPE, Page, open_browser
from support.sample_images import font
from support.slidesynth import make_svs

REPO = Path(__file__).resolve().parents[1]
DEIDENT = [sys.executable, "-m", "deident.cli"]
LINES = {"name": ((40, 40), "DAVIDSON, Douglas"), "mrn": ((40, 380), "MRN 00482913")}


def deident(*args, check: bool = False) -> subprocess.CompletedProcess:
    cmd = [*DEIDENT, *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=300)


def label_png(path: Path) -> Path:
    """Two lines of burned-in text on a mottled grey: the text stage finds and fills both."""
    rng = np.random.default_rng(0)
    img = Image.fromarray((200 + rng.integers(0, 20, (480, 720, 3))).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for xy, text in LINES.values():
        draw.text(xy, text, fill=(10, 10, 10), font=font(36))
    img.save(path)
    return path


def plain_jpeg(path: Path) -> Path:
    """A photo with nothing to find: the pixel stages leave it alone."""
    yy, xx = np.mgrid[0:400, 0:600]
    rgb = np.stack([(xx * 255 // 600), (yy * 255 // 400), np.full_like(xx, 128)], axis=2).astype(np.uint8)
    Image.fromarray(rgb).save(path, quality=92)
    return path


def mixed_batch(root: Path) -> Path:
    """PNG with text, a plain JPEG, the sample DICOM radiograph, a whole-slide image and a damaged file."""
    batch = root / "batch"
    batch.mkdir()
    label_png(batch / "label.png")
    plain_jpeg(batch / "plain.jpg")
    (batch / "radiograph.dcm").write_bytes((REPO / "sample_images" / "radiograph.dcm").read_bytes())
    (batch / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    make_svs(batch / "slide.svs")
    return batch


def report(path: Path) -> dict:
    return {Path(f["input"]).name: f for f in json.loads(path.read_text())["files"]}


# ---------------------------------------------------------------- structured regions, page files


@pytest.mark.slow
def test_pixel_findings_carry_their_area_and_the_page_is_private_beside_the_output(tmp_path):
    src = label_png(tmp_path / "label.png")
    out = tmp_path / "out"
    deident("scrub", src, "-o", out, "-j", "1", "--faces", "off", "--report", tmp_path / "r.json", "--review")
    findings = report(tmp_path / "r.json")["label.png"]["findings"]
    text = [f for f in findings if f["stage"] == "text"]
    assert len(text) == 2 and all(f["area"]["frame"] == 0 for f in text)
    boxes = [f["area"]["box"] for f in text]
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for xy, line in LINES.values():  # each line's ink, as Pillow measures it, lies inside one area
        ix0, iy0, ix1, iy1 = draw.textbbox(xy, line, font=font(36))
        assert [b for b in boxes if b[0] <= ix0 and b[1] <= iy0 and b[2] >= ix1 and b[3] >= iy1] != []
    assert all(f["where"].endswith("box {},{}-{},{}".format(*f["area"]["box"])) for f in text)
    assert all("area" not in f for f in findings if f["stage"] == "metadata")
    page = tmp_path / "out-review"
    assert (page / "index.html").is_file() and not (out / "out-review").exists()
    assert stat.S_IMODE(page.stat().st_mode) == 0o700
    files = [p for p in page.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert "CONTAINS ORIGINALS" in (page / "review.js").read_text()


def test_review_page_is_refused_inside_the_output_folder(tmp_path):
    src = plain_jpeg(tmp_path / "a.jpg")
    result = deident("scrub", src, "-o", tmp_path / "out", f"--review={tmp_path / 'out' / 'page'}")
    assert result.returncode == 2 and "inside the output folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_review_page_is_refused_in_a_folder_holding_other_files(tmp_path):
    """The page makes its folder owner-only and writes into it: given the input folder, it turned it
    700 and mixed thumbnails of originals with them."""
    cases = tmp_path / "cases"
    cases.mkdir()
    src = plain_jpeg(cases / "a.jpg")
    mode = stat.S_IMODE(cases.stat().st_mode)
    result = deident("scrub", src, "-o", tmp_path / "out", f"--review={cases}")
    assert result.returncode == 2 and "deident did not write" in result.stderr
    assert stat.S_IMODE(cases.stat().st_mode) == mode and sorted(p.name for p in cases.iterdir()) == ["a.jpg"]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- decisions files that cannot be trusted


def _decisions(path: Path, files: dict) -> Path:
    from deident.review.decisions import FORMAT, VERSION, checksum

    path.write_text(
        json.dumps({"format": FORMAT, "version": VERSION, "files": files, "sha256": checksum(files)})
    )
    return path


def _resealed(text: str, old: str, new: str) -> str:
    """A hand edit whose author also recomputed the checksum: the content itself must be refused."""
    from deident.review.decisions import checksum

    doc = json.loads(text.replace(old, new))
    doc["sha256"] = checksum(doc["files"])
    return json.dumps(doc)


def _sha(path: Path) -> str:
    from deident.review.decisions import file_sha256

    return file_sha256(path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.replace('"hide"', '"hid"'),  # hand-edited: checksum no longer matches
        lambda d: d[: len(d) // 2],  # truncated
        lambda d: d.replace("[30, 30, 90, 90]", "[30, 30, 95, 90]"),  # a box moved by hand
        lambda d: d.replace('"version": 1', '"version": 7'),  # another format
        lambda d: _resealed(d, "[30, 30, 90, 90]", "[90, 30, 30, 90]"),  # checksum right, box inverted
        lambda d: _resealed(d, "[30, 30, 90, 90]", '[30, 30, 90, "90"]'),  # checksum right, not a number
        lambda d: _resealed(d, '"frame": 0', '"frame": -1'),  # checksum right, no such frame
        lambda d: _resealed(d, '"hide"', '"also"'),  # checksum right, unknown key
    ],
    ids=["hand-edited", "truncated", "box-moved", "version", "inverted", "string", "frame", "key"],
)
def test_a_damaged_or_hand_edited_decisions_file_is_refused_and_nothing_written(tmp_path, damage):
    src = plain_jpeg(tmp_path / "a.jpg")
    good = _decisions(
        tmp_path / "d.json", {_sha(src): {"keep": [], "hide": [{"frame": 0, "box": [30, 30, 90, 90]}]}}
    )
    good.write_text(damage(json.dumps(json.loads(good.read_text()))))
    result = deident(
        "scrub", src, "-o", tmp_path / "out", "--text", "off", "--faces", "off", "--decisions", good
    )
    assert result.returncode == 2 and "Nothing was written" in result.stderr
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "d.json"]


@pytest.mark.parametrize("extra", [0, 1])
def test_a_decision_names_its_files_length_and_only_files_of_that_length_are_hashed(tmp_path, extra):
    src = plain_jpeg(tmp_path / "a.jpg")
    size = src.stat().st_size + extra  # off by one: no file of the run can be the reviewed one
    hide = {"frame": 0, "box": [100, 100, 200, 200]}
    decisions = _decisions(tmp_path / "d.json", {_sha(src): {"keep": [], "hide": [hide], "size": size}})
    # pixel stages off: the reviewer's box is still filled (it is no detector's)
    args = ("--text", "off", "--faces", "off", "--decisions", decisions, "--report", tmp_path / "r.json")
    assert deident("scrub", src, "-o", tmp_path / "out", *args).returncode == 0
    user = [f["kind"] for f in report(tmp_path / "r.json")["a.jpg"]["findings"] if f["stage"] == "user"]
    inside = np.asarray(Image.open(tmp_path / "out" / "a.jpg").convert("L"))[110:190, 110:190]
    if extra:
        assert user == [] and inside.max() > 100  # not hashed, so not matched: the picture is untouched
    else:
        assert user == ["user.hide"] and inside.max() <= 8  # the box is filled


def test_a_decision_for_a_file_whose_content_changed_is_refused(tmp_path):
    src = plain_jpeg(tmp_path / "a.jpg")
    digest = _sha(src)
    decisions = _decisions(
        tmp_path / "d.json",
        {digest: {"path": str(src), "keep": [], "hide": [{"frame": 0, "box": [1, 1, 9, 9]}]}},
    )
    Image.open(src).rotate(90).save(src)  # edited after the review
    result = deident("scrub", src, "-o", tmp_path / "out", "--decisions", decisions)
    assert result.returncode == 2 and "changed since it was reviewed" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_decisions_that_do_nothing_are_reported(tmp_path):
    src = label_png(tmp_path / "label.png")
    decisions = _decisions(
        tmp_path / "d.json",
        {
            _sha(src): {
                "keep": [{"frame": 0, "box": [500, 200, 700, 260], "stage": "text"}],  # no detection there
                "hide": [{"frame": 0, "box": [800, 600, 900, 700]}, {"frame": 3, "box": [0, 0, 9, 9]}],
            }
        },
    )
    deident(
        "scrub",
        src,
        "-o",
        tmp_path / "out",
        "-j",
        "1",
        "--faces",
        "off",
        "--decisions",
        decisions,
        "--report",
        tmp_path / "r.json",
        check=True,
    )
    kinds = [f["kind"] for f in report(tmp_path / "r.json")["label.png"]["findings"] if f["stage"] == "user"]
    assert sorted(kinds) == ["user.hide-nothing", "user.hide-nothing", "user.keep-unmatched"]
    before = np.asarray(Image.open(src))
    after = np.asarray(Image.open(tmp_path / "out" / "label.png"))
    assert (after[200:260, 500:700] == before[200:260, 500:700]).all()  # nothing hidden where nothing was


# ---------------------------------------------------------------- the page in a real browser
# Every test below runs in both browsers (pagedriver.Page); a browser not installed locally is skipped.

CARD = (
    "[...document.querySelectorAll('.card')]"
    ".find(c => c.querySelector('h2').textContent.endsWith(arguments[0]))"
)


def _leaving(page: Page, folder: Path) -> list[str]:
    """Requests that leave the review folder: anything but file:// below the folder, data: or blob:.
    The log is proved to work first: a request made on purpose shows up in it; Chromium's log also
    holds the page's own file:// loads (Firefox logs network requests only)."""
    found = page.requests()
    prefix = folder.resolve().as_uri() + "/"
    if page.logs_files:
        assert any(u.startswith(prefix + "thumbs/") for u in found)  # the log did see the page
    assert page.probe_is_logged()
    return [u for u in found if not u.startswith((prefix, "data:", "blob:"))]


@pytest.mark.slow
@pytest.mark.parametrize("browser", BROWSERS)
def test_page_opens_offline_and_counts_every_file_of_a_mixed_batch(tmp_path, browser):
    batch = mixed_batch(tmp_path)
    out = tmp_path / "out"
    deident("scrub", batch, "-o", out, "-j", "1", "--faces", "off", "--review")
    folder = tmp_path / "out-review"
    with open_browser(browser) as page:
        page.open(folder / "index.html")
        time.sleep(0.5)
        assert _leaving(page, folder) == []
        page.open(folder / "index.html")
        names = page.js("return [...document.querySelectorAll('.card h2')].map(h => h.textContent)")
        assert sorted(Path(n).name for n in names) == [
            "broken.jpg",
            "label.png",
            "plain.jpg",
            "radiograph.dcm",
            "slide.svs",
        ]
        counts = page.js(
            "return Object.fromEntries([...document.querySelectorAll('#filters button')]"
            ".map(b => [b.dataset.filter, +b.querySelector('.n').textContent]))"
        )
        assert counts["all"] == 5 and counts["failed"] == 1
        assert counts["redacted"] == 2 and counts["stage:text"] == 2  # label.png and the radiograph's text
        assert counts["untouched"] == 2  # plain.jpg, slide.svs (label and macro removed, no pixel touched)
        for text in ("", "abc", "é" * 100, "x" * 55, "y" * 56, "z" * 1000):  # the page's own SHA-256
            js = page.js("return deidentSha256.plain(new TextEncoder().encode(arguments[0]))", text)
            assert js == hashlib.sha256(text.encode()).hexdigest()
            best = page.js("return deidentSha256.best(new TextEncoder().encode(arguments[0]))", text)
            assert best == hashlib.sha256(text.encode()).hexdigest()
        current = "return document.querySelector('.card.current h2').textContent"
        page.keys("j")
        assert page.js(current) == names[0]
        page.keys("j", "j")
        assert page.js(current) == names[2]
        page.keys("k")
        assert page.js(current) == names[1]
        label = names.index(next(n for n in names if n.endswith("label.png")))
        page.keys(*["j"] * (label - 1))  # from names[1] to the label card
        assert page.js(current) == names[label]
        zoom = "return [...document.querySelectorAll('.card.current figure')].map(f => f.style.transform)"
        page.keys("r")  # zoom both pictures onto its first region
        assert [t.startswith("scale(") and t != "scale(1)" for t in page.js(zoom)] == [True, True]
        page.keys(ESCAPE)
        assert page.js(zoom) == ["", ""]
        page.click("[data-filter='failed']")
        shown = page.js("return [...document.querySelectorAll('.card h2')].map(h => h.textContent)")
        assert [Path(n).name for n in shown] == ["broken.jpg"]
        page.click("[data-filter='untouched']")
        shown = page.js("return [...document.querySelectorAll('.card h2')].map(h => h.textContent)")
        assert [Path(n).name for n in shown] == ["plain.jpg", "slide.svs"]
        # the slide's label and macro are pictured, struck through as removed: their pictures are loaded
        # once the card is in view (they load lazily; the filter click alone does not wait for them)
        page.js(f"{CARD}.scrollIntoView({{block: 'center'}})", "slide.svs")
        page.until(
            lambda: page.js(
                f"const i = [...{CARD}.querySelectorAll('.removed img')];"
                "return i.length > 0 && i.every(x => x.complete && x.naturalWidth > 0)",
                "slide.svs",
            )
        )
        removed = page.js(
            f"const c = {CARD}; return [...c.querySelectorAll('.removed')].map(r => [r.dataset.kind, "
            "(r.querySelector('img') || {}).naturalWidth || 0, !!r.querySelector('.struck')]).sort()",
            "slide.svs",
        )
        assert [k for k, _, _ in removed] == ["wsi.label", "wsi.macro"]
        assert all(width > 0 and struck for _, width, struck in removed)
        # the DICOM card shows a windowed picture: both sides rendered, not blank
        page.click("[data-filter='all']")
        thumbs = page.js(
            f"const c = {CARD}; return [...c.querySelectorAll('figure img')].map(i => i.getAttribute('src'))",
            "radiograph.dcm",
        )
        slide = page.js(
            f"const c = {CARD}; return [...c.querySelectorAll('.removed img')]"
            ".map(i => i.getAttribute('src'))",
            "slide.svs",
        )
    assert len(thumbs) == 2
    for src in thumbs:
        grey = np.asarray(Image.open(folder / src).convert("L"), dtype=float)
        assert grey.std() > 10  # a picture, not a flat slab
    assert len(slide) == 2
    for src in slide:  # the label and macro as they were in the original (make_svs paints them)
        assert np.asarray(Image.open(folder / src).convert("L"), dtype=float).std() > 5


def _line_box(findings: list[dict], y: int) -> list[int]:
    (box,) = [
        f["area"]["box"]
        for f in findings
        if f["stage"] == "text" and f["area"]["box"][1] <= y <= f["area"]["box"][3]
    ]
    return box


@pytest.mark.slow
@pytest.mark.parametrize("browser", BROWSERS)
def test_keep_and_hide_exported_by_the_page_change_exactly_those_regions_next_run(tmp_path, browser):
    batch = tmp_path / "batch"
    batch.mkdir()
    label, plain = (
        label_png(batch / "label.png"),
        plain_jpeg(batch / "plain-é.jpg"),
    )  # non-ASCII: canonical JSON
    first, second = tmp_path / "first", tmp_path / "second"
    deident(
        "scrub", batch, "-o", first, "-j", "1", "--faces", "off", "--report", tmp_path / "r1.json", "--review"
    )
    findings = report(tmp_path / "r1.json")["label.png"]["findings"]
    kept_box, other_box = _line_box(findings, 60), _line_box(findings, 400)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with open_browser(browser, downloads) as page:
        page.open(tmp_path / "first-review" / "index.html")
        ids = page.js(
            "return Object.fromEntries([...document.querySelectorAll('.card')]"
            ".map(c => [c.querySelector('h2').textContent.split('/').pop(), c.dataset.id]))"
        )
        # keep visible: a real click on the name line's outline on the original
        index = next(i for i, f in enumerate(findings) if f.get("area", {}).get("box") == kept_box)
        label_card = f".card[data-id='{ids['label.png']}']"
        page.click(f"[data-side=original] polygon[data-finding='{index}']", label_card)
        # also hide: a box dragged on the plain photo's original, 1/4 to 1/2 across, 1/4 to 1/2 down
        plain_card = f".card[data-id='{ids['plain-é.jpg']}']"
        page.drag("[data-side=original] svg", (0.25, 0.25), (0.5, 0.5), plain_card)
        assert page.js("return document.getElementById('decision-count').textContent") == "2 decisions"
        page.click("#export")
        page.until(
            lambda: (downloads / "decisions.json").exists() and (downloads / "decisions.json").stat().st_size
        )
        shown = page.js("return document.getElementById('decisions').value")
    exported = downloads / "decisions.json"
    assert json.loads(exported.read_text()) == json.loads(shown)
    files = json.loads(exported.read_text())["files"]
    assert set(files) == {_sha(label), _sha(plain)}
    assert files[_sha(plain)]["size"] == plain.stat().st_size  # a later run hashes only files this long
    exported_bytes, exported_mtime = exported.read_bytes(), exported.stat().st_mtime_ns
    (hide,) = files[_sha(plain)]["hide"]
    x0, y0, x1, y1 = hide["box"]
    assert abs(x0 - 150) <= 4 and abs(y0 - 100) <= 4 and abs(x1 - 300) <= 4 and abs(y1 - 200) <= 4

    deident(
        "scrub",
        batch,
        "-o",
        second,
        "-j",
        "1",
        "--faces",
        "off",
        "--decisions",
        exported,
        "--report",
        tmp_path / "r2.json",
        check=True,
    )
    user = [
        (f["kind"], f["action"])
        for r in report(tmp_path / "r2.json").values()
        for f in r["findings"]
        if f["stage"] == "user"
    ]
    assert sorted(user) == [("user.hide", "redacted"), ("user.keep", "kept")]

    original = np.asarray(Image.open(label).convert("RGB")).astype(int)
    one, two = (np.asarray(Image.open(d / "label.png").convert("RGB")).astype(int) for d in (first, second))
    kx0, ky0, kx1, ky1 = kept_box
    assert (one[ky0:ky1, kx0:kx1] != original[ky0:ky1, kx0:kx1]).any()  # filled the first time
    assert (two[ky0:ky1, kx0:kx1] == original[ky0:ky1, kx0:kx1]).all()  # kept visible now
    changed = np.argwhere((one != two).any(axis=2))
    assert (
        changed.size
        and (changed.min(axis=0) >= [ky0, kx0]).all()
        and (changed.max(axis=0) <= [ky1, kx1]).all()
    )
    ox0, oy0, ox1, oy1 = other_box
    assert (two[oy0 + 4 : oy1 - 4, ox0 + 4 : ox1 - 4] == 0).all()  # the other line stays filled

    photo_one, photo_two = (
        np.asarray(Image.open(d / "plain-é.jpg").convert("L")).astype(int) for d in (first, second)
    )
    assert photo_two[y0 + 8 : y1 - 8, x0 + 8 : x1 - 8].max() <= 8  # the drawn box is filled black
    assert photo_one[y0 + 8 : y1 - 8, x0 + 8 : x1 - 8].max() > 100  # it was not before
    outside = np.ones(photo_one.shape, bool)
    outside[max(0, y0 - 16) : y1 + 16, max(0, x0 - 16) : x1 + 16] = False  # JPEG: whole blocks around the box
    assert (photo_one[outside] == photo_two[outside]).all()

    # the reviewer's file is never rewritten; the outputs' kept regions go into NAME-outputs.json beside it
    assert exported.read_bytes() == exported_bytes and exported.stat().st_mtime_ns == exported_mtime
    extended = downloads / "decisions-outputs.json"
    assert set(json.loads(extended.read_text())["files"]) == {
        _sha(label),
        _sha(plain),
        _sha(second / "label.png"),
    }
    # the pre-commit gate honours it: the kept line does not fail the check of the outputs
    assert deident("check", second / "label.png", "--faces", "off").returncode == 1
    gate = deident("check", second / "label.png", "--faces", "off", "--decisions", extended)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    # ... and so does the reviewer's own file, the one the scrub was given (NAME-outputs.json read beside it)
    gate = deident("check", second / "label.png", "--faces", "off", "--decisions", exported)
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_outputs_only_page_holds_no_original(tmp_path):
    src = plain_jpeg(tmp_path / "a.jpg")
    result = deident("scrub", src, "--text", "off", "--faces", "off", "--review", "outputs")
    assert result.returncode == 0, result.stderr
    page = tmp_path / "a-review-outputs"
    thumbs = sorted(p.name for p in (page / "thumbs").iterdir())
    assert len(thumbs) == 1 and thumbs[0].endswith("-d0.jpg")  # the output's picture only
    data = (page / "data.js").read_text()
    assert '"outputs_only": true' in data and "sha256" not in data and str(src) not in data
    shown = np.asarray(Image.open(page / "thumbs" / thumbs[0]).convert("L"), dtype=float)
    assert shown.std() > 10


def test_outputs_only_page_names_no_input_it_wrote_nothing_for(tmp_path):
    """A failed or skipped file has no output to be named by: its input's path (a patient's name, a date,
    a record number) stayed on the page meant for sharing."""
    cases = tmp_path / "cases"
    (cases / "Doe_Jane").mkdir(parents=True)
    plain_jpeg(cases / "ok.jpg")
    Image.new("RGB", (32, 32)).save(cases / "SMITH_John_19700312.bmp")  # fails: convert it to PNG
    (cases / "Doe_Jane" / "notes MRN4455667.txt").write_text("seen")  # skipped: not an image
    off = ("--text", "off", "--faces", "off")
    result = deident("scrub", cases, "-o", tmp_path / "safe", *off, "--review", "outputs")
    assert result.returncode == 1, result.stderr  # the BMP failed
    data = (tmp_path / "safe-review-outputs" / "data.js").read_text()
    page = json.loads(data.split(" = ", 1)[1].rstrip(";\n"))
    assert sorted(f["status"] for f in page["files"]) == ["failed", "safe", "skipped"]
    for planted in ("SMITH", "19700312", "Doe_Jane", "MRN4455667"):
        assert planted not in data


@pytest.mark.slow
def test_a_multi_frame_file_shows_the_strip_of_its_changed_frames(tmp_path):
    rng = np.random.default_rng(1)
    frames = [Image.fromarray((180 + rng.integers(0, 30, (240, 480, 3))).astype(np.uint8)) for _ in range(3)]
    ImageDraw.Draw(frames[1]).text((30, 90), "MRN 00482913", fill=(0, 0, 0), font=font(36))
    src = tmp_path / "clip.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    result = deident("scrub", src, "-o", tmp_path / "out", "-j", "1", "--faces", "off", "--review")
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "out-review" / "data.js").read_text().split(" = ", 1)[1].rstrip(";\n"))
    (entry,) = data["files"]
    assert [f["frame"] for f in entry["frames"]] == [1]  # only the frame that changed
    shown = entry["frames"][0]
    before = np.asarray(Image.open(tmp_path / "out-review" / shown["o"]).convert("L"), dtype=int)
    after = np.asarray(Image.open(tmp_path / "out-review" / shown["d"]).convert("L"), dtype=int)
    assert before.min() < 60 and (after < 30).mean() > (before < 30).mean()  # text, then a filled box


def test_the_page_goes_beside_the_outputs_never_inside(tmp_path):
    from deident.review import place

    (tmp_path / "cases").mkdir()
    photo = plain_jpeg(tmp_path / "cases" / "a.jpg")
    assert place([tmp_path / "cases"], tmp_path / "safe", "") == (tmp_path / "safe-review", False)
    assert place([tmp_path / "cases"], tmp_path / "safe", "outputs") == (
        tmp_path / "safe-review-outputs",
        True,
    )
    assert place([photo], None, "") == (tmp_path / "cases" / "a-review", False)
    assert place([tmp_path / "cases"], None, "") == (tmp_path / "cases-review", False)
    assert place([photo], None, str(tmp_path / "mine")) == (tmp_path / "mine", False)
    with pytest.raises(ValueError, match="inside the output folder"):
        place([photo], tmp_path / "safe", str(tmp_path / "safe" / "page"))


def test_a_later_scrub_leaves_the_review_page_out_and_check_still_checks_it(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    plain_jpeg(cases / "a.jpg")
    first = deident("scrub", cases, "-o", tmp_path / "safe", "--text", "off", "--faces", "off", "--review")
    assert first.returncode == 0, first.stderr
    thumbs = sorted((tmp_path / "safe-review" / "thumbs").iterdir())
    assert thumbs  # pictures of the original, JPEG like any photo
    # the whole parent folder scrubbed again: the page is listed as left out, nothing of it copied
    again = deident(
        "scrub",
        tmp_path,
        "-o",
        tmp_path.parent / f"{tmp_path.name}-all",
        "--text",
        "off",
        "--faces",
        "off",
        "--report",
        tmp_path.parent / f"{tmp_path.name}-all.json",
    )
    assert again.returncode == 0, again.stderr
    rows = {
        Path(f["input"]).relative_to(tmp_path).as_posix(): f
        for f in json.loads((tmp_path.parent / f"{tmp_path.name}-all.json").read_text())["files"]
    }
    page_rows = {k: v for k, v in rows.items() if k.startswith("safe-review/")}
    assert {f"safe-review/thumbs/{t.name}" for t in thumbs} <= set(page_rows)
    assert all(r["status"] == "skipped" and "review page" in r["reason"] for r in page_rows.values())
    assert not (tmp_path.parent / f"{tmp_path.name}-all" / "safe-review").exists()
    assert rows["cases/a.jpg"]["status"] == "safe" and rows["safe/a.jpg"]["status"] == "safe"
    # check is a gate: a thumbnail given to it is judged by its content like any other file
    gate = deident("check", thumbs[0], "--fast", "--json")
    (row,) = json.loads(gate.stdout)["files"]
    assert row["status"] in ("clean", "unsafe") and gate.returncode in (0, 1)


def test_marks_the_reviewer_has_cleared_do_not_come_back_from_the_outputs_file(tmp_path):
    """A scrub copies the reviewer's entries into NAME-outputs.json; a later export without them (every
    mark on the file removed) must not get them back from there, or text they now want hidden stays kept."""
    from deident.review.decisions import load_with_outputs

    src = plain_jpeg(tmp_path / "a.jpg")
    keep = {"frame": 0, "box": [30, 30, 90, 90]}
    output_hash = "ab" * 32
    _decisions(
        tmp_path / "d-outputs.json",
        {
            _sha(src): {"path": str(src), "keep": [keep], "hide": []},
            output_hash: {"keep": [keep], "hide": []},
        },
    )
    cleared = load_with_outputs(_decisions(tmp_path / "d.json", {}))
    assert _sha(src) not in cleared.files  # the reviewer's old keep mark stays gone
    assert cleared.files[output_hash].keep  # the output written under the old decisions is still covered
    kept = load_with_outputs(
        _decisions(tmp_path / "d.json", {_sha(src): {"path": str(src), "keep": [], "hide": [keep]}})
    )
    assert not kept.files[_sha(src)].keep and kept.files[_sha(src)].hide  # the new export wins
