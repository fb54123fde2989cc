"""A 2-D map of a classification task's features: the test images of the best frozen
linear probe (on val), in its store's layer, coloured by true class.

UMAP (``umap-learn``) when it is installed (it is optional, not a dependency), PCA
(scikit-learn) otherwise; the caption says which, and how many images are drawn (at most
:data:`MAX_POINTS`, a seeded random subsample). Features are read with the store reader
(each shard's hash checked); a store that is gone or cannot be read leaves the map out
with a caption that says why, never the report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from emofeat.errors import EmofeatError
from emofeat.report.analysis import LINEAR_PROBES
from emofeat.report.collect import RunInfo
from emofeat.report.families import family
from emofeat.report.pictures_model import FeatureMap
from emofeat.runs import FeatureRun

log = logging.getLogger(__name__)

#: At most this many test images are drawn (a seeded random subsample beyond).
MAX_POINTS = 2000
#: UMAP's neighbourhood; fewer images than this get PCA.
UMAP_NEIGHBOURS = 15


def chosen_run(runs: Sequence[RunInfo]) -> tuple[RunInfo | None, str]:
    """The frozen-features run whose features are mapped, and what it is: the best linear
    probe on val, or (without one) the best run of any classifier on frozen features."""
    frozen = [r for r in runs if isinstance(r.record, FeatureRun)
              and family(r.family).frozen_backbone]
    probes = [r for r in frozen if r.classifier in LINEAR_PROBES]
    if probes:
        return max(probes, key=lambda r: r.val_score), "the best frozen linear probe on val"
    if frozen:
        return (max(frozen, key=lambda r: r.val_score),
                "the best run on frozen features on val; the task has no linear probe")
    return None, ""


def load_features(run: RunInfo, ids: Sequence[str]) -> np.ndarray:
    """The run's features of ``ids`` from its store: its layers, concatenated as it was."""
    from emofeat.store.reader import Store

    record = run.record
    assert isinstance(record, FeatureRun)
    store = Store.open(record.features.store)
    layers = record.features.layer_order or (run.layer,)
    return np.hstack([store.load(layer, ids) for layer in layers]).astype(np.float64)


def embed(x: np.ndarray, seed: int) -> tuple[np.ndarray, str, str]:
    """2-D coordinates of standardised ``x``, the method (UMAP or PCA), and how, in words."""
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(x)
    try:
        import umap
    except ImportError:
        why = "umap-learn is not installed"
    else:
        if len(x) > UMAP_NEIGHBOURS + 1:
            try:
                xy = umap.UMAP(n_components=2, n_neighbors=UMAP_NEIGHBOURS,
                               random_state=seed).fit_transform(x)
                return (np.asarray(xy), "UMAP", f"UMAP (umap-learn, {UMAP_NEIGHBOURS} "
                        f"neighbours, seed {seed}) of the standardised features")
            except Exception as e:  # an optional library's failure costs the map its method
                log.warning("UMAP failed (%s); the 2-D map uses PCA", e)
                why = f"UMAP failed: {e}"
        else:
            why = f"too few images for UMAP's {UMAP_NEIGHBOURS} neighbours"
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed).fit(x)
    share = float(pca.explained_variance_ratio_.sum())
    return (pca.transform(x), "PCA", "PCA of the standardised features (the first two "
            f"components, {share:.0%} of the variance; {why})")


def _none(caption: str, run: RunInfo | None = None, n: int = 0) -> FeatureMap:
    return FeatureMap(run=run.name if run else None, layer=run.layer if run else None,
                      method=None, n_points=0, n_images=n, caption=caption)


def feature_map(task_name: str, runs: Sequence[RunInfo], seed: int = 0
                ) -> tuple[FeatureMap, bytes | None]:
    """The map of a task's runs (the first split's) and its PNG (None: no map drawn)."""
    run, what = chosen_run(runs)
    if run is None:
        return _none("No 2-D map: no run of this task is a classifier on frozen backbone "
                     "features (a store to map)."), None
    test = run.test
    n = len(test.ids)
    rows = np.arange(n)
    if n > MAX_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(n, MAX_POINTS, replace=False))
    if len(rows) < 3:
        return _none(f"No 2-D map: {run.name} has {n} test images.", run, n), None
    assert isinstance(run.record, FeatureRun)
    try:
        x = load_features(run, [test.ids[i] for i in rows])
    except (EmofeatError, OSError, ValueError, KeyError) as e:
        log.warning("%s: no 2-D map: the features of %s could not be read: %s", task_name,
                    run.name, e)
        return _none(f"No 2-D map: the features of {run.name} could not be read from its "
                     f"store {run.record.features.store} ({e}).", run, n), None
    if x.shape[1] < 2:
        return _none(f"No 2-D map: the layer {run.layer} of {run.name} has one dimension.",
                     run, n), None
    xy, method, how = embed(x, seed)
    from emofeat.report import plots

    png = plots.feature_map(task_name, xy, test.y_true[rows], test.classes, method,
                            f"{run.name}, layer {run.layer}")
    drawn = f"all {n} test images" if len(rows) == n else \
        f"{len(rows)} of its {n} test images (a random subsample, seed {seed})"
    caption = (f"2-D map by {method}: {how}. Layer {run.layer} of {run.name} ({run.features}; "
               f"{what}), {drawn}, coloured by true class.")
    return FeatureMap(run=run.name, layer=run.layer, method=method,  # type: ignore[arg-type]
                      n_points=len(rows), n_images=n, caption=caption), png
