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

Modules: ``tables`` (TOML tables to dataclasses, strictly), ``schema`` (the sections, reading
and checking a file; no torch, scikit-learn or h5py), ``context`` (the checked experiment),
``prepare`` (the checks before the first step), ``steps``, ``cross``, ``zeroshot`` (one
function per step) and ``runner`` (their order; imported lazily, as the steps load them all).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emofeat.experiment.schema import ExperimentConfig, bundled_config, check_config, load_config
from emofeat.lazy import lazy_attributes

if TYPE_CHECKING:
    from emofeat.experiment.runner import run_experiment

__all__ = ["ExperimentConfig", "bundled_config", "check_config", "load_config",
           "run_experiment"]

__getattr__ = lazy_attributes(__name__, {"run_experiment": "emofeat.experiment.runner"})
