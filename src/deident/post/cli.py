"""The ``deident post`` command: parse options, call ``build_post``, print the bundle or why it was refused.

``command(stage_options, build_options)`` makes the click command from the main CLI's shared stage
options and ``Options`` builder, so ``deident.cli`` registers it without a circular import::

    cli.add_command(post_command(_stage_options, _options))

Exit codes: 0 the bundle was written, 1 it was refused (nothing written), 2 usage errors.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import click


def _faces_given(ctx: click.Context) -> bool:
    source = ctx.get_parameter_source("faces")
    return source is not None and source is not click.core.ParameterSource.DEFAULT


def command(stage_options: Callable, build_options: Callable) -> click.Command:
    @click.command("post")
    @click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option(
        "-o",
        "--output-dir",
        "out_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for post-1.jpg ... and post.txt (new, empty, or an earlier bundle).",
    )
    @click.option("--caption", default=None, help="The case history to post (fuzzed before use).")
    @click.option(
        "--caption-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Read the caption from FILE (UTF-8).",
    )
    @click.option("--credit", default=None, metavar="@HANDLE", help='Adds "Image courtesy of @handle".')
    @click.option("--watermark", is_flag=True, help="Also draw the credit in a quiet corner of each picture.")
    @click.option("--tags", multiple=True, metavar="+TAG,-TAG", help="Add or remove hashtags (repeatable).")
    @click.option("--field", "fields", multiple=True, help="Field tag to add, e.g. dermpath (repeatable).")
    @click.option("--long-side", type=click.IntRange(64), default=2048, show_default=True)
    @click.option("--consented", is_flag=True, help="Consented photo: bar the eyes (unless --faces given).")
    @click.option("--seed", type=int, default=None, help="Same inputs and seed give the same bundle.")
    @stage_options
    @click.pass_context
    def post(ctx, images, out_dir, caption, caption_file, credit, watermark, tags, fields, long_side,
             consented, seed, as_json, report, **kw):  # fmt: skip
        """Scrub IMAGES and write a bundle ready to share: pictures, fuzzed caption, credit, hashtags."""
        from deident.cli import with_key
        from deident.options import FaceMode
        from deident.outputs import BatchRefused, report_problem, write_report
        from deident.post.bundle import build_post

        if caption is not None and caption_file is not None:
            raise click.UsageError("--caption and --caption-file exclude each other")
        if caption_file is not None:
            caption = caption_file.read_text(encoding="utf-8")
        problem = report and report_problem(report, images)
        if problem:
            raise click.BadParameter(f"{problem}. Nothing was written.", param_hint="--report")
        options = build_options(**kw)
        if consented and not _faces_given(ctx):
            options = dataclasses.replace(options, faces=FaceMode.EYES)
        options, note = with_key(options, read_only=False)
        if note:
            click.echo(f"{note} — keep it private.", err=True)
        result = build_post(
            list(images),
            out_dir,
            caption=caption or "",
            credit=credit,
            tags=tags,
            long_side=long_side,
            watermark=watermark,
            seed=seed,
            options=options,
            fields=fields,
        )
        dumped = json.dumps(result.to_dict(), indent=2, ensure_ascii=False)
        if report:
            try:
                write_report(report, dumped + "\n")
            except (BatchRefused, OSError) as exc:
                click.echo(f"error: report not written: {exc}", err=True)
                sys.exit(1)
        if as_json:
            click.echo(dumped)
        elif result.ok:
            click.echo(result.text, nl=False)
            for path in result.images:
                click.echo(f"wrote {path}", err=True)
        else:
            click.echo(f"error: {result.reason}\nNothing was written.", err=True)
        sys.exit(0 if result.ok else 1)

    return post
