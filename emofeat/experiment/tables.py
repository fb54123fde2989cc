"""TOML tables to dataclasses, strictly: every key a field, every value of its field's type.

No conversion happens but int to float: ``"3"`` is not an int, ``true`` is not 1. A field
whose type is a dataclass takes a table, ``list[<dataclass>]`` an array of tables. Errors
are one line that names the key (and, for an unknown key, the valid ones).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from typing import Any, TypeVar

from emofeat.errors import EmofeatError

T = TypeVar("T")
_LISTS = (list, collections.abc.Sequence)


def from_table(cls: type[T], table: Any, where: str = "the config") -> T:
    """An instance of the dataclass ``cls`` from a TOML table; ``where`` names the table in
    errors (``the config``, ``[fit]``, ``[[extract]] #2``)."""
    if not isinstance(table, dict):
        raise EmofeatError(f"{where} must be a table")
    hints = typing.get_type_hints(cls)
    keys = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise EmofeatError(f"unknown key '{unknown[0]}' in {where}; valid keys: "
                           f"{', '.join(keys)}")
    return cls(**{key: _value(hints[key], value, key, where) for key, value in table.items()})


def _value(hint: Any, value: Any, key: str, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_table(hint, value, f"[{key}]")
    item = _item_type(hint)
    if dataclasses.is_dataclass(item):
        if not isinstance(value, list):
            raise EmofeatError(f"[[{key}]] must be an array of tables")
        return [from_table(item, v, f"[[{key}]] #{i + 1}") for i, v in enumerate(value)]
    if not _type_ok(value, hint):
        raise EmofeatError(f"{where} {key} = {value!r} has the wrong type; expected "
                           f"{describe(hint)}")
    if type(value) is int and _type_ok(0.5, hint) and not _type_ok(0, hint):
        return float(value)
    return value


def _options(hint: Any) -> tuple[Any, ...]:
    """The members of a union, or the type itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _item_type(hint: Any) -> Any:
    """``X`` of ``list[X]`` (or ``Sequence[X]``), else None."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) in _LISTS else None


def _type_ok(value: Any, hint: Any) -> bool:
    for option in _options(hint):
        if option is type(None):
            ok = value is None
        elif typing.get_origin(option) in _LISTS:
            ok = isinstance(value, list) and all(_type_ok(v, _item_type(option)) for v in value)
        elif option is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif option is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, option)
        if ok:
            return True
    return False


def describe(hint: Any) -> str:
    """``int``, ``list[str]``, ``str | none``: a type as TOML users read it."""
    options = _options(hint)
    if len(options) > 1:
        return " | ".join(describe(h) for h in options)
    if typing.get_origin(hint) in _LISTS:
        return f"list[{describe(_item_type(hint))}]"
    return "none" if hint is type(None) else getattr(hint, "__name__", str(hint))
