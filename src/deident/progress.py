"""What a person watching a run sees on the terminal: the batch bar (files done of files), one long
file's bar (frames done of frames), and the console the summary table goes to. The CLI owns none of this
logic, only the choice of when to show it."""

from __future__ import annotations

from pathlib import Path


def stdout_console():
    """A terminal gets a table as wide as it is; a pipe or a hook log gets rows that are not folded."""
    import os

    from rich.console import Console

    console = Console()
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(width=200)
    return console


def count_inputs(paths, options) -> int:
    """How many rows the run will report (the progress bar's total): the plan, walked once more; one
    entry per file, processed, skipped or failed alike, as in the summary."""
    from deident.paths import plan

    return sum(
        1 for _ in plan(paths, output_dir=options.output_dir, in_place=options.in_place, read_only=True)
    )


class BatchBar:
    """A rich progress bar on stderr for batches (a folder or several files); silent for one file, for
    JSON output and when stderr is not a terminal (rich draws nothing there, so a log stays clean)."""

    def __init__(self, console, enabled: bool, total=None):
        self.console, self.enabled, self.total = console, enabled and console.is_terminal, total
        self.bar, self.task = None, None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]deident"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[file]}", markup=False),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            total = self.total() if callable(self.total) else self.total
            self.task = self.bar.add_task("files", total=total, file="")
        return self

    def __call__(self, result) -> None:
        if self.bar is not None:
            from deident.findings import printable

            self.bar.update(self.task, advance=1, file=printable(Path(result.input).name))

    def note(self, text: str) -> None:
        """A line for the user above the bar (e.g. the Dask dashboard's address)."""
        from rich.markup import escape

        (self.bar.console if self.bar is not None else self.console).print(escape(text), soft_wrap=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


class FrameBar:
    """One long file's bar on stderr (frames done of frames: a cine loop, a multi-frame DICOM), shown
    from its second frame, so a photo never flashes one; only on a terminal, as the batch bar."""

    def __init__(self, console, enabled: bool):
        self.console, self.enabled = console, enabled and console.is_terminal
        self.bar, self.task, self.phase = None, None, None

    def __enter__(self):
        if self.enabled:
            from deident.frames_cache import reporting_frames

            self.reporting = reporting_frames(self)
            self.reporting.__enter__()
        return self

    def __call__(self, done: int, total: int | None, verifying: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        phase = "verifying frames" if verifying else "frames"
        if self.bar is None and done >= 2:
            columns = (TextColumn("[bold]deident"), TextColumn("{task.description}"), BarColumn())
            self.bar = Progress(*columns, MofNCompleteColumn(), TimeRemainingColumn(), console=self.console,
                                transient=True)  # fmt: skip
            self.bar.start()
        if self.bar is None:
            return
        if phase != self.phase:
            self.phase = phase
            self.task = self.bar.add_task(phase, total=total)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        if self.enabled:
            self.reporting.__exit__(*exc)
