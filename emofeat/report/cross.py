"""The cross-dataset matrix of ``emofeat compare``: evaluation folders (``emofeat
evaluate``) found among the inputs, and the runs they name, as one matrix per task.

Each row is a data set runs were trained on, represented by its run with the best val score
among those evaluated on another data set (chosen on val, never on test; a baseline only
where no other run was evaluated, as for the report's reference run); each column a data
set they were tested on. The diagonal is that run on its own test split, the other cells its
evaluations; every cell is balanced accuracy with a bootstrap interval over the test data
set's images, and off the diagonal the drop from the diagonal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_file
from emofeat.metrics import (
    LEVEL,
    bootstrap_counts,
    bootstrap_distribution,
    classes_absent_from_truth_allowed,
    percentile_ci,
)
from emofeat.paths import is_hidden
from emofeat.report.cross_model import CrossCell, CrossMatrix, CrossRow
from emofeat.report.families import family, family_of
from emofeat.report.table import Table
from emofeat.runs import RUN_FILE, FeatureRun, FinetuneRun, Predictions, Run, read_predictions
from emofeat.taxonomy import in_task_order
from emofeat.transfer.record import EVAL_FILE, EVAL_JSON, EvaluationRecord, is_evaluation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    path: Path
    record: EvaluationRecord
    preds: Predictions


def find_evaluations(inputs: Sequence[str | Path]) -> list[Path]:
    """Complete evaluation folders given, or found (recursively) below the folders given."""
    found: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if is_evaluation(path):
            found.add(path)
        elif path.is_dir():
            found |= {p.parent for p in path.rglob(EVAL_FILE)
                      if not is_hidden(p, path) and is_evaluation(p.parent)}
    return sorted(found, key=str)


def load_evaluation(path: Path) -> Evaluation:
    """An evaluation, refused if its run is gone or changed since."""
    record = EVAL_JSON.read(path / EVAL_FILE)
    run_json = Path(record.run) / RUN_FILE
    if not run_json.is_file():
        raise EmofeatError(f"{path}: the run it evaluated, {record.run}, is missing")
    if sha256_file(run_json) != record.run_sha256:
        raise EmofeatError(f"{path}: the run {record.run} changed since it was evaluated; "
                           "evaluate it again")
    return Evaluation(path, record, read_predictions(path / "predictions.csv", record.classes))


def _cell(preds: Predictions, n_boot: int, seed: int, **extra: object) -> CrossCell:
    with classes_absent_from_truth_allowed():
        value = preds.metrics()["balanced_accuracy"]
    counts = bootstrap_counts(len(preds.ids), n_boot, seed)
    dist = bootstrap_distribution(preds.y_true, preds.y_pred, len(preds.classes), counts)
    return CrossCell(balanced_accuracy=value, ci=percentile_ci(dist["balanced_accuracy"], LEVEL),
                     n=len(preds.ids), **extra)  # type: ignore[arg-type]


def _val(run: Run) -> float:
    record = run.record
    assert isinstance(record, FeatureRun | FinetuneRun)
    return record.val_balanced_accuracy


def _run_name(path: str, known: dict[Path, str]) -> str:
    """The run's name in the report where it is one of its runs, else its last two folders."""
    p = Path(path)
    return known.get(p.resolve(), f"{p.parent.name}/{p.name}")


def _names(evals: Sequence[Evaluation]) -> dict[str, str]:
    """A name per data set (by manifest hash): one read from its folder where any is."""
    names: dict[str, str] = {}
    refs = [e.record.target for e in evals] + [e.record.source for e in evals]
    for ref in sorted(refs, key=lambda r: r.root is None):  # named from a folder first
        names.setdefault(ref.manifest_sha256, ref.name)
    taken = list(names.values())  # two data sets of one name: told apart by their hash
    return {sha: f"{name} ({sha[:8]})" if taken.count(name) > 1 else name
            for sha, name in names.items()}


def _row(run_path: str, evals: Sequence[Evaluation], names: dict[str, str], n_boot: int,
         seed: int, known: dict[Path, str]) -> CrossRow:
    run = Run.open(run_path)
    diagonal = _cell(run.predictions().select("test"), n_boot, seed,  # type: ignore[arg-type]
                     in_domain=True)
    cells = {names[evals[0].record.source.manifest_sha256]: diagonal}
    # per test data set: an evaluation of its test split first, then by folder
    for e in sorted(evals, key=lambda e: (e.record.split != "test", str(e.path))):
        name = names[e.record.target.manifest_sha256]
        if name in cells:
            log.warning("%s on %s: evaluated more than once; the matrix uses %s (split %s), "
                        "not %s", _run_name(run_path, known), name, cells[name].evaluation,
                        cells[name].split, e.path)
            continue
        cell = _cell(e.preds, n_boot, seed, in_domain=False, split=e.record.split,
                     unmapped=sum(e.record.unmapped.values()), evaluation=str(e.path))
        drop = round(diagonal.balanced_accuracy - cell.balanced_accuracy, 6)
        cells[name] = replace(cell, drop=drop)
    return CrossRow(trained_on=names[evals[0].record.source.manifest_sha256],
                    run=_run_name(run_path, known), family=family_of(run.record).key,
                    val_balanced_accuracy=round(_val(run), 6),
                    cells=cells)


