"""Run the emofeat CLI and SIGKILL it, as the OOM killer would, at a deterministic point.

Fault injection for the crash tests only (the library knows nothing of it):
``EMOFEAT_TEST_KILL=module:function:N`` replaces ``module.function`` with a wrapper that
kills this process at its N-th call. Usage: ``python tests/killer.py <emofeat args>``.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import Any


def arm(spec: str) -> None:
    module_name, name, nth = spec.split(":")
    module = importlib.import_module(module_name)
    real = getattr(module, name)
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    setattr(module, name, wrapper)


if __name__ == "__main__":
    arm(os.environ["EMOFEAT_TEST_KILL"])
    from emofeat.cli.main import main

    sys.argv[0] = "emofeat"
    main()
