"""``build_post`` end to end on pictures made here: what reaches the bundle, and what never does."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deident.options import FaceMode, Options, TextMode
from deident.post import build_post
from support import need
from support.post import CAPTION, CREDIT, PHI_IN_CAPTION, slide_photo

FAST = Options(text=TextMode.OFF, faces=FaceMode.OFF, jobs=1)  # metadata only: for the image plumbing


def _ocr(img: Image.Image) -> str:
    import pytesseract

    texts = []
    for scale in (1, 2):
        big = img.resize((img.width * scale, img.height * scale)) if scale > 1 else img
        for psm in (3, 11):
            texts.append(pytesseract.image_to_string(big, config=f"--psm {psm}"))
    return "\n".join(texts)


def _corners(img: Image.Image):
    """Each quarter, and each half of the bottom band, where the credit goes: Tesseract's page layout
    can drop a small line beside a large black fill in the same crop."""
    w, h = img.size
    for x in (0, w // 2):
        for y in (0, h // 2):
            yield img.crop((x, y, x + w // 2, y + h // 2))
        yield img.crop((x, h * 3 // 4, x + w // 2, h))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """One full run (text, barcodes and faces stages on): the expensive part, shared by the checks."""
    root = tmp_path_factory.mktemp("post")
    photo = slide_photo(root / "SMITH_JANE_S17-04522.jpg")
    out = root / "bundle"
    result = build_post(
        [photo],
        out,
        caption=CAPTION,
        credit=CREDIT,
        watermark=True,
        seed=7,
        long_side=640,
        options=Options(jobs=1),
    )
    return result, out, root


def test_bundle_written(bundle):
    result, out, root = bundle
    assert result.ok, result.reason
    assert sorted(p.name for p in out.iterdir()) == ["post-1.jpg", "post.txt"]
    assert result.images == [str(out / "post-1.jpg")]
    assert not [p for p in root.iterdir() if ".deid-tmp" in p.name]  # work folder removed


def test_text_has_no_identifiers_and_has_tags_and_credit(bundle):
    result, out, _ = bundle
    text = (out / "post.txt").read_text(encoding="utf-8")
    assert text == result.text
    for phi in PHI_IN_CAPTION:
        assert not re.search(rf"\b{re.escape(phi)}\b", text), (phi, text)
    assert all(int(n) <= 90 for n in re.findall(r"\d+", text)), text  # ages over 89 aggregated
    assert f"Image courtesy of {CREDIT}" in text
    for tag in ("#BCC", "#Dermatofibroma", "#dermpath", "#pathology"):
        assert tag in result.hashtags and tag in text
    assert "basal cell carcinoma" in text  # the clinical content stays


def test_image_small_srgb_and_metadata_free(bundle):
    _, out, _ = bundle
    data = (out / "post-1.jpg").read_bytes()
    for marker in (b"SMITH", b"S17-04522", b"Exif", b"ICC_PROFILE", b"http://ns.adobe.com"):
        assert marker not in data
    img = Image.open(io.BytesIO(data))
    assert img.mode == "RGB" and max(img.size) == 640 and img.size == (640, 360)
    assert not {"exif", "icc_profile", "xmp", "comment", "photoshop"} & set(img.info)


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_sees_only_structure(bundle):
    _, out, _ = bundle
    raw = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", str(out / "post-1.jpg")], capture_output=True, check=True
    )
    groups = {key.split(":")[0] for key in json.loads(raw.stdout)[0] if ":" in key}
    assert groups <= {"ExifTool", "System", "File", "JFIF", "Composite"}, groups


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")
def test_credit_readable_label_not(bundle):
    _, out, _ = bundle
    img = Image.open(out / "post-1.jpg").convert("RGB")
    import pytesseract

    corners = "\n".join(pytesseract.image_to_string(q, config="--psm 11") for q in _corners(img))
    assert "path_doc42" in corners
    read = _ocr(img) + corners
    for word in ("SMITH", "JANE", "04522", "S17", "2017"):
        assert word not in read.upper(), word


def test_report_is_json_and_never_names_the_patient(bundle):
    result, _, _ = bundle
    d = result.to_dict()
    dumped = json.dumps({k: v for k, v in d.items() if k != "sources"})
    for phi in ("SMITH", "Smith", "4455667", "03/04/2017", "555-123"):
        assert phi not in dumped
    assert d["credit"] == CREDIT and d["watermarks"][0]["corner"]
    stages = {f["stage"] for f in d["findings"]}
    assert {"caption", "metadata", "text"} <= stages


def test_compose_text_layout():
    from deident.post import compose_text

    assert (
        compose_text("A BCC.", "@me", ["#BCC", "#dermpath"])
        == "A BCC.\n\nImage courtesy of @me\n\n#BCC #dermpath\n"
    )
    assert compose_text("", None, ["#BCC"]) == "#BCC\n"
    assert compose_text("  ", None, []) == ""


def _dicom(path: Path) -> Path:
    """A small secondary-capture radiograph-like DICOM with a patient name in its header."""
    from support.dicom import secondary_capture

    yy, xx = np.mgrid[0:96, 0:128]
    pixels = (40 + 150 * np.exp(-((xx - 64) ** 2 + (yy - 48) ** 2) / 900)).astype(np.uint8)
    return secondary_capture(path, pixels, PatientName="SMITH^JANE", PatientID="4455667")


def test_dicom_rendered_for_posting(tmp_path):
    source = _dicom(tmp_path / "study.dcm")
    result = build_post([source], tmp_path / "bundle", caption="CT of a lung mass", options=FAST)
    assert result.ok, result.reason
    data = Path(result.images[0]).read_bytes()
    assert data[:3] == b"\xff\xd8\xff" and b"SMITH" not in data and b"4455667" not in data
    img = Image.open(io.BytesIO(data))
    assert img.size == (128, 96)
    assert (
        np.asarray(img.convert("L"))[48, 64] > np.asarray(img.convert("L"))[5, 5] + 80
    )  # bright centre kept
    assert "#radiology" in result.hashtags


def test_fail_closed_on_an_unreadable_image(tmp_path):
    good = slide_photo(tmp_path / "a.jpg")
    bad = tmp_path / "b.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "bundle"
    result = build_post([good, bad], out, caption="BCC", options=FAST)
    assert not result.ok and "b.jpg" in result.reason
    assert not out.exists() and result.images == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "b.jpg"]


def test_fail_closed_when_a_check_cannot_run(tmp_path, monkeypatch):
    from deident import stages
    from deident.errors import StageUnavailable

    class Broken:
        name = "text"

        def __init__(self, options):
            pass

        def ensure_available(self):
            raise StageUnavailable("text engine missing (simulated)")

        def detect(self, frame, ctx):
            return []

    monkeypatch.setattr(stages, "_cache", {("text", "all"): Broken(None), ("barcode", "all"): Broken(None)})
    out = tmp_path / "bundle"
    result = build_post([slide_photo(tmp_path / "a.jpg")], out, options=Options(faces=FaceMode.OFF, jobs=1))
    assert not result.ok and "simulated" in result.reason
    assert not out.exists()


def test_identifying_credit_refused(tmp_path):
    out = tmp_path / "bundle"
    result = build_post([slide_photo(tmp_path / "a.jpg")], out, credit="call 555-123-4567", options=FAST)
    assert not result.ok and "identifying" in result.reason
    assert not out.exists()


def test_credit_handle_passes_while_a_handle_in_the_caption_goes():
    from deident.post.bundle import PostFailed, prepare_text

    caption = "Case from @other_doc: 45F with a basal cell carcinoma."
    final, *_ = prepare_text(caption, credit="@path_doc42", fields=(), tags=(), seed=1)
    assert "Image courtesy of @path_doc42" in final and "other_doc" not in final, final
    with pytest.raises(PostFailed):
        prepare_text(caption, credit="@path_doc42, call 555-123-4567", fields=(), tags=(), seed=1)


def test_watermark_needs_credit_and_folder_must_be_ours(tmp_path):
    photo = slide_photo(tmp_path / "a.jpg")
    assert "credit" in build_post([photo], tmp_path / "x", watermark=True, options=FAST).reason
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.docx").write_bytes(b"mine")
    result = build_post([photo], busy, options=FAST)
    assert not result.ok and "other files" in result.reason
    assert sorted(p.name for p in busy.iterdir()) == ["notes.docx"]


def test_rebuild_replaces_the_earlier_bundle_and_is_deterministic(tmp_path):
    photos = [slide_photo(tmp_path / f"{n}.jpg", size=(500 + 40 * n, 300)) for n in range(3)]
    out = tmp_path / "bundle"
    first = build_post(photos, out, caption=CAPTION, seed=11, credit=CREDIT, watermark=True, options=FAST)
    assert first.ok, first.reason
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"post.txt", "post-1.jpg", "post-2.jpg", "post-3.jpg"}
    again = build_post(photos, out, caption=CAPTION, seed=11, credit=CREDIT, watermark=True, options=FAST)
    assert again.ok and {p.name: p.read_bytes() for p in out.iterdir()} == before
    fewer = build_post(photos[:1], out, caption=CAPTION, seed=11, options=FAST)
    assert fewer.ok and sorted(p.name for p in out.iterdir()) == ["post-1.jpg", "post.txt"]


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_with_bundle_names_that_deident_did_not_write_are_never_replaced(tmp_path):
    """A user's post-1.jpg, post-2.jpg and post.txt are not an earlier bundle: their names say nothing."""
    out = tmp_path / "b"
    out.mkdir()
    for name in ("post-1.jpg", "post-2.jpg"):
        slide_photo(out / name, size=(320, 200))
    (out / "post.txt").write_text("my draft\n")
    before = {p.name: _sha(p) for p in out.iterdir()}
    result = build_post([slide_photo(tmp_path / "h.jpg")], out, caption="x", options=FAST)
    assert not result.ok and "did not write as a bundle" in result.reason and "post-1.jpg" in result.reason
    assert {p.name: _sha(p) for p in out.iterdir()} == before


