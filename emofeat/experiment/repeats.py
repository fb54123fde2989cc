"""The splits and seeds of an experiment: ``[split] folds = K`` or ``repeats = R``, and
``[finetune] seeds = [...]``.

Without folds or repeats an experiment has one split unit, ``OUT/splits.csv`` with its runs
in ``OUT/runs/``, exactly as before. With them, every fold (or repeat) is a split file
``OUT/splits/fold-<k>.csv`` and its runs go to ``OUT/runs/fold-<k>/`` (the same layout as a
single split's inside); ``OUT/splits.csv`` is the first fold, the split the stores record.
Stores are extracted once: features do not depend on the split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emofeat import splits as splits_mod
from emofeat.datasets import Manifest
from emofeat.experiment.schema import SplitSection
from emofeat.resampling import make_folds, make_repeats, split_names, write_splits
from emofeat.splits import Split


@dataclass(frozen=True)
class SplitUnit:
    """One split of the experiment: its file, and the folder its runs go to."""

    split: Split
    path: Path
    runs: Path
    label: str = ""  # fold-2, repeat-3; "" for the single split


def repeated_splits(section: SplitSection, manifest: Manifest) -> list[Split] | None:
    """The folds or repeats asked for, or None (a single split)."""
    fractions = splits_mod.parse_fractions(section.fractions)
    if section.folds is not None:
        return make_folds(manifest, section.folds, section.seed, fractions[1])
    if section.repeats is not None:
        return make_repeats(manifest, section.repeats, section.seed, fractions)
    return None


def split_units(out: Path, section: SplitSection, first: Split,
                splits: list[Split] | None) -> list[SplitUnit]:
    """The split units, their files written (``first`` is already ``OUT/splits.csv``)."""
    if splits is None:
        return [SplitUnit(first, out / "splits.csv", out / "runs")]
    kind = "folds" if section.folds is not None else "repeats"
    paths = write_splits(splits, kind, out / "splits")
    return [SplitUnit(s, p, out / "runs" / name, name)
            for s, p, name in zip(splits, paths, split_names(kind, len(splits)), strict=True)]
