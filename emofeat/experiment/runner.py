"""Running an experiment file: one function per step, each skipping work already done.

Everything the first step depends on (the config, the data, the [cross] targets, every
step's tasks, the split's groups) is checked before torch, scikit-learn or h5py are
imported: the steps import them, so a config the data cannot serve is refused in well under
a second."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emofeat import splits as splits_mod
from emofeat.classical import select_class_tasks, select_layers, select_tasks
from emofeat.datasets import Manifest, load_manifest
from emofeat.datasets.labels import check_label_from
from emofeat.datasets.tasks import resolve_tasks, task_support
from emofeat.demo import DemoSpec, make_demo
from emofeat.errors import EmofeatError, StoreChanged
from emofeat.experiment.repeats import (
    SplitUnit,
    repeated_splits,
    split_groups,
    split_units,
)
from emofeat.experiment.schema import CrossTarget, ExperimentConfig, ExtractSection, load_config
from emofeat.extract_config import ExtractConfig
from emofeat.finetune.config import FinetuneConfig
from emofeat.resampling import seed_folders
from emofeat.splits import Split
from emofeat.taxonomy import task_kind

log = logging.getLogger(__name__)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Experiment:
    """A checked config, the folder its relative paths start from, the output folder, and
    (once the data is read, :func:`check_tasks`) the tasks of each step."""

    config: ExperimentConfig
    base: Path
    out: Path
    say: Say
    fit_tasks: tuple[str, ...] | None = None  # [fit], baselines and [cross] models
    finetune_tasks: tuple[str, ...] = ()

    @property
    def tasks(self) -> list[str]:
        if self.fit_tasks is None:
            return select_tasks(self.config.fit.tasks)
        return list(self.fit_tasks)


def run_experiment(config_path: str | Path, out: str | Path | None = None,
                   announce: Say | None = None, sets: Sequence[str] = (),
                   data: str | Path | None = None) -> dict[str, Any]:
    """Run (or resume) every step of the experiment; returns the compare report.

    The config is the source of truth: a complete run made with other settings is done
    again (with a warning naming what differs), and the report holds the runs this config
    names, not others an earlier config left in OUT/runs.
    """
    exp = open_experiment(config_path, out, announce, sets, data)
    manifest = load_data(exp)
    targets = load_targets(exp)
    exp = check_tasks(exp, manifest, {name: m for name, (_, m) in targets.items()})
    groups = split_groups(exp.out, exp.config.split, manifest)  # a bad column: refused here
    repeated = repeated_splits(exp.config.split, manifest, groups)
    split = write_split(exp, manifest, repeated[0] if repeated else None, groups)
    units = split_units(exp.out, exp.config.split, split, repeated)
    runs: list[Path] = []
    for section in exp.config.extract:
        runs += extract_and_fit(exp, section, manifest, units)
    runs += run_baselines(exp, manifest, units)
    runs += run_finetune(exp, manifest, units)
    from emofeat.experiment.cross import run_cross
    from emofeat.experiment.zeroshot import run_zeroshot

    runs += run_zeroshot(exp, units)

    return run_compare(exp, [*runs, *run_cross(exp, manifest, runs, targets)])


def open_experiment(config_path: str | Path, out: str | Path | None = None,
                    announce: Say | None = None, sets: Sequence[str] = (),
                    data: str | Path | None = None) -> Experiment:
    config_path = Path(config_path)
    config = load_config(config_path, sets, data)
    base = config_path.parent
    if out is None and config.out is None:
        raise EmofeatError("no output folder: pass --out or set out = ... in the config")
    folder = Path(out) if out is not None else base / str(config.out)
    return Experiment(config, base, folder, announce or (lambda text: log.info("%s", text)))


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


def extract_and_fit(exp: Experiment, section: ExtractSection, manifest: Manifest,
                    units: Sequence[SplitUnit]) -> list[Path]:
    """OUT/stores/<name> (once), then OUT/runs/[<fold>/]<name>/<model>-<task>-<layer>/."""
    from emofeat.classical.run import fit_all
    from emofeat.store import Store

    f = exp.config.fit
    store = exp.out / "stores" / section.name
    exp.say(f"extract {section.name}: {section.backbone} ({section.weights})")
    extract_store(manifest, store, section.extract_config(), units[0].split,
                  exp.config.data.min_agree)
    layers = select_layers(f.layers, Store.open(store).layer_names)
    runs = []
    for unit in units:
        exp.say(f"fit {', '.join(f.models)} on {section.name} {unit.label}".rstrip())
        runs += fit_all(store, f.models, exp.tasks, layers, unit.runs / section.name,
                        splits_file=unit.path, options=f.options(), on_done=_note(exp.say),
                        nested=True, changed="redo", drop_invalid=f.drop_invalid)
    return runs


def extract_store(manifest: Manifest, store: Path, config: ExtractConfig, split: Split,
                  min_agree: int | None = None, colour: bool = False) -> Path:
    """``extract`` (or ``extract_colour``) for a step of a config, which is the source of
    truth: a store made with other settings is extracted again, with a warning."""
    from emofeat.baselines import extract_colour
    from emofeat.extract import extract

    def make(overwrite: bool) -> Path:
        config_now = replace(config, overwrite=overwrite)
        if colour:
            return extract_colour(manifest, store, split, config_now)
        return extract(manifest, store, config_now, split=split, min_agree=min_agree)

    try:
        return make(False)
    except StoreChanged as changed:
        log.warning("%s was made with other settings (%s); extracting again", store,
                    changed.diff)
        return make(True)


def _outdated(run_dir: Path, requested: dict[str, Any]) -> bool:
    """Whether ``run_dir`` must be (re)done: not complete, or made with other settings."""
    from emofeat.runs import is_complete
    from emofeat.runs.settings import run_changes

    if not is_complete(run_dir):
        return True
    if diff := run_changes(run_dir, requested):
        log.warning("%s was made with other settings (%s); doing it again", run_dir, diff)
        return True
    return False


def _baseline_name(task: str) -> str:
    """The folder of a task's baseline: majority-<task>, mean-<rating>, mean-distribution."""
    kind = task_kind(task)
    if kind == "distribution":
        return "mean-distribution"
    return f"{'mean' if kind == 'regression' else 'majority'}-{task}"


