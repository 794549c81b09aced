"""The viewer's HTTP server: the standard library's WSGI server, one thread a request.

It binds to loopback unless told otherwise (another host is warned about: the traces
hold a trading system's orders), prints ``tradetrace serve: http://HOST:PORT/`` once it
listens (``--port 0`` takes a free port, read from that line), and warms the trades
table in the background so the first trades page does not pay for it.
"""

from __future__ import annotations

import ipaddress
import socketserver
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .app import App
from .data import Traces


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a browser's open connection never holds the exit
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """No line per request on stderr (a page loads a dozen); errors still go there."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make(sources: Sequence[str | Path], host: str = "127.0.0.1", port: int = 8765, *,
         jaeger_url: str | None = None) -> tuple[WSGIServer, App]:
    """The server, listening, and its app (not serving yet)."""
    app = App(Traces(sources), jaeger_url=jaeger_url)
    server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    return server, app


def url(server: WSGIServer) -> str:
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else str(host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def warm(app: App) -> None:
    """Ask once for a trades page so the engine builds its trades table now."""
    try:
        with app.traces.session() as query:
            query.trades(events=False, limit=1)
    except Exception:  # the page that needs it will say what is wrong
        pass


def serve(sources: Sequence[str | Path], host: str = "127.0.0.1", port: int = 8765, *,
          jaeger_url: str | None = None, out: IO[str] | None = None) -> int:
    """Serve until interrupted; the exit status."""
    out = out or sys.stdout
    if not is_loopback(host):
        print(f"tradetrace serve: WARNING: listening on {host}, not loopback: anyone who "
              "can reach this machine can read these traces (orders, P&L, payloads)",
              file=sys.stderr)
    for source in sources:  # a typo, or a run not started yet: said, then served
        if not any(c in str(source) for c in "*?[") and not Path(source).exists():
            print(f"tradetrace serve: {source} does not exist (yet): its runs show up "
                  "when trace files land there", file=sys.stderr)
    server, app = make(sources, host, port, jaeger_url=jaeger_url)
    print(f"tradetrace serve: {url(server)}  (sources: {', '.join(map(str, sources))}; "
          "Ctrl-C stops)", file=out, flush=True)
    threading.Thread(target=warm, args=(app,), name="tradetrace-serve-warm",
                     daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
