"""The ``deident`` command: parse options, call the library, render. Nothing else lives here.

Exit codes: ``scrub`` 0 when every file was made safe, 1 when one could not be; ``check`` 0 clean,
1 identifiers found, 2 a file could not be checked; 2 for usage errors everywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deident import __version__

TEXT_MODES = ("all", "phi", "off")
FACE_MODES = ("blur", "pixelate", "fill", "eyes", "off")
STYLES = ("fill", "blur", "pixelate")


def _default_map() -> dict:
    from deident.config import find_config

    try:
        config = find_config()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    return {cmd: config.for_command(cmd) for cmd in ("scrub", "check", "inspect", "fuzz", "post")}


class _Group(click.Group):
    def make_context(self, info_name, args, parent=None, **extra):
        extra.setdefault("default_map", _default_map())
        return super().make_context(info_name, args, parent=parent, **extra)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="deident")
def cli() -> None:
    """Make clinical images safe to share: metadata, DICOM headers, burned-in text, faces, captions."""


def _stage_options(fn):
    for decorator in reversed(
        (
            click.option(
                "--text",
                type=click.Choice(TEXT_MODES),
                default="all",
                show_default=True,
                help="Burned-in text: redact all of it, only identifying text, or skip the stage.",
            ),
            click.option(
                "--faces",
                type=click.Choice(FACE_MODES),
                default="blur",
                show_default=True,
                help="Faces: hide them, bar the eyes only (consented photos), or skip the stage.",
            ),
            click.option(
                "--keep-text",
                multiple=True,
                metavar="REGEX",
                help="Leave text matching REGEX visible (repeatable).",
            ),
            click.option(
                "-j",
                "--jobs",
                type=click.IntRange(1, 256),
                default=None,
                help="Files processed in parallel (default: number of CPUs).",
            ),
            click.option(
                "--key-file",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Secret key for UIDs, pseudonyms and date shifts (else $DEIDENT_KEY or a saved key).",
            ),
            click.option(
                "--max-pixels",
                type=click.IntRange(1),
                default=None,
                help="Refuse to decode images larger than this (decompression-bomb guard).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print the JSON report to stdout."),
            click.option(
                "--report",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Also write the JSON report to FILE.",
            ),
        )
    ):
        fn = decorator(fn)
    return fn


def _options(**kw):
    from deident.options import DEFAULT_MAX_PIXELS, DicomOptions, FaceMode, Options, RedactStyle, TextMode

    fields = {
        "text": TextMode(kw.get("text") or "all"),
        "faces": FaceMode(kw.get("faces") or "blur"),
        "redact_style": RedactStyle(kw.get("redact_style") or "fill"),
        "keep_text": tuple(kw.get("keep_text") or ()),
        "max_pixels": kw.get("max_pixels") or DEFAULT_MAX_PIXELS,
        "dicom": DicomOptions(
            retain_long_modified_dates=bool(kw.get("retain_dates")),
            retain_patient_characteristics=bool(kw.get("retain_patient_chars")),
            retain_device_identity=bool(kw.get("retain_device")),
            clean_descriptors=bool(kw.get("clean_descriptors")),
        ),
    }
    if kw.get("jobs"):
        fields["jobs"] = kw["jobs"]
    if kw.get("key_file"):
        from deident.keys import load_key

        try:
            fields["key"] = load_key(kw["key_file"]).keyring.secret
        except (OSError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--key-file") from exc
    for name in ("output_dir", "seed", "output_format", "mapping_file"):
        if kw.get(name) is not None:
            fields[name] = kw[name]
    for flag in ("in_place", "fast", "rename", "fuzz_history", "resume", "reencode", "keep_macro"):
        fields[flag] = bool(kw.get(flag))
    try:
        return Options(**fields)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _run(command: str, paths, options, *, as_json: bool, report: Path | None, details: bool = False) -> list:
    from rich.console import Console

    from deident import pipeline
    from deident import report as rep

    err = Console(stderr=True)
    options, note = pipeline.prepare_options(options, read_only=command != "scrub")
    notes = [note] if note else []
    if note:
        err.print(f"[yellow]{note}[/] — keep it private; the same key gives the same pseudonyms and UIDs.")
    _refuse_unavailable_stages(options, err)
    with _progress(err, enabled=not as_json) as progress:
        results = pipeline.run(paths, options, read_only=command != "scrub", progress=progress)
    if report:
        rep.write_json(report, command, results, notes)
    if as_json:
        click.echo(rep.to_json(command, results, notes))
    else:
        out = Console()
        rep.render_table(out, command, results, details=details)
        out.print(rep.summary_line(command, results))
    return results


def _refuse_unavailable_stages(options, err) -> None:
    """Fail closed up front, once, with the install command, instead of once per file."""
    from deident.errors import StageUnavailable
    from deident.stages import detectors_for

    try:
        for detector in detectors_for(options):
            detector.ensure_available()
    except StageUnavailable as exc:
        err.print(f"[bold red]error:[/] {exc}\nNothing was written as safe.")
        sys.exit(1)


class _progress:
    """A rich progress bar on stderr for batches; silent for a single file or when output is JSON."""

    def __init__(self, console, enabled: bool):
        self.console, self.enabled, self.bar, self.task = console, enabled, None, None

    def __enter__(self):
        return self

    def __call__(self, result) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]deident"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("files", total=None)
        self.bar.advance(self.task)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write outputs under DIR, mirroring the inputs' relative paths.",
)
@click.option("--in-place", is_flag=True, help="Replace the originals (atomically).")
@_stage_options
@click.option(
    "--redact-style",
    type=click.Choice(STYLES),
    default="fill",
    show_default=True,
    help="How text regions are hidden.",
)
@click.option("--seed", type=int, default=None, help="Seed for randomised steps (caption fuzzing).")
@click.option(
    "--retain-dates", is_flag=True, help="DICOM: keep dates, shifted by a keyed per-patient offset."
)
@click.option("--retain-patient-chars", is_flag=True, help="DICOM: keep age, sex, size and weight.")
@click.option("--retain-device", is_flag=True, help="DICOM: keep device identity.")
@click.option(
    "--clean-descriptors", is_flag=True, help="DICOM: clean free-text descriptions instead of removing."
)
@click.option("--fuzz-history", is_flag=True, help="Fuzz caption files beside each image into the output.")
@click.option("--resume", is_flag=True, help="Skip inputs whose output is already written.")
@click.option(
    "--reencode", is_flag=True, help="JPEG: redact by decode and re-encode instead of in the DCT domain."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("jpeg", "png")),
    default=None,
    help="Convert outputs to this format (e.g. HEIC photos before posting).",
)
@click.option(
    "--keep-macro", is_flag=True, help="Whole-slide images: keep the macro image with its label filled."
)
@click.option("--rename", is_flag=True, help="Neutral output names (keyed hash); needs --output-dir.")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private CSV of original -> neutral names (default: DIR-mapping.csv beside DIR).",
)
@click.option("-v", "--verbose", is_flag=True, help="List every finding per file.")
def scrub(paths, as_json, report, verbose, **kw):
    """Write a safe copy of every image and DICOM file under PATHS."""
    if kw.get("in_place") and kw.get("output_dir"):
        raise click.UsageError("--in-place and --output-dir exclude each other")
    if kw.get("rename") and not kw.get("output_dir"):
        raise click.UsageError("--rename needs --output-dir: neutral names go into a folder of their own")
    mapping, out = kw.get("mapping_file"), kw.get("output_dir")
    if mapping and out and Path(mapping).resolve().is_relative_to(Path(out).resolve()):
        raise click.UsageError("the --mapping file must not be inside the output folder")
    results = _run("scrub", paths, _options(**kw), as_json=as_json, report=report, details=verbose)
    sys.exit(0 if all(r.ok for r in results) else 1)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_stage_options
@click.option("--fast", is_flag=True, help="Metadata, DICOM headers and names only (no pixel stages).")
@click.option("-v", "--verbose", is_flag=True, help="List every finding per file.")
def check(paths, as_json, report, verbose, **kw):
    """Exit non-zero when a file under PATHS still carries identifiers (writes nothing)."""
    from deident.findings import Status

    results = _run("check", paths, _options(**kw), as_json=as_json, report=report, details=verbose)
    if any(r.status is Status.FAILED for r in results):
        sys.exit(2)
    sys.exit(1 if any(r.status is Status.UNSAFE for r in results) else 0)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_stage_options
@click.option("--fast", is_flag=True, help="Metadata and headers only.")
def inspect(paths, as_json, report, **kw):
    """Show every identifier found in PATHS, finding by finding, without writing anything."""
    from deident.findings import Status

    results = _run("inspect", paths, _options(**kw), as_json=as_json, report=report, details=True)
    sys.exit(2 if any(r.status is Status.FAILED for r in results) else 0)


@cli.command()
@click.argument("text", required=False)
@click.option("--seed", type=int, default=None, help="Same text and seed give the same output.")
@click.option("--age-jitter", type=click.IntRange(0, 10), default=3, show_default=True)
@click.option("--sex-change-rate", type=click.FloatRange(0, 1), default=1 / 3, show_default="1/3")
@click.option("--laterality-swap-rate", type=click.FloatRange(0, 1), default=None)
@click.option(
    "--generalize-site", is_flag=True, help="Replace the site by its region (left thigh -> lower extremity)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the text and every change as JSON.")
def fuzz(text, seed, age_jitter, sex_change_rate, laterality_swap_rate, generalize_site, as_json):
    """Rewrite a case history as careful clinicians do: TEXT, or standard input with '-'."""
    import dataclasses
    import json

    from deident.history import FuzzSettings, fuzz_text

    if text is None or text == "-":
        text = sys.stdin.read()
    settings = FuzzSettings(
        age_jitter=age_jitter, sex_change_rate=sex_change_rate, generalize_site=generalize_site
    )
    if laterality_swap_rate is not None:
        settings = dataclasses.replace(settings, laterality_swap_rate=laterality_swap_rate)
    result = fuzz_text(text, seed=seed, settings=settings)
    if as_json:
        changes = [dataclasses.asdict(c) for c in result.changes]
        click.echo(
            json.dumps({"text": result.text, "seed": seed, "changes": changes}, indent=2, ensure_ascii=False)
        )
    else:
        click.echo(result.text.rstrip("\n"))


@cli.command("config")
def show_config() -> None:
    """Show the effective default of every option and where it came from."""
    from rich.console import Console
    from rich.table import Table

    from deident.config import find_config

    config = find_config()
    table = Table("command", "option", "value", "from")
    for name in ("scrub", "check"):
        command = cli.commands[name]
        configured = config.for_command(name)
        for param in command.params:
            if not isinstance(param, click.Option) or param.name in ("help",):
                continue
            if param.name in configured:
                table.add_row(name, param.opts[-1], repr(configured[param.name]), str(config.path))
            else:
                table.add_row(name, param.opts[-1], repr(param.default), "default")
    Console().print(table)
    unknown = set(config.for_command("scrub")) - {p.name for p in cli.commands["scrub"].params}
    unknown -= {p.name for p in cli.commands["check"].params}
    if unknown:
        Console(stderr=True).print(f"[yellow]unknown keys in {config.path}:[/] {', '.join(sorted(unknown))}")


def main() -> None:
    cli(prog_name="deident")


if __name__ == "__main__":  # pragma: no cover
    main()