def test_an_input_inside_the_output_folder_is_never_replaced(tmp_path):
    out = tmp_path / "c"
    first = build_post([slide_photo(tmp_path / "a.jpg")], out, options=FAST)
    assert first.ok, first.reason  # c/post-1.jpg is now a bundle file deident wrote...
    before = _sha(out / "post-1.jpg")
    again = build_post([out / "post-1.jpg"], out, options=FAST)  # ...and the input of the next post
    assert not again.ok and "is an input" in again.reason
    assert _sha(out / "post-1.jpg") == before and sorted(p.name for p in out.iterdir()) == [
        "post-1.jpg",
        "post.txt",
    ]


def test_a_file_put_in_the_folder_while_the_bundle_is_made_is_left_alone(tmp_path, monkeypatch):
    from deident.post import bundle as bundle_mod

    photos = [slide_photo(tmp_path / f"{n}.jpg", size=(400 + 40 * n, 300)) for n in range(2)]
    out = tmp_path / "bundle"
    assert build_post(photos[:1], out, options=FAST).ok
    earlier = {p.name: _sha(p) for p in out.iterdir()}
    real_verify = bundle_mod._verify_metadata

    def verify_then_intrude(paths, options):  # after the first look at the folder, before publishing
        real_verify(paths, options)
        (out / "post-2.jpg").write_bytes(b"the user's own picture")

    monkeypatch.setattr(bundle_mod, "_verify_metadata", verify_then_intrude)
    result = build_post(photos, out, options=FAST)
    assert not result.ok and "post-2.jpg" in result.reason
    assert (out / "post-2.jpg").read_bytes() == b"the user's own picture"
    assert {p.name: _sha(p) for p in out.iterdir() if p.name != "post-2.jpg"} == earlier


