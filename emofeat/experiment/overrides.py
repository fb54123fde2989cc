"""Settings from the command line on top of a config file: ``--data PATH`` and
``--set key=value`` (``emofeat run``), applied to the TOML tables before they are checked.

- ``--set section.key=value``: the value is read as a TOML value (``0.5``, ``true``,
  ``["logreg", "svm"]``, ``"text"``); a bare word that is not one (``FI``, ``./runs``) is
  taken as text. ``[[extract]]`` sections are addressed by name: ``extract.<name>.key``.
- ``--data PATH`` is ``[data] path``, relative to the current folder (not to the config),
  and turns the synthetic demo set off. Paths given with ``--set data.path=`` or
  ``--set split.file=`` are also relative to the current folder.
- A config bundled with emofeat names no data of yours: unless it generates its own (the
  demo), it needs ``--data``, and says so.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofeat.errors import EmofeatError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Keys whose values are paths: given on the command line, relative to the current folder.
PATH_KEYS = (("data", "path"), ("split", "file"))


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if any(c in text for c in "[]{}\"'="):  # meant as TOML, but broken
            raise EmofeatError(f"--set: '{text}' is not a TOML value") from None
        return text


def _section(table: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    if name == "extract":
        sections = table.get("extract", [])
        found = [s for s in sections if isinstance(s, dict) and s.get("name") == key]
        if not found:
            names = ", ".join(str(s.get("name")) for s in sections if isinstance(s, dict))
            raise EmofeatError(f"--set: no [[extract]] named '{key}' (named: {names or 'none'})")
        return found[0]
    section = table.setdefault(name, {})
    if not isinstance(section, dict):
        raise EmofeatError(f"--set: '{name}' is not a section")
    return section


def set_value(table: dict[str, Any], assignment: str) -> None:
    """One ``section.key=value`` (``extract.<name>.key=value``; ``key=value`` at the top)."""
    dotted, sep, text = assignment.partition("=")
    parts = [p.strip() for p in dotted.split(".")]
    depth_ok = len(parts) == 3 if parts[0] == "extract" else len(parts) in (1, 2)
    if not sep or not all(parts) or not depth_ok:
        raise EmofeatError(f"--set takes SECTION.KEY=VALUE (extract.NAME.KEY=VALUE for an "
                           f"[[extract]]); got '{assignment}'")
    value = _value(text.strip())
    if tuple(parts) in PATH_KEYS and isinstance(value, str):
        value = str(Path(value).resolve())
    if len(parts) == 1:
        table[parts[0]] = value
        return
    section = _section(table, parts[0], parts[1] if parts[0] == "extract" else "")
    section[parts[-1]] = value


def apply_overrides(table: dict[str, Any], sets: Sequence[str] = (),
                    data: str | Path | None = None, bundled: str | None = None) -> None:
    """``--set`` assignments in order, then ``--data``; ``bundled``: the name of the
    bundled config being read, which then needs a data path unless it makes its own."""
    for assignment in sets:
        set_value(table, assignment)
    section = table.setdefault("data", {})
    if data is not None:
        section["path"] = str(Path(data).resolve())
        section["demo"] = False
    given = data is not None or any(s.partition("=")[0].strip() == "data.path" for s in sets)
    if bundled and not given and not section.get("demo"):
        raise EmofeatError(f"the bundled config '{bundled}' does not know where your data "
                           f"is: pass --data PATH (the data set's folder or CSV list), e.g. "
                           f"emofeat run {bundled} --data ./FI --out {bundled}-experiment")
