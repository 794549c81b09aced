"""Traces fetched from a Jaeger query service, as a source of :class:`TraceQuery`.

``jaeger+http://host:16686/?service=trading&lookback=1h&limit=100`` (or ``http://...``
with the same parameters) asks Jaeger v2's API v3 for the service's traces that started
in the last ``lookback`` (``30m``, ``24h``, ``7d``; default 1h), at most ``limit``
(default 100); ``trace=<32 hex>`` (repeatable) fetches given traces instead. API v3
answers in OTLP JSON, so each answer becomes one line of a temporary trace file and is
loaded like any other. An unreachable server, an HTTP error or an answer that is not
OTLP is a skipped source with a message, never an exception.

``trade=<trade id>`` (repeatable) keeps the traces holding a span of that trade, and
``tag=key:value`` (repeatable, all must match) those holding a span with that attribute:
API v3 cannot search by attribute in Jaeger v2.13, so the trace ids come from the
search behind the Jaeger UI's Tags field (``/api/traces?tags=``), then each trace from
API v3.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ... import conventions as conv

TIMEOUT_SECONDS = 10.0
_LOOKBACK = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
SCHEMES = ("http://", "https://", "jaeger+http://", "jaeger+https://")


class RemoteError(Exception):
    """Why a remote source gave nothing (the message names it)."""


def is_remote(source: str) -> bool:
    return source.startswith(SCHEMES)


def fetch_jaeger(source: str, folder: Path, index: int) -> tuple[Path, int]:
    """Write the traces a Jaeger URL names into ``folder``; (file, traces fetched)."""
    url = urllib.parse.urlsplit(source.removeprefix("jaeger+"))
    base = f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}"
    params = urllib.parse.parse_qs(url.query)
    trace_ids = params.get("trace", [])
    answers: list[Any] = []
    if trace_ids:
        for trace_id in trace_ids:
            if not re.fullmatch(r"[0-9a-fA-F]{32}", trace_id):
                raise RemoteError(f"trace={trace_id!r} is not a 32-hex-digit trace id")
            answers += _get(f"{base}/api/v3/traces/{trace_id.lower()}")
    else:
        service = (params.get("service") or [""])[0]
        if not service:
            raise RemoteError("name the service: ?service=<name> (or trace=<id>)")
        lookback = _lookback((params.get("lookback") or ["1h"])[0])
        limit = (params.get("limit") or ["100"])[0]
        if not limit.isdigit() or int(limit) < 1:
            raise RemoteError(f"limit={limit!r} is not a positive whole number")
        tags = dict(_tag(text) for text in params.get("tag", []))
        trades = params.get("trade", [])
        end = datetime.now(timezone.utc)
        if tags or trades:
            searches = [{**tags, conv.TRADE_ID: trade} for trade in trades] or [tags]
            found: list[str] = []
            for search in searches:
                for trace_id in _search(base, service, search, end - lookback, end, limit):
                    if trace_id not in found:
                        found.append(trace_id)
            for trace_id in found:
                answers += _get(f"{base}/api/v3/traces/{trace_id}")
        else:
            query = urllib.parse.urlencode({
                "query.service_name": service,
                "query.start_time_min": _rfc3339(end - lookback),
                "query.start_time_max": _rfc3339(end),
                "query.num_traces": limit,
            })
            answers += _get(f"{base}/api/v3/traces?{query}")
    path = folder / f"jaeger-{index:03d}.jsonl"
    traces: set[str] = set()
    with open(path, "w", encoding="utf-8") as out:
        for answer in answers:
            result = answer.get("result", answer) if isinstance(answer, dict) else None
            spans = result.get("resourceSpans") if isinstance(result, dict) else None
            if not isinstance(spans, list):
                raise RemoteError("the answer is not OTLP JSON (no resourceSpans)")
            out.write(json.dumps({"resourceSpans": spans}, separators=(",", ":")) + "\n")
            traces.update(_trace_ids(spans))
    return path, len(traces)


def _get(url: str) -> list[Any]:
    """The JSON objects of one answer (API v3 streams one object per chunk)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # API v3 answers 404 when nothing matched
            return []
        raise RemoteError(f"HTTP {exc.code} from {url}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(f"cannot reach {url}: {reason}") from None
    decoder, objects, at = json.JSONDecoder(), [], 0
    try:
        while at < len(body):
            while at < len(body) and body[at].isspace():
                at += 1
            if at == len(body):
                break
            value, at = decoder.raw_decode(body, at)
            objects.append(value)
    except json.JSONDecodeError:
        raise RemoteError(f"the answer from {url} is not JSON") from None
    for value in objects:
        if isinstance(value, dict) and "error" in value and "result" not in value:
            error = value["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            if isinstance(error, dict) and error.get("httpCode") == 404:
                return []
            raise RemoteError(f"Jaeger said: {message}")
    return objects


def _search(base: str, service: str, tags: dict[str, str], start: datetime, end: datetime,
            limit: str) -> list[str]:
    """Trace ids of the service's traces holding a span with all these attributes."""
    query = urllib.parse.urlencode({
        "service": service, "tags": json.dumps(tags), "limit": limit,
        "start": int(start.timestamp() * 1e6), "end": int(end.timestamp() * 1e6),
    })
    ids = []
    for answer in _get(f"{base}/api/traces?{query}"):
        traces = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(traces, list):
            raise RemoteError("the search answer has no trace list (is this Jaeger?)")
        for trace in traces:  # this API drops a 128-bit id's leading zeros
            trace_id = str(trace.get("traceID", "")) if isinstance(trace, dict) else ""
            if re.fullmatch(r"[0-9a-fA-F]{1,32}", trace_id):
                ids.append(trace_id.lower().zfill(32))
    return ids


def _tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition(":")
    if not sep or not key.strip():
        raise RemoteError(f"tag={text!r}: expected key:value, e.g. trading.trade.outcome:loss")
    return key.strip(), value


def _trace_ids(resource_spans: list[Any]) -> set[str]:
    ids = set()
    for resource in resource_spans:
        for scope in resource.get("scopeSpans", []) if isinstance(resource, dict) else []:
            for span in scope.get("spans", []) if isinstance(scope, dict) else []:
                if isinstance(span, dict) and isinstance(span.get("traceId"), str):
                    ids.add(span["traceId"])
    return ids


def _lookback(text: str) -> timedelta:
    match = _LOOKBACK.match(text.strip())
    if not match:
        raise RemoteError(f"lookback={text!r}: expected e.g. 30m, 24h or 7d")
    return timedelta(**{_UNITS[match[2]]: float(match[1])})


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
