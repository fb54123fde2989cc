"""The experiment file: reading it and checking it before anything runs (its sections are
:mod:`~emofeat.experiment.sections`, re-exported here). Reading a config imports no torch,
scikit-learn or h5py.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emofeat.classical.options import check_model_names, plan_fits, select_class_tasks
from emofeat.errors import EmofeatError
from emofeat.experiment.overrides import apply_overrides
from emofeat.experiment.sections import (
    BaselinesSection,
    CompareSection,
    CrossSection,
    CrossTarget,
    DataSection,
    ExperimentConfig,
    ExtractSection,
    FinetuneSection,
    FitSection,
    SplitSection,
    ZeroshotSection,
)
from emofeat.experiment.tables import from_table
from emofeat.resampling import parse_seeds
from emofeat.splits import parse_fractions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

__all__ = ["BUNDLED_CONFIGS", "BaselinesSection", "CompareSection", "CrossSection",
           "CrossTarget", "DataSection", "ExperimentConfig", "ExtractSection", "FinetuneSection",
           "FitSection", "SplitSection", "ZeroshotSection", "bundled_config", "check_config",
           "load_config"]
BUNDLED_CONFIGS = ("demo", "demo-repeats", "fi-reference", "fi-modern")


def load_config(path: str | Path, sets: Sequence[str] = (),
                data: str | Path | None = None) -> ExperimentConfig:
    """Read and check an experiment file, with ``--set`` and ``--data`` from the command
    line on top (:mod:`emofeat.experiment.overrides`); errors are one line naming the key."""
    path = Path(path)
    if not path.is_file():
        raise EmofeatError(f"config file {path} does not exist")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise EmofeatError(f"{path} is not valid TOML: {exc}") from None
    apply_overrides(table, sets, data, bundled_name(path))
    _rename_old_keys(table)
    config = from_table(ExperimentConfig, table)
    check_config(config)
    return config


def _rename_old_keys(table: dict[str, Any]) -> None:
    """Keys of earlier versions: [[extract]] pool (now pooling) still works, with a warning."""
    if "task" in table.get("finetune", {}):
        raise EmofeatError("[finetune] takes tasks = [...], not task")
    extracts = table.get("extract", [])
    for i, section in enumerate(extracts if isinstance(extracts, list) else []):
        if isinstance(section, dict) and "pool" in section:
            if "pooling" in section:
                raise EmofeatError(f"[[extract]] #{i + 1} has pool and pooling; keep pooling")
            log.warning("[[extract]] #%d: 'pool' is deprecated; write pooling = %r", i + 1,
                        section["pool"])
            section["pooling"] = section.pop("pool")


@contextmanager
def _section(where: str) -> Iterator[None]:
    try:
        yield
    except EmofeatError as exc:
        raise EmofeatError(f"{where}: {exc}") from None


def check_config(config: ExperimentConfig) -> None:
    """Every check that needs no data, with the library's own validators, so a mistake in
    the file stops the run before anything is written."""
    if config.data.demo == (config.data.path is not None):
        raise EmofeatError("[data] needs either path = ... or demo = true")
    with _section("[split]"):
        parse_fractions(config.split.fractions)
        check_repeats(config.split)
    names = [e.name for e in config.extract]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise EmofeatError("every [[extract]] needs a unique name")
    for section in config.extract:
        with _section(f"[[extract]] {section.name}"):
            section.check()
    with _section("[fit]"):
        config.fit.options()
        plan_fits(config.fit.models, config.fit.tasks)
    with _section("[baselines] colour_models"):
        if config.baselines.colour:
            plan_fits(config.baselines.colour_models, config.fit.tasks)
        else:
            check_model_names(config.baselines.colour_models)
    if config.finetune.enabled:
        with _section("[finetune]"):
            config.finetune.check()
            select_class_tasks(config.finetune.tasks)
            if config.finetune.seeds is not None:
                parse_seeds(config.finetune.seeds)
                if config.finetune.seed != FinetuneSection.seed:
                    raise EmofeatError("give seed or seeds, not both (seeds makes one run "
                                       "per seed)")
    with _section("[zeroshot]"):
        check_zeroshot(config.zeroshot, config.extract)
    with _section("[cross]"):
        check_cross(config.cross, names, config.fit.tasks)
        if config.cross.targets and (config.split.folds or config.split.repeats):
            raise EmofeatError("targets with [split] folds or repeats are not supported yet: "
                               "evaluate one split's runs with emofeat evaluate")


def check_zeroshot(section: ZeroshotSection, extracts: Sequence[ExtractSection]) -> None:
    """Each store named is an open_clip [[extract]] with the layer ``embedding``."""
    from emofeat.backbones.names import is_open_clip
    from emofeat.zeroshot.prompts import check_choice

    check_choice(section.prompt_choice)
    by_name = {e.name: e for e in extracts}
    for name in section.stores:
        e = by_name.get(name)
        if e is None:
            raise EmofeatError(f"stores names no [[extract]] {name!r}; [[extract]] names: "
                               f"{', '.join(by_name) or 'none'}")
        if not is_open_clip(e.backbone):
            raise EmofeatError(f"store {name!r} is of {e.backbone}; zero-shot runs need an "
                               "open_clip backbone (open_clip:ARCH/PRETRAINED)")
        if e.layers is not None and "embedding" not in e.layers:
            raise EmofeatError(f"store {name!r} needs the layer 'embedding' (the image "
                               "embedding the prompts are compared with) in its layers")


def check_repeats(section: SplitSection) -> None:
    """folds or repeats (at least 2), not both, and not with a split file."""
    if section.folds is not None and section.repeats is not None:
        raise EmofeatError("give folds or repeats, not both")
    for key in ("folds", "repeats"):
        value = getattr(section, key)
        if value is not None and value < 2:
            raise EmofeatError(f"{key} must be at least 2, got {value}")
        if value is not None and section.file:
            raise EmofeatError(f"{key} makes its own splits; remove file = ...")


def bundled_name(path: Path) -> str | None:
    """The name of the bundled config at ``path``, None for a file of the user's."""
    from importlib.resources import files

    home = Path(str(files("emofeat.configs"))).resolve()
    return path.stem if path.resolve().parent == home else None


