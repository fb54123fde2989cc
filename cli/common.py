"""What every command shares: the error boundary, logging set-up, console output."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from typer.core import TyperGroup

from emofeat.atomic import disk_full_error, is_disk_full
from emofeat.errors import EmofeatError

#: Wider than any table or summary line we print: where output goes to a file or a pipe,
#: lines keep their natural width instead of Rich's 80 columns.
NATURAL_WIDTH = 240


def console(stderr: bool = False) -> Console:
    """A console that never breaks a line mid-phrase: text is soft-wrapped (the terminal
    wraps it, if anything), and off a terminal tables get their natural width."""
    con = Console(stderr=stderr, soft_wrap=True)
    if not con.is_terminal and "COLUMNS" not in os.environ:
        con.width = NATURAL_WIDTH
    return con


out = console()
err = console(stderr=True)


class EmofeatGroup(TyperGroup):
    """Turns :class:`EmofeatError` from any sub-command (and a full disk anywhere) into one
    line on stderr and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EmofeatError as exc:
            message = str(exc).replace("\n", " ")
        except KeyboardInterrupt:
            click.echo("emofeat: interrupted; run the same command again to resume "
                       "(finished work is kept)", err=True)
            ctx.exit(130)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError,
                PermissionError) as exc:  # a path of the user's that cannot be used
            if exc.filename is None:
                raise
            message = f"cannot use {exc.filename}: {exc.strerror}"
        except (OSError, RuntimeError) as exc:  # a write the library did not guard
            if not is_disk_full(exc):
                raise
            message = str(disk_full_error(getattr(exc, "filename", None)))
        click.echo(f"emofeat: error: {message}", err=True)
        ctx.exit(2)


def setup_logging(verbose: int, quiet: bool) -> None:
    """Log lines on stderr: Rich's layout on a terminal, plain lines in files and pipes."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if err.is_terminal:
        handler = RichHandler(console=err, show_time=False, show_path=False, markup=False,
                              rich_tracebacks=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(levelname)-8s %(message)s"
    logging.basicConfig(level=level, handlers=[handler], format=fmt, force=True)
    for noisy in ("PIL", "matplotlib", "h5py", "timm", "lightgbm"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def allow_outside_root_option() -> Any:
    """``--allow-outside-root``, for every command that reads DATA."""
    return typer.Option(False, "--allow-outside-root",
                        help="Let a CSV list name images outside its folder (absolute "
                             "paths or ..); refused by default.")


def label_from_option() -> Any:
    """``--label-from``, for every command that reads DATA."""
    return typer.Option(None, "--label-from", metavar="RULE",
                        help="Where a release offers several labels, which to use: Emotion6 "
                             "'folder' (its keyword folders, the default) or 'ratings' (the "
                             "emotion rated most probable; ties dropped).")


def drop_invalid_option() -> Any:
    """``--drop-invalid``, for every command that trains on distributions."""
    return typer.Option(False, "--drop-invalid",
                        help="The distribution task: leave images whose distribution is "
                             "invalid (a missing or negative share, all zero, shares not "
                             "summing to 1) out, counted; by default such a row stops the "
                             "command, naming it.")


def names(text: str | None) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; None or empty -> []."""
    return [x.strip() for x in text.split(",") if x.strip()] if text else []


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        cls=EmofeatGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


class _Rate(ProgressColumn):
    """Items per second, e.g. ``58.3 img/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} {self.unit}/s" if speed else f"- {self.unit}/s")


@contextmanager
def progress_bar(description: str, unit: str = "img") -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar (count, rate, ETA) on stderr, driven by ``callback(done, total)``.

    The bar appears at the first update, so errors raised before any work print cleanly.
    """
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               _Rate(unit), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    quiet = logging.getLogger().getEffectiveLevel() > logging.INFO
    bar = Progress(*columns, console=err, transient=False, disable=quiet)
    task_id = bar.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task_id, completed=done, total=total)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()
