"""Typed records on disk: store.json, run.json and report.json.

Each record is a dataclass, written and read through one :class:`RecordFile`:

- ``dump`` / ``write``: ``{"format": ..., "format_version": ..., <fields in order>}``, the
  fields in declaration order (so the bytes follow the dataclass), fields declared with
  ``field(default=None, metadata=OMIT_IF_NONE)`` left out while they are ``None``;
- ``load`` / ``read``: the format name and version are checked first (a newer version is
  refused, naming it), then every field is converted and type-checked, and a problem is an
  :class:`~emofeat.errors.EmofeatError` naming the file and the field. Keys the dataclass
  does not declare are ignored. A file without ``format_version`` predates the field and is
  read as version 1.
"""

from __future__ import annotations

import functools
import json
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from emofeat import __version__
from emofeat.atomic import write_json
from emofeat.errors import EmofeatError

R = TypeVar("R")

#: Field metadata: the field is left out of the JSON while it is ``None``.
OMIT_IF_NONE: Mapping[str, Any] = types.MappingProxyType({"omit_if_none": True})


# --------------------------------------------------------------------------- to JSON


def to_json(obj: Any) -> Any:
    """Dataclasses as objects (fields in order), tuples as lists; everything else as is."""
    if is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if value is None and f.metadata.get("omit_if_none"):
                continue
            out[f.name] = to_json(value)
        return out
    if isinstance(obj, Mapping):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- from JSON


class _Problem(Exception):
    """Where a JSON value does not fit the record (caught and reworded by RecordFile)."""


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _where(key: str) -> str:
    return f"'{key}'" if key else "the record"


def _sequence(tp: Any, value: Any, key: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if not isinstance(value, (list, tuple)):
        raise _Problem(f"{_where(key)} should be a list, not {_show(value)}")
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            raise _Problem(f"{_where(key)} should hold {len(args)} items, not {_show(value)}")
        return tuple(_convert(t, v, f"{key}[{i}]")
                     for i, (t, v) in enumerate(zip(args, value, strict=True)))
    items = [_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _dataclass(cls: type, value: Any, key: str) -> Any:
    if not isinstance(value, Mapping):
        raise _Problem(f"{_where(key)} should be an object, not {_show(value)}")
    hints, kwargs = _hints(cls), {}
    for f in fields(cls):
        sub = f"{key}.{f.name}" if key else f.name
        if f.name in value:
            kwargs[f.name] = _convert(hints[f.name], value[f.name], sub)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise _Problem(f"it lacks '{sub}'")
    return cls(**kwargs)


def _scalar(tp: Any, value: Any, key: str) -> Any:
    if tp is float:
        fits = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is int:
        fits = isinstance(value, int) and not isinstance(value, bool)
    elif tp in (str, bool):
        fits = isinstance(value, tp)
    else:
        raise TypeError(f"records cannot hold {tp!r}")
    if not fits:
        raise _Problem(f"{_where(key)} should be {tp.__name__}, not {_show(value)}")
    return value  # never coerced: what is read is what is written back


def _convert(tp: Any, value: Any, key: str = "") -> Any:
    """``value`` (parsed JSON) as type ``tp``: dataclasses built, sequences as the annotated
    list or tuple, scalars checked (an int fits a float). Raises _Problem on a mismatch."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin is Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]  # only `X | None` is supported
        return _convert(inner, value, key)
    if origin is Literal:
        if value not in args:
            raise _Problem(f"{_where(key)} should be {' or '.join(map(_show, args))}, "
                           f"not {_show(value)}")
        return value
    if is_dataclass(tp):
        return _dataclass(cast(type, tp), value, key)
    if origin in (list, tuple):
        return _sequence(tp, value, key)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Problem(f"{_where(key)} should be an object, not {_show(value)}")
        return {k: _convert(args[1], v, f"{key}.{k}") for k, v in value.items()}
    return _scalar(tp, value, key)


# --------------------------------------------------------------------------- files


def read_json_object(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmofeatError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise EmofeatError(f"{path} holds no JSON object")
    return data


def says_complete(file: str | Path) -> bool:
    """Whether ``file`` is a JSON record whose ``status`` is ``complete`` (a missing or
    unreadable file is not)."""
    file = Path(file)
    if not file.is_file():
        return False
    try:
        return read_json_object(file).get("status") == "complete"
    except EmofeatError:
        return False


@dataclass(frozen=True)
class RecordFile(Generic[R]):
    """One record format: its name, the version this emofeat writes, and its dataclass.

    ``pick`` chooses the dataclass from the JSON object (records with variants, like
    runs); ``what`` names the record in messages ("feature store").
    """

    format: str
    version: int
    what: str
    pick: Callable[[Mapping[str, Any]], type]

    def dump(self, record: R) -> dict[str, Any]:
        return {"format": self.format, "format_version": self.version, **to_json(record)}

    def write(self, path: str | Path, record: R) -> None:
        """Atomically: the file appears whole or not at all."""
        write_json(path, self.dump(record))

    def version_of(self, data: Mapping[str, Any], source: str) -> int:
        """The format version of ``data``, if this emofeat can read it."""
        if data.get("format") != self.format:
            raise EmofeatError(f"{source} is not an emofeat {self.what}")
        found = data.get("format_version", 1)  # none: written before the field, as v1
        if not isinstance(found, int) or isinstance(found, bool) or found < 1:
            raise EmofeatError(f"{source} has format_version {_show(found)}, which is not a "
                               "version number")
        if found > self.version:
            raise EmofeatError(
                f"{source} is a {self.what} of format version {found}, written by a newer "
                f"emofeat; emofeat {__version__} reads format version {self.version} and "
                "older: upgrade emofeat to read it")
        return found

    def load(self, data: Mapping[str, Any], source: str) -> R:
        """The record in ``data`` (a parsed JSON object from ``source``), checked."""
        version = self.version_of(data, source)
        try:
            return cast(R, _convert(self.pick(data), data))
        except _Problem as problem:
            stated = "" if "format_version" in data else " (it has no format_version)"
            raise EmofeatError(f"{source} is not a valid {self.what} of format version "
                               f"{version}{stated}: {problem}") from None

    def read(self, path: str | Path) -> R:
        return self.load(read_json_object(path), str(path))
