"""Plain-text output helpers: aligned tables, numbers, timestamps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = (), indent: str = "") -> str:
    """An aligned table with a dashed rule under the header; columns in ``right`` are right-aligned."""
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return (indent + "  ".join(out)).rstrip()

    return "\n".join([line(cells[0]), indent + "  ".join("-" * w for w in widths), *(line(r) for r in cells[1:])])


def ts(value: Any) -> str:
    """A timestamp to the second (``2024-03-04 09:01:00``); '' for None."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0, tzinfo=None).isoformat(sep=" ")
    return str(value)


def number(value: Any) -> str:
    """Thousands separators for integers, 4 significant decimals for the rest."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:,.4f}"


def share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
