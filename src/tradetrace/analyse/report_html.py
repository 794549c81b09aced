"""The report's HTML pieces: escaping, tables, numbers, the page's style.

Everything that comes from traces goes through :func:`e` (or :func:`table`, which
escapes every cell): a symbol or run id is text, never markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;
max-width:1200px;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f5f5f5}
.no-data{padding:1rem;background:#fafafa;border:1px dashed #bbb;color:#666}
.note{color:#666;font-size:.85rem}.plot{min-height:420px}
.glance{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}
.glance div{border:1px solid #ddd;border-radius:6px;padding:.5rem .8rem;flex:1 1 0;min-width:6rem}
.glance b{display:block;font-size:1.5rem;font-variant-numeric:tabular-nums}
.glance span{color:#666;font-size:.8rem}
.none{color:#2ca02c}.glance .loss b{color:#d62728}.glance .win b{color:#2ca02c}
.share{display:inline-block;height:.7rem;background:#1f77b4;vertical-align:middle;margin-right:.3rem}
"""


def e(value: Any) -> str:
    """``value`` as HTML text (None as nothing)."""
    return html.escape("" if value is None else str(value))


def num(value: float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return ""
    return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"


class Raw(str):
    """Markup made here (not from traces): a table cell shown as it is."""


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, Raw):
        return f'<td class="n">{value}</td>'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="n">{num(value)}</td>'
    return f"<td>{e(value)}</td>"


def no_data(why: str, div_id: str = "") -> str:
    ident = f' id="{div_id}"' if div_id else ""
    return f'<div{ident} class="no-data">no data: {e(why)}</div>'