def test_icc_converted_and_size_bounds_through_the_pipeline(tmp_path):
    from support.post import swapped_profile

    red = tmp_path / "red.png"
    Image.new("RGB", (1200, 900), (255, 0, 0)).save(red, icc_profile=swapped_profile())
    small = tmp_path / "small.png"
    Image.new("RGB", (200, 150), (0, 128, 0)).save(small)
    result = build_post([red, small], tmp_path / "bundle", long_side=500, options=FAST)
    assert result.ok, result.reason
    first, second = (Image.open(p) for p in result.images)
    assert first.size == (500, 375) and second.size == (200, 150)  # bounded, never upscaled
    r, _, b = first.convert("RGB").getpixel((250, 180))
    assert b > 200 and r < 60  # the profile's "red" is sRGB blue
    assert "icc_profile" not in first.info
    assert any(f.kind == "post.icc" for f in result.findings)


@pytest.mark.parametrize("mode", [FaceMode.EYES, FaceMode.BLUR])
def test_faces_hidden_in_the_posted_picture(tmp_path, mode):
    data = need("skimage.data", "scikit-image's sample photos")

    from deident.batch import check_paths
    from deident.findings import Status

    photo = tmp_path / "portrait.png"
    Image.fromarray(data.astronaut()).save(photo)
    options = dataclasses.replace(FAST, faces=mode)
    before = check_paths([photo], options)[0]
    assert before.status is Status.UNSAFE  # the detector does see this face
    result = build_post([photo], tmp_path / "bundle", long_side=400, options=options)
    assert result.ok, result.reason
    assert any(f.stage == "faces" for f in result.findings)
    assert check_paths(result.images, options)[0].status is Status.CLEAN


