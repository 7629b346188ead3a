"""ExifTool's own test images: each is scrubbed down to structural tags only, or refused with a reason.

ExifTool is the judge: after our scrub, ``exiftool -a -G1`` may list only tags that describe how to
decode and display the picture (the allow-list below), never a date, name, device, position or comment.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from deident.errors import DeidentError
from deident.formats.base import Source, detect, open_document
from deident.keys import Keyring
from deident.options import Options
from support.exiftool import allowed

MY_FORMATS = {"jpeg", "png", "gif", "webp", "tiff", "heif"}

# Files whose EXIF/ICC hold an orientation ExifTool reports under IFD0: allowed above ("Orientation").


def test_every_corpus_file_is_scrubbed_or_refused(shared_dir, tmp_path):
    corpus = shared_dir / "corpora" / "exiftool-images"
    if not corpus.is_dir():
        pytest.skip("exiftool-images corpus missing")
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is not installed")
    from deident.formats.base import Context

    ctx = Context(Options(), Keyring(b"corpus"))
    written, refused = {}, {}
    for path in sorted(corpus.iterdir()):
        spec = detect(path.read_bytes()[:4096])
        if spec is not None and spec.name not in MY_FORMATS:
            continue  # DICOM belongs to its own module and tests
        try:
            doc = open_document(Source(path))
            doc.scrub_metadata(ctx)
            out = tmp_path / path.name
            with open(out, "wb") as fh:
                doc.write(fh, ctx)
            assert open_document(Source(out)).metadata_findings() == [], path.name
            written[out.name] = path
        except DeidentError as exc:
            assert str(exc), f"{path.name}: refusal without a reason"
            refused[path.name] = str(exc)
    assert len(written) >= 40, f"too many refusals: {refused}"
    # QuickTime.heic is ExifTool's box-layout sample: its "image data" is the text <dummy image data>, so
    # there is no picture to re-encode and it must be refused (fail closed), never written as safe.
    if (corpus / "QuickTime.heic").exists():
        assert "QuickTime.heic" not in written and "decode" in refused.get("QuickTime.heic", ""), refused
        kinds = {f.kind for f in open_document(Source(corpus / "QuickTime.heic")).metadata_findings()}
        assert kinds == {"heif.thumbnail"}
    result = subprocess.run(
        [exiftool, "-a", "-G1", "-s", "-j", "-q", "-q", *(str(tmp_path / n) for n in sorted(written))],
        capture_output=True,
        text=True,
        check=False,
    )
    leaks = {}
    for entry in json.loads(result.stdout):
        bad = sorted(k for k in entry if not allowed(k))
        if bad:
            leaks[entry["SourceFile"].rsplit("/", 1)[-1]] = bad
    assert leaks == {}
