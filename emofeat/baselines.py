"""Baselines that appear in reports like any other run (kind ``baseline``):

- ``majority``: always the most frequent training class; for a rating task (``mean``) always
  the mean rating of train+val (where the fitted models are refitted); for the distribution
  task (``mean-distribution``) always the mean distribution of train+val;
- hand-crafted colour features, the classic affective-image features (Machajdik & Hanbury
  2010; Valdez & Mehrabian 1994): an HSV histogram, brightness / saturation / hue statistics,
  pleasure-arousal-dominance from brightness and saturation, colourfulness (Hasler &
  Süsstrunk 2003), contrast, edge density and grey-level entropy. They go into a feature
  store of their own (layer ``colour``, with the data set's ratings as any store) and are
  fitted with the same classifiers and regressors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from emofeat.datasets import Manifest
from emofeat.datasets.labels import label_rule_of
from emofeat.datasets.tasks import manifest_task_labels
from emofeat.device import resolve_device
from emofeat.errors import EmofeatError
from emofeat.extract import ExtractConfig, dataset_meta, fill_store
from emofeat.loading import Progress
from emofeat.ratings import rating_table
from emofeat.runs import (
    DistributionPredictions,
    MajorityRun,
    Predictions,
    RatingPredictions,
    finish_run,
    prepare_run_dir,
)
from emofeat.splits import SPLIT_NAMES, Split, check_split_matches
from emofeat.taxonomy import DISTRIBUTION_TASKS, SCORE_TASKS

COLOUR_BACKBONE = "handcrafted-colour"
COLOUR_LAYER = "colour"
_SIDE = 128
_BINS = (12, 3, 3)  # hue, saturation, value


def colour_features(image: Image.Image) -> np.ndarray:
    """The hand-crafted colour/texture vector of one RGB image (float32)."""
    img = image.copy()
    img.thumbnail((_SIDE, _SIDE), Image.Resampling.BILINEAR)
    rgb = np.asarray(img, dtype=np.float64) / 255.0
    hsv = np.asarray(img.convert("HSV"), dtype=np.float64) / 255.0
    h, s, v = hsv[..., 0].ravel(), hsv[..., 1].ravel(), hsv[..., 2].ravel()
    hist, _ = np.histogramdd(np.stack([h, s, v], axis=1), bins=_BINS,
                             range=((0, 1), (0, 1), (0, 1)))
    hist = hist.ravel() / h.size
    angle = 2 * np.pi * h
    hue_cos, hue_sin = np.average(np.cos(angle), weights=s + 1e-6), np.average(
        np.sin(angle), weights=s + 1e-6)
    brightness, saturation = v.mean(), s.mean()
    pleasure = 0.69 * brightness + 0.22 * saturation
    arousal = -0.31 * brightness + 0.60 * saturation
    dominance = -0.76 * brightness + 0.32 * saturation
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    grey = rgb @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.gradient(grey)
    edges = np.hypot(gx, gy)
    counts, _ = np.histogram(grey, bins=32, range=(0, 1))
    p = counts[counts > 0] / grey.size
    stats = [
        hue_cos, hue_sin, np.hypot(hue_cos, hue_sin),
        brightness, v.std(), saturation, s.std(),
        pleasure, arousal, dominance, colourfulness,
        grey.std(), np.percentile(grey, 95) - np.percentile(grey, 5),
        edges.mean(), (edges > 0.1).mean(), -(p * np.log2(p)).sum(),
    ]
    return np.concatenate([hist, np.asarray(stats)]).astype(np.float32)


COLOUR_DIM = int(np.prod(_BINS)) + 16


class ColourTransform:
    """A loading transform: PIL image -> colour feature tensor (runs where images are
    decoded)."""

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(colour_features(image))


def _identity(batch: torch.Tensor) -> dict[str, np.ndarray]:
    return {COLOUR_LAYER: batch.numpy()}


def extract_colour(manifest: Manifest, out: str | Path, split: Split,
                   config: ExtractConfig | None = None,
                   progress: Progress | None = None) -> Path:
    """A feature store of hand-crafted colour features (layer ``colour``)."""
    config = config or ExtractConfig()
    check_split_matches(split, manifest.ids, source="the split")
    meta = {
        **dataset_meta(manifest, split, config.shard_size, None),
        "backbone": COLOUR_BACKBONE, "handcrafted": True,
        "weights": {"requested": "none", "source": "none", "origin": None, "sha256": None,
                    "seed": None},
        "data_config": {"thumbnail": _SIDE, "hsv_bins": list(_BINS)},
        "layers": [{"name": COLOUR_LAYER, "dim": COLOUR_DIM, "channels": COLOUR_DIM,
                    "stride": 0}],
        "pooling": "none", "dtype": "float32", "precision": "fp32",
    }
    return fill_store(manifest, out, meta, split, _identity, ColourTransform(), config,
                      resolve_device("cpu"), progress)


def majority_run(manifest: Manifest, split: Split, task_name: str, out: str | Path,
                 overwrite: bool = False, drop_invalid: bool = False) -> dict[str, Any]:
    """Predict the most frequent training class for every image; scores are train priors.
    A rating task: predict the mean rating of train+val (:func:`mean_run`); the distribution
    task: the mean distribution of train+val (:func:`mean_distribution_run`)."""
    check_split_matches(split, manifest.ids, source="the split")
    if task_name in SCORE_TASKS:
        return mean_run(manifest, split, task_name, out, overwrite)
    if task_name in DISTRIBUTION_TASKS:
        return mean_distribution_run(manifest, split, task_name, out, overwrite, drop_invalid)
    labels = manifest_task_labels(manifest, task_name)
    task = labels.task
    run_dir = prepare_run_dir(out, overwrite)
    y = np.full(len(manifest), -1, dtype=np.int64)
    usable = np.array([lab is not None for lab in labels.labels], dtype=bool)
    y[usable] = task.encode(labels.served)
    in_split = np.array([split.assignment[i] if usable[k] else "-"
                         for k, i in enumerate(manifest.ids)])
    prior = np.bincount(y[in_split == "train"], minlength=task.n_classes).astype(np.float64)
    prior /= prior.sum()
    majority = int(np.argmax(prior))
    order = [i for s in SPLIT_NAMES for i in np.flatnonzero(in_split == s)]
    preds = Predictions(
        ids=[manifest.ids[i] for i in order], splits=[str(in_split[i]) for i in order],
        y_true=y[order], y_pred=np.full(len(order), majority),
        scores=np.tile(prior, (len(order), 1)), classes=task.classes)
    record = MajorityRun(
        model_summary=f"always '{task.classes[majority]}' (most frequent in train)",
        task=task.name, splits_sha256=split.sha256, split_groups=split.group_info,
        manifest_sha256=manifest.sha256,
        dataset_format=manifest.format, label_from=label_rule_of(manifest),
        n={s: int(np.sum(in_split == s)) for s in SPLIT_NAMES})
    return finish_run(run_dir, record, preds, in_sample=("train",))


def mean_run(manifest: Manifest, split: Split, task_name: str, out: str | Path,
             overwrite: bool = False) -> dict[str, Any]:
    """The baseline of a rating task: the mean rating of train+val for every image (images
    without the rating are left out). Like the search of a fitted model, its val score
    (``val_mae`` in the hyperparameters) is that of the train mean on val."""
    check_split_matches(split, manifest.ids, source="the split")
    table = rating_table(manifest)
    if task_name not in table:
        raise EmofeatError(f"the data set ({manifest.format}) has no rating '{task_name}'")
    y = table[task_name]
    in_split = np.array([split.assignment[i] for i in manifest.ids])
    rated = np.isfinite(y)
    fitted_on = rated & np.isin(in_split, ("train", "val"))
    if not fitted_on.any():
        raise EmofeatError(f"no train or val image has a '{task_name}' rating")
    run_dir = prepare_run_dir(out, overwrite)
    mean = float(y[fitted_on].mean())
    train, val = rated & (in_split == "train"), rated & (in_split == "val")
    honest = {"val_mae": round(float(np.abs(y[val] - y[train].mean()).mean()), 6)} \
        if train.any() and val.any() else {}
    order = [i for s in SPLIT_NAMES for i in np.flatnonzero((in_split == s) & rated)]
    preds = RatingPredictions(
        ids=[manifest.ids[i] for i in order], splits=[str(in_split[i]) for i in order],
        y_true=y[order], y_pred=np.full(len(order), mean))
    record = MajorityRun(
        model="mean", model_summary=f"always {mean:.3f} (the mean rating of train+val)",
        task=task_name, hyperparameters={"mean": round(mean, 6), **honest},
        splits_sha256=split.sha256, split_groups=split.group_info, manifest_sha256=manifest.sha256,
        dataset_format=manifest.format, label_from=label_rule_of(manifest),
        score_kind="rating",
        n={s: int(np.sum((in_split == s) & rated)) for s in SPLIT_NAMES})
    return finish_run(run_dir, record, preds, in_sample=("train", "val"))


def mean_distribution_run(manifest: Manifest, split: Split, task_name: str, out: str | Path,
                          overwrite: bool = False, drop_invalid: bool = False
                          ) -> dict[str, Any]:
    """The baseline of the distribution task: the mean distribution of train+val for every
    image (images without a valid distribution are left out, with ``drop_invalid``). Its
    val score (``val_kl_divergence`` in the hyperparameters) is that of the train mean."""
    from emofeat.distributions import distribution_table
    from emofeat.metrics import distribution_metrics

    check_split_matches(split, manifest.ids, source="the split")
    table = distribution_table(manifest, drop_invalid)
    if table is None:
        raise EmofeatError(f"the data set ({manifest.format}) has no emotion distribution")
    in_split = np.array([split.assignment[i] for i in manifest.ids])
    usable = table.usable
    train, val = usable & (in_split == "train"), usable & (in_split == "val")
    fitted_on = train | val
    if not fitted_on.any():
        raise EmofeatError("no train or val image has a valid distribution")
    run_dir = prepare_run_dir(out, overwrite)
    mean = table.values[fitted_on].mean(axis=0)
    honest = {"val_kl_divergence": distribution_metrics(
        table.values[val], np.tile(table.values[train].mean(axis=0), (int(val.sum()), 1))
    )["kl_divergence"]} if train.any() and val.any() else {}
    order = [i for s in SPLIT_NAMES for i in np.flatnonzero((in_split == s) & usable)]
    preds = DistributionPredictions(
        ids=[manifest.ids[i] for i in order], splits=[str(in_split[i]) for i in order],
        y_true=table.values[order], y_pred=np.tile(mean, (len(order), 1)),
        classes=table.classes)
    shown = ", ".join(f"{c} {v:.2f}" for c, v in zip(table.classes, mean, strict=True))
    record = MajorityRun(
        model="mean-distribution",
        model_summary=f"always the mean distribution of train+val ({shown})",
        task=task_name, hyperparameters={"mean": [round(float(v), 6) for v in mean], **honest,
                                         "drop_invalid": drop_invalid},
        splits_sha256=split.sha256, split_groups=split.group_info,
        manifest_sha256=manifest.sha256, dataset_format=manifest.format,
        label_from=label_rule_of(manifest), score_kind="distribution",
        n={s: int(np.sum((in_split == s) & usable)) for s in SPLIT_NAMES})
    return finish_run(run_dir, record, preds, in_sample=("train", "val"))
