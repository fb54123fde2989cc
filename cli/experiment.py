"""``emofeat compare``, ``emofeat run`` and ``emofeat demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import out


def compare_cmd(
    runs: list[Path] = typer.Argument(..., metavar="RUN...", help="Run folders, or folders "
                                      "holding runs (searched recursively), and evaluation "
                                      "folders of `emofeat evaluate` (a cross-dataset "
                                      "matrix per task)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for report.{html,md,json}."),
    bootstrap: int = typer.Option(1000, help="Bootstrap resamples of the test set (>= 1000)."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
) -> None:
    """Compare runs of one data set: tables with 95% intervals, paired tests, plots; runs
    of several folds, repeats or seeds aggregated; evaluations on other data sets as a
    cross-dataset matrix.

    Example: emofeat compare runs/ --out report/

    Example: emofeat compare runs/ evals/ --out report/
    """
    from emofeat.report import compare

    report = compare(runs, out_dir, n_boot=bootstrap, seed=seed)
    for line in report["summary_lines"]:
        out.print(line)
    out.print(f"report: {out_dir / 'report.html'}")


def _finish(report: dict) -> None:
    out.print("balanced accuracy on test (best run of each kind):")
    for line in report["summary_lines"]:
        out.print(f"  {line}")
    out.print(f"report: {Path(report['report_dir']) / 'report.html'}")


def run_cmd(
    config: str = typer.Argument(..., metavar="CONFIG", help="A .toml file, or the name of a "
                                 "bundled config (demo, fi-reference)."),
    out_dir: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default: "
                                        "the config's out)."),
    data: Path | None = typer.Option(None, "--data", metavar="DATA", help="The data set "
                                     "(folder or CSV list), relative to the current folder; "
                                     "a bundled config other than demo needs it."),
    sets: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Override a "
                                   "config key, e.g. --set fit.models='[\"logreg\"]' or "
                                   "--set extract.NAME.batch_size=64 (repeatable; values "
                                   "are TOML)."),
) -> None:
    """Run a whole experiment from one TOML file; re-running skips finished steps.

    Example: emofeat run fi-reference --data ./FI --out fi-experiment
    """
    from emofeat.experiment import bundled_config, run_experiment

    path = Path(config) if config.endswith(".toml") else bundled_config(config)
    _finish(run_experiment(path, out_dir, announce=out.print, sets=sets, data=data))


def demo_cmd(
    out_dir: Path = typer.Option(Path("emofeat-demo"), "--out", "-o", help="Output folder."),
    repeats: bool = typer.Option(False, "--repeats", help="The repeated version instead "
                                 "(config demo-repeats): 3 folds and 2 fine-tuning seeds, "
                                 "aggregated in the report; about twice as long."),
) -> None:
    """The whole pipeline on the SYNTHETIC demo set, offline: Lite0 pretrained and random
    features, three classifiers, both tasks, fine-tuned Lite0, baselines, report (about
    2 minutes on 2 CPU cores).

    Example: emofeat demo --out ./emofeat-demo

    Example: emofeat demo --repeats --out ./emofeat-demo-repeats
    """
    from emofeat.experiment import bundled_config, run_experiment

    config = bundled_config("demo-repeats" if repeats else "demo")
    _finish(run_experiment(config, out_dir, announce=out.print))


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
    app.command("run")(run_cmd)
    app.command("demo")(demo_cmd)
