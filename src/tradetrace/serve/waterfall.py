"""A waterfall drawn on the server: one row per span, a bar on one shared time axis.

A trade's spans lie in many traces (each bar is its own), so no trace viewer lines them
up; here every row is placed by its own start on one axis, in wall time (when it ran)
or market time (the traced system's simulated clock). In market time the events of one
bar share an instant: they are ticks at the same place, in the order they ran. Bars are
CSS widths (percent of the lane), so a page of hundreds of rows costs no script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .html import COLOURS, cell, e


@dataclass
class Row:
    cells: list[object]  #: shown before the lane (escaped unless Raw)
    colour_key: str | None  #: event type (or "trade"): the bar's colour
    start: float | None  #: on the axis, in seconds; None: not placed
    end: float | None
    label: str = ""  #: written beside the bar (a duration, a market time)
    details: str = ""  #: markup shown in a row below, folded
    css: str = ""
    extra: dict[str, str] = field(default_factory=dict)  #: data-* attributes of the row


def market_seconds(text: str | None) -> float | None:
    """A simulated time (ISO 8601) as seconds since the epoch; None when unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def render(headers: Sequence[str], rows: Sequence[Row], *, table_id: str = "waterfall",
           axis: str = "") -> str:
    placed = [r for r in rows if r.start is not None]
    low = min((r.start for r in placed if r.start is not None), default=0.0)
    high = max((max(r.start or 0.0, r.end or 0.0) for r in placed), default=0.0)
    span = (high - low) or 1.0
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    columns = len(headers) + 1
    for row in rows:
        lane = ""
        if row.start is not None:
            left = (row.start - low) / span * 100
            width = max(0.0, ((row.end if row.end is not None else row.start) - row.start)
                        / span * 100)
            colour = COLOURS.get(row.colour_key or "", "#6b7280")
            # the label goes where there is room: after the bar, before it, or on it
            if left + width <= 80.0:
                where = f"left:{left + width:.3f}%;margin-left:4px"
            elif left >= 15.0:
                where = f"right:{100 - left:.3f}%;margin-right:4px"
            else:
                where = f"left:{left:.3f}%;margin-left:4px;color:#fff;z-index:1"
            lane = (f'<div class="bar" style="left:{left:.3f}%;width:{width:.3f}%;'
                    f'background:{colour}"></div><span class="mark" '
                    f'style="{where}">{e(row.label)}</span>')
        data = "".join(f' data-{e(k)}="{e(v)}"' for k, v in row.extra.items())
        cls = f' class="{e(row.css)}"' if row.css else ""
        body.append(f"<tr{cls}{data}>" + "".join(cell(c) for c in row.cells)
                    + f'<td class="lane">{lane}</td></tr>')
        if row.details:
            body.append(f'<tr class="detail"><td colspan="{columns}">{row.details}</td></tr>')
    note = f'<p class="note">{e(axis)}</p>' if axis else ""
    return (f'{note}<table class="wf" id="{e(table_id)}"><thead><tr>{head}'
            f'<th class="lane">time</th></tr></thead><tbody>{"".join(body)}</tbody></table>')


