"""One host, no collisions: every collector config runs beside the documented local
Jaeger (``collector-config/jaeger/jaeger-local.yaml``) with its defaults, and a port
already taken is a clear error at start."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from .stack import CONFIGS, JAEGER_LOCAL, check_free, free_port, program
from .test_collector_configs import CONFIG_NAMES, collector_env

pytestmark = pytest.mark.e2e

DEFAULT = re.compile(r"\$\{env:(\w+):-([^}]*)\}")


def default_ports(path: Path) -> dict[int, str]:
    """Port -> variable, of every address or port variable's default in the file."""
    found = {}
    for name, default in DEFAULT.findall(path.read_text()):
        if name.endswith(("ENDPOINT", "PORT", "HOSTNAMES")):
            for address in default.split(","):
                port = re.search(r"(\d+)$", address.split("?")[0])
                if port:
                    found[int(port[1])] = name
    return found


def test_the_local_jaeger_takes_none_of_the_standard_collector_ports():
    jaeger = default_ports(JAEGER_LOCAL)
    assert set(jaeger) == {24317, 24318, 16686, 16685}, jaeger
    assert not set(jaeger) & {4317, 4318, 8888, 13133}


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_config_runs_beside_the_local_jaeger(name):
    ours = default_ports(CONFIGS / name)
    assert ours, f"{name} has no port defaults"
    shared = set(ours) & set(default_ports(JAEGER_LOCAL))
    # only an exporter pointing at Jaeger may name its port (OTELCOL_JAEGER_ENDPOINT,
    # OTELCOL_BACKEND_ENDPOINT): the collector sends there, it does not listen
    assert {ours[p] for p in shared} <= {"OTELCOL_JAEGER_ENDPOINT",
                                          "OTELCOL_BACKEND_ENDPOINT"}, shared


def test_the_collector_configs_export_where_the_local_jaeger_listens():
    (receiver,) = [v for k, v in DEFAULT.findall(JAEGER_LOCAL.read_text())
                   if k == "OTELCOL_JAEGER_ENDPOINT"]
    for name in ("jaeger.yaml", "fanout.yaml"):
        assert f"${{env:OTELCOL_JAEGER_ENDPOINT:-{receiver}}}" in (CONFIGS / name).read_text()


def test_the_real_jaeger_validates_the_local_config():
    done = subprocess.run([str(program("jaeger")), "validate", "--config", str(JAEGER_LOCAL)],
                          capture_output=True, text=True, timeout=60, env=collector_env())
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_taken_port_is_named_before_the_stack_starts():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        with pytest.raises(AssertionError, match=f"port already in use by another program: "
                                                 f"{port} \\(query\\)"):
            check_free({"otlp_http": free_port(), "query": port}, "jaeger")


def test_the_real_jaeger_exits_on_a_taken_port_and_says_which(tmp_path):
    """What a user who starts the documented Jaeger beside something on 16686 sees."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = collector_env(JAEGER_QUERY_HTTP_ENDPOINT=f"127.0.0.1:{port}",
                            JAEGER_QUERY_GRPC_ENDPOINT=f"127.0.0.1:{free_port()}",
                            OTELCOL_JAEGER_ENDPOINT=f"127.0.0.1:{free_port()}",
                            JAEGER_OTLP_HTTP_ENDPOINT=f"127.0.0.1:{free_port()}")
        done = subprocess.run([str(program("jaeger")), "--config", str(JAEGER_LOCAL)],
                              capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert f"127.0.0.1:{port}" in output and "address already in use" in output, output[-2000:]
