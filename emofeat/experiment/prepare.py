"""The checks before the first step of ``emofeat run``: the data, the [cross] targets, every
step's tasks and the one split. None of it imports torch, scikit-learn or h5py, so a config the
data cannot serve is refused in well under a second."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from emofeat import splits as splits_mod
from emofeat.classical import select_class_tasks
from emofeat.datasets import Manifest, load_manifest
from emofeat.datasets.labels import check_label_from
from emofeat.datasets.tasks import resolve_tasks, task_support
from emofeat.demo import DemoSpec, make_demo
from emofeat.errors import EmofeatError
from emofeat.experiment.context import Experiment
from emofeat.experiment.schema import CrossTarget
from emofeat.splits import Split
from emofeat.taxonomy import task_kind

log = logging.getLogger(__name__)


def load_data(exp: Experiment) -> Manifest:
    """The dataset of [data]; the synthetic demo set is generated into OUT/data first."""
    d = exp.config.data
    if d.demo:
        check_label_from("demo", d.label_from)
        spec = DemoSpec(seed=d.demo_seed, per_class=d.demo_per_class, size=d.demo_size)
        return load_manifest(make_demo(exp.out / "data", spec), "demo")
    return load_manifest(exp.base / str(d.path), d.format, d.min_agree, d.allow_outside_root,
                         d.label_from)


def _target_data(exp: Experiment, t: CrossTarget) -> tuple[Path, Manifest]:
    if t.demo:
        check_label_from("demo", t.label_from)
        spec = DemoSpec(seed=t.demo_seed, per_class=t.demo_per_class, size=t.demo_size,
                        domain=t.demo_domain)
        path = make_demo(exp.out / "cross" / t.name / "data", spec)
        return path, load_manifest(path, "demo")
    path = exp.base / str(t.path)
    return path, load_manifest(path, t.format, t.min_agree, t.allow_outside_root,
                               t.label_from)


def load_targets(exp: Experiment) -> dict[str, tuple[Path, Manifest]]:
    """Every [cross] target's data (as the config names it) and manifest, read before the
    first step (a synthetic target is generated into OUT/cross/<name>/data first)."""
    return {t.name: _target_data(exp, t) for t in exp.config.cross.targets}


def check_tasks(exp: Experiment, manifest: Manifest,
                targets: Mapping[str, Manifest] | None = None) -> Experiment:
    """Every task of every step checked against the data before the first step runs: a task
    the data cannot serve stops the run naming the step; ``all`` becomes the tasks the data
    serves (:func:`~emofeat.datasets.tasks.default_tasks`). A ``[cross]`` target that cannot
    serve a task is warned about now; the task is not fitted on it (its runs are still
    evaluated wherever the label mapping table maps them)."""
    c = exp.config
    fit = resolve_tasks(c.fit.tasks, manifest, "[fit] tasks")
    finetune = select_class_tasks(resolve_tasks(c.finetune.tasks, manifest,
                                                 "[finetune] tasks")) \
        if c.finetune.enabled else []
    _check_distributions(exp, manifest, fit, finetune)
    for name, target in (targets or {}).items() if c.cross.models else ():
        for task in fit:
            support = task_support(target, task)
            if task_kind(task) == "classification" and not support.served:
                log.warning("[cross] target %s: task %s is not fitted on it (%s)", name, task,
                            support.why)
    return replace(exp, fit_tasks=tuple(fit), finetune_tasks=tuple(finetune))


def _check_distributions(exp: Experiment, manifest: Manifest, fit: Sequence[str],
                         finetune: Sequence[str]) -> None:
    """The distribution task in [fit] (and the baselines) or [finetune]: an invalid row of
    the data set's distributions stops the run now, unless that section says
    ``drop_invalid = true``."""
    from emofeat.distributions import distribution_table

    c = exp.config
    if any(task_kind(t) == "distribution" for t in fit):
        distribution_table(manifest, c.fit.drop_invalid, "set drop_invalid = true in [fit]")
    if any(task_kind(t) == "distribution" for t in finetune):
        distribution_table(manifest, c.finetune.drop_invalid,
                           "set drop_invalid = true in [finetune]")


def write_split(exp: Experiment, manifest: Manifest, first: Split | None = None,
                groups: Sequence[str] | None = None) -> Split:
    """OUT/splits.csv, the one split every step uses (with folds or repeats: ``first``, the
    first of them, the stores' split); a different one already there stops the run (its
    runs could not be compared with new ones)."""
    s = exp.config.split
    if first is not None:
        split = first
    elif s.file:
        split = splits_mod.read_split(exp.base / s.file, manifest)
    else:
        split = splits_mod.make_split(manifest, splits_mod.parse_fractions(s.fractions), s.seed,
                                      groups, s.group_by)
    path = exp.out / "splits.csv"
    if path.exists() and path.read_bytes() != split.to_csv_bytes():
        raise EmofeatError(f"{path} differs from this config's split; its runs cannot be "
                           "mixed with new ones: choose another output folder")
    splits_mod.write_split(split, path)
    source = s.file or splits_mod.split_source(manifest, s.fractions, s.seed)
    if first is not None:
        source = f"{s.folds} folds" if s.folds else f"{s.repeats} repeats"
        source += f" (seed {s.seed}); the first"
    if split.groups is not None:
        source += f"; grouped by {s.group_by}, {split.n_groups} groups"
    exp.say(f"data: {len(manifest)} images ({manifest.format}); split {split.counts()} ({source})")
    return split
