"""Finding files: what counts as hidden, and collecting paths from files or folders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from emofeat.errors import EmofeatError


def is_hidden(path: Path, root: Path | None = None) -> bool:
    """A dot-name, or (with ``root``) anything below a dot-folder under ``root``."""
    parts = path.relative_to(root).parts if root is not None else (path.name,)
    return any(part.startswith(".") for part in parts)


def gather(inputs: Sequence[str | Path], take: Callable[[Path], bool],
           keep: Callable[[Path], bool], what: str) -> list[Path]:
    """Each input that ``take`` accepts, else what ``keep`` accepts below it (sorted; hidden
    entries skipped), in the order given. A missing input is an error, and so is finding
    nothing."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise EmofeatError(f"{path} does not exist")
        if take(path):
            found.append(path)
        elif path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if not is_hidden(p, path) and keep(p))
    if not found:
        raise EmofeatError(f"no {what} found in " + ", ".join(map(str, inputs)))
    return found
