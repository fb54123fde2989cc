"""Typed records on disk: dataclasses to JSON and back, checked."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from emofeat.errors import EmofeatError
from emofeat.records import OMIT_IF_NONE, RecordFile, to_json


@dataclass(frozen=True)
class _Example:
    required: float
    absent: str | None = field(default=None, metadata=OMIT_IF_NONE)
    null: int | None = None
    items: tuple[int, ...] = ()


def test_optional_fields_are_left_out_only_while_none() -> None:
    assert to_json(_Example(1.0, items=(1, 2))) == {"required": 1.0, "null": None,
                                                    "items": [1, 2]}
    assert to_json(_Example(2, "here"))["absent"] == "here"
    fmt: RecordFile[_Example] = RecordFile("x", 1, "example", lambda data: _Example)
    record = fmt.load({"format": "x", "required": 3, "items": [4]}, "example.json")
    assert record == _Example(3, items=(4,)) and isinstance(record.required, int)
    with pytest.raises(EmofeatError, match="'required' should be float, not true"):
        fmt.load({"format": "x", "required": True}, "example.json")
