"""``emofeat fit`` and ``emofeat predict``: classical classifiers on stored features."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from emofeat.atomic import replacing
from emofeat.errors import EmofeatError
from emofeat.store import Store
from emofeat.taxonomy import TASK_NAMES

from .common import err, out

if TYPE_CHECKING:
    from emofeat.predict import PredictedImage

#: The estimator registry's names (emofeat.classical.ESTIMATORS; a test keeps them equal),
#: spelled out so that `emofeat --help` does not import scikit-learn.
MODEL_NAMES = ("logreg", "svm", "svm-rbf", "lightgbm")


def _expand(value: str, valid: tuple[str, ...] | list[str]) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if items == ["all"]:
        return list(valid)
    return items


def fit_cmd(
    store_dir: Path = typer.Argument(..., metavar="STORE", help="A feature store."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run directory (or parent of runs)."),
    model: str = typer.Option("logreg", help=f"{', '.join(MODEL_NAMES)}, a comma list, or all."),
    task: str = typer.Option("emotion8", help=f"{', '.join(TASK_NAMES)}, a comma list, or "
                             "all (valence and emotion8)."),
    layer: str = typer.Option("", help="A store layer, a+b to concatenate, a comma list, or "
                              "all; default: the store's last layer."),
    splits: Path | None = typer.Option(None, help="A splits.csv; default: the store's own."),
    grid: list[str] = typer.Option([], help="Replace a grid axis, e.g. --grid C=0.01,0.1 "
                                   "(repeatable)."),
    jobs: int = typer.Option(-1, help="Parallel grid candidates; -1 = all CPUs."),
    seed: int = typer.Option(0, help="Random seed."),
    class_weight: str = typer.Option("balanced", help="balanced or none."),
    pca: int | None = typer.Option(None, help="PCA components first (0 = none; default: "
                                   "the model's own, 256 for svm-rbf)."),
    l2norm: bool = typer.Option(False, "--l2norm", help="L2-normalise features first."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace complete runs."),
) -> None:
    """Fit classifiers on stored features: search on val, refit on train+val, score test.

    Example: emofeat fit stores/irv2 --model svm --task valence --layer conv2d_7b --out runs/svm
    """
    from emofeat.classical import FitOptions
    from emofeat.classical.run import fit_all

    if class_weight not in ("balanced", "none"):
        raise EmofeatError(f"--class-weight must be balanced or none, got '{class_weight}'")
    store = Store.open(store_dir)
    models = _expand(model, MODEL_NAMES)
    tasks = _expand(task, ["valence", "emotion8"])
    layers = _expand(layer, store.layer_names) if layer else [store.layer_names[-1]]
    options = FitOptions(class_weight=None if class_weight == "none" else "balanced",
                         pca=pca, l2norm=l2norm, seed=seed, jobs=jobs)

    def report(run_dir: Path, record: dict[str, Any] | None) -> None:
        if record is None:
            out.print(f"{run_dir}: complete, skipped")
            return
        m = json.loads((run_dir / "metrics.json").read_text())["test"]
        params = ", ".join(f"{k}={v}" for k, v in record["hyperparameters"].items())
        out.print(f"{record['model']} {record['task']} {record['layer']}: test balanced acc "
                  f"{m['balanced_accuracy']:.3f}, acc {m['accuracy']:.3f} ({params}; "
                  f"{record['timings']['total_seconds']:.1f} s) -> {run_dir}")

    with err.status(f"fitting {len(models) * len(tasks) * len(layers)} run(s)"):
        fit_all(store_dir, models, tasks, layers, out_dir, splits_file=splits, grid=grid,
                options=options, overwrite=overwrite, on_done=report)


def predict_cmd(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run directory."),
    images: list[Path] = typer.Argument(..., metavar="IMAGE_OR_DIR...", help="Images/folders."),
    out_csv: Path | None = typer.Option(None, "--out", "-o", help="Write a CSV here."),
    batch_size: int = typer.Option(32, help="Images per batch."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Predict the emotion of images with a run's model (features re-extracted as stored).

    Example: emofeat predict runs/svm photos/ --out preds.csv
    """
    from emofeat.predict import predict_images

    classes, rows = predict_images(run_dir, images, batch_size=batch_size, device=device)
    if out_csv is not None:
        _write_csv(out_csv, classes, rows)
        out.print(f"predictions written to {out_csv}")
        return
    table = Table()
    for col in ("image", "label", "score"):
        table.add_column(col)
    for row in rows:
        top = f"{row.scores[row.label]:.3f}" if row.label else row.error
        table.add_row(str(row.path), row.label or "-", top)
    out.print(table)


def _write_csv(path: Path, classes: tuple[str, ...], rows: Iterable[PredictedImage]) -> None:
    with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "label", *(f"score_{c}" for c in classes), "error"])
        for row in rows:
            writer.writerow([str(row.path), row.label or "",
                             *(f"{row.scores[c]:.7g}" if row.label else "" for c in classes),
                             row.error])


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_cmd)
    app.command("predict")(predict_cmd)
