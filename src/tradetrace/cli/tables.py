"""Tables on the terminal: one style (rich) for ``summary``, ``query`` and the rest.

What a table must never do is hide what the user needs to type next: an id is never
cut or wrapped, and a number never cut. When a table is wider than the terminal, the
columns least worth their width are left out first (and said, with ``--wide`` and
``--columns`` to get them back), then text columns wrap. Columns empty in every row are
not shown. Piped output has no width: every column, whole, one line per row.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

ID, NUM, TEXT = "id", "num", "text"
#: Width of piped output: no terminal, so nothing is wrapped or left out.
UNLIMITED = 100_000


@dataclass(frozen=True)
class Column:
    header: str  #: with its unit, e.g. ``p99 us``
    kind: str = TEXT  #: ID: never cut nor wrapped; NUM: right-aligned, never cut; TEXT: wraps
    drop: int = 0  #: 0: always shown; at a narrow width the highest numbers go first


def console(stream: Any) -> Console:
    """A console on ``stream``: the terminal's width (``COLUMNS`` when set), unlimited
    when piped so that output for other programs is never shortened."""
    width: int | None = None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        width = int(columns)
    elif not _isatty(stream):
        width = UNLIMITED
    return Console(file=stream, width=width, highlight=False, soft_wrap=False, emoji=False)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def key(header: str) -> str:
    """The name ``--columns`` knows a column by: ``P&L`` -> ``pnl``, ``entry time`` ->
    ``entry-time``."""
    return re.sub(r"[^a-z0-9]+", "-", header.lower().replace("&", "n")).strip("-")


def choose(columns: Sequence[Column], wanted: str) -> list[int]:
    """Indexes of the columns ``--columns`` names (comma-separated), in its order;
    ValueError naming the unknown ones and listing the known."""
    keys = [key(c.header) for c in columns]
    names = [key(n) for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in keys]
    if unknown or not names:
        raise ValueError(f"--columns: unknown column(s) {', '.join(unknown) or wanted!r}; "
                         "known: " + ", ".join(keys))
    return [keys.index(n) for n in names]


def print_table(out: Console, title: str, columns: Sequence[Column],
                rows: Sequence[Sequence[str]], *, wide: bool = False,
                only: str | None = None) -> None:
    """``rows`` (cells already text) under ``title``; what was left out for width is said
    below the table. ``wide``: every column at its full width, the terminal wrapping the
    lines; ``only``: the columns ``--columns`` names."""
    if only:
        shown = choose(columns, only)
    else:
        shown = [i for i in range(len(columns)) if any(row[i] for row in rows)]
    left_out: list[int] = []
    if not wide and not only and out.width < UNLIMITED:
        droppable = sorted((i for i in shown if columns[i].drop),
                           key=lambda i: (columns[i].drop, i))
        while droppable and _width(out, columns, rows, shown) > out.width:
            gone = droppable.pop()
            shown.remove(gone)
            left_out.append(gone)
    if title:  # above the table, not its title: that would wrap at the table's width
        _print(out, Text(title, style="bold"))
    _print(out, _table(columns, rows, shown), UNLIMITED if wide else None)
    if left_out:
        names = ", ".join(key(columns[i].header) for i in sorted(left_out))
        _print(out, Text(f"not shown at this width: {names} (--wide shows every column, "
                         "--columns chooses)", style="dim"))


def print_text(out: Console, text: str, style: str = "") -> None:
    _print(out, Text(text, style=style))


def _print(out: Console, renderable: Any, width: int | None = None) -> None:
    # rich pads every line to the table's width: trailing blanks would end up in files
    before = out.width
    if width is not None:
        out.width = width  # print(width=) is capped at the console's width
    try:
        with out.capture() as captured:
            out.print(renderable)
    finally:
        out.width = before
    lines = captured.get().split("\n")
    out.file.write("\n".join(line.rstrip() for line in lines))
    out.file.flush()


def _width(out: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]],
           shown: list[int]) -> int:
    table = _table(columns, rows, shown)
    return Measurement.get(out, out.options.update_width(UNLIMITED), table).maximum


def _table(columns: Sequence[Column], rows: Sequence[Sequence[str]], shown: list[int]
           ) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="bold")
    for i in shown:
        column = columns[i]
        longest = max((len(row[i]) for row in rows), default=0)
        if column.kind == TEXT:
            table.add_column(column.header, overflow="fold")
        else:  # whole, however narrow the terminal: wider than it, the terminal wraps
            table.add_column(column.header, no_wrap=True, min_width=longest,
                             justify="right" if column.kind == NUM else "left")
    for row in rows:
        table.add_row(*(Text(row[i]) for i in shown))
    return table


# -- cell text ----------------------------------------------------------------------------

def text(value: Any) -> str:
    return "" if value is None else str(value)


def number(value: Any, digits: int = 2) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def integer(value: Any) -> str:
    return "" if value is None else f"{int(value):,}"


def micros(value: Any) -> str:
    return number(value, 1)


def percent(change: Any) -> str:
    return "" if change is None else f"{change * 100:+.1f}"


def when(iso: Any) -> str:
    """An ISO date-time with a space for its ``T``: the terminal can wrap it there."""
    return "" if iso is None else str(iso).replace("T", " ", 1)
