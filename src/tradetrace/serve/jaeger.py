"""Addresses in the Jaeger UI, when one is configured (``--jaeger-url``, else
``TRADETRACE_JAEGER_URL``): a span opens as the UI's own references open it,
``/trace/<trace id>?uiFind=<span id>``; a trade is a tag search over its wall time."""

from __future__ import annotations

import json
import os
import urllib.parse

from .. import conventions as conv
from .. import environment_variables as ev

MARGIN_US = 60_000_000  #: the search's time range around the trade's spans, each side


def base_url(given: str | None) -> str | None:
    """The UI's base address, or None; ValueError for one that is not http(s)."""
    url = (given or os.environ.get(ev.TRADETRACE_JAEGER_URL) or "").strip()
    if not url:
        return None
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not the Jaeger UI's http(s) address "
                         "(e.g. http://localhost:16686)")
    return url.rstrip("/")


def span_url(base: str, trace_id: str, span_id: str) -> str:
    return (f"{base}/trace/{urllib.parse.quote(trace_id, safe='')}?"
            + urllib.parse.urlencode({"uiFind": span_id}))


def trade_search_url(base: str, trade_id: str, service: str | None, start_ns: int,
                     end_ns: int) -> str:
    query = urllib.parse.urlencode({
        "service": service or "trading",
        "tags": json.dumps({conv.TRADE_ID: trade_id}, separators=(",", ":")),
        "lookback": "custom", "start": start_ns // 1000 - MARGIN_US,
        "end": end_ns // 1000 + MARGIN_US, "limit": 100})
    return f"{base}/search?{query}"
