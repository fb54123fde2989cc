"""Figures of a report as PNG bytes (matplotlib, Agg backend; nothing is shown)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

FAMILY_LABELS = {"pretrained": "frozen ImageNet features", "random": "frozen random-init features",
                 "finetune": "fine-tuned", "majority": "majority class",
                 "colour": "hand-crafted colour"}
FAMILY_COLOURS = {"pretrained": "#1f77b4", "random": "#7f7f7f", "finetune": "#d62728",
                  "majority": "#bcbd22", "colour": "#9467bd"}


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


def transfer_bars(task: str, transfer: dict[str, Any]) -> bytes:
    plt = _plt()
    entries = transfer["best_of_family"]
    families = [f for f in ("majority", "colour", "random", "pretrained", "finetune")
                if f in entries]
    values = [entries[f]["balanced_accuracy"] for f in families]
    lows = [v - entries[f]["ci"][0] for f, v in zip(families, values, strict=True)]
    highs = [entries[f]["ci"][1] - v for f, v in zip(families, values, strict=True)]
    fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(families) + 1.0))
    ax.barh([FAMILY_LABELS[f] for f in families], values, xerr=[lows, highs], capsize=4,
            color=[FAMILY_COLOURS[f] for f in families])
    for y, v in enumerate(values):
        ax.text(v + 0.01, y + 0.25, f"{v:.3f}", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("balanced accuracy on test (95% bootstrap CI)")
    ax.set_title(f"{task}: how much does transfer learning see?")
    return _png(fig)


def confusion(task: str, run: str, classes: list[str], matrix: list[list[int]]) -> bytes:
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
    ax.set_title(f"{task}: {run}", fontsize=9)
    return _png(fig)


def per_class_f1(task: str, classes: list[str], series: dict[str, dict[str, float]]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(classes))
    for k, (label, f1) in enumerate(series.items()):
        ax.bar(x + k * width - 0.4 + width / 2, [f1[c] for c in classes], width, label=label)
    ax.set_xticks(x, classes, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 on test")
    ax.set_title(f"{task}: per-class F1")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def by_layer(task: str, table: dict[str, dict[str, float]], layer_order: list[str]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for label, values in sorted(table.items()):
        layers = [la for la in layer_order if la in values]
        style = "--" if "random" in label else "-"
        ax.plot(layers, [values[la] for la in layers], style, marker="o", label=label)
    ax.set_ylim(0, 1)
    ax.set_ylabel("balanced accuracy on test")
    ax.set_xlabel("layer (shallow to deep)")
    ax.set_title(f"{task}: accuracy by layer")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.tick_params(axis="x", labelsize=8, rotation=20)
    return _png(fig)
