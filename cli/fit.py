"""``emofeat fit`` and ``emofeat predict``: classical classifiers and rating regressors on
stored features."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace
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
    DISTRIBUTION_MODEL_NAMES,
    MODEL_NAMES,
    REGRESSOR_NAMES,
    FitOptions,
    plan_fits,
    select_layers,
)
from emofeat.device import DEVICES
from emofeat.errors import EmofeatError
from emofeat.resampling import requested_seeds, seed_folders
from emofeat.taxonomy import DISTRIBUTION_TASKS, SCORE_TASKS, TASK_NAMES

from .common import drop_invalid_option, err, names, out

if TYPE_CHECKING:
    from emofeat.predict import PredictedImage

DEFAULTS = FitOptions()


def fit_cmd(
    store_dir: Path = typer.Argument(..., metavar="STORE", help="A feature store."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run directory (or parent of runs)."),
    model: str = typer.Option("logreg", help=f"Classifiers {', '.join(MODEL_NAMES)}; rating "
                              f"regressors {', '.join(REGRESSOR_NAMES)}; distribution models "
                              f"{', '.join(DISTRIBUTION_MODEL_NAMES)}; a comma list, or all "
                              "(every model of each task's kind)."),
    task: str = typer.Option("emotion8", help=f"{', '.join(TASK_NAMES)}; rating regression "
                             f"{', '.join(SCORE_TASKS)} (Emotion6, OASIS); "
                             f"{', '.join(DISTRIBUTION_TASKS)} (the share of annotators per "
                             "emotion: Emotion6, Abstract, CSV dist_/votes_ columns); a comma "
                             "list, or all (valence and emotion8)."),
    layer: str = typer.Option("", help="A store layer, a+b to concatenate, a comma list, or "
                              "all; default: the store's last layer."),
    splits: Path | None = typer.Option(None, help="A splits.csv; default: the store's own."),
    grid: list[str] = typer.Option([], help="Replace a grid axis, e.g. --grid C=0.01,0.1 "
                                   "(repeatable); --grid auto-extend: where the choice is "
                                   "on an axis's edge, extend that axis once beyond it."),
    jobs: int = typer.Option(DEFAULTS.jobs, help="Parallel grid candidates; -1 = all CPUs."),
    seed: int = typer.Option(DEFAULTS.seed, help="Random seed."),
    seeds: str | None = typer.Option(None, metavar="S1,S2,...", help="One run per seed "
                                     "instead of --seed, each in OUT/seed-<S>/ (for models "
                                     "with randomness: svm, lightgbm, PCA)."),
    class_weight: str = typer.Option(DEFAULTS.class_weight or "none",
                                     help=f"{' or '.join(CLASS_WEIGHTS)}."),
    pca: int | None = typer.Option(DEFAULTS.pca, help="PCA components first (0 = none; "
                                   "default: the model's own, 256 for svm-rbf)."),
    l2norm: bool = typer.Option(DEFAULTS.l2norm, "--l2norm",
                                help="L2-normalise features first."),
    drop_invalid: bool = drop_invalid_option(),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace complete runs."),
    backend: str = typer.Option("local", help=f"{' or '.join(BACKENDS)}: the grid search "
                                "through joblib on this machine, or on a Dask cluster "
                                "(pip install 'emofeat\\[dask]')."),
    scheduler: str | None = typer.Option(None, metavar="ADDRESS", help="With --backend dask: "
                                         "a scheduler address (tcp://host:8786), or local:N "
                                         "for a LocalCluster of N worker processes here "
                                         "(default: local)."),
    out_of_core_above: float = typer.Option(OUT_OF_CORE_GB, metavar="GB", help="With --backend "
                                            "dask: fit lightgbm out of core (Dask LightGBM on "
                                            "the store's shards) when a layer's features are "
                                            "larger than this; 0 = always."),
) -> None:
    """Fit classifiers (or rating regressors, or distribution models) on stored features:
    search on val, refit on train+val, score test. Rating tasks are tuned by MAE on val, the
    distribution task by mean KL divergence on val.

    Example: emofeat fit stores/irv2 --model svm --task valence --layer conv2d_7b --out runs/svm

    Example: emofeat fit stores/irv2 --splits folds/fold-2.csv --seeds 0,1,2 --out runs/fold-2

    Example: emofeat fit stores/e6 --task distribution --model logreg,logreg-onehot --out runs/dist
    """
    from emofeat.classical.run import fit_all
    from emofeat.store import Store

    options = FitOptions(class_weight=class_weight, pca=pca, l2norm=l2norm, seed=seed, jobs=jobs)
    seed_list = requested_seeds(seeds, seed, DEFAULTS.seed)
    where = Backend(backend, scheduler, out_of_core_above)
    where.check()
    if where.name == "dask":
        _quiet_dask()
    models, tasks = names(model), names(task)
    pairs = plan_fits(models, tasks)
    layers = select_layers(names(layer), Store.open(store_dir).layer_names)
    n_runs = len(pairs) * len(layers)
    with use_backend(where), err.status(f"fitting {n_runs * len(seed_list or [0])} run(s)"):
        for run_dir, s in seed_folders(out_dir, seed_list):
            fit_all(store_dir, models, tasks, layers, run_dir, splits_file=splits,
                    grid=grid, options=options if s is None else replace(options, seed=s),
                    overwrite=overwrite, on_done=_report, nested=n_runs > 1,
                    drop_invalid=drop_invalid)


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
    if record.get("task_kind") == "regression":
        r = "-" if test["pearson_r"] is None else f"{test['pearson_r']:.3f}"
        scores = f"test r {r}, MAE {test['mae']:.3f}"
    elif record.get("task_kind") == "distribution":
        scores = (f"test KL {test['kl_divergence']:.3f}, cosine {test['cosine']:.3f}, top-1 "
                  f"{test['top1_accuracy']:.3f}")
    else:
        scores = f"test balanced acc {test['balanced_accuracy']:.3f}, acc {test['accuracy']:.3f}"
    out.print(f"{record['model']} {record['task']} {record['layer']}: {scores} ({params}; "
              f"{record['timings']['total_seconds']:.1f} s) -> {run_dir}")


def predict_cmd(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run directory."),
    images: list[Path] = typer.Argument(..., metavar="IMAGE_OR_DIR...", help="Images/folders."),
    out_csv: Path | None = typer.Option(None, "--out", "-o", help="Write a CSV here."),
    batch_size: int = typer.Option(32, min=1, help="Images per batch."),
    device: str = typer.Option("auto", help=f"{', '.join(DEVICES)}."),
) -> None:
    """Predict the emotion (or, a rating task's run, the rating) of images with a run's
    model (features re-extracted as stored).

    Images that cannot be read get no prediction: they are listed with the reason in the
    error column, and the exit code is 1.

    Example: emofeat predict runs/svm photos/ --out preds.csv
    """
    from emofeat.predict import predict_images, score_name

    classes, rows = predict_images(run_dir, images, batch_size=batch_size, device=device)
    tally, holds = _Tally(rows), score_name(run_dir)
    if out_csv is not None:
        _write_csv(out_csv, classes, tally, holds)
        out.print(f"predictions written to {out_csv}")
    else:
        out.print(_table(classes, tally, holds))
    if tally.failed:
        path, why = tally.failed[0]
        typer.echo(f"emofeat: {len(tally.failed)} of {tally.seen} images could not be read "
                   f"(e.g. {path}: {why}); they are listed with the reason in the error "
                   "column", err=True)
        raise typer.Exit(1)


def _table(classes: tuple[str, ...], rows: Iterable[PredictedImage], holds: str) -> Table:
    """Label and its score (a probability or a margin: ``holds``) per image, or (a rating
    task's run) the predicted rating."""
    table = Table()
    for col in ("image", "label", holds, "error") if classes else ("image", "rating", "error"):
        table.add_column(col)
    for row in rows:
        if not classes:
            rating = "-" if row.rating is None else f"{row.rating:.3f}"
            table.add_row(str(row.path), rating, row.error)
            continue
        score = f"{row.scores[row.label]:.3f}" if row.label else "-"
        table.add_row(str(row.path), row.label or "-", score, row.error)
    return table


class _Tally:
    """The predictions, passed through, counting the images that could not be read."""

    def __init__(self, rows: Iterable[PredictedImage]) -> None:
        self.rows, self.seen = rows, 0
        self.failed: list[tuple[Path, str]] = []

    def __iter__(self) -> Iterator[PredictedImage]:
        for row in self.rows:
            self.seen += 1
            if row.error:
                self.failed.append((row.path, row.error))
            yield row


def _write_csv(path: Path, classes: tuple[str, ...], rows: Iterable[PredictedImage],
               holds: str) -> None:
    if path.is_dir():
        raise EmofeatError(f"--out {path} is a folder; give a CSV file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        if not classes:  # a rating task: the predicted rating, exactly
            writer.writerow(["path", "rating", "error"])
            writer.writerows([str(row.path), "" if row.rating is None else repr(row.rating),
                              row.error] for row in rows)
            return
        writer.writerow(["path", "label", *(f"{holds}_{c}" for c in classes), "error"])
        for row in rows:
            writer.writerow([str(row.path), row.label or "",
                             *(f"{row.scores[c]:.7g}" if row.label else "" for c in classes),
                             row.error])


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_cmd)
    app.command("predict")(predict_cmd)
