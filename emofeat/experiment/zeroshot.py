"""The ``[zeroshot]`` step of ``emofeat run``: a zero-shot run per classification task on
each open_clip store named, beside that store's linear probes, per split unit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from emofeat.experiment.context import Experiment
from emofeat.experiment.repeats import SplitUnit
from emofeat.taxonomy import SCORE_TASKS


def run_zeroshot(exp: Experiment, units: Sequence[SplitUnit]) -> list[Path]:
    """OUT/runs/[<fold>/]<store>/zeroshot-<task>/, each kept when complete and made the same
    way (redone, with a warning, when made otherwise)."""
    from emofeat.zeroshot import ZeroshotConfig, zeroshot

    z = exp.config.zeroshot
    sections = {e.name: e for e in exp.config.extract}
    prompts = str(exp.base / z.prompts) if z.prompts else None
    runs = []
    for name in z.stores:
        store = exp.out / "stores" / name
        section = sections[name]
        for unit in units:
            for task in (t for t in exp.tasks if t not in SCORE_TASKS):
                exp.say(f"zero-shot {section.backbone} for {task} {unit.label}".rstrip())
                run_dir = unit.runs / name / f"zeroshot-{task}"
                config = ZeroshotConfig(model=section.backbone, task=task, prompts=prompts,
                                        prompt_choice=z.prompt_choice, device=section.device,
                                        precision=section.precision, reuse=True)
                zeroshot(store, run_dir, config, splits_file=unit.path)
                runs.append(run_dir)
    return runs
