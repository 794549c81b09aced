"""The WSGI application: routes, methods, errors and the one static file.

Routes are exact paths; ids (runs, trades, events, spans) travel in the query string,
so no path is ever joined to a folder and nothing outside the sources can be reached:
an unknown path is a 404. Only GET and HEAD are answered (read-only); another method is
a 405. A page that cannot find what it was asked for raises :class:`NotFound`, shown as
a 404 page with the reason.
"""

from __future__ import annotations

import logging
import traceback
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from .data import Traces
from .html import e, page

logger = logging.getLogger("tradetrace.serve")

PLOTLY_ROUTE = "/static/plotly.min.js"
#: The browser may load nothing from elsewhere: plotly.js and the pages are ours alone
#: (inline scripts and styles are the figures' and the pages' own).
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:")


class NotFound(Exception):
    """What was asked for is not in the traces: a 404 page saying so."""


def engine_failed(exc: Exception) -> str:
    """What to say when DuckDB gave up (its memory limit, a full disk for spilling)."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return (f"the query engine (DuckDB) failed: {first}; give it more memory with "
            "--memory-limit (1.5GB by default), or serve fewer runs")


class BadRequest(Exception):
    """A parameter that cannot be used (a P&L bound that is no number): a 400 page."""


@dataclass
class Request:
    path: str
    params: dict[str, str]
    traces: Traces
    jaeger_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.params.get(name)
        return value if value not in (None, "") else default

    def need(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise BadRequest(f"the parameter {name!r} is missing")
        return value

    def number(self, name: str) -> float | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            raise BadRequest(f"{name}={value!r} is not a number") from None


Handler = Callable[[Request], str]
StartResponse = Callable[..., Any]


def _plotly_js() -> bytes:
    """plotly.js from the installed plotly package (no CDN), read once."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


class App:
    """``App(traces)(environ, start_response)``: the viewer as a WSGI application."""

    def __init__(self, traces: Traces, *, jaeger_url: str | None = None) -> None:
        from . import latency_page, runs_pages, span_pages, trade_pages, trades_page, why_pages

        self.traces = traces
        self.jaeger_url = jaeger_url
        self.routes: dict[str, Handler] = {
            "/": runs_pages.runs,
            "/compare": runs_pages.compare,
            "/trades": trades_page.trades,
            "/trade": trade_pages.trade,
            "/span": span_pages.span,
            "/chain": span_pages.chain,
            "/why": why_pages.why,
            "/latency": latency_page.latency,
            "/spans": latency_page.spans,
        }
        self._plotly: bytes | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        if method not in ("GET", "HEAD"):
            return self._send(start_response, "405 Method Not Allowed", _error_page(
                "Method not allowed", f"{method} is not answered: the viewer is read-only "
                "(GET and HEAD only)."), method, [("Allow", "GET, HEAD")])
        if path == PLOTLY_ROUTE:
            if self._plotly is None:
                self._plotly = _plotly_js()
            return self._send(start_response, "200 OK", self._plotly, method,
                              [("Cache-Control", "public, max-age=86400")],
                              "text/javascript; charset=utf-8")
        handler = self.routes.get(path)
        if handler is None:
            return self._send(start_response, "404 Not Found", _error_page(
                "Not found", f"no page at {path!r}; the pages are linked from the runs "
                "page, /"), method)
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        params = {k: v[-1] for k, v in query.items()}
        request = Request(path, params, self.traces, self.jaeger_url)
        try:
            body = handler(request)
            status = "200 OK"
        except NotFound as exc:
            status, body = "404 Not Found", _error_page("Not found", str(exc))
        except BadRequest as exc:
            status, body = "400 Bad Request", _error_page("Bad request", str(exc))
        except duckdb.Error as exc:  # the engine gave up: said in a line, as the CLI does
            logger.error("tradetrace serve: %s: %s", path, engine_failed(exc))
            status = "500 Internal Server Error"
            body = _error_page("The query engine failed", engine_failed(exc))
        except Exception as exc:  # a page's bug: said, not hidden
            logger.error("tradetrace serve: %s failed\n%s", path, traceback.format_exc())
            status = "500 Internal Server Error"
            body = _error_page("The page failed", f"{type(exc).__name__}: {exc}")
        return self._send(start_response, status, body, method)

    @staticmethod
    def _send(start_response: StartResponse, status: str, body: str | bytes, method: str,
              headers: list[tuple[str, str]] | None = None,
              content_type: str = "text/html; charset=utf-8") -> list[bytes]:
        data = body.encode("utf-8") if isinstance(body, str) else body
        start_response(status, [("Content-Type", content_type),
                                ("Content-Length", str(len(data))),
                                ("X-Content-Type-Options", "nosniff"),
                                ("Content-Security-Policy", CSP),
                                *(headers or [])])
        return [] if method == "HEAD" else [data]


def _error_page(title: str, message: str) -> str:
    return page(title, f'<p class="error">{e(message)}</p><p><a href="/">All runs</a></p>')
