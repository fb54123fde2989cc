"""Figures of a report as PNG bytes (matplotlib, Agg backend; nothing is shown).

Each chart is drawn from plain chart data (:class:`Bar`, :class:`Series`), and the chart
data take their labels, order and colours from the family table, so a family looks the
same in every chart.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import cycle
from typing import Any

import numpy as np

from emofeat.report.families import family, in_order
from emofeat.report.model import RegressionReport, ShownImage, TaskReport, Transfer

_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


@dataclass(frozen=True)
class Bar:
    """A family's best run in the transfer chart: balanced accuracy and its interval."""

    label: str
    colour: str
    value: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class Series:
    """A line or a group of bars: one value per class or per layer."""

    label: str
    colour: str
    values: tuple[float, ...]
    linestyle: str = "-"
    marker: str = "o"
    # the 95% bootstrap interval of each value (by-layer lines; empty: none drawn)
    ci: tuple[tuple[float, float], ...] = ()


def transfer_data(transfer: Transfer) -> list[Bar]:
    """One bar per family present, in table order (top to bottom)."""
    best = transfer.best_of_family
    return [Bar(f.label, f.colour, best[f.key].balanced_accuracy, best[f.key].ci)
            for f in in_order(best)]


def per_class_data(task: TaskReport) -> list[Series]:
    """Per-class F1 of each family's best run, in table order."""
    rows = {r.run: r for r in task.rows}
    best = task.transfer.best_of_family
    return [Series(f.label, f.colour, tuple(rows[best[f.key].run].per_class_f1[c]
                                            for c in task.classes))
            for f in in_order(best) if f.per_class]


def layer_data(task: TaskReport, family_of_series: Mapping[str, str],
               layer_order: Sequence[str]) -> tuple[list[str], list[Series]]:
    """The layers (shallow to deep) and a line per (classifier, backbone, weights): its
    family's colour and line style, a marker of its own, and each point's bootstrap
    interval (the interval of the run's balanced accuracy in the runs table)."""
    from emofeat.report.analysis import series_name

    table = task.by_layer
    intervals = {(series_name(r.classifier, r.backbone, r.weights), r.layer,
                  r.metrics["balanced_accuracy"].value): r.metrics["balanced_accuracy"].ci
                 for r in task.rows if family(r.family).frozen_backbone
                 and "balanced_accuracy" in r.metrics}
    layers = [la for la in layer_order if any(la in v for v in table.values())]
    markers: dict[str, Any] = {}
    series = []
    for name in sorted(table):
        f = family(family_of_series[name])
        marker = next(markers.setdefault(f.key, cycle(_MARKERS)))
        values = tuple(table[name].get(la, np.nan) for la in layers)
        ci = tuple(intervals.get((name, la, v), (np.nan, np.nan))
                   for la, v in zip(layers, values, strict=True))
        series.append(Series(name, f.colour, values, f.linestyle, marker, ci))
    return layers, series


@dataclass(frozen=True)
class Points:
    """A family's best run in a rating task's scatter: rated and predicted, per test image."""

    label: str
    colour: str
    rated: tuple[float, ...]
    predicted: tuple[float, ...]


def scatter_data(task: RegressionReport, ratings: Mapping[str, tuple[np.ndarray, np.ndarray]]
                 ) -> list[Points]:
    """The best run (on val) of each family present, in table order; ``ratings``: a run's
    (rated, predicted) test values by run name."""
    best = task.best_of_family
    return [Points(f"{f.label}: {best[f.key]}", f.colour,
                   tuple(map(float, ratings[best[f.key]][0])),
                   tuple(map(float, ratings[best[f.key]][1])))
            for f in in_order(best)]


# --------------------------------------------------------------------------- drawing


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def transfer_bars(task: str, bars: Sequence[Bar]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(bars) + 1.0))
    values = [b.value for b in bars]
    ax.barh([b.label for b in bars], values, capsize=4, color=[b.colour for b in bars],
            xerr=[[b.value - b.ci[0] for b in bars], [b.ci[1] - b.value for b in bars]])
    for y, v in enumerate(values):
        ax.text(v + 0.01, y + 0.25, f"{v:.3f}", fontsize=8)
    ax.invert_yaxis()  # the first family on top, as in the tables
    ax.set_xlim(0, 1)
    ax.set_xlabel("balanced accuracy on test (95% bootstrap CI)")
    ax.set_title(f"{task}: how much does transfer learning see?")
    return _png(fig)


