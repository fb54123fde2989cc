"""Search + refit seconds and val/test balanced accuracy of every estimator at FI's size:
13,000 x 1,536 features, 8 classes (synthetic but learnable, FI-like class imbalance).

For the linear models the same grid also runs through a plain ``GridSearchCV(cv=5)`` on
train+val, side by side, and the ratio of the two costs is printed. ``--rbf-full`` also fits
one SVC(rbf) on all 1,536 dimensions (no PCA) at the chosen C, to show what PCA costs in
accuracy. Run:

    python benchmarks/fit_speed.py                 # every estimator
    python benchmarks/fit_speed.py --models logreg,svm --n 5000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV

from emofeat.classical import FitOptions, SplitData, build_pipeline, fit_and_search, get_spec

FI_CLASS_SIZES = np.array([490, 3100, 1200, 2000, 1500, 1800, 1000, 1910], dtype=float)


def synthetic(n: int, dim: int, seed: int = 0, latent: int = 48, sep: float = 0.3):
    """ReLU features of a noisy low-dimensional class structure: learnable, not separable."""
    rng = np.random.default_rng(seed)
    y = rng.choice(8, size=n, p=FI_CLASS_SIZES / FI_CLASS_SIZES.sum())
    z = rng.normal(0, sep, (8, latent))[y] + rng.normal(0, 1.0, (n, latent))
    w = rng.normal(0, 1 / np.sqrt(latent), (latent, dim))
    X = np.maximum(z @ w + rng.normal(0, 0.5, (n, dim)), 0).astype(np.float32)
    return X, y


def split(X: np.ndarray, y: np.ndarray, seed: int = 0) -> SplitData:
    order = np.random.default_rng(seed).permutation(len(y))
    n_tr, n_va = int(0.80 * len(y)), int(0.05 * len(y))
    parts = {"train": order[:n_tr], "val": order[n_tr:n_tr + n_va], "test": order[n_tr + n_va:]}
    return SplitData({k: X[v] for k, v in parts.items()}, {k: y[v] for k, v in parts.items()},
                     {k: [str(i) for i in v] for k, v in parts.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=13000)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--models", default="logreg,svm,svm-rbf,lightgbm")
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--no-gridsearchcv", action="store_true")
    parser.add_argument("--rbf-full", action="store_true")
    args = parser.parse_args()

    X, y = synthetic(args.n, args.dim)
    data = split(X, y)
    options = FitOptions(jobs=args.jobs)
    print(f"{args.n} x {args.dim} features, 8 classes, {os.cpu_count()} CPUs; "
          f"train {len(data.y['train'])}, val {len(data.y['val'])}, test {len(data.y['test'])}")
    print(f"{'model':9} {'candidates':>10} {'search s':>9} {'refit s':>8} {'total s':>8} "
          f"{'val bacc':>9} {'test bacc':>9}  chosen")
    for name in args.models.split(","):
        spec = get_spec(name)
        fitted = fit_and_search(spec, data, options)
        best_val = max(r["val_balanced_accuracy"] for r in fitted.search.table)
        test = balanced_accuracy_score(data.y["test"], fitted.pipeline.predict(data.X["test"]))
        total = fitted.search.seconds + fitted.refit_seconds
        print(f"{name:9} {len(fitted.search.table):>10} {fitted.search.seconds:>9.1f} "
              f"{fitted.refit_seconds:>8.1f} {total:>8.1f} {best_val:>9.3f} {test:>9.3f}  "
              f"{fitted.search.best}", flush=True)
        if name in ("logreg", "svm") and not args.no_gridsearchcv:
            Xtv, ytv = data.train_val()
            grid = {f"clf__{k}": v for k, v in spec.grid.items()}
            start = time.perf_counter()
            cv = GridSearchCV(build_pipeline(spec, {}, options), grid, cv=5,
                              scoring="balanced_accuracy", n_jobs=args.jobs).fit(Xtv, ytv)
            cv_s = time.perf_counter() - start
            cv_test = balanced_accuracy_score(data.y["test"], cv.predict(data.X["test"]))
            print(f"{'  cv=5':9} {len(cv.cv_results_['params']):>10} {cv_s:>9.1f} {'(incl.)':>8} "
                  f"{cv_s:>8.1f} {cv.best_score_:>9.3f} {cv_test:>9.3f}  {cv.best_params_}  "
                  f"-> emofeat is {cv_s / total:.1f}x faster", flush=True)
        if name == "svm-rbf" and args.rbf_full:
            start = time.perf_counter()
            full = build_pipeline(spec, fitted.search.best, FitOptions(pca=0))
            full.fit(*data.train_val())
            fit_s = time.perf_counter() - start
            full_test = balanced_accuracy_score(data.y["test"], full.predict(data.X["test"]))
            print(f"{'  no PCA':9} {1:>10} {'-':>9} {fit_s:>8.1f} "
                  f"{time.perf_counter() - start:>8.1f} {'-':>9} {full_test:>9.3f}  "
                  f"one SVC(rbf) on all {args.dim} dims (fit + test predict)", flush=True)


if __name__ == "__main__":
    main()
