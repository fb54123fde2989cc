"""Provenance recorded with every store and run: library versions and timestamps."""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import platform

from emofeat import __version__


def versions() -> dict[str, str]:
    """Versions of the libraries that shape a result (read from package metadata)."""
    out = {"emofeat": __version__, "python": platform.python_version()}
    for name in ("numpy", "scikit-learn", "torch", "timm", "lightgbm", "skops", "h5py"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