def confusion(task: str, run: str, classes: Sequence[str],
              matrix: Sequence[Sequence[int]], label: str = "") -> bytes:
    """Row-normalised shading, counts written in; titled with the run and its family."""
    plt = _plt()
    cm = np.asarray(matrix, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = 1.6 + 0.45 * len(classes)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{task}, {label}:\n{run}" if label else f"{task}: {run}", fontsize=9)
    return _png(fig)


def per_class_f1(task: str, classes: Sequence[str], series: Sequence[Series]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(classes))
    for k, s in enumerate(series):
        ax.bar(x + k * width - 0.4 + width / 2, s.values, width, label=s.label, color=s.colour)
    ax.set_xticks(x, classes, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 on test")
    ax.set_title(f"{task}: per-class F1")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def by_layer(task: str, layers: Sequence[str], series: Sequence[Series]) -> bytes:
    """A line per series with 95% bootstrap error bars, nudged apart so they do not hide
    each other."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    x = np.arange(len(layers), dtype=float)
    for k, s in enumerate(series):
        at = x + (k - (len(series) - 1) / 2) * 0.04
        values = np.asarray(s.values, dtype=float)
        ax.plot(at, values, s.linestyle, marker=s.marker, color=s.colour, label=s.label)
        if s.ci:
            ci = np.asarray(s.ci, dtype=float)
            ax.errorbar(at, values, yerr=[values - ci[:, 0], ci[:, 1] - values], fmt="none",
                        ecolor=s.colour, elinewidth=1, capsize=3, alpha=0.8)
    ax.set_xticks(x, layers)
    ax.set_ylim(0, 1)
    ax.set_ylabel("balanced accuracy on test\n(95% bootstrap CI)", fontsize=8)
    ax.set_xlabel("layer (shallow to deep)")
    ax.set_title(f"{task}: accuracy by layer")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.tick_params(axis="x", labelsize=8, rotation=20)
    return _png(fig)


def scatter(task: str, points: Sequence[Points]) -> bytes:
    """Predicted against rated on test, one colour per family, with the identity line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    values = [v for p in points for v in (*p.rated, *p.predicted)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ":", color="#444444", linewidth=1,
            label="predicted = rated")
    for p in points:
        ax.scatter(p.rated, p.predicted, s=14, alpha=0.7, color=p.colour, label=p.label)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("rated (test)")
    ax.set_ylabel("predicted")
    ax.set_title(f"{task}: predicted vs rated (best run of each family, on val)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def distribution_bars(task: str, classes: Sequence[str], images: Sequence[ShownImage],
                      colours: Mapping[str, tuple[str, str]]) -> bytes:
    """Per shown test image, grouped bars: the annotators' distribution (black) and each
    family's best run's prediction; ``colours``: run -> (legend label, colour)."""
    plt = _plt()
    n = max(len(images), 1)
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 1.9 * n + 0.4), squeeze=False)
    x = np.arange(len(classes))
    for ax, image in zip(axes[:, 0], images, strict=False):
        series = [("annotators", "#222222", image.true),
                  *((colours[run][0], colours[run][1], values)
                    for run, values in image.predicted.items())]
        width = 0.8 / len(series)
        for k, (label, colour, values) in enumerate(series):
            ax.bar(x + k * width - 0.4 + width / 2, values, width, label=label, color=colour)
        ax.set_xticks(x, classes, fontsize=8, rotation=20, ha="right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("share", fontsize=8)
        ax.set_title(image.id, fontsize=8, loc="left")
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{task}: annotators' and predicted distributions of test images", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def feature_map(task: str, xy: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                method: str, subtitle: str) -> bytes:
    """Points in 2-D, one colour per true class (``labels`` index ``classes``)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    colours = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    size = 28 if len(xy) <= 200 else 14 if len(xy) <= 800 else 7  # fewer points: bigger
    for k, name in enumerate(classes):
        at = labels == k
        if at.any():
            ax.scatter(xy[at, 0], xy[at, 1], s=size, alpha=0.75, color=colours(k % colours.N),
                       label=f"{name} ({int(at.sum())})", linewidths=0)
    ax.set_xlabel(f"{method} 1")
    ax.set_ylabel(f"{method} 2")
    ax.set_title(f"{task}: test images by {method}\n{subtitle}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=1.5)
    return _png(fig)
