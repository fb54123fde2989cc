"""report.md and a self-contained report.html (figures inline as PNG data, no network)."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Any

from emofeat.report.plots import FAMILY_LABELS

METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced acc.",
                 "macro_f1": "macro-F1", "roc_auc": "ROC-AUC"}


def _metric(m: dict[str, Any] | None) -> str:
    if not m:
        return "-"
    return f"{m['value']:.3f} [{m['ci'][0]:.2f}, {m['ci'][1]:.2f}]"


def _pvalue(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-15 else "<1e-15"


def _p(row: dict[str, Any], key: str) -> str:
    if key not in row:
        return "-"
    gap = row[key]
    mark = "*" if gap["significant"] else ""
    return f"{gap['balanced_accuracy_gap']:+.3f}{mark} (p={_pvalue(gap['mcnemar_p'])})"


def _columns(task: dict[str, Any]) -> list[str]:
    keys = ["accuracy", "balanced_accuracy", "macro_f1"]
    if any("roc_auc" in r["metrics"] for r in task["rows"]):
        keys.append("roc_auc")
    return keys


def headline_rows(task: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    keys = _columns(task)
    header = ["run", "features / layer", "classifier", *(METRIC_LABELS[k] for k in keys),
              "vs best", "vs fine-tuned"]
    rows = [[r["run"], r["features"], r["classifier"], *(_metric(r["metrics"].get(k))
                                                          for k in keys),
             _p(r, "vs_best"), _p(r, "vs_finetune")] for r in task["rows"]]
    return header, rows


def transfer_rows(task: dict[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    best = task["transfer"]["best_of_family"]
    families = [f for f in ("pretrained", "random", "finetune", "colour", "majority")
                if f in best]
    entries = [[FAMILY_LABELS[f], best[f]["run"], f"{best[f]['val_balanced_accuracy']:.3f}",
                f"{best[f]['balanced_accuracy']:.3f} [{best[f]['ci'][0]:.3f}, "
                f"{best[f]['ci'][1]:.3f}]"] for f in families]
    gaps = [[g["comparison"], f"{g['balanced_accuracy_gap']:+.3f}",
             f"[{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}]", _pvalue(g["mcnemar_p"]),
             "yes" if g["significant"] else "no"] for g in task["transfer"]["gaps"]]
    return entries, gaps


GAP_HEADER = ["comparison", "balanced-acc. gap", "95% CI (paired bootstrap)",
              "McNemar p", "significant"]
FAMILY_HEADER = ["", "run (best on val)", "val balanced acc.", "test balanced acc. [95% CI]"]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(x: str) -> str:
        return x.replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, header)) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in rows]
    return "\n".join(lines)


def _intro(report: dict[str, Any]) -> list[str]:
    lines = [f"Runs: {len(report['runs'])}; split SHA-256 {report['splits_sha256'][:16]}...; "
             f"95% intervals from {report['n_boot']} bootstrap resamples of the test images "
             f"(seed {report['seed']}). 'Best' runs are chosen by their val score, never by "
             "test. Gaps are in balanced accuracy with paired bootstrap intervals (* = the "
             "interval excludes 0); p-values are exact McNemar tests on accuracy."]
    if report.get("synthetic"):
        lines.append("**These runs use the SYNTHETIC demo data set: the numbers show the "
                     "pipeline works, they are not a benchmark.**")
    return lines


def markdown(report: dict[str, Any]) -> str:
    out = ["# emofeat report", "", *_intro(report), ""]
    for name, task in report["tasks"].items():
        out += [f"## Task `{name}` ({len(task['classes'])} classes, {task['n_test']} test "
                "images)", "", "### Transfer learning in one place", ""]
        entries, gaps = transfer_rows(task)
        out += [_md_table(FAMILY_HEADER, entries), "", _md_table(GAP_HEADER, gaps), "",
                "### All runs (sorted by balanced accuracy)", ""]
        out += [_md_table(*headline_rows(task)), ""]
    return "\n".join(out) + "\n"


def short_table(report: dict[str, Any]) -> list[str]:
    """A few lines for the terminal: the transfer summary per task."""
    lines = []
    for name, task in report["tasks"].items():
        best = task["transfer"]["best_of_family"]
        parts = [f"{FAMILY_LABELS[f]} {best[f]['balanced_accuracy']:.3f}"
                 for f in ("finetune", "pretrained", "random", "colour", "majority")
                 if f in best]
        lines.append(f"{name}: " + " | ".join(parts))
    return lines


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:1.5em auto;padding:0 1em;color:#222;font-size:14px;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:2px solid #ddd}h3{font-size:1.1em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:12px;table-layout:auto}
th,td{border:1px solid #ddd;padding:3px 5px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}
td.num,td.nw{white-space:nowrap}img{max-width:100%;height:auto}
.figs{display:flex;flex-wrap:wrap;gap:10px}.figs img{max-width:49%}
.note{background:#fff6d6;border:1px solid #e6cf7a;padding:.5em .8em}
"""


def _html_table(header: list[str], rows: list[list[str]], numeric_from: int = 99,
                nowrap: tuple[int, ...] = ()) -> str:
    def cls(k: int) -> str:
        return " class=num" if k >= numeric_from else " class=nw" if k in nowrap else ""

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{cls(k)}>{html.escape(c)}</td>" for k, c in enumerate(row))
        + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def html_page(report: dict[str, Any], figures: Callable[[str], dict[str, bytes]]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             "<title>emofeat report</title>", f"<style>{CSS}</style></head><body>",
             "<h1>emofeat report</h1>"]
    for line in _intro(report):
        cls = " class=note" if "SYNTHETIC" in line else ""
        parts.append(f"<p{cls}>{html.escape(line.replace('**', ''))}</p>")
    for name, task in report["tasks"].items():
        figs = figures(name)
        parts.append(f"<h2>Task <code>{html.escape(name)}</code> — {len(task['classes'])} "
                     f"classes, {task['n_test']} test images</h2>")
        parts.append("<h3>Transfer learning in one place</h3>")
        entries, gaps = transfer_rows(task)
        parts.append(_html_table(FAMILY_HEADER, entries, numeric_from=2))
        parts.append(_html_table(GAP_HEADER, gaps, numeric_from=1))
        if "transfer" in figs:
            parts.append(_img(figs["transfer"], f"{name} transfer summary"))
        parts.append("<h3>All runs (sorted by balanced accuracy)</h3>")
        header, rows = headline_rows(task)
        parts.append(_html_table(header, rows, numeric_from=3, nowrap=(2,)))
        if "by_layer" in figs:
            parts.append("<h3>Accuracy by layer</h3>" + _img(figs["by_layer"], "by layer"))
        confusions = [k for k in figs if k.startswith("confusion")]
        if confusions:
            parts.append("<h3>Confusion matrices</h3><div class=figs>"
                         + "".join(_img(figs[k], k) for k in confusions) + "</div>")
        if "per_class_f1" in figs:
            parts.append("<h3>Per-class F1</h3>" + _img(figs["per_class_f1"], "per-class F1"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
