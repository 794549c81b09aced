"""Fixtures of the fault-injection suite: real misbehaving OTLP receivers on loopback
and folders that cannot be written.

- ``http_receiver`` / ``grpc_receiver``: a started receiver answering ``ok``; a test
  switches it with ``receiver.set(slow(0.3))``, ``receiver.die()``... (receivers.py).
  Closed at teardown, which drops every request it still holds.
- ``small_filesystem(size_kib)``: a tmpfs of that size at a new folder (writes beyond it
  fail with ENOSPC); unmounted at teardown. Skips, with mount's reason, where mounting
  is not permitted.
- ``unwritable_folder``: an existing folder where creating a file fails, for root too.
- ``stock_exporter(receiver, timeout=1.0, **kwargs)``: the stock OTLP span exporter of
  the receiver's protocol pointed at it; all shut down at teardown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .exporters import stock_span_exporter
from .filesystems import MountUnavailable, tmpfs
from .filesystems import unwritable_folder as _unwritable_folder
from .receivers import GrpcFaultReceiver, HttpFaultReceiver


@pytest.fixture
def http_receiver() -> Iterator[HttpFaultReceiver]:
    with HttpFaultReceiver() as receiver:
        yield receiver


@pytest.fixture
def grpc_receiver() -> Iterator[GrpcFaultReceiver]:
    with GrpcFaultReceiver() as receiver:
        yield receiver


@pytest.fixture
def small_filesystem() -> Iterator[Callable[[int], Path]]:
    with contextlib.ExitStack() as mounted:

        def mount(size_kib: int = 64) -> Path:
            try:
                return mounted.enter_context(tmpfs(size_kib))
            except MountUnavailable as exc:
                pytest.skip(str(exc))

        yield mount


@pytest.fixture
def unwritable_folder() -> Iterator[Path]:
    with contextlib.ExitStack() as made:
        try:
            folder = made.enter_context(_unwritable_folder())
        except MountUnavailable as exc:
            pytest.skip(str(exc))
        yield folder


@pytest.fixture
def stock_exporter() -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(receiver: Any, timeout: float = 1.0, **kwargs: Any) -> Any:
        made.append(stock_span_exporter(receiver, timeout, **kwargs))
        return made[-1]

    yield make
    for exporter in made:
        exporter.shutdown()


@pytest.fixture
def spans_built_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans built by a thread of this process (``encoder: thread``), for tests that
    watch the export worker and sink writer at work (their counters, their log lines).
    The encoder process runs the same two; tests/export/test_encoder_process.py checks that
    its failures reach the traced process's accounting."""
    monkeypatch.setenv("TRADETRACE_ENCODER", "thread")
