"""The ``[cross]`` step of ``emofeat run``: the config's runs tested on other data sets.

```
OUT/cross/<target>/data/                   a synthetic target (demo = true)
OUT/cross/<target>/splits.csv              the target's split ([split]'s seed and fractions)
OUT/cross/<target>/stores/<extract.name>/  the target's features, made like the config's
OUT/cross/<target>/runs/...                runs fitted on the target ([cross] models)
OUT/cross/evaluations/<trained>-on-<tested>/<run>/   emofeat evaluate, per run
```

Every run is evaluated on every other data set (the experiment's own is ``main``); each step
skips what is complete and made the same way, like the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emofeat import splits as splits_mod
from emofeat.classical import select_layers
from emofeat.classical.run import fit_all
from emofeat.datasets import Manifest
from emofeat.datasets.tasks import task_support
from emofeat.experiment.context import Experiment, note_run
from emofeat.experiment.prepare import load_targets
from emofeat.experiment.schema import CrossTarget
from emofeat.experiment.steps import extract_store
from emofeat.extract_config import ExtractConfig
from emofeat.runs import FeatureRun, FinetuneRun, Run, ZeroshotRun
from emofeat.store import Store
from emofeat.taxonomy import task_kind
from emofeat.transfer import UnmappableTask, evaluate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Domain:
    """A data set of the experiment: its images, split, stores and the runs trained on it."""

    key: str  # "main", or the target's name
    manifest: Manifest
    data: Path  # as the config names it (a folder, or a CSV list)
    splits_file: Path
    stores: dict[str, Path]  # by store name ([[extract]] name, or "colour")
    runs_root: Path
    runs: tuple[Path, ...]
    min_agree: int | None = None
    allow_outside_root: bool = False
    label_from: str | None = None


def _target(exp: Experiment, t: CrossTarget, loaded: tuple[Path, Manifest],
            tasks: Sequence[str]) -> Domain:
    """A target's data, split and stores (and runs fitted on it), made or resumed; the
    tasks it cannot serve are not fitted on it (warned about before the first step)."""
    folder = exp.out / "cross" / t.name
    data, manifest = loaded
    tasks = [task for task in tasks if task_support(manifest, task).served]
    s = exp.config.split
    split = splits_mod.make_split(manifest, splits_mod.parse_fractions(s.fractions), s.seed)
    splits_mod.write_split(split, folder / "splits.csv")
    exp.say(f"cross target {t.name}: {len(manifest)} images ({manifest.format})")
    wanted = exp.config.cross.stores
    stores = {}
    for section in exp.config.extract:
        if wanted is None or section.name in wanted:
            stores[section.name] = extract_store(manifest, folder / "stores" / section.name,
                                                 section.extract_config(), split, t.min_agree)
    if exp.config.baselines.colour:
        stores["colour"] = extract_store(manifest, folder / "stores" / "colour",
                                         ExtractConfig(), split, colour=True)
    runs: list[Path] = []
    models = exp.config.cross.models
    for name, store in stores.items() if models and tasks else ():
        if name == "colour":
            continue
        exp.say(f"fit {', '.join(models)} on {t.name}'s {name}")
        layers = select_layers(exp.config.fit.layers, Store.open(store).layer_names)
        runs += fit_all(store, models, tasks, layers, folder / "runs" / name,
                        options=exp.config.fit.options(), on_done=note_run(exp.say), nested=True,
                        changed="redo")
    return Domain(t.name, manifest, data, folder / "splits.csv", stores, folder / "runs",
                  tuple(runs), t.min_agree, t.allow_outside_root, t.label_from)


def _main(exp: Experiment, manifest: Manifest, runs: Sequence[Path]) -> Domain:
    out = exp.out
    stores = {p.name: p for p in (out / "stores").iterdir() if p.is_dir()} \
        if (out / "stores").is_dir() else {}
    d = exp.config.data
    data = out / "data" if d.demo else exp.base / str(d.path)
    return Domain("main", manifest, data, out / "splits.csv", stores, out / "runs", tuple(runs),
                  d.min_agree, d.allow_outside_root, d.label_from)


def _evaluate_on(exp: Experiment, run_dir: Path, source: Domain, target: Domain
                 ) -> Path | None:
    """One run on one other data set (None: the run cannot be, or its task not mapped)."""
    run = Run.open(run_dir)
    if run.is_regression or not isinstance(run.record, FeatureRun | FinetuneRun | ZeroshotRun):
        return None
    if isinstance(run.record, FeatureRun):
        data = target.stores.get(Path(run.record.features.store).name)
        if data is None:
            return None
    else:
        data = target.data
    out = (exp.out / "cross" / "evaluations" / f"{source.key}-on-{target.key}" /
           run_dir.relative_to(source.runs_root))
    try:
        evaluate(run_dir, data, out, split=exp.config.cross.split,
                 splits_file=target.splits_file, fmt=target.manifest.format,
                 min_agree=target.min_agree, allow_outside_root=target.allow_outside_root,
                 label_from=None if data != target.data else target.label_from, reuse=True)
    except UnmappableTask as exc:
        log.warning("%s is not evaluated on %s: %s", run_dir, target.key, exc)
        return None
    return out


def run_cross(exp: Experiment, manifest: Manifest, runs: Sequence[Path],
              targets: dict[str, tuple[Path, Manifest]] | None = None) -> list[Path]:
    """Make every [cross] target (``targets``: their data as :func:`load_targets` read it),
    then evaluate each data set's runs on every other one; returns the evaluation folders
    (the report's cross-dataset matrices)."""
    if not exp.config.cross.targets:
        return []
    loaded = targets if targets is not None else load_targets(exp)
    tasks = [t for t in exp.tasks if task_kind(t) == "classification"]
    domains = [_main(exp, manifest, runs),
               *(_target(exp, t, loaded[t.name], tasks) for t in exp.config.cross.targets)]
    evaluations = []
    for source in domains:
        for target in domains:
            if target is source:
                continue
            exp.say(f"evaluate the runs of {source.key} on {target.key}")
            for run_dir in source.runs:
                if (done := _evaluate_on(exp, run_dir, source, target)) is not None:
                    evaluations.append(done)
    return evaluations
