"""HTML pieces of every page: escaping, links, tables, the layout and its style.

Everything that comes from traces (trade ids, attribute values, run ids, file names) is
untrusted text: it reaches a page only through :func:`e`, :func:`href` or :func:`table`
(which escapes every cell that is not :class:`Raw`, markup made here).
"""

from __future__ import annotations

import html
import math
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222}
nav{background:#1f2937;padding:.5rem 1rem}nav a{color:#e5e7eb;margin-right:1.2rem;
text-decoration:none;font-weight:600}nav a:hover{color:#fff}
main{margin:1rem;padding:0 .5rem;overflow-x:auto}
#trades td,#runs td,#why td,#stages td{white-space:nowrap}
h1{font-size:1.4rem;margin:.6rem 0}h2{font-size:1.1rem;margin-top:1.6rem;
border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.2rem .45rem;text-align:left;vertical-align:top}
th{background:#f5f5f5;white-space:nowrap}th a{color:#222}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.loss .pnl{color:#d62728}tr.win .pnl{color:#2ca02c}
.note{color:#666;font-size:.85rem}.error{color:#b91c1c}
.facts{display:flex;flex-wrap:wrap;gap:.6rem;margin:.8rem 0}
.facts div{border:1px solid #ddd;border-radius:6px;padding:.4rem .7rem;min-width:7rem}
.facts b{display:block;font-size:1.2rem;font-variant-numeric:tabular-nums}
.facts span{color:#666;font-size:.78rem}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.6rem 0;
font-size:.82rem}form.filters label{display:flex;flex-direction:column}
form.filters input,form.filters select{width:8rem}
code,.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.8rem}
.wf{width:100%;border-collapse:collapse}.wf td{border:none;border-bottom:1px solid #eee;
padding:.15rem .4rem;white-space:nowrap}.wf tr.detail td{white-space:normal}
.wf .lane{width:45%;min-width:320px;position:relative;overflow:hidden}
.wf .bar{position:absolute;top:.25rem;height:.8rem;min-width:2px;border-radius:2px}
.wf .mark{font-size:.7rem;color:#555;position:absolute;top:0;white-space:nowrap}
details.attrs summary{cursor:pointer;color:#1f4e99}
.pager a,.pager span{margin-right:.6rem}.switch a,.switch b{margin-right:.6rem}
.chain td.self{background:#fff7d6}
"""

#: Colours of event types in the waterfall (others: grey).
COLOURS = {"BAR": "#9ca3af", "SIGNAL": "#6366f1", "ORDER": "#f59e0b", "FILL": "#10b981",
           "POSITION_OPEN": "#0ea5e9", "POSITION_CLOSE": "#ef4444", "trade": "#111827"}


#: Unfolding a ``<details data-src=URL>`` loads its body from URL (our own page's
#: fragment, escaped on the server) once; without script the body's link is there.
LAZY_SCRIPT = """<script>
document.querySelectorAll('details[data-src]').forEach(function (d) {
  d.addEventListener('toggle', function () {
    if (!d.open || d.dataset.loaded) return;
    d.dataset.loaded = '1';
    fetch(d.dataset.src).then(function (r) { return r.text(); }).then(function (t) {
      d.querySelector('.attrs-body').innerHTML = t;
    });
  });
});
</script>"""


class Raw(str):
    """Markup made here (never text from traces): inserted as it is."""


class Figure(str):
    """A number already formatted: escaped, right-aligned like numbers."""


def e(value: Any) -> str:
    """``value`` as HTML text (None as nothing), quotes escaped for attributes too."""
    return html.escape("" if value is None else str(value), quote=True)


def href(path: str, **params: Any) -> str:
    """A local URL with ``params`` as its query string (None and "" left out), escaped
    for an attribute: ids travel in the query string, never in the path."""
    kept = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    query = urllib.parse.urlencode(kept)
    return e(path + ("?" + query if query else ""))


def link(text: Any, path: str, **params: Any) -> Raw:
    return Raw(f'<a href="{href(path, **params)}">{e(text)}</a>')


def num(value: Any, digits: int = 2) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.{digits}f}"
    return str(value)


def money(value: float | None) -> str:
    return "" if value is None else f"{value:+,.2f}"


def micros(value: float | None) -> str:
    """Microseconds, shown in the unit that reads best."""
    if value is None:
        return ""
    if value >= 1e6:
        return f"{value / 1e6:,.2f} s"
    if value >= 1e3:
        return f"{value / 1e3:,.2f} ms"
    return f"{value:,.1f} us"


def cell(value: Any, cls: str = "") -> str:
    if isinstance(value, Raw):
        return f"<td{_cls(cls)}>{value}</td>"
    if isinstance(value, Figure):
        return f'<td class="n {e(cls)}">{e(value)}</td>'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="n {e(cls)}">{e(num(value))}</td>'
    return f"<td{_cls(cls)}>{e(value)}</td>"


def _cls(cls: str) -> str:
    return f' class="{e(cls)}"' if cls else ""


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], *, table_id: str = "",
          row_classes: Sequence[str] | None = None) -> str:
    """A table; a header may be :class:`Raw` (a sort link), every cell is escaped."""
    head = "".join(f"<th>{h if isinstance(h, Raw) else e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes is not None else ""
        body.append(f"<tr{_cls(cls)}>" + "".join(cell(v) for v in row) + "</tr>")
    ident = f' id="{e(table_id)}"' if table_id else ""
    return (f"<table{ident}><thead><tr>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


def facts(items: Iterable[tuple[str, Any]]) -> str:
    """Headline figures in boxes: (label, value) with the value already formatted."""
    return '<div class="facts">' + "".join(
        f"<div><b>{e(value)}</b><span>{e(label)}</span></div>" for label, value in items
    ) + "</div>"


def page(title: str, body: str, *, scripts: Sequence[str] = ()) -> str:
    """A whole page: the navigation, the title and ``body`` (markup made here)."""
    nav = ('<nav><a href="/">Runs</a><a href="/latency">Latency</a>'
           '<a href="/why">Why no trade</a></nav>')
    tags = "".join(f'<script src="{e(s)}"></script>' for s in scripts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{e(title)} - tradetrace</title><style>{CSS}</style>{tags}</head>"
            f"<body>{nav}<main><h1>{e(title)}</h1>\n{body}\n</main></body></html>\n")
