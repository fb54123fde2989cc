"""The :class:`Table` every section of report.md and report.html is formatted into.

Below :mod:`emofeat.report.render` and the sections it gathers (:mod:`~emofeat.report.cross`,
:mod:`~emofeat.report.render_distribution`, :mod:`~emofeat.report.render_repeats`), so
each section builds its tables without importing the renderer that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """Cells as text; in HTML, columns from ``numeric_from`` on and ``nowrap`` never wrap."""

    header: tuple[str, ...]
    rows: list[list[str]]
    numeric_from: int = 99
    nowrap: tuple[int, ...] = ()
    names: tuple[int, ...] = ()  # run names: in HTML, broken only after a "/"

    def cell_class(self, column: int) -> str:
        if column in self.names:
            return "name"
        return "num" if column >= self.numeric_from else "nw" if column in self.nowrap else ""
