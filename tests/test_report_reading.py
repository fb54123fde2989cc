"""The report as a reader sees it: a named reference run, one significance criterion per
column (Holm-corrected), baselines in rows of their own, dropped test images, names that
do not break mid-word, the random-init run among the confusion matrices."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from emofeat.metrics import bootstrap_p, holm
from emofeat.report import compare, read_report
from emofeat.report.render import markdown, runs_table
from tests.test_report import make_run

Y = np.array([0, 1] * 20)


def _flip(lo: int, hi: int) -> np.ndarray:
    pred = Y.copy()
    pred[lo:hi] = 1 - pred[lo:hi]
    return pred


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A pretrained run (a), a random-init one (b), a fine-tuned one, and a colour baseline
    that is best on val (as on a small val set) but not on test."""
    root = tmp_path / "runs"
    make_run(root / "frozen" / "a", Y, _flip(0, 8), val_score=0.80)
    make_run(root / "frozen" / "b", Y, _flip(4, 22), weights="random", val_score=0.70)
    make_run(root / "ft", Y, _flip(0, 6), kind="finetune", val_score=0.75)
    make_run(root / "baselines" / "colour", Y, _flip(10, 24), kind="baseline",
             backbone="handcrafted-colour", val_score=0.95)
    return root


def test_holm_and_bootstrap_p_known_values() -> None:
    # Holm: sorted 0.01, 0.02, 0.04 -> 3*0.01, max(0.03, 2*0.02), max(0.04, 1*0.04)
    assert holm([0.04, 0.01, 0.02]) == [0.04, 0.03, 0.04]
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([]) == []
    d = np.array([1.0] * 97 + [-1.0] * 3)
    assert bootstrap_p(d) == pytest.approx(2 * 4 / 101, abs=1e-6)
    assert bootstrap_p(np.zeros(10)) == 1.0


def test_reference_is_the_best_non_baseline_run_and_is_named(runs: Path,
                                                             tmp_path: Path) -> None:
    compare([runs], tmp_path / "report")
    task = read_report(tmp_path / "report" / "report.json").tasks["valence"]
    assert task.best == "baselines/colour" and task.reference == "frozen/a"
    rows = {r.run: r for r in task.rows}
    assert rows["frozen/a"].vs_best is None and rows["baselines/colour"].vs_best is not None
    assert rows["frozen/b"].vs_best.balanced_accuracy_gap == pytest.approx(-0.25)
    table = runs_table(task)
    assert "vs reference: frozen/a" in table.header and "vs fine-tuned: ft" in table.header
    assert "vs best" not in table.header
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Reference run: frozen/a" in md
    assert "the best on val overall is the baseline baselines/colour (0.950)" in md
    # baselines keep rows of their own in the transfer table, marked as such
    assert "| baseline: hand-crafted colour | baselines/colour | 0.950 |" in md
    assert "| frozen pretrained features | frozen/a (reference) |" in md


def test_one_criterion_per_column_with_holm(runs: Path, tmp_path: Path) -> None:
    compare([runs], tmp_path / "report")
    task = read_report(tmp_path / "report" / "report.json").tasks["valence"]
    table = runs_table(task)
    ref_col = table.header.index("vs reference: frozen/a")
    gaps = [(r, cells[ref_col]) for r, cells in zip(task.rows, table.rows, strict=True)
            if r.vs_best is not None]
    assert len(gaps) == 3
    raw = [r.vs_best.bootstrap_p for r, _ in gaps]
    assert [r.vs_best.holm_p for r, _ in gaps] == holm(raw)
    for r, cell in gaps:
        gap = r.vs_best
        assert gap.holm_p >= gap.bootstrap_p
        # the mark and the p-value shown come from one test: the Holm-adjusted bootstrap p
        assert re.search(r"p=([0-9.e-]+)", cell).group(1) == f"{gap.holm_p:.3g}"
        assert ("*" in cell) == (gap.holm_p < 0.05)
        # the unadjusted bootstrap p and the interval agree (one paired bootstrap)
        assert (gap.bootstrap_p < 0.05) == gap.significant
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Holm-corrected over the runs in the column" in md
    assert "significant (CI excludes 0) | McNemar p (accuracy)" in md


def test_old_report_rows_are_marked_by_their_interval(runs: Path, tmp_path: Path) -> None:
    compare([runs], tmp_path / "report")
    task = read_report(tmp_path / "report" / "report.json").tasks["valence"]
    def before(gap):
        return gap and replace(gap, holm_p=None, bootstrap_p=None)

    old = replace(task, reference=None, rows=tuple(
        replace(r, vs_best=before(r.vs_best), vs_finetune=before(r.vs_finetune))
        for r in task.rows))
    table = runs_table(old)
    assert "vs reference: baselines/colour" in table.header  # the best on val, as it was
    assert all("p=" not in c for row in table.rows for c in row)


def test_frozen_runs_only_print_no_empty_gap_table(tmp_path: Path) -> None:
    make_run(tmp_path / "runs" / "a", Y, _flip(0, 8), val_score=0.8)
    make_run(tmp_path / "runs" / "c", Y, _flip(0, 12), val_score=0.7)
    compare([tmp_path / "runs"], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    page = (tmp_path / "report" / "report.html").read_text()
    assert "| comparison |" not in md and "<th>comparison</th>" not in page
    assert "vs fine-tuned" not in md


def test_dropped_test_images_are_warned_and_counted(runs: Path, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    ids = [f"img{i:03d}.jpg" for i in range(40)]
    make_run(runs / "frozen" / "short", Y[:35], Y[:35], val_score=0.1, ids=ids[:35])
    with caplog.at_level(logging.WARNING):
        compare([runs], tmp_path / "report")
    assert "valence: 5 of 40 test images left out of the comparison" in caplog.text
    assert "frozen/short lack some" in caplog.text
    task = read_report(tmp_path / "report" / "report.json").tasks["valence"]
    assert task.n_test == 35 and task.test_ids_dropped == 5
    assert "5 test images are left out" in (tmp_path / "report" / "report.md").read_text()
    compare([runs / "frozen" / "a", runs / "ft"], tmp_path / "full")
    assert read_report(tmp_path / "full" / "report.json").tasks["valence"].test_ids_dropped \
        is None


def test_html_names_and_confusion_matrices(runs: Path, tmp_path: Path) -> None:
    compare([runs], tmp_path / "report")
    page = (tmp_path / "report" / "report.html").read_text()
    # run names break only after a "/", never mid-word
    assert "overflow-wrap:anywhere" not in page
    assert "<td class=name>frozen/<wbr>a</td>" in page
    assert "<td class=name>baselines/<wbr>colour (reference)" not in page
    alts = re.findall(r'alt="confusion matrix of ([^"]+)"', page)
    assert alts == ["frozen/a", "ft", "frozen/b"]  # reference, fine-tuned, random-init


def test_markdown_banner_is_a_paragraph_of_its_own(runs: Path, tmp_path: Path) -> None:
    compare([runs], tmp_path / "report")
    report = replace(read_report(tmp_path / "report" / "report.json"), synthetic=True)
    md = markdown(report)
    intro_end = md.index("never by test.")
    banner = md.index("**These runs use the SYNTHETIC")
    assert "\n\n" in md[intro_end:banner]
    assert md[banner:].split("\n")[1] == ""  # a blank line after it too
