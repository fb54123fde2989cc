"""The audit's files: ``audit.json`` (counts per reason, the split's leaks, the options),
``groups.csv`` (one row per image of a group), ``flagged.csv`` (one row per image and
reason), ``audit.html`` (example thumbnails, inline) and the cleaned CSV list of ``--drop``.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emofeat.atomic import write_json, write_text
from emofeat.audit.findings import DROP_REASONS, Findings
from emofeat.csvrows import write_row
from emofeat.errors import EmofeatError
from emofeat.images import ImageReadError, load_rgb
from emofeat.taxonomy import SCORE_TASKS

AUDIT_JSON, GROUPS_CSV, FLAGGED_CSV, AUDIT_HTML = ("audit.json", "groups.csv", "flagged.csv",
                                                   "audit.html")
#: Groups shown per kind in the HTML page, images shown per group, thumbnail side.
EXAMPLE_GROUPS, EXAMPLE_IMAGES, THUMB = 12, 8, 96
#: The columns a cleaned CSV list carries over when the manifest has them.
CARRIED = ("agree", "split", *SCORE_TASKS)


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        write_row(buf, writer, row)
    return buf.getvalue()


def summary(f: Findings, seconds: float, dropped: Mapping[str, list[int]] | None = None
            ) -> dict[str, Any]:
    """What ``audit.json`` holds."""
    m = f.manifest
    info: dict[str, Any] = {
        "data": str(m.root), "format": m.format, "manifest_sha256": m.sha256,
        "n_images": len(m), "counts": f.counts(),
        "options": {"max_distance": f.options.max_distance,
                    "placeholder_min": f.options.placeholder_min,
                    "min_side": f.options.min_side,
                    "min_similarity": f.options.min_similarity},
        "seconds": round(seconds, 3),
        "seconds_per_1000_images": round(1000 * seconds / max(len(m), 1), 3),
    }
    if (split := f.split_summary()) is not None:
        info["split"] = split
    if dropped is not None:
        info["dropped"] = {r: len(rows) for r, rows in dropped.items()}
    return info


def group_rows(f: Findings) -> list[list[Any]]:
    m, rows = f.manifest, []
    for n, g in enumerate(f.groups, start=1):
        conflict = "yes" if f.conflicting(g) else "no"
        for k in g.members:
            h = f.hashes[k]
            rows.append([n, f.kind(g), len(g), conflict, "+".join(g.links), m.ids[k],
                         m.labels[k], (f.split or {}).get(m.ids[k], ""), h.width, h.height])
    return rows


def flagged_rows(f: Findings) -> list[list[Any]]:
    m, rows = f.manifest, []
    for k in f.unreadable:
        rows.append([m.ids[k], "unreadable", "", f.hashes[k].error])
    for k in f.tiny:
        rows.append([m.ids[k], "tiny", "", f"{f.hashes[k].width}x{f.hashes[k].height}"])
    for n, g in enumerate(f.groups, start=1):
        kind = f.kind(g)
        reason = "placeholder" if kind == "placeholder" else f"{kind} duplicate"
        for k in g.members:
            rows.append([m.ids[k], reason, n, f"{len(g)} images"])
            if f.conflicting(g):
                labels = sorted({m.labels[j] for j in g.members})
                rows.append([m.ids[k], "class conflict", n, "/".join(labels)])
    return rows


def _thumb(f: Findings, k: int) -> str:
    m = f.manifest
    caption = html.escape(f"{m.ids[k]} [{m.labels[k]}]"
                          + (f" {f.split.get(m.ids[k], '')}" if f.split else ""))
    try:
        img = load_rgb(m.path(m.ids[k]))
    except ImageReadError as exc:
        return f'<figure><figcaption>{caption}: {html.escape(str(exc))}</figcaption></figure>'
    img.thumbnail((THUMB, THUMB))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img src="data:image/jpeg;base64,{data}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption></figure>")


def page(f: Findings, info: Mapping[str, Any]) -> str:
    """audit.html: the counts, then example groups of each kind with their thumbnails."""
    parts = [f"<h1>emofeat data audit: {html.escape(str(f.manifest.root))}</h1>",
             f"<p>{info['n_images']} images ({html.escape(f.manifest.format)}), audited in "
             f"{info['seconds']:.1f} s</p><table><tr><th>reason</th><th>groups</th>"
             "<th>images</th></tr>"]
    for reason, c in info["counts"].items():
        parts.append(f"<tr><td>{reason.replace('_', ' ')}</td><td>{c.get('groups', '')}</td>"
                     f"<td>{c['images']}</td></tr>")
    parts.append("</table>")
    if split := info.get("split"):
        parts.append(f"<p>split ({html.escape(split['source'])}): "
                     f"{split['groups_across_train_test']} group(s) on both sides of "
                     f"train/test</p>")
    sections = {
        "placeholders": [g for g in f.groups if f.kind(g) == "placeholder"],
        "class conflicts": [g for g in f.groups if f.conflicting(g)],
        "exact duplicates": [g for g in f.groups if f.kind(g) == "exact"],
        "near duplicates": [g for g in f.groups if f.kind(g) == "near"],
    }
    for title, groups in sections.items():
        if not groups:
            continue
        parts.append(f"<h2>{title} ({len(groups)} group{'' if len(groups) == 1 else 's'}; "
                     f"{min(len(groups), EXAMPLE_GROUPS)} shown)</h2>")
        for g in groups[:EXAMPLE_GROUPS]:
            more = f" (+{len(g) - EXAMPLE_IMAGES} more)" if len(g) > EXAMPLE_IMAGES else ""
            parts.append(f"<div class=group><p>{len(g)} images{more}</p>"
                         + "".join(_thumb(f, k) for k in g.members[:EXAMPLE_IMAGES]) + "</div>")
    if f.tiny:
        parts.append(f"<h2>tiny ({len(f.tiny)})</h2><div class=group>"
                     + "".join(_thumb(f, k) for k in f.tiny[:EXAMPLE_GROUPS * 2]) + "</div>")
    if f.unreadable:
        items = "".join(f"<li>{html.escape(f.manifest.ids[k])}: "
                        f"{html.escape(f.hashes[k].error)}</li>" for k in f.unreadable)
        parts.append(f"<h2>unreadable ({len(f.unreadable)})</h2><ul>{items}</ul>")
    style = ("body{font-family:sans-serif}figure{display:inline-block;margin:4px;width:"
             f"{THUMB + 24}px;font-size:10px;word-break:break-all}}.group{{border-bottom:"
             "1px solid #ccc;padding:4px}td,th{padding:2px 8px;text-align:right}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>emofeat data audit"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def write_audit(f: Findings, out: Path, info: Mapping[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / GROUPS_CSV, _csv(["group", "kind", "size", "class_conflict", "found_by",
                                       "id", "label", "split", "width", "height"],
                                      group_rows(f)))
    write_text(out / FLAGGED_CSV, _csv(["id", "reason", "group", "detail"], flagged_rows(f)))
    write_text(out / AUDIT_HTML, page(f, info))
    write_json(out / AUDIT_JSON, info)  # last: its presence says the audit is complete


def clean_path_in(root: Path, path: Path | None) -> Path:
    """Where the cleaned list goes: in the data set's root (so its ids stay the same)."""
    target = path if path is not None else root / "emofeat-clean.csv"
    if target.resolve().parent != root.resolve():
        raise EmofeatError(f"--clean {target}: the cleaned CSV must be in the data set's "
                           f"folder {root}, so that its paths are the same ids")
    if target.suffix.lower() != ".csv":
        raise EmofeatError(f"--clean {target}: give a .csv file name")
    return target


def write_clean(f: Findings, dropped: Mapping[str, list[int]], path: Path) -> int:
    """Write the manifest without the dropped rows as a CSV list (path, label and the
    columns of :data:`CARRIED` it has); returns how many rows it has."""
    m = f.manifest
    gone = {k for rows in dropped.values() for k in rows}
    carried = [c for c in CARRIED if c in m.extra]
    rows = []
    for k, image_id in enumerate(m.ids):
        if k in gone:
            continue
        values = ["" if isinstance(v, float) and math.isnan(v) else v
                  for v in (m.extra[c][k] for c in carried)]
        rows.append([image_id, m.labels[k], *values])
    write_text(path, _csv(["path", "label", *carried], rows))
    return len(rows)


__all__ = ["AUDIT_HTML", "AUDIT_JSON", "DROP_REASONS", "FLAGGED_CSV", "GROUPS_CSV",
           "clean_path_in", "summary", "write_audit", "write_clean"]
