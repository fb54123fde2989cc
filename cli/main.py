"""The root ``emofeat`` app: global options and the sub-commands that exist."""

from __future__ import annotations

import typer

from emofeat import __version__

from . import data
from .common import new_app, out, setup_logging

app = new_app(
    "emofeat: how well do frozen ImageNet features recognise the emotion an image evokes?\n\n"
    "Example: emofeat demo --out ./emofeat-demo"
)
app.add_typer(data.app, name="data")


def _version(value: bool) -> None:
    if value:
        out.print(f"emofeat {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, metavar="",
                                help="More log output (-vv: debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Global options."""
    setup_logging(verbose, quiet)


from . import experiment, features, finetune, fit  # noqa: E402  (each registers commands)

features.register(app)
fit.register(app)
finetune.register(app)
experiment.register(app)

from . import evaluate  # noqa: E402  (emofeat evaluate: cross-dataset transfer)

evaluate.register(app)

from . import zeroshot  # noqa: E402  (emofeat zeroshot: open_clip prompts as a run)

zeroshot.register(app)


def main() -> None:
    app(prog_name="emofeat")
