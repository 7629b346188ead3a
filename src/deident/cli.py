"""The ``deident`` command: parse options, call the library, render. Nothing else lives here.

Exit codes: ``scrub`` 0 when every file was made safe, 1 when one could not be; ``check`` 0 clean,
1 identifiers found, 2 a file could not be checked; 2 for usage errors everywhere.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import ClassVar

import click

from deident import __version__
from deident.options import OUTPUT_FORMATS, Options
from deident.progress import BatchBar, FrameBar, count_inputs, stdout_console


def _mode_option(name: str, help: str):
    """``--NAME`` for an enum field of ``Options``: its choices the enum's values, its default the field's,
    so the command line offers exactly what ``Options`` accepts."""
    default = getattr(Options, name)
    return click.option(
        f"--{name.replace('_', '-')}",
        type=click.Choice([member.value for member in type(default)]),
        default=default.value,
        show_default=True,
        help=help,
    )


def _find_config():
    from deident.config import find_config

    try:
        return find_config()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _config_note() -> str | None:
    """The options a configuration file set for this run, as a note for the report and the terminal.

    The file is found walking up from the working directory, so a ``.deident.toml`` in a parent folder
    can turn the text or face stage off, keep identifying names or keep text by a regex: the run then
    reported its outputs "safe" with a birth date legible on them and not a word of where the setting
    came from."""
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    given = [
        f"{name.replace('_', '-')}={_configured_value(value)}"
        for name, value in ctx.params.items()
        if ctx.get_parameter_source(name) is ParameterSource.DEFAULT_MAP
    ]
    if not given:
        return None
    return f"options from {_find_config().path}: " + ", ".join(given)


def _not_checked_note(options, command: str) -> str | None:
    """A run that leaves a pixel stage out says so once, above its table: its rows say it too, but a
    large batch lists only the files that need a look."""
    from deident.stages import not_checked

    unlooked = not_checked(options)
    called = "clean" if command == "check" else "safe"
    return f"{unlooked}: files are called {called} without that look" if unlooked else None


def _configured_value(value) -> str:
    value = getattr(value, "value", value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


class _Group(click.Group):
    """Defaults from the configuration file for every command; ``post`` imported only when used."""

    # name -> module whose command(stage_options, build_options) makes the command
    lazy_commands: ClassVar[dict[str, str]] = {"post": "deident.post.cli"}

    def make_context(self, info_name, args, parent=None, **extra):
        extra.setdefault("default_map", _find_config().click_defaults(self.commands)[0])
        return super().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx):
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx, name):
        if name in self.lazy_commands and name not in self.commands:
            import importlib

            try:
                module = importlib.import_module(self.lazy_commands[name])
            except ImportError:
                return None
            self.add_command(module.command(_stage_options, _options), name)
            if ctx.default_map is not None:
                ctx.default_map[name] = _find_config().click_defaults(self.commands, only=name)[0][name]
        return super().get_command(ctx, name)

    def load_all(self, ctx) -> None:
        for name in self.lazy_commands:
            self.get_command(ctx, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="deident")
def cli() -> None:
    """Make clinical images safe to share: metadata, DICOM headers, burned-in text, faces, captions."""


def _switch(name: str, help: str, short: str | None = None, on: bool = False):
    """``--NAME/--no-NAME``: off (with ``on``: on) unless set on the command line or in the configuration."""
    flags = f"--{name}/--no-{name}"
    return click.option(*filter(None, (short, flags)), default=on, help=help)


def _stage_options(fn):
    for decorator in reversed(
        (
            _mode_option(
                "text", "Burned-in text: redact all of it, only identifying text, or skip the stage."
            ),
            _mode_option(
                "faces", "Faces: hide them, bar the eyes only (consented photos), or skip the stage."
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
            click.option("--json/--no-json", "as_json", help="Print the JSON report to stdout."),
            click.option(
                "--report",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Also write the JSON report to FILE.",
            ),
        )
    ):
        fn = decorator(fn)
    return fn


def with_key(options: Options, read_only: bool):
    """``batch.prepare_options``: the options with the run's key, and a note for the user; a key that
    cannot be used ($DEIDENT_KEY too short, $DEIDENT_KEY_FILE missing) is a usage error naming it (for
    every command that writes or checks: ``post`` too)."""
    from deident import batch
    from deident.keys import KeyUnusable

    try:
        return batch.prepare_options(options, read_only=read_only)
    except KeyUnusable as exc:
        raise click.UsageError(str(exc)) from exc


def _options(**kw):
    """``Options`` from a command's parameters (``Options.from_values`` checks them), then the key file
    and the scheduler, which need reading and importing."""
    import dataclasses

    try:
        options = Options.from_values({k: v for k, v in kw.items() if k != "decisions"})  # loaded later
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if kw.get("key_file"):
        from deident.keys import load_key

        try:
            source = load_key(kw["key_file"])
        except (OSError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--key-file") from exc
        options = dataclasses.replace(options, key=source.keyring.secret)
        if source.warning:
            click.echo(f"warning: {source.warning}", err=True)
    if kw.get("scheduler"):
        from deident.cluster import check_scheduler
        from deident.errors import StageUnavailable

        try:
            check_scheduler(kw["scheduler"])
        except (ValueError, StageUnavailable) as exc:
            raise click.UsageError(str(exc)) from exc
    return options


def _decisions_option(fn):
    return click.option(
        "--decisions",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="Apply a reviewer's decisions.json exported by the review page (keep visible / also hide).",
    )(fn)


def _review_options(options, paths, review: str | None, decisions: Path | None):
    """--review and --decisions resolved by the library; a bad decisions file stops before any write."""
    import dataclasses

    if review is not None:
        from deident.review import place

        try:
            folder, outputs_only = place(paths, options.output_dir, review)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--review") from exc
        options = dataclasses.replace(options, review_dir=folder, review_outputs_only=outputs_only)
    if decisions is not None:
        from deident.review.decisions import DecisionsError, load_with_outputs, refuse_changed

        try:
            loaded = load_with_outputs(decisions)
            refuse_changed(loaded)
        except DecisionsError as exc:
            raise click.BadParameter(f"{exc}. Nothing was written.", param_hint="--decisions") from exc
        options = dataclasses.replace(options, decisions=loaded)
    return options


def _run(
    command: str,
    paths,
    options,
    *,
    as_json: bool,
    report: Path | None,
    details: bool = False,
    quiet: bool = False,
) -> list:
    from rich.console import Console
    from rich.markup import escape

    from deident import batch
    from deident import report as rep
    from deident.errors import Interrupted

    err = Console(stderr=True)
    read_only = command != "scrub"
    _refuse_report_place(report, paths, err)
    options, note = with_key(options, read_only)
    notes = [note] if note else []
    if note:
        err.print(f"[yellow]{note}[/] — keep it private; the same key gives the same pseudonyms and UIDs.")
    if configured := _config_note():
        notes.append(configured)
        err.print(f"[yellow]{escape(configured)}[/]")
    if unlooked := _not_checked_note(options, command):
        notes.append(unlooked)
        err.print(f"[yellow]{escape(unlooked)}[/]")
    several = len(paths) > 1 or any(Path(p).is_dir() for p in paths)
    _refuse_unavailable_stages(options, several, err, exit_code=2 if read_only else 1)
    interrupted = False
    try:
        with (
            BatchBar(
                err,
                enabled=several and not as_json and not quiet,
                total=lambda: count_inputs(paths, options),
            ) as progress,
            FrameBar(err, enabled=not several and not as_json and not quiet),
        ):
            results = _run_batch(batch, paths, options, read_only, progress, err)
    except Interrupted as exc:
        results, interrupted = exc.results, True
    report_failed = report is not None and not _write_report(
        report, rep.to_json(command, results, notes), err
    )
    if as_json:
        click.echo(rep.to_json(command, results, notes))
    else:
        out = stdout_console()
        rep.render_table(out, command, results, details=details, quiet=quiet)
        if not quiet:
            out.print(rep.summary_line(command, results))
    if interrupted:
        hint = " (--resume goes on from here)" if command == "scrub" else ""
        err.print(f"[yellow]interrupted:[/] {len(results)} files finished and reported{hint}")
        sys.exit(130)
    if not results:
        err.print(escape(f"nothing to do: no files under {', '.join(map(str, paths))}"))
        sys.exit(2)
    if any(not Path(p).exists() and not Path(p).is_symlink() for p in paths) or report_failed:
        sys.exit(2)  # a path that does not exist: a usage error in every command (its row says which)
    return results


def _refuse_report_place(report: Path | None, paths, err) -> None:
    """--report FILE that is an input or a file other than a deident report: refused before any work."""
    from rich.markup import escape

    from deident.outputs import report_problem

    problem = report and report_problem(report, paths)
    if problem:
        err.print(f"[bold red]refused:[/] {escape(problem)}\nNothing was written.", soft_wrap=True)
        sys.exit(2)


def _write_report(report: Path, text: str, err) -> bool:
    from rich.markup import escape

    from deident.outputs import BatchRefused, write_report

    try:
        write_report(report, text)
    except (BatchRefused, OSError) as exc:
        err.print(f"[bold red]report not written:[/] {escape(str(exc))}", soft_wrap=True)
        return False
    return True


def _run_batch(batch, paths, options, read_only: bool, progress, err) -> list:
    """The batch; a run that cannot start at all (no Dask worker, storage the workers do not see) or a
    batch refused before anything is written is named with its reason, not a traceback."""
    from rich.markup import escape

    from deident.errors import RunUnavailable
    from deident.findings import printable
    from deident.outputs import BatchRefused

    try:
        return batch.run(paths, options, read_only=read_only, progress=progress)
    except RunUnavailable as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}\nNothing was written as safe.")
        sys.exit(2 if read_only else 1)
    except BatchRefused as exc:  # the batch would lose or overwrite a file (deident.outputs)
        for problem in exc.problems:
            err.print(f"[bold red]refused:[/] {escape(printable(problem))}", soft_wrap=True)
        err.print("Nothing was written.")
        sys.exit(2)


def _refuse_unavailable_stages(options, several: bool, err, exit_code: int) -> None:
    """Fail closed up front, once, with the install command, instead of once per file.

    One file runs in this process as one job (``batch``): its models are loaded here as that job
    will use them. Loaded for the default jobs instead, the text detector was loaded twice (one model
    thread here, two for the run: 60-85 ms) and OpenCV was left at one thread for the whole run."""
    import dataclasses

    from deident.errors import StageUnavailable
    from deident.stages import detectors_for

    if not several:
        options = dataclasses.replace(options, jobs=1)
    try:
        for detector in detectors_for(options):
            detector.ensure_available()
    except StageUnavailable as exc:
        err.print(f"[bold red]error:[/] {exc}\nNothing was written as safe.")
        sys.exit(exit_code)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write outputs under DIR, mirroring the inputs' relative paths.",
)
@_switch("in-place", "Replace the originals (atomically).")
@_stage_options
@_mode_option("redact_style", "How text regions are hidden.")
@click.option("--seed", type=int, default=None, help="Seed for randomised steps (caption fuzzing).")
@_switch("retain-dates", "DICOM: keep dates, shifted by a keyed per-patient offset.")
@_switch("retain-patient-chars", "DICOM: keep age, sex, size and weight.")
@_switch("retain-device", "DICOM: keep device identity.")
@_switch("clean-descriptors", "DICOM: clean free-text descriptions instead of removing.")
@_switch("fuzz-history", "Fuzz caption files beside each image into the output.")
@_switch("resume", "Skip inputs whose output an earlier run wrote with the same options, key and version.")
@_switch(
    "overwrite", "Replace existing files deident did not write (and read-only originals with --in-place)."
)
@_switch("reencode", "JPEG: redact by decode and re-encode instead of in the DCT domain.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(OUTPUT_FORMATS),
    default=None,
    help="Convert HEIC/AVIF photos to this format (other formats keep theirs; the report says so).",
)
@_switch("keep-macro", "Whole-slide images: keep the macro image with its label filled.")
@click.option(
    "--scheduler",
    metavar="ADDRESS|local:N",
    default=None,
    help="Run the batch on a Dask cluster (tcp://HOST:PORT) or N local Dask workers; needs deident[dask].",
)
@_switch("rename", "Neutral output names (keyed hash); needs --output-dir.")
@_switch(
    "keep-names",
    "Keep identifying file and folder names on purpose (else such a file is reported unsafe, exit 1).",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private CSV of original -> neutral names (default: DIR-mapping.csv beside DIR).",
)
@click.option(
    "--review",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[DIR|outputs]",
    help="Write a review page (originals beside outputs; private) to DIR, default OUTPUT-review/ beside "
    "the outputs; 'outputs' for a page of outputs only, safe to share. Give it after the paths, or "
    "as --review=DIR.",
)
@_decisions_option
@_switch("dry-run", "Say what would be removed and redacted, and where; write nothing.")
@_switch("verbose", "List every finding per file.", "-v")
@_switch("quiet", "Print only the files that need a look; the exit code says the rest.", "-q")
def scrub(paths, as_json, report, verbose, quiet, **kw):
    """Write a safe copy of every image and DICOM file under PATHS."""
    options = _review_options(_options(**kw), paths, kw.get("review"), kw.get("decisions"))
    started = time.time()
    results = _run("scrub", paths, options, as_json=as_json, report=report, details=verbose, quiet=quiet)
    _say_review_files(options, started)
    sys.exit(0 if all(r.ok for r in results) else 1)


def _say_review_files(options, started: float) -> None:
    """Where the review page went, and the decisions file that covers the outputs (if this run wrote it)."""
    from rich.console import Console
    from rich.markup import escape

    if options.review_dir is not None:
        private = "outputs only" if options.review_outputs_only else "shows originals: keep it private"
        page = escape(str(options.review_dir / "index.html"))
        Console(stderr=True).print(f"review page ({private}): {page}")
    if options.decisions is not None:
        from deident.review.decisions import outputs_file

        extended = outputs_file(options.decisions)
        if extended.is_file() and extended.stat().st_mtime >= started - 1:
            Console(stderr=True).print(f"decisions covering the outputs (for check): {escape(str(extended))}")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_stage_options
@_switch("fast", "Metadata, DICOM headers and names only (no pixel stages).")
@_switch(
    "cache",
    "On unless --no-cache: pixels deident found clean when it wrote or last checked the same bytes, with "
    "the same deident, packages and options, are not looked at again (digests in ~/.cache/deident).",
    on=True,
)
@_switch(
    "all-stages",
    "Run every stage on a file already refused (as inspect does): a full list of what identifies it. "
    "Without it each file is looked at only until something refuses it (metadata, names and captions, "
    "then faces, then text and codes), and a refused file's list of findings can be short.",
)
@_decisions_option
@_switch("verbose", "List every finding per file.", "-v")
@_switch("quiet", "Print only the files that need a look; the exit code says the rest.", "-q")
def check(paths, as_json, report, verbose, quiet, **kw):
    """Report what still identifies a patient in PATHS, writing nothing.

    Every detector runs on a file until one refuses it: metadata, DICOM headers, identifying file and
    folder names, captions beside images, faces, then burned-in text and barcodes (--all-stages: all of
    them; --fast: metadata, DICOM headers and names only). Exit status: 0 clean, 1 identifiers found, 2 a
    file could not be checked.
    """
    from deident.findings import Status

    options = _review_options(_options(**kw), paths, None, kw.get("decisions"))
    results = _run("check", paths, options, as_json=as_json, report=report, details=verbose, quiet=quiet)
    _say_not_looked_at(results, quiet or as_json)
    if any(r.status is Status.FAILED for r in results):
        sys.exit(2)
    sys.exit(1 if any(r.status is Status.UNSAFE for r in results) else 0)


def _say_not_looked_at(results, quiet: bool) -> None:
    from rich.console import Console

    from deident.checked import CHECKED_BEFORE
    from deident.pipeline import LOOKED_NO_FURTHER

    if quiet:
        return
    for said in (CHECKED_BEFORE, LOOKED_NO_FURTHER):
        count = sum(r.reason == said for r in results)
        if count:
            Console(stderr=True).print(f"[dim]{count} file{'s' if count != 1 else ''}: {said}[/]")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_stage_options
@_switch("fast", "Metadata and headers only.")
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
@_switch("generalize-site", "Replace the site by its region (left thigh -> lower extremity).")
@click.option("--json/--no-json", "as_json", help="Print the text and every change as JSON.")
def fuzz(text, seed, age_jitter, sex_change_rate, laterality_swap_rate, generalize_site, as_json):
    """Rewrite a case history as careful clinicians do: TEXT, or standard input with '-'."""
    import dataclasses
    import json

    from deident.history import FuzzSettings, fuzz_text

    if text is None and sys.stdin.isatty():
        raise click.UsageError("give the TEXT to fuzz, or '-' to read it from standard input")
    if text is None or text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise click.UsageError("no text to fuzz: TEXT (or standard input) is empty")
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
    from rich.markup import escape
    from rich.table import Table

    from deident.config import configurable
    from deident.keys import load_key

    group_ctx = click.get_current_context().find_root()
    cli.load_all(group_ctx)
    config = _find_config()
    _, sources = config.click_defaults(cli.commands)
    out, err = stdout_console(), Console(stderr=True)
    if config.path:
        out.print(
            escape(f"configuration: {config.path}" + (f" [{config.section}]" if config.section else ""))
        )
    else:
        out.print(
            escape("configuration: none (no .deident.toml, nor pyproject.toml with [tool.deident], upward)")
        )
    table = Table("command", "option", "value", "from")
    names = [n for n, c in cli.commands.items() if c is not click.get_current_context().command]
    for name in names:
        command = cli.commands[name]
        ctx = click.Context(command, info_name=name, parent=group_ctx)
        for param in configurable(command):
            value = _shown(param, ctx)
            source = sources.get(name, {}).get(param.name, "default")
            table.add_row(name, param.opts[-1], escape(repr(value)), escape(source))
    out.print(table)
    try:
        key = load_key(create=False)
        out.print(
            f"key: {'none yet (scrub creates one at ' + key.origin + ')' if key.created else key.origin}"
        )
    except (OSError, ValueError) as exc:
        err.print(f"[bold red]key:[/] {escape(str(exc))}")
    unknown = config.unknown_keys(cli.commands)
    if unknown:
        err.print(f"[yellow]ignored keys in {escape(str(config.path))}:[/] {escape(', '.join(unknown))}")


def _shown(param: click.Option, ctx: click.Context):
    """The value an option takes when the command line does not set it (the configured one, or Click's)."""
    unset = getattr(click.core, "UNSET", None)
    value = ctx.lookup_default(param.name, call=False)
    if value is None or value is unset:
        value = param.get_default(ctx, call=False)
    if value is None or value is unset:
        return () if param.multiple else (False if param.is_flag else None)
    return tuple(value) if param.multiple and isinstance(value, list) else value


def main() -> None:
    import os

    # OpenCV's DNN backend prints warnings about targets it does not use into every report and hook log
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    # numpy (read when it is imported, here and in -j workers) asks the kernel for 2 MB pages for every
    # array of 4 MB or more; where transparent hugepages are "madvise" (Ubuntu's default), each first touch
    # of such a page was slow in kernel time here: copying the 120-frame cine's 110 MB of decoded frames
    # took 1.3 s instead of 0.07 (docs/benchmarks.md, "numpy's hugepages": cine -16 %, 12 MP photos -8 %)
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    cli(prog_name="deident")


if __name__ == "__main__":  # pragma: no cover
    main()