def row_run(candidates: Sequence[tuple[str, bool, float]]) -> str:
    """The run of a row among (run, is a baseline, val score): the best on val that is not
    a baseline, a baseline only where no other run was evaluated; ties: the first."""
    return max(candidates, key=lambda c: (not c[1], c[2]))[0]


def cross_matrix(evals: Sequence[Evaluation], n_boot: int, seed: int,
                 known: dict[Path, str] | None = None) -> CrossMatrix:
    """One task's matrix from its evaluations (each on another data set than its run's);
    ``known``: run folder -> the name the report gives it."""
    names = _names(evals)
    by_run: dict[str, list[Evaluation]] = {}
    for e in evals:
        by_run.setdefault(e.record.run, []).append(e)
    candidates: dict[str, list[tuple[str, bool, float]]] = {}  # by source data set
    for run_path in sorted(by_run):
        run = Run.open(run_path)
        candidates.setdefault(by_run[run_path][0].record.source.manifest_sha256, []).append(
            (run_path, family_of(run.record).baseline, _val(run)))
    rows = sorted((_row(row_run(c), by_run[row_run(c)], names, n_boot, seed, known or {})
                   for c in candidates.values()), key=lambda r: r.trained_on)
    trained = [r.trained_on for r in rows]
    others = sorted(set(names.values()) - set(trained))
    synthetic = any(e.record.source.format == "demo" or e.record.target.format == "demo"
                    for e in evals)
    return CrossMatrix(datasets=(*trained, *others), synthetic=synthetic, rows=tuple(rows))


def cross_matrices(inputs: Sequence[str | Path], n_boot: int = 1000, seed: int = 0,
                   known: dict[Path, str] | None = None) -> dict[str, CrossMatrix]:
    """Per task, the matrix of the evaluations among ``inputs`` (none: empty); ``known``:
    run folder (resolved) -> the name the report gives it."""
    by_task: dict[str, list[Evaluation]] = {}
    for path in find_evaluations(inputs):
        e = load_evaluation(path)
        if e.record.source.manifest_sha256 != e.record.target.manifest_sha256:
            by_task.setdefault(e.record.task, []).append(e)
    order = in_task_order(by_task)
    return {t: cross_matrix(by_task[t], n_boot, seed, known) for t in order}


# --------------------------------------------------------------------------- rendering


def _text(cell: CrossCell | None) -> str:
    if cell is None:
        return "-"
    text = f"{cell.balanced_accuracy:.3f} [{cell.ci[0]:.2f}, {cell.ci[1]:.2f}]"
    if cell.in_domain:
        return f"{text} (in-domain, test)"
    images = f"{cell.split} images" if cell.split else "images"
    assert cell.drop is not None
    change = f"drop {cell.drop:.3f}" if cell.drop >= 0 else f"gain {-cell.drop:.3f}"
    return f"{text} ({images}), {change}"


def matrix_table(matrix: CrossMatrix) -> Table:
    """Rows: trained on; columns: tested on; the row's run and its val score first."""
    header = ("trained on \\ tested on", "run (best on val)", "val balanced acc.",
              *matrix.datasets)
    return Table(header, [[r.trained_on, f"{r.run} ({family(r.family).label})" if r.family
                           else r.run, f"{r.val_balanced_accuracy:.3f}",
                           *(_text(r.cells.get(d)) for d in matrix.datasets)]
                          for r in matrix.rows], numeric_from=2)


def summary_lines(matrices: dict[str, CrossMatrix]) -> list[str]:
    """A line per task for the terminal: every cell, trained on -> tested on."""
    return [f"{task} across data sets{' (SYNTHETIC)' if m.synthetic else ''}: " + " | ".join(
        f"{r.trained_on} -> {d} {r.cells[d].balanced_accuracy:.3f}"
        for r in m.rows for d in m.datasets if d in r.cells) for task, m in matrices.items()]


CROSS_NOTE = ("Rows: the data set a run was trained on (its run with the best val score among "
              "those evaluated on another data set, baselines only where nothing else was); "
              "columns: the data set it was tested on. "
              "Balanced accuracy with 95% bootstrap intervals over the test data set's images; "
              "the diagonal is the run on its own test split, the other cells say which images "
              "of the target (its test split or all) and the drop from the diagonal (a gain "
              "where the cell is higher). Target labels are mapped onto the run's classes "
              "by the label mapping table; unmapped images are left out.")


def cross_context(matrices: dict[str, CrossMatrix]) -> list[dict[str, object]]:
    """The templates' view of the matrices (``cross.md.j2``, ``cross.html.j2``)."""
    return [{"name": task, "synthetic": m.synthetic, "table": matrix_table(m),
             "note": CROSS_NOTE} for task, m in matrices.items()]
