"""``emofeat run CONFIG.toml``: the whole experiment from one file, every step resumable.

```
OUT/data/                     the synthetic demo set (when [data] demo = true)
OUT/splits.csv                the one split every step uses
OUT/stores/<extract.name>/    feature stores (and stores/colour for the colour baseline)
OUT/runs/<extract.name>/<model>-<task>-<layer>/
OUT/runs/finetune-<task>/
OUT/runs/baselines/majority-<task>/, OUT/runs/baselines/colour/<model>-<task>-colour/
OUT/report/report.{html,md,json}
```

Re-running skips finished work: complete stores and runs are kept, interrupted ones resume.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emofeat.errors import EmofeatError
from emofeat.finetune.config import FinetuneConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)


@dataclass
class DataSection:
    path: str | None = None  # relative to the config file
    format: str = "auto"
    min_agree: int | None = None
    demo: bool = False  # generate the synthetic demo set into OUT/data
    demo_per_class: int = 64
    demo_size: int = 160
    demo_seed: int = 0


@dataclass
class SplitSection:
    file: str | None = None  # an existing splits.csv (relative to the config file)
    seed: int = 0
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.05, 0.15])


@dataclass
class ExtractSection:
    name: str = ""
    backbone: str = "inception_resnet_v2"
    weights: str = "pretrained"
    layers: list[str] | None = None
    pool: str = "avg"
    batch_size: int = 32
    workers: int | None = None
    device: str = "auto"
    precision: str = "auto"
    dtype: str = "float32"
    shard_size: int = 1024


@dataclass
class FitSection:
    models: list[str] = field(default_factory=lambda: ["logreg", "svm", "lightgbm"])
    tasks: list[str] = field(default_factory=lambda: ["valence", "emotion8"])
    layers: list[str] = field(default_factory=lambda: ["all"])
    jobs: int = -1
    class_weight: str = "balanced"
    seed: int = 0


@dataclass
class FinetuneSection(FinetuneConfig):
    """Every FinetuneConfig setting (same defaults), for each of ``tasks``."""

    enabled: bool = True
    tasks: list[str] = field(default_factory=lambda: ["valence", "emotion8"])


@dataclass
class BaselinesSection:
    majority: bool = True
    colour: bool = True
    colour_models: list[str] = field(default_factory=lambda: ["logreg", "lightgbm"])


@dataclass
class CompareSection:
    bootstrap: int = 1000
    seed: int = 0


@dataclass
class ExperimentConfig:
    out: str | None = None  # relative to the config file; the CLI's --out wins
    data: DataSection = field(default_factory=DataSection)
    split: SplitSection = field(default_factory=SplitSection)
    extract: list[ExtractSection] = field(default_factory=list)
    fit: FitSection = field(default_factory=FitSection)
    finetune: FinetuneSection = field(default_factory=FinetuneSection)
    baselines: BaselinesSection = field(default_factory=BaselinesSection)
    compare: CompareSection = field(default_factory=CompareSection)


# --------------------------------------------------------------------------- parsing


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (inner,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    """``int``, ``list[str]``, ``str | none`` (how TOML users read a type)."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return "none" if hint is type(None) else hint.__name__
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_describe(a) for a in args)
    return f"{origin.__name__}[{', '.join(_describe(a) for a in args)}]"


