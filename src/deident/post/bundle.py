"""``build_post``: images and a caption in, a checked post bundle out, or nothing and the reason.

In this order (each step fails the whole bundle, nothing is written to ``out_dir`` until the end)::

    caption      fuzz_text -> + credit line + hashtags -> check_caption(final text) must be empty
    scrub        batch.scrub_paths on every image (metadata, barcodes, text, faces; verified)
    render       first frame, ICC -> sRGB, long side <= N (never up), JPEG q92 4:4:4, no metadata
    check        batch.check_paths on the rendered JPEGs (eyes mode: every eye band still flat)
    watermark    optional credit drawn on the checked pixels (after the check: it is our own text)
    verify       metadata check of the final files (nothing but a JFIF header)
    publish      post-1.jpg ... and post.txt flushed, journaled, moved into out_dir

All work happens in a temporary folder beside ``out_dir`` (same file system, removed afterwards), so a
failure or a crash never leaves a half bundle, and the full-size scrubbed copies never stay on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deident.errors import DeidentError
from deident.findings import Action, FileResult, Finding, Stage, Status
from deident.options import Options
from deident.paths import TEMP_MARK

TEXT_NAME = "post.txt"
IMAGE_NAME = "post-{n}.jpg"
_BUNDLE_FILE = re.compile(r"^(post\.txt|post-\d+\.jpg)$")
MIN_LONG_SIDE = 64
# Up to this many images the scrub runs in this process: worker start-up and loading the OCR and face
# models in each worker cost more than they save (2 images: 16 s in-process vs 21 s with 2 workers).
# The check of the small rendered pictures always runs in-process, reusing the models already loaded.
IN_PROCESS_UP_TO = 2


@dataclass
class PostResult:
    ok: bool
    reason: str = ""
    out_dir: str = ""
    images: list[str] = field(default_factory=list)  # written pictures (empty when not ok)
    text: str = ""  # the whole post.txt
    caption: str = ""  # the fuzzed caption alone
    hashtags: list[str] = field(default_factory=list)
    credit: str | None = None
    findings: list[Finding] = field(default_factory=list)
    watermarks: list[dict] = field(default_factory=list)  # corner and box of each credit drawn
    sources: list[FileResult] = field(default_factory=list)  # the scrub of each input image

    def to_dict(self) -> dict:
        return {
            "tool": "deident",  # what --report looks for before it replaces an earlier report
            "command": "post",
            "ok": self.ok,
            "reason": self.reason,
            "out_dir": self.out_dir,
            "images": self.images,
            "text": self.text,
            "caption": self.caption,
            "hashtags": self.hashtags,
            "credit": self.credit,
            "watermarks": self.watermarks,
            "findings": [f.to_dict() for f in self.findings],
            "sources": [r.to_dict() for r in self.sources],
        }


class PostFailed(DeidentError):
    """A step of the bundle could not be made or checked: nothing is published."""

    def __init__(self, reason: str, findings: Sequence[Finding] = ()):
        super().__init__(reason)
        self.findings = list(findings)


# ---------------------------------------------------------------- caption


def credit_line(credit: str | None) -> str:
    return f"Image courtesy of {credit}" if credit else ""


def compose_text(caption: str, credit: str | None, hashtags: Sequence[str]) -> str:
    """post.txt: caption, blank line, credit, blank line, hashtags; empty parts are left out."""
    parts = [p for p in (caption.strip(), credit_line(credit), " ".join(hashtags)) if p]
    return "\n\n".join(parts) + "\n" if parts else ""


def _change_finding(change) -> Finding:
    """A caption change without its original value (the report must not leak what was removed)."""
    removed = change.after.strip() in ("", "(removed)")
    action = Action.REMOVED if removed else Action.REPLACED
    return Finding("caption", f"caption.{change.kind}", "caption", action, f"{change.kind} changed")


def prepare_text(
    caption: str,
    *,
    credit: str | None,
    fields: Sequence[str],
    tags: Sequence[str],
    seed: int | None,
) -> tuple[str, str, list[str], list[Finding]]:
    """(post text, fuzzed caption, hashtags, findings); raises PostFailed when the text is not clean."""
    from deident.denylist import DenyList
    from deident.history import check_caption, fuzz_text, identifiers_in
    from deident.post.hashtags import hashtags_for

    fuzzed = fuzz_text(caption, seed=seed) if caption.strip() else None
    text = fuzzed.text.strip() if fuzzed else ""
    findings = [_change_finding(c) for c in fuzzed.changes] if fuzzed else []
    try:
        hashtags = hashtags_for(text, fields_given=fields, tags=tags)
    except ValueError as exc:
        raise PostFailed(str(exc)) from None
    final = compose_text(text, credit, hashtags)
    # The credit's own handles are the poster's, published on purpose; the rest of the credit is checked.
    own = sorted(set(re.findall(r"@\w+", credit or "")), key=len, reverse=True)

    def without_own(text: str) -> str:
        return re.sub("|".join(map(re.escape, own)), "", text) if own else text

    left = check_caption(without_own(final))
    # The caption's own names, numbers and dates, however the user's hashtags spell them: the fuzz takes
    # "Mr John Smith" out of the caption, and "--tags +JohnSmith" put it back as "#JohnSmith".
    # Only what the user added is read so ("Smith fracture" in a caption about Mr Smith is the fuzz's call).
    added = without_own(compose_text("", credit, hashtags))
    spelled = DenyList(identifiers_in(caption)).find(added) if caption.strip() else []
    if spelled and not left:
        raise PostFailed(
            "the post text still spells a name, number or date of the caption (a hashtag or the credit)"
        )
    if left:
        kinds = ", ".join(sorted({f.detail or f.kind for f in left}))
        raise PostFailed(f"the post text still looks identifying after fuzzing ({kinds})", left)
    return final, text, hashtags, findings


# ---------------------------------------------------------------- images


def _scrub(images: list[Path], options: Options, folder: Path) -> list[FileResult]:
    from deident.batch import scrub_paths

    scrub_options = dataclasses.replace(
        options,
        output_dir=folder,
        in_place=False,
        rename=False,
        keep_names=True,  # the bundle names its pictures post-N.jpg: no input name reaches it
        resume=False,
        fuzz_history=False,
        output_format=None,
        jobs=options.jobs if len(images) > IN_PROCESS_UP_TO else 1,
    )
    results = scrub_paths(images, scrub_options)
    for n, r in enumerate(results, 1):
        if r.status is not Status.SAFE or not r.output:
            why = r.reason or r.status.value
            raise PostFailed(f"image {n} ({Path(r.input).name}) could not be made safe: {why}")
    return results


def _source_finding(n: int, finding: Finding) -> Finding:
    """A scrub finding as the bundle reports it: pictures are renamed, so file names are not kept."""
    if finding.stage is Stage.FILENAME:
        detail = "identifying file or folder name not used: the bundle names pictures post-N.jpg"
        return Finding("filename", finding.kind, f"image {n}", Action.REMOVED, detail)
    return dataclasses.replace(finding, where=f"image {n}: {finding.where}")


def _check_options(options: Options) -> Options:
    """The read-only check of the rendered pictures: same stages as the scrub, in this process.

    In eyes mode the face stage reports only faces whose eye band is not flat, so a consented photo
    with its bars passes and one whose bar was lost in resizing fails.
    """
    return dataclasses.replace(options, output_dir=None, in_place=False, fast=False, jobs=1)


def _check(paths: list[Path], options: Options) -> list[Finding]:
    from deident.batch import check_paths

    found: list[Finding] = []
    for n, r in enumerate(check_paths(paths, _check_options(options)), 1):
        if r.status is Status.FAILED:
            raise PostFailed(f"image {n} could not be checked after resizing: {r.reason}")
        # Names are ours (post-N.jpg in a temporary folder), not the patient's: only contents count.
        found += [
            dataclasses.replace(f, where=f"image {n}: {f.where}")
            for f in r.findings
            if f.stage is not Stage.FILENAME
        ]
    return found


def _verify_metadata(paths: list[Path], options: Options) -> None:
    """The final files carry no metadata at all (Pillow view and the format's own walker)."""
    from PIL import Image

    from deident.batch import check_paths

    for n, path in enumerate(paths, 1):
        with Image.open(path) as img:
            extra = {"exif", "icc_profile", "xmp", "comment", "photoshop"} & set(img.info)
        if extra:
            raise PostFailed(f"image {n}: metadata left after encoding ({', '.join(sorted(extra))})")
    fast = dataclasses.replace(options, fast=True, output_dir=None, jobs=1)
    for n, r in enumerate(check_paths(paths, fast), 1):
        meta = [f for f in r.findings if f.stage is not Stage.FILENAME]
        if r.status is Status.FAILED or meta:
            raise PostFailed(f"image {n}: final file failed the metadata check {r.reason}".strip(), meta)


def _render(results: list[FileResult], folder: Path, options: Options, long_side: int):
    from deident.formats.base import Context
    from deident.keys import Keyring
    from deident.post.render import encode_jpeg, picture_for_post

    ctx = Context(options, Keyring(options.key or b""))
    pictures, paths, findings = [], [], []
    for n, r in enumerate(results, 1):
        picture = picture_for_post(Path(r.output), ctx, long_side, f"image {n}")
        path = folder / IMAGE_NAME.format(n=n)
        path.write_bytes(encode_jpeg(picture.image))
        pictures.append(picture.image)
        paths.append(path)
        findings += picture.findings
    return pictures, paths, findings


# ---------------------------------------------------------------- publishing


BUNDLE_RECIPE = "post-bundle"  # what the outputs journal says made a file a bundle published


def _earlier_bundle(out_dir: Path, images: Sequence[Path]) -> list[Path]:
    """The files of an earlier bundle in ``out_dir``, which a new bundle replaces; ``PostFailed`` when the
    folder holds anything else, or an input.

    A file is an earlier bundle's only when deident's outputs journal records that very file as one a
    bundle published (``deident.outputs``): a user's ``post-1.jpg`` or ``post.txt`` is never replaced or
    deleted, whatever its name.
    """
    from deident.outputs import Journal

    if out_dir.exists() and not out_dir.is_dir():
        raise PostFailed(f"{out_dir} exists and is not a folder")
    if not out_dir.is_dir():
        return []
    here = os.path.realpath(out_dir)
    for image in images:
        if os.path.dirname(os.path.realpath(image)) == here:
            raise PostFailed(
                f"{image} is an input and is in the output folder {out_dir}: it would be replaced or "
                "removed; choose another output folder (nothing was changed)"
            )
    journal = Journal()
    earlier, others = [], []
    for path in sorted(out_dir.iterdir()):
        made = journal.made(path)
        ours = _BUNDLE_FILE.match(path.name) and made is not None and made.recipe == BUNDLE_RECIPE
        (earlier if ours else others).append(path)
    if others:
        names = ", ".join(p.name for p in others[:3]) + (" …" if len(others) > 3 else "")
        raise PostFailed(
            f"{out_dir} holds other files, which deident did not write as a bundle ({names}): nothing "
            "there is replaced or removed; choose a new or empty folder"
        )
    return earlier


def _publish(bundle: Path, out_dir: Path, images: Sequence[Path], options: Options) -> None:
    """Flush the bundle to disk, journal it, then move it into ``out_dir``.

    The folder is looked at again here, after the slow steps: a file put there meanwhile refuses the
    bundle rather than being replaced. A new picture name is taken only if it is still free.
    """
    from deident.atomic import key_of, rename_noreplace, sync_dirs
    from deident.outputs import Made, made_by, record

    files = sorted(bundle.iterdir())
    for path in files:
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    made = Made(made_by(options).key_id, BUNDLE_RECIPE)
    record([(out_dir / p.name, None, p, None) for p in files], made)
    earlier = _earlier_bundle(out_dir, images)
    if not out_dir.exists():
        os.rename(bundle, out_dir)  # fails, changing nothing, if a folder with files appeared meanwhile
        sync_dirs([out_dir.parent])
        return
    keys = {p.name: key_of(p) for p in earlier}
    for new in files:
        final = out_dir / new.name
        if keys.get(final.name) is None:
            rename_noreplace(new, final)
        elif key_of(final) == keys[final.name]:
            os.replace(new, final)  # the earlier bundle's own file, as it was a moment ago
        else:
            raise PostFailed(f"{final} changed while the bundle was made: left as it is")
    published = {p.name for p in files}
    for old in earlier:  # an earlier bundle's pictures beyond this one's count
        if old.name not in published and key_of(old) == keys[old.name]:
            old.unlink()
    sync_dirs([out_dir])


def _validate(images: list[Path], long_side: int, watermark: bool, credit: str | None) -> None:
    if not images:
        raise PostFailed("no image given")
    if watermark and not credit:
        raise PostFailed("--watermark needs --credit (the text to draw)")
    if long_side < MIN_LONG_SIDE:
        raise PostFailed(f"--long-side must be at least {MIN_LONG_SIDE} pixels")
    names: set[str] = set()
    for path in images:
        if not path.is_file():
            raise PostFailed(f"{path}: not a file")
        if path.name in names:
            raise PostFailed(f"two images are named {path.name}: rename one")
        names.add(path.name)


# ---------------------------------------------------------------- the entry point


def build_post(
    images: list[Path],
    out_dir: Path,
    *,
    caption: str = "",
    credit: str | None = None,
    tags: Sequence[str] = (),
    long_side: int = 2048,
    watermark: bool = False,
    seed: int | None = None,
    options: Options | None = None,
    fields: Sequence[str] = (),
) -> PostResult:
    """Scrub ``images``, render them for posting and write them with the fuzzed caption into ``out_dir``.

    ``options`` drives the scrub (default: ``Options()``, faces blurred; pass ``faces=FaceMode.EYES``
    for consented photos). Never raises for a bad input: ``ok`` is False and ``reason`` says why.
    """
    from deident.batch import prepare_options

    images = [Path(p) for p in images]
    out_dir = Path(out_dir)
    credit = (credit or "").strip() or None
    result = PostResult(ok=False, out_dir=str(out_dir), credit=credit)
    options = options or Options()
    seed = options.seed if seed is None else seed
    work: Path | None = None
    try:
        _validate(images, long_side, watermark, credit)
        _earlier_bundle(out_dir, images)  # refuse before the slow steps; looked at again when publishing
        options, _ = prepare_options(dataclasses.replace(options, seed=seed), read_only=False)
        text, fuzzed, hashtags, caption_findings = prepare_text(
            caption, credit=credit, fields=fields, tags=tags, seed=seed
        )
        result.text, result.caption, result.hashtags = text, fuzzed, hashtags
        result.findings += caption_findings
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{TEMP_MARK}post-", dir=out_dir.parent))
        bundle = work / "bundle"
        bundle.mkdir()
        result.sources = _scrub(images, options, work / "scrubbed")
        for n, r in enumerate(result.sources, 1):
            result.findings += [_source_finding(n, f) for f in r.findings]
        pictures, paths, render_findings = _render(result.sources, bundle, options, long_side)
        result.findings += render_findings
        left = _check(paths, options)
        if left:
            kinds = ", ".join(sorted({f.stage for f in left}))
            raise PostFailed(f"the resized pictures still show identifiers ({kinds})", left)
        shutil.rmtree(work / "scrubbed")
        if watermark:
            _watermark(pictures, paths, credit, result)
        _verify_metadata(paths, options)
        (bundle / TEXT_NAME).write_text(text, encoding="utf-8")
        _publish(bundle, out_dir, images, options)
        result.images = [str(out_dir / p.name) for p in paths]
    except PostFailed as exc:
        result.reason = str(exc)
        result.findings += exc.findings
        return result
    except (DeidentError, OSError, ValueError) as exc:
        result.reason = str(exc)
        return result
    except Exception as exc:  # fail closed: a bug must not publish anything
        result.reason = f"internal error ({type(exc).__name__}: {exc})"
        return result
    finally:
        if work is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(work)
    result.ok = True
    return result


def _watermark(pictures: list, paths: list[Path], credit: str, result: PostResult) -> None:
    from deident.post.render import encode_jpeg
    from deident.post.watermark import draw_credit

    for n, (picture, path) in enumerate(zip(pictures, paths, strict=True), 1):
        marked, place = draw_credit(picture, credit)
        path.write_bytes(encode_jpeg(marked))
        result.watermarks.append({"image": n, **place.to_dict()})
        where = f"image {n} box {place.box[0]},{place.box[1]}-{place.box[2]},{place.box[3]}"
        result.findings.append(Finding("post", "post.watermark", where, Action.KEPT, "credit drawn"))
