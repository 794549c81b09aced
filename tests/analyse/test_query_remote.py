"""Jaeger sources of TraceQuery: what is wrong with a URL is a skipped source with a
message, and the files beside it still load. (Reading a real Jaeger is in the e2e tests.)"""

from __future__ import annotations

import socket

import pytest

import tradetrace
from tradetrace.analyse.query import TraceQuery


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    import demo_engine

    out = tmp_path_factory.mktemp("traces")
    tradetrace.configure("normal", profile="demo", output=out, backend="file")
    demo_engine.run_backtest(bars=50, seed=1)
    tradetrace.shutdown()
    return str(out)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: nothing listens there


@pytest.mark.parametrize("url, reason", [
    (f"jaeger+http://127.0.0.1:{_closed_port()}/?service=trading", "cannot reach"),
    ("tempo+http://127.0.0.1:3200/", "Tempo is not supported"),
    ("jaeger+http://127.0.0.1:16686/", "name the service"),
    ("jaeger+http://127.0.0.1:16686/?service=x&lookback=soon", "lookback='soon'"),
    ("jaeger+http://127.0.0.1:16686/?trace=xyz", "not a 32-hex-digit trace id"),
    ("jaeger+http://127.0.0.1:16686/?service=x&limit=0", "limit='0'"),
    ("jaeger+http://127.0.0.1:16686/?service=x&tag=loss", "tag='loss': expected key:value"),
    ("jaeger+http://127.0.0.1:16686/?trade=trd_1", "name the service"),
])
def test_a_bad_or_unreachable_url_is_skipped_with_its_reason(folder, url, reason):
    alone = TraceQuery(folder).stats.spans
    query = TraceQuery([folder, url])
    assert query.stats.spans == alone  # the files still load
    assert query.stats.skipped_sources == [url]
    (message,) = [m for m in query.stats.messages if m.startswith(url)]
    assert reason in message and message.endswith("; skipped")
