"""``emofeat fit`` and ``emofeat predict``: classical classifiers on stored features."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from emofeat.atomic import replacing
from emofeat.classical.backend import (
    BACKENDS,
    OUT_OF_CORE_GB,
    Backend,
    require_dask,
    use_backend,
)
from emofeat.classical.options import (
    CLASS_WEIGHTS,
    MODEL_NAMES,
    FitOptions,
    select_layers,
    select_models,
    select_tasks,
)
from emofeat.device import DEVICES
from emofeat.taxonomy import TASK_NAMES

from .common import err, names, out

if TYPE_CHECKING:
    from emofeat.predict import PredictedImage

DEFAULTS = FitOptions()


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
    jobs: int = typer.Option(DEFAULTS.jobs, help="Parallel grid candidates; -1 = all CPUs."),
    seed: int = typer.Option(DEFAULTS.seed, help="Random seed."),
    class_weight: str = typer.Option(DEFAULTS.class_weight or "none",
                                     help=f"{' or '.join(CLASS_WEIGHTS)}."),
    pca: int | None = typer.Option(DEFAULTS.pca, help="PCA components first (0 = none; "
                                   "default: the model's own, 256 for svm-rbf)."),
    l2norm: bool = typer.Option(DEFAULTS.l2norm, "--l2norm",
                                help="L2-normalise features first."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace complete runs."),
    backend: str = typer.Option("local", help=f"{' or '.join(BACKENDS)}: the grid search "
                                "through joblib on this machine, or on a Dask cluster "
                                "(pip install 'emofeat[dask]')."),
    scheduler: str | None = typer.Option(None, metavar="ADDRESS", help="With --backend dask: "
                                         "a scheduler address (tcp://host:8786), or local:N "
                                         "for a LocalCluster of N worker processes here "
                                         "(default: local)."),
    out_of_core_above: float = typer.Option(OUT_OF_CORE_GB, metavar="GB", help="With --backend "
                                            "dask: fit lightgbm out of core (Dask LightGBM on "
                                            "the store's shards) when a layer's features are "
                                            "larger than this; 0 = always."),
) -> None:
    """Fit classifiers on stored features: search on val, refit on train+val, score test.

    Example: emofeat fit stores/irv2 --model svm --task valence --layer conv2d_7b --out runs/svm
    """
    from emofeat.classical.run import fit_all
    from emofeat.store import Store

    options = FitOptions(class_weight=class_weight, pca=pca, l2norm=l2norm, seed=seed, jobs=jobs)
    where = Backend(backend, scheduler, out_of_core_above)
    where.check()
    if where.name == "dask":
        _quiet_dask()
    models, tasks = select_models(names(model)), select_tasks(names(task))
    layers = select_layers(names(layer), Store.open(store_dir).layer_names)
    with use_backend(where), \
            err.status(f"fitting {len(models) * len(tasks) * len(layers)} run(s)"):
        fit_all(store_dir, models, tasks, layers, out_dir, splits_file=splits, grid=grid,
                options=options, overwrite=overwrite, on_done=_report)


def _quiet_dask() -> None:
    """Dask's own log lines only as warnings (unless -v): distributed sets its loggers'
    levels when imported, so after that."""
    require_dask()
    verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    logging.getLogger("distributed").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _report(run_dir: Path, record: dict[str, Any] | None) -> None:
    from emofeat.runs import Run

    if record is None:
        out.print(f"{run_dir}: complete, skipped")
        return
    test = Run.open(run_dir).metrics()["test"]
    params = ", ".join(f"{k}={v}" for k, v in record["hyperparameters"].items())
    out.print(f"{record['model']} {record['task']} {record['layer']}: test balanced acc "
              f"{test['balanced_accuracy']:.3f}, acc {test['accuracy']:.3f} ({params}; "
              f"{record['timings']['total_seconds']:.1f} s) -> {run_dir}")


def predict_cmd(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run directory."),
    images: list[Path] = typer.Argument(..., metavar="IMAGE_OR_DIR...", help="Images/folders."),
    out_csv: Path | None = typer.Option(None, "--out", "-o", help="Write a CSV here."),
    batch_size: int = typer.Option(32, help="Images per batch."),
    device: str = typer.Option("auto", help=f"{', '.join(DEVICES)}."),
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