def _drop_invalid(exp: Experiment) -> bool:
    """Whether the baselines leave invalid distributions out: as [fit] does."""
    return exp.config.fit.drop_invalid


def run_baselines(exp: Experiment, manifest: Manifest, units: Sequence[SplitUnit]
                  ) -> list[Path]:
    """OUT/runs/[<fold>/]baselines/majority-<task>/ (a rating task: mean-<task>/) and the
    colour-feature runs (their store extracted once)."""
    from emofeat.baselines import majority_run
    from emofeat.classical.run import fit_all
    from emofeat.runs.settings import majority_settings

    b = exp.config.baselines
    runs = []
    for unit in units if b.majority else []:
        for task in exp.tasks:
            run_dir = unit.runs / "baselines" / _baseline_name(task)
            wanted = majority_settings(task, unit.split.sha256, manifest.sha256,
                                       _drop_invalid(exp) if task_kind(task) == "distribution"
                                       else None)
            if _outdated(run_dir, wanted):
                majority_run(manifest, unit.split, task, run_dir, overwrite=True,
                             drop_invalid=_drop_invalid(exp))
            runs.append(run_dir)
    if b.colour:
        exp.say("baseline: hand-crafted colour features")
        colour = extract_store(manifest, exp.out / "stores" / "colour", ExtractConfig(),
                               units[0].split, colour=True)
        for unit in units:
            runs += fit_all(colour, b.colour_models, exp.tasks, ["colour"],
                            unit.runs / "baselines" / "colour", splits_file=unit.path,
                            options=exp.config.fit.options(), on_done=_note(exp.say),
                            nested=True, changed="redo", drop_invalid=_drop_invalid(exp))
    return runs


def run_finetune(exp: Experiment, manifest: Manifest, units: Sequence[SplitUnit]
                 ) -> list[Path]:
    """OUT/runs/[<fold>/]finetune-<task>/[seed-<s>/] for each task of [finetune] (and each
    fold and seed), each resumed if interrupted."""
    ft = exp.config.finetune
    if not ft.enabled:
        return []
    runs = []
    for unit in units:
        for task in exp.finetune_tasks:
            for run_dir, seed in seed_folders(unit.runs / f"finetune-{task}", ft.seeds):
                config = ft.for_task(task, seed)
                _finetune_one(exp, manifest, unit.split, run_dir, config)
                runs.append(run_dir)
    return runs


def _finetune_one(exp: Experiment, manifest: Manifest, split: Split, run_dir: Path,
                  config: FinetuneConfig) -> None:
    from emofeat.finetune import CHECKPOINT, finetune
    from emofeat.finetune.resume import checkpoint_changes, finetune_settings
    from emofeat.runs import is_complete

    ft, task = exp.config.finetune, config.task
    settings = finetune_settings(config, manifest, split)
    if not _outdated(run_dir, settings):
        exp.say(f"finetune {task}: complete, skipped")
        return
    resume = not is_complete(run_dir) and (run_dir / CHECKPOINT).is_file()
    if resume and (diff := checkpoint_changes(run_dir, settings)):
        log.warning("%s: the interrupted run had other settings (%s); starting again",
                    run_dir, diff)
        resume = False
    seed = "" if ft.seeds is None else f" (seed {config.seed})"
    exp.say(f"finetune {ft.backbone} for {task}{seed}")
    finetune(manifest, split, run_dir, config, resume=resume, overwrite=not resume,
             on_epoch=lambda r, t=task: exp.say(
                 f"  {t} epoch {r['epoch']}: loss {r['train_loss']:.3f}, " + (
                     f"val KL {r['val_kl_divergence']:.3f}" if "val_kl_divergence" in r else
                     f"val balanced acc {r['val_balanced_accuracy']:.3f}")))


def run_compare(exp: Experiment, runs: Sequence[Path]) -> dict[str, Any]:
    """OUT/report/report.{html,md,json} over the runs of this config (others an earlier
    config left in OUT/runs are named in a warning, not reported)."""
    from emofeat.report import compare
    from emofeat.report.collect import find_runs

    exp.say("compare")
    others = sorted(set(find_runs([exp.out / "runs"])) - set(runs))
    if others:
        log.warning("%d run(s) in %s are not part of this config and are left out of the "
                    "report, e.g. %s", len(others), exp.out / "runs",
                    ", ".join(str(p.relative_to(exp.out / "runs")) for p in others[:3]))
    c = exp.config.compare
    report = compare(runs, exp.out / "report", n_boot=c.bootstrap, seed=c.seed)
    report["report_dir"] = str(exp.out / "report")
    return report


def _note(say: Say) -> Callable[[Path, dict[str, Any] | None], None]:
    def note(run_dir: Path, record: dict[str, Any] | None) -> None:
        if record is None:
            say(f"  {run_dir.name}: complete, skipped")
        else:
            say(f"  {run_dir.name}: fitted in {record['timings']['total_seconds']:.1f} s")
    return note
