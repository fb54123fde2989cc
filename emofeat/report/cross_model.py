"""The cross-dataset matrix in report.json (``cross``: one per task), as typed records.

Rows are the data sets runs were trained on, columns the data sets they were tested on;
every cell is balanced accuracy on the test data set with its bootstrap interval. The
diagonal is the row's run on its own test split; the other cells come from ``emofeat
evaluate`` and carry the drop from the diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emofeat.records import OMIT_IF_NONE


@dataclass(frozen=True, kw_only=True)
class CrossCell:
    balanced_accuracy: float
    ci: tuple[float, float]  # bootstrap over the test data set's images
    n: int  # images scored
    in_domain: bool  # the diagonal: the run's own test split
    # the diagonal's balanced accuracy minus this cell's; absent on the diagonal
    drop: float | None = field(default=None, metadata=OMIT_IF_NONE)
    unmapped: int = 0  # images of the test data set left out: no class of the run
    # the evaluation folder; absent on the diagonal
    evaluation: str | None = field(default=None, metadata=OMIT_IF_NONE)
    # which images of the target: "test" or "all"; absent on the diagonal (the run's test)
    split: str | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, kw_only=True)
class CrossRow:
    trained_on: str
    run: str  # the run of this row: the best non-baseline run on val evaluated elsewhere
    val_balanced_accuracy: float
    cells: dict[str, CrossCell]  # by the name of the test data set; absent: not evaluated
    # the run's family (report/families.py); absent in reports written before it was recorded
    family: str | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, kw_only=True)
class CrossMatrix:
    datasets: tuple[str, ...]  # the columns (and the rows, where runs were trained on them)
    synthetic: bool  # a data set is the SYNTHETIC demo set
    rows: tuple[CrossRow, ...]
