"""The real programs of the observability stack, started and stopped by the tests on
loopback ports. They are built by .ci/build-stack into .cache/stack/."""

from __future__ import annotations

import base64
import os
import random
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / ".cache" / "stack"


def program(name: str) -> Path:
    """The newest built binary of ``name`` (``jaeger``, ``otelcol-tradetrace``)."""
    found = sorted(STACK.glob(f"{name}-*/{name}"))
    if not found:
        message = f"{name} is not built: run .ci/build-stack"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must build the stack, never skip it
        pytest.skip(message)
    return found[-1]


_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range, never handed out twice.

    A port from ``bind(0)`` comes from the ephemeral range, where any outgoing connection
    (our own readiness polls included) may take it before the program under test binds it:
    CI once saw Jaeger fail with "address already in use" that way. Below the range, only a
    program that binds the number on purpose can take it."""
    low = _ephemeral_low()
    chooser = random.Random()
    for _ in range(500):
        port = chooser.randrange(min(15000, low - 1000), low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise AssertionError(f"no free loopback port below {low}")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll an outside program's state until ``condition()`` or the deadline."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        pause.wait(0.2)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def running(command: list[str], log: Path, ready: Callable[[], bool],
            what: str, timeout: float = 60,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Start a program, wait until it is ready, stop it (bounded) at the end."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            try:
                wait_until(lambda: process.poll() is not None or ready(), timeout, what)
            except AssertionError:
                raise AssertionError(
                    f"{what}: not ready; log:\n{log.read_text()[-3000:]}") from None
            if process.poll() is not None:
                raise AssertionError(f"{what} exited ({process.returncode}):\n"
                                     f"{log.read_text()[-3000:]}")
            yield process
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


CONFIGS = ROOT / "collector-config"
#: The documented local Jaeger (docs/backends.md): the tests run the same file.
JAEGER_LOCAL = CONFIGS / "jaeger" / "jaeger-local.yaml"


def jaeger_ui_dir() -> Path:
    """Where the Jaeger UI's static files are looked for: ``JAEGER_UI_DIR``, else
    ``shared/jaeger-ui/ui`` beside the clone (no package registry serves them)."""
    return Path(os.environ.get("JAEGER_UI_DIR") or ROOT.parent / "shared" / "jaeger-ui" / "ui")


def jaeger_ui() -> Path | None:
    """That folder, or None when it holds no UI."""
    found = jaeger_ui_dir()
    return found if (found / "index.html").is_file() else None


def taken(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_free(ports: dict[str, int], what: str) -> None:
    """A clear error naming the port and its role, before a program fails on it."""
    busy = [f"{port} ({role})" for role, port in ports.items() if taken(port)]
    if busy:
        raise AssertionError(f"{what}: port already in use by another program: "
                             + ", ".join(busy))


@contextmanager
def jaeger(folder: Path, ui: Path | None = None) -> Iterator[dict[str, int]]:
    """Jaeger v2 from ``collector-config/jaeger/jaeger-local.yaml`` (in-memory storage,
    its own telemetry off) on free loopback ports, with the UI from ``ui`` if given."""
    ports = {"query": free_port(), "query_grpc": free_port(), "otlp_http": free_port(),
             "otlp_grpc": free_port()}
    check_free(ports, "jaeger")
    env = {**os.environ,
           "OTELCOL_JAEGER_ENDPOINT": f"127.0.0.1:{ports['otlp_grpc']}",
           "JAEGER_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{ports['otlp_http']}",
           "JAEGER_QUERY_HTTP_ENDPOINT": f"127.0.0.1:{ports['query']}",
           "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{ports['query_grpc']}",
           "JAEGER_LOG_LEVEL": "warn", "JAEGER_UI_ASSETS": str(ui or "")}
    with running([str(program("jaeger")), "--config", str(JAEGER_LOCAL)],
                 folder / "jaeger.log",
                 lambda: http_ok(f"http://127.0.0.1:{ports['query']}/api/services"),
                 "jaeger", env=env):
        yield ports


@contextmanager
def collector(folder: Path, config: str, name: str = "",
              **env: str) -> Iterator[dict[str, int]]:
    """The project's collector distribution with ``collector-config/<config>``, its OTLP
    receivers and health check on free loopback ports; ``env`` sets the config's other
    ``OTELCOL_*`` variables."""
    ports = {"otlp_grpc": free_port(), "otlp_http": free_port(), "health": free_port(),
             "metrics": free_port()}
    check_free(ports, "collector")
    variables = {
        "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{ports['otlp_grpc']}",
        "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{ports['otlp_http']}",
        "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{ports['health']}",
        "OTELCOL_METRICS_HOST": "127.0.0.1",
        "OTELCOL_METRICS_PORT": str(ports["metrics"]),
        **env,
    }
    command = [str(program("otelcol-tradetrace")), "--config", str(CONFIGS / config)]
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)  # Popen inherits them
    try:
        with running(command, folder / f"otelcol-{name or config}.log",
                     lambda: http_ok(f"http://127.0.0.1:{ports['health']}/"), "collector"):
            yield ports
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def backtest_over_otlp(demo, endpoint: str, service: str, folder: Path, monkeypatch,
                       bars: int = 200, seed: int = 5) -> tuple[dict, int]:
    """The demo backtest traced at NORMAL, exported over OTLP/HTTP to ``endpoint``
    (metrics off: the receivers under test take traces only); (results, spans exported)."""
    import tradetrace

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", service)
    config = folder / "tracing.yaml"
    config.write_text("tracing:\n  metrics: false\n")
    session = tradetrace.configure("normal", profile="demo", backend="otlp",
                                   config_file=config)
    results = demo.run_backtest(bars=bars, seed=seed)
    tradetrace.shutdown()
    stats = session.stats()
    assert stats["spans_lost"] == 0 and stats["spans_exported"] > 0
    return results, stats["spans_exported"]


def accepted_spans(metrics_port: int) -> int:
    """Spans a collector's receivers accepted, from its own Prometheus metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("otelcol_receiver_accepted_spans")))


def kafka_libs() -> Path:
    found = sorted(STACK.glob("kafka-*/libs"))
    if not found:
        message = "Kafka is not fetched: run .ci/build-stack"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found[-1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def kafka(folder: Path) -> Iterator[dict[str, Any]]:
    """A one-node Kafka broker in KRaft mode (broker and controller in one process),
    3 partitions per topic; yields its port and a ``run(main_class, *args)`` helper."""
    libs = kafka_libs()
    ports = {"broker": free_port(), "controller": free_port()}
    data = folder / "kafka-data"
    config = folder / "kafka.properties"
    config.write_text("\n".join([
        "process.roles=broker,controller", "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{ports['controller']}",
        f"listeners=PLAINTEXT://127.0.0.1:{ports['broker']},"
        f"CONTROLLER://127.0.0.1:{ports['controller']}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{ports['broker']}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={data}", "num.partitions=3", "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0", "",
    ]))
    classpath = f"{libs}/*"

    def run(main_class: str, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(["java", "-cp", classpath, main_class, *args],
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    run("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config))
    with running(["java", "-cp", classpath, "kafka.Kafka", str(config)],
                 folder / "kafka.log", lambda: port_open(ports["broker"]), "kafka", 90):
        yield {"port": ports["broker"], "run": run}
