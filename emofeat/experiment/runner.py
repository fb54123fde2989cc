"""Running an experiment file: the checks (:mod:`~emofeat.experiment.prepare`), then each step
(:mod:`~emofeat.experiment.steps`, the [zeroshot] and [cross] steps), then the report.

Everything the first step depends on (the config, the data, the [cross] targets, every
step's tasks, the split's groups) is checked before torch, scikit-learn or h5py are
imported: the steps import them, so a config the data cannot serve is refused in well under
a second."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofeat.experiment.context import Experiment, Say, open_experiment
from emofeat.experiment.prepare import check_tasks, load_data, load_targets, write_split
from emofeat.experiment.repeats import repeated_splits, split_groups, split_units
from emofeat.experiment.steps import extract_and_fit, extract_store, run_baselines, run_finetune

log = logging.getLogger(__name__)

__all__ = ["Experiment", "Say", "check_tasks", "extract_and_fit", "extract_store", "load_data",
           "load_targets", "open_experiment", "run_baselines", "run_compare", "run_experiment",
           "run_finetune", "write_split"]


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
