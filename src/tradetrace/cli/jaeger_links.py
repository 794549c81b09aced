"""Where a trade is in the Jaeger UI: the addresses ``tradetrace query trade`` prints when
a Jaeger URL is given (``--jaeger-url``, else ``TRADETRACE_JAEGER_URL``).

- the tag search ``trading.trade.id=<id>`` over the trade's time, which lists the trade's
  own trace and every bar's trace holding one of its events;
- each span, as the UI's own references lead to it: ``/trace/<trace id>?uiFind=<span id>``
  opens the trace with that span's details open.

The UI needs a service for a search: the trade's spans' ``service.name``. Its time range
is wall-clock (when the spans were recorded, not market time), a minute either side.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .. import conventions as conv
from .. import environment_variables as ev

MARGIN_US = 60_000_000  #: the search's time range around the trade's spans


def jaeger_url(given: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The Jaeger UI's base address, or None; ValueError for one that is not http(s)."""
    env = os.environ if env is None else env
    url = (given or env.get(ev.TRADETRACE_JAEGER_URL) or "").strip()
    if not url:
        return None
    if urllib.parse.urlsplit(url).scheme not in ("http", "https") or "://" not in url:
        where = "--jaeger-url" if given else ev.TRADETRACE_JAEGER_URL
        raise ValueError(f"{where}: {url!r} is not the Jaeger UI's http(s) address "
                         "(e.g. http://localhost:16686)")
    return url.rstrip("/")


def trade_links(base: str, query: Any, trade_id: str) -> list[dict[str, str]]:
    """``[{"what": ..., "url": ...}]``: the search, the trade span, then each event span
    in time order; [] when no span names the trade."""
    rows = query.sql("SELECT name, trace_id, span_id, service_name, start_ns, end_ns "
                     "FROM spans WHERE trade_id = ? ORDER BY name <> ?, start_ns",
                     [trade_id, conv.TRADE_SPAN_NAME])
    if not rows:
        return []
    service = next((r[3] for r in rows if r[3]), "trading")
    start = min(r[4] for r in rows) // 1000 - MARGIN_US
    end = max(r[5] for r in rows) // 1000 + MARGIN_US
    search = urllib.parse.urlencode({
        "service": service, "tags": json.dumps({conv.TRADE_ID: trade_id}, separators=(",", ":")),
        "lookback": "custom", "start": start, "end": end, "limit": 100})
    links = [{"what": "search", "url": f"{base}/search?{search}"}]
    for name, trace_id, span_id, *_ in rows:
        what = "trade span" if name == conv.TRADE_SPAN_NAME else name
        links.append({"what": what, "url": f"{base}/trace/{trace_id}?uiFind={span_id}"})
    return links
