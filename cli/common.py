"""What every command shares: the error boundary, logging set-up, console output."""

from __future__ import annotations

import json
import logging
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

from emofeat.errors import EmofeatError

out = Console()
err = Console(stderr=True)


class EmofeatGroup(TyperGroup):
    """Turns :class:`EmofeatError` from any sub-command into one line on stderr and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EmofeatError as exc:
            message = str(exc).replace("\n", " ")
            click.echo(f"emofeat: error: {message}", err=True)
            ctx.exit(2)


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False,
                          markup=False, rich_tracebacks=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    for noisy in ("PIL", "matplotlib", "h5py", "timm", "lightgbm"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


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
