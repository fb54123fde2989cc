"""What every step of ``emofeat run`` is handed: the checked config, its folders, and how
progress is said (below the steps, the runner and the [cross] and [zeroshot] steps alike)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emofeat.classical import select_tasks
from emofeat.errors import EmofeatError
from emofeat.experiment.schema import ExperimentConfig, load_config

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


def note_run(say: Say) -> Callable[[Path, dict[str, Any] | None], None]:
    def note(run_dir: Path, record: dict[str, Any] | None) -> None:
        if record is None:
            say(f"  {run_dir.name}: complete, skipped")
        else:
            say(f"  {run_dir.name}: fitted in {record['timings']['total_seconds']:.1f} s")
    return note
