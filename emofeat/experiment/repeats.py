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
from emofeat.errors import EmofeatError
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


def repeated_splits(section: SplitSection, manifest: Manifest,
                    groups: list[str] | None = None) -> list[Split] | None:
    """The folds or repeats asked for, or None (a single split); ``groups``: one per
    image, for ``[split] group_by``."""
    fractions = splits_mod.parse_fractions(section.fractions)
    if section.folds is not None:
        return make_folds(manifest, section.folds, section.seed, fractions[1], groups,
                          section.group_by)
    if section.repeats is not None:
        return make_repeats(manifest, section.repeats, section.seed, fractions, groups,
                            section.group_by)
    return None


def split_groups(out: Path, section: SplitSection, manifest: Manifest) -> list[str] | None:
    """Every image's group for ``[split] group_by`` (None: ungrouped); ``duplicates`` are
    found with the hash cache in OUT/audit/. Refused with a release's own split or a
    split file."""
    by = section.group_by
    if by is None:
        return None
    if section.file:
        raise EmofeatError("[split]: give file or group_by, not both (a split file's own "
                           "group column says how it was grouped)")
    splits_mod.check_no_release_split(manifest, "grouped splits ([split] group_by)")
    cache = out / "audit" if by == "duplicates" else None
    return splits_mod.split_groups(manifest, by, cache, where="[split] group_by")


def split_units(out: Path, section: SplitSection, first: Split,
                splits: list[Split] | None) -> list[SplitUnit]:
    """The split units, their files written (``first`` is already ``OUT/splits.csv``)."""
    if splits is None:
        return [SplitUnit(first, out / "splits.csv", out / "runs")]
    kind = "folds" if section.folds is not None else "repeats"
    paths = write_splits(splits, kind, out / "splits")
    return [SplitUnit(s, p, out / "runs" / name, name)
            for s, p, name in zip(splits, paths, split_names(kind, len(splits)), strict=True)]