def check_cross(cross: CrossSection, stores: list[str], tasks: list[str]) -> None:
    from emofeat.demo import DOMAINS
    from emofeat.transfer.record import EVAL_SPLITS

    if cross.split not in EVAL_SPLITS:
        raise EmofeatError(f"split = {cross.split!r}; valid: {', '.join(EVAL_SPLITS)}")
    unknown = sorted(set(cross.stores or ()) - set(stores))
    if unknown:
        raise EmofeatError(f"stores names no [[extract]] {unknown[0]!r}; [[extract]] names: "
                           f"{', '.join(stores) or 'none'}")
    if cross.models:
        plan_fits(cross.models, tasks)
    names = [t.name for t in cross.targets]
    if any(not n or n == "main" for n in names) or len(set(names)) != len(names):
        raise EmofeatError("every [[cross.targets]] needs a unique name (not 'main')")
    for t in cross.targets:
        if t.demo == (t.path is not None):
            raise EmofeatError(f"target {t.name} needs either path = ... or demo = true")
        if t.demo and t.demo_domain not in DOMAINS:
            raise EmofeatError(f"target {t.name}: demo_domain {t.demo_domain!r}; domains: "
                               f"{', '.join(DOMAINS)}")


def bundled_config(name: str) -> Path:
    """A config shipped with emofeat (``demo``, ``fi-reference``)."""
    from importlib.resources import files

    path = Path(str(files("emofeat.configs") / f"{name}.toml"))
    if not path.is_file():
        raise EmofeatError(f"no bundled config '{name}'; bundled: {', '.join(BUNDLED_CONFIGS)}")
    return path
