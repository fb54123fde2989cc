"""The steps of ``emofeat run`` that make stores and runs: extract and fit, the baselines,
fine-tuning. Each skips work already done and made the same way (the config is the source of
truth: other settings are done again, with a warning)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from emofeat.classical import select_layers
from emofeat.datasets import Manifest
from emofeat.errors import StoreChanged
from emofeat.experiment.context import Experiment, note_run
from emofeat.experiment.repeats import SplitUnit
from emofeat.experiment.schema import ExtractSection
from emofeat.extract_config import ExtractConfig
from emofeat.finetune.config import FinetuneConfig
from emofeat.resampling import seed_folders
from emofeat.splits import Split
from emofeat.taxonomy import task_kind

log = logging.getLogger(__name__)


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
                        splits_file=unit.path, options=f.options(), on_done=note_run(exp.say),
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
                            options=exp.config.fit.options(), on_done=note_run(exp.say),
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