def _build(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise EmofeatError(f"{where} must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - fields)
    if unknown:
        raise EmofeatError(f"unknown key '{unknown[0]}' in {where}; valid keys: "
                           f"{', '.join(sorted(fields))}")
    values = {}
    for key, value in table.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = _build(hint, value, f"[{key}]")
        elif typing.get_origin(hint) is list and dataclasses.is_dataclass(
                typing.get_args(hint)[0]):
            inner = typing.get_args(hint)[0]
            if not isinstance(value, list):
                raise EmofeatError(f"[[{key}]] must be an array of tables")
            values[key] = [_build(inner, v, f"[[{key}]] #{i + 1}") for i, v in enumerate(value)]
        elif not _type_ok(value, hint):
            raise EmofeatError(f"{where} {key} = {value!r} has the wrong type; expected "
                               f"{_describe(hint)}")
        else:
            values[key] = value
    return cls(**values)


def load_config(path: str | Path) -> ExperimentConfig:
    path = Path(path)
    if not path.is_file():
        raise EmofeatError(f"config file {path} does not exist")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise EmofeatError(f"{path} is not valid TOML: {exc}") from None
    if "task" in table.get("finetune", {}):
        raise EmofeatError("[finetune] takes tasks = [...], not task")
    config = _build(ExperimentConfig, table, "the config")
    names = [e.name for e in config.extract]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise EmofeatError("every [[extract]] needs a unique name")
    if config.data.demo == (config.data.path is not None):
        raise EmofeatError("[data] needs either path = ... or demo = true")
    return config


def bundled_config(name: str) -> Path:
    """A config shipped with emofeat (``demo``, ``fi-reference``)."""
    from importlib.resources import files

    path = Path(str(files("emofeat.configs") / f"{name}.toml"))
    if not path.is_file():
        raise EmofeatError(f"no bundled config '{name}'; bundled: demo, fi-reference")
    return path


# --------------------------------------------------------------------------- running

Step = Callable[[str], None]


def run_experiment(config_path: str | Path, out: str | Path | None = None,
                   announce: Step | None = None) -> dict[str, Any]:
    """Run (or resume) every step of the experiment; returns the compare report."""
    from emofeat import splits as splits_mod
    from emofeat.baselines import extract_colour, majority_run
    from emofeat.classical import FitOptions
    from emofeat.classical.run import fit_all
    from emofeat.datasets import load_manifest
    from emofeat.demo import DemoSpec, make_demo
    from emofeat.extract import ExtractConfig, extract
    from emofeat.report import compare
    from emofeat.runs import is_complete
    from emofeat.store import Store

    config_path = Path(config_path)
    config = load_config(config_path)
    base = config_path.parent
    if out is None and config.out is None:
        raise EmofeatError("no output folder: pass --out or set out = ... in the config")
    out = Path(out) if out is not None else base / str(config.out)
    say = announce or (lambda text: log.info("%s", text))

    # data and split
    d = config.data
    if d.demo:
        root = make_demo(out / "data", DemoSpec(seed=d.demo_seed, per_class=d.demo_per_class,
                                                size=d.demo_size))
        manifest = load_manifest(root, "demo")
    else:
        manifest = load_manifest(base / str(d.path), d.format, d.min_agree)
    if config.split.file:
        split = splits_mod.read_split(base / config.split.file, manifest)
    else:
        split = splits_mod.make_split(manifest, splits_mod.parse_fractions(
            config.split.fractions), config.split.seed)
    split_path = out / "splits.csv"
    if split_path.exists() and split_path.read_bytes() != split.to_csv_bytes():
        raise EmofeatError(f"{split_path} differs from this config's split; its runs cannot be "
                           "mixed with new ones: choose another output folder")
    splits_mod.write_split(split, split_path)
    source = config.split.file or splits_mod.split_source(manifest, config.split.fractions,
                                                          config.split.seed)
    say(f"data: {len(manifest)} images ({manifest.format}); split {split.counts()} ({source})")

    # stage 1 and 2: features, classifiers
    f = config.fit
    options = FitOptions(class_weight=None if f.class_weight == "none" else "balanced",
                         seed=f.seed, jobs=f.jobs)
    for e in config.extract:
        store = out / "stores" / e.name
        say(f"extract {e.name}: {e.backbone} ({e.weights})")
        extract(manifest, store, ExtractConfig(
            backbone=e.backbone, weights=e.weights, layers=e.layers, pooling=e.pool,
            batch_size=e.batch_size, workers=e.workers, device=e.device,
            precision=e.precision, dtype=e.dtype, shard_size=e.shard_size), split=split,
            min_agree=d.min_agree)
        say(f"fit {', '.join(f.models)} on {e.name}")
        layers = Store.open(store).layer_names if f.layers == ["all"] else f.layers
        fit_all(store, f.models, f.tasks, layers, out / "runs" / e.name, options=options,
                on_done=_note(say), nested=True)

    # baselines
    b = config.baselines
    if b.majority:
        for task in f.tasks:
            run_dir = out / "runs" / "baselines" / f"majority-{task}"
            if not is_complete(run_dir):
                majority_run(manifest, split, task, run_dir)
    if b.colour:
        say("baseline: hand-crafted colour features")
        colour = extract_colour(manifest, out / "stores" / "colour", split)
        fit_all(colour, b.colour_models, f.tasks, ["colour"],
                out / "runs" / "baselines" / "colour", options=options, on_done=_note(say),
                nested=True)

    # the fine-tuned yardstick
    ft = config.finetune
    if ft.enabled:
        from emofeat.finetune import CHECKPOINT, finetune

        for task in ft.tasks:
            run_dir = out / "runs" / f"finetune-{task}"
            if is_complete(run_dir):
                say(f"finetune {task}: complete, skipped")
                continue
            say(f"finetune {ft.backbone} for {task}")
            settings = {f.name: getattr(ft, f.name) for f in dataclasses.fields(FinetuneConfig)}
            finetune(manifest, split, run_dir, FinetuneConfig(**{**settings, "task": task}),
                     resume=(run_dir / CHECKPOINT).is_file(),
                     on_epoch=lambda r, t=task: say(
                         f"  {t} epoch {r['epoch']}: loss {r['train_loss']:.3f}, val balanced "
                         f"acc {r['val_balanced_accuracy']:.3f}"))

    say("compare")
    report = compare([out / "runs"], out / "report", n_boot=config.compare.bootstrap,
                     seed=config.compare.seed)
    report["report_dir"] = str(out / "report")
    return report


def _note(say: Step) -> Callable[[Path, dict[str, Any] | None], None]:
    def note(run_dir: Path, record: dict[str, Any] | None) -> None:
        if record is None:
            say(f"  {run_dir.name}: complete, skipped")
        else:
            say(f"  {run_dir.name}: fitted in {record['timings']['total_seconds']:.1f} s")
    return note
