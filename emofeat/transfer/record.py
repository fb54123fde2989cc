"""eval.json: a run applied to another data set, as a typed record (:data:`EVAL_JSON`).

```
EVAL/eval.json         the EvaluationRecord below; written LAST, atomically
EVAL/predictions.csv   id, split, y_true, y_pred, score_<class>... (the run format)
EVAL/metrics.json      per split of the target (and "all" when every image was evaluated)
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from emofeat.datasets.folder import DEMO_MARKER
from emofeat.records import OMIT_IF_NONE, RecordFile, says_complete
from emofeat.transfer.mapping import DISPLAY_NAMES

EVAL_FORMAT = "emofeat-evaluation"
FORMAT_VERSION = 1
EVAL_FILE = "eval.json"
#: What ``--split`` takes: every image of the target, or its test split.
EVAL_SPLITS = ("all", "test")


@dataclass(frozen=True, kw_only=True)
class DatasetRef:
    """A data set as the evaluation saw it."""

    name: str
    format: str
    manifest_sha256: str
    splits_sha256: str | None = None  # None: no split known (every image evaluated)
    root: str | None = None  # None where the run does not record it (fine-tuned runs)


@dataclass(frozen=True, kw_only=True)
class EvaluationRecord:
    status: Literal["complete"] = "complete"
    run: str  # the run directory, resolved
    run_sha256: str  # of its run.json: an evaluation belongs to that version of the run
    kind: str
    model: str
    task: str
    layer: str
    classes: tuple[str, ...]
    source: DatasetRef  # what the run was trained on
    target: DatasetRef
    split: Literal["all", "test"]
    mapping: str  # emotion8 | valence | identical (see emofeat.transfer.mapping)
    features: Literal["store", "images"]  # stored features, or extracted from the images
    store: str | None = field(default=None, metadata=OMIT_IF_NONE)
    store_sha256: str | None = field(default=None, metadata=OMIT_IF_NONE)
    n: int  # images evaluated (mapped and readable)
    unmapped: dict[str, int]  # images left out, by reason
    failed: tuple[tuple[str, str], ...]  # (id, reason): images that could not be read
    request: dict[str, str | None]  # what decides the result; compared before reuse
    finished: str = ""
    versions: dict[str, str] = field(default_factory=dict)


EVAL_JSON: RecordFile[EvaluationRecord] = RecordFile(EVAL_FORMAT, FORMAT_VERSION,
                                                     "evaluation",
                                                     lambda data: EvaluationRecord)


def dataset_name(fmt: str, root: str | Path | None) -> str:
    """A data set's name in reports: the release's name, ``synthetic-<domain>`` for the
    demo sets, else the folder's name (the format where no folder is known)."""
    if fmt in DISPLAY_NAMES:
        return DISPLAY_NAMES[fmt]
    if root is None:
        return fmt
    root = Path(root)
    if fmt == "demo":
        marker = root / DEMO_MARKER
        domain = "a"
        if marker.is_file():
            domain = str(json.loads(marker.read_text()).get("domain", "a"))
        return f"synthetic-{domain}"
    return root.stem if root.suffix == ".csv" else root.name


def is_evaluation(path: str | Path) -> bool:
    """Whether ``path`` holds a complete evaluation (eval.json saying so)."""
    return says_complete(Path(path) / EVAL_FILE)
