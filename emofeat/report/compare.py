"""``emofeat compare``: runs that share a split -> report.json, report.md, report.html.

Every number is computed from the runs' ``predictions.csv`` (test rows): point estimates with
scikit-learn, 95% intervals by bootstrap over test images (seeded), paired comparisons on
the same resamples, and exact McNemar tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofeat.atomic import write_json, write_text
from emofeat.errors import EmofeatError
from emofeat.provenance import now, versions
from emofeat.report import plots
from emofeat.report.analysis import analyse
from emofeat.report.collect import RunInfo, load_runs
from emofeat.report.render import html_page, markdown, short_table

REPORT_FORMAT = "emofeat-report"


def _figures(task_name: str, task: dict[str, Any], runs: Sequence[RunInfo]) -> dict[str, bytes]:
    figs = {"transfer": plots.transfer_bars(task_name, task["transfer"])}
    if task["by_layer"]:
        order: list[str] = []
        for r in runs:
            for layer in r.meta.get("features", {}).get("store_layers", [r.layer]):
                if layer not in order:
                    order.append(layer)
        figs["by_layer"] = plots.by_layer(task_name, task["by_layer"], order)
    rows = {r["run"]: r for r in task["rows"]}
    shown = [task["best"]]
    shown += [e["run"] for f, e in task["transfer"]["best_of_family"].items()
              if f in ("pretrained", "finetune")]
    for k, name in enumerate(dict.fromkeys(shown)):
        figs[f"confusion{k}"] = plots.confusion(task_name, name, task["classes"],
                                                rows[name]["confusion_matrix"])
    series = {plots.FAMILY_LABELS[f]: rows[e["run"]]["per_class_f1"]
              for f, e in task["transfer"]["best_of_family"].items() if f != "majority"}
    figs["per_class_f1"] = plots.per_class_f1(task_name, task["classes"], series)
    return figs


def compare(inputs: Sequence[str | Path], out_dir: str | Path, n_boot: int = 1000,
            seed: int = 0) -> dict[str, Any]:
    """Write the report for the runs given (or found below the folders given)."""
    if n_boot < 1000:
        raise EmofeatError("--bootstrap needs at least 1000 resamples for 95% intervals")
    runs = load_runs(inputs)
    tasks = analyse(runs, n_boot=n_boot, seed=seed)
    report = {
        "format": REPORT_FORMAT,
        "created": now(),
        "splits_sha256": runs[0].meta["splits_sha256"],
        "n_boot": n_boot,
        "seed": seed,
        "level": 0.95,
        "synthetic": any(_is_demo(r) for r in runs),
        "runs": [{"name": r.name, "path": str(r.run.path.resolve()), "kind": r.kind,
                  "family": r.family, "task": r.task, "classifier": r.classifier,
                  "backbone": r.backbone, "weights": r.weights, "layer": r.layer}
                 for r in runs],
        "tasks": tasks,
        "versions": versions(),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_task = {t: [r for r in runs if r.task == t] for t in tasks}
    figures = {t: _figures(t, tasks[t], by_task[t]) for t in tasks}
    write_json(out / "report.json", report)
    write_text(out / "report.md", markdown(report))
    write_text(out / "report.html", html_page(report, lambda t: figures[t]))
    report["summary_lines"] = short_table(report)
    return report


def _is_demo(run: RunInfo) -> bool:
    meta = run.meta
    fmt = meta.get("dataset_format") or meta.get("features", {}).get("dataset_format")
    return fmt == "demo"