@pytest.mark.parametrize(
    ("caption", "forbidden", "tags"),
    [
        ("Mr. John Doe (MRN: 00123456), 95 yo M, seen 2019-05-12: melanoma in situ on the back.",
         ("John", "Doe", "00123456", "95", "2019", "05-12"), ("#MelanomaInSitu", "#dermpath")),
        ("Patient Anna Lee, aged 91, biopsied on March 4, 2017 yesterday; accession S17-04522. Psoriasis.",
         ("Anna", "Lee", "91", "March", "2017", "S17", "04522", "yesterday"), ("#Psoriasis",)),
        ("DOB 01/02/1930. A 97-year-old woman, call +44 20 7946 0958, email a.b@example.org: lipoma.",
         ("1930", "01/02", "97", "7946", "example.org"), ("#Lipoma",)),
    ],
)  # fmt: skip
def test_post_text_never_carries_caption_identifiers(tmp_path, caption, forbidden, tags):
    out = tmp_path / "bundle"
    result = build_post([slide_photo(tmp_path / "a.jpg")], out, caption=caption, seed=3, options=FAST)
    assert result.ok, result.reason
    text = (out / "post.txt").read_text(encoding="utf-8")
    for value in forbidden:
        assert value not in text, (value, text)
    assert "90" in text and all(int(n) <= 90 for n in re.findall(r"\d+", text)), text
    for tag in tags:
        assert tag in text.split()


def test_pictures_are_checked_before_anything_is_written(tmp_path, monkeypatch):
    """The rendered pictures go through the same check as ``deident check``, before the bundle exists."""
    from deident import batch

    real = batch.check_paths
    calls = []

    def spy(paths, options=None, progress=None):
        paths = [Path(p) for p in paths]
        calls.append(([p.name for p in paths], options.fast, out.exists()))
        return real(paths, options, progress)

    monkeypatch.setattr(batch, "check_paths", spy)
    out = tmp_path / "bundle"
    photos = [slide_photo(tmp_path / "a.jpg"), slide_photo(tmp_path / "b.jpg")]
    result = build_post(photos, out, caption="A BCC.", options=FAST)
    assert result.ok, result.reason
    full = [c for c in calls if not c[1]]
    assert full == [(["post-1.jpg", "post-2.jpg"], False, False)]  # every picture, not yet published


def test_a_finding_of_the_check_refuses_the_bundle(tmp_path, monkeypatch):
    from deident import batch
    from deident.findings import Action, FileResult, Finding, Status

    real = batch.check_paths

    def unsafe(paths, options=None, progress=None):
        results = real(paths, options, progress)
        if not options.fast:
            for r in results:
                r.findings.append(Finding("text", "text.text", "frame 0", Action.FOUND, "text line"))
                r.status = Status.UNSAFE
        return results

    monkeypatch.setattr(batch, "check_paths", unsafe)
    out = tmp_path / "bundle"
    result = build_post([slide_photo(tmp_path / "a.jpg")], out, caption="A BCC.", options=FAST)
    assert not result.ok and "still show identifiers" in result.reason
    assert not out.exists() and result.images == []
    assert all(isinstance(r, FileResult) for r in result.sources)
    assert [p.name for p in tmp_path.iterdir()] == ["a.jpg"]
