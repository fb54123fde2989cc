"""Run steps of a one-shot benchmark under a time budget: each step is tried on its own (an
exception is recorded, the next step runs), results are rewritten to a JSON file after every
step, steps past the budget are marked ``skipped``, and a running step is interrupted by
SIGALRM when the budget runs out. Used by gpu_extract.py and gpu_demo_check.py."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("budget")


class BudgetExceeded(Exception):
    """The time budget ran out while a step was running."""


class Alarm:
    """Raise BudgetExceeded in the main thread after ``seconds`` (where SIGALRM exists)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(0.5, seconds)
        self.ok = hasattr(signal, "SIGALRM")
        self.previous: Any = None

    def _fire(self, _signum: int, _frame: Any) -> None:
        raise BudgetExceeded()

    def __enter__(self) -> None:
        if self.ok:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        if self.ok:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


class Results:
    """Rows of results under a budget, rewritten atomically to ``path`` after every change."""

    def __init__(self, path: Path | None, budget_s: float) -> None:
        self.path = path
        self.start = time.monotonic()
        self.budget_s = budget_s
        self.data: dict[str, Any] = {"env": {}, "rows": [], "finished": False}

    def remaining(self) -> float:
        return self.budget_s - (time.monotonic() - self.start)

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        os.replace(tmp, self.path)

    def finish(self) -> None:
        self.data["finished"] = True
        self.data["elapsed_s"] = round(time.monotonic() - self.start, 1)
        self.save()

    def row(self, section: str, name: str) -> dict[str, Any] | None:
        """The last recorded row of that section and name."""
        return next((r for r in reversed(self.data["rows"])
                     if r["section"] == section and r["name"] == name), None)

    def run(self, section: str, name: str, fn: Callable[[], dict[str, Any]],
            min_s: float = 5.0) -> dict[str, Any]:
        """Run one step under the remaining budget; record ok / error / skipped."""
        row: dict[str, Any] = {"section": section, "name": name}
        left = self.remaining()
        if left < min_s:
            row.update(status="skipped", reason=f"budget: {left:.0f} s left, needs ~{min_s:.0f}")
            log.warning("%s %s: skipped (budget)", section, name)
        else:
            log.info("%s %s: running (%.0f s of budget left)", section, name, left)
            started = time.monotonic()
            try:
                with Alarm(left):
                    row.update(fn())
                row["status"] = "ok"
            except BudgetExceeded:
                row.update(status="skipped", reason="budget ran out while running")
                log.warning("%s %s: interrupted (budget)", section, name)
            except Exception as exc:  # record and go on: one run on a rented machine
                row.update(status="error", error=f"{type(exc).__name__}: {exc}"[:2000],
                           traceback=traceback.format_exc()[-4000:])
                log.error("%s %s failed: %s", section, name, row["error"][:300])
            finally:
                row["wall_s"] = round(time.monotonic() - started, 3)
                _free_cuda()
        self.data["rows"].append(row)
        self.save()
        return row


def _free_cuda() -> None:
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
