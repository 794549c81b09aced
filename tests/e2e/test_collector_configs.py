"""Every collector config in collector-config/ is checked by the real collector
(otelcol-tradetrace, built by .ci/build-stack from collector-config/builder-config.yaml):
``validate`` accepts it, and the ones that need no backend at start also start and
report healthy, because ``validate`` does not build everything (tail_sampling's
policies, for one, are only checked when the processor starts)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .stack import ROOT, free_port, http_ok, program, running

pytestmark = pytest.mark.e2e

CONFIGS = ROOT / "collector-config"
#: Not a collector config: the collector builder's manifest.
MANIFEST = "builder-config.yaml"
#: Found by glob, so a new config is checked as soon as it exists; listed here too,
#: so that a config renamed or removed is noticed.
EXPECTED = {
    "jaeger.yaml", "tempo.yaml", "file.yaml", "kafka.yaml", "s3.yaml", "clickhouse.yaml",
    "fanout.yaml", "tier1-loadbalancer.yaml", "tier2-tail-sampling.yaml",
}
CONFIG_NAMES = sorted(p.name for p in CONFIGS.glob("*.yaml") if p.name != MANIFEST)
#: Configs whose exporter is not in the distribution (the Go module proxy refuses
#: awss3exporter's source, see builder-config.yaml): exporter id -> component type.
NOT_BUILT = {"s3.yaml": "awss3"}
#: Configs that cannot start without their backend: the clickhouse exporter
#: connects at start to create its schema.
NEEDS_BACKEND_AT_START = {"clickhouse.yaml"}
#: Keys whose value is an address or a path: each must come from an environment
#: variable (``${env:NAME:-default}``) so that tests and users can move it.
ADDRESS_KEYS = {"endpoint", "path", "hostnames", "brokers", "host", "port"}
VALIDATE_TIMEOUT = 60


def collector_env(**overrides: str) -> dict[str, str]:
    """This environment without the configs' OTELCOL_* variables (defaults apply),
    plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTELCOL_")}
    env.update(overrides)
    return env


def validate(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(program("otelcol-tradetrace")), "validate", "--config", str(config)],
        capture_output=True, text=True, timeout=VALIDATE_TIMEOUT, env=collector_env())


def load(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((CONFIGS / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def address_values(node: Any, where: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every ADDRESS_KEYS entry below ``node``."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if key in ADDRESS_KEYS and not isinstance(value, dict):
                found.append((here, value))
            found += address_values(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += address_values(value, f"{where}[{i}]")
    return found


def test_the_configs_are_the_expected_ones():
    assert set(CONFIG_NAMES) == EXPECTED


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_address_and_path_comes_from_the_environment(name):
    values = address_values(load(name))
    assert values, f"{name} names no endpoint"
    literal = [(key, value) for key, value in values
               if not (isinstance(value, str) and value.startswith("${env:OTELCOL_"))]
    assert literal == [], f"{name}: set these through ${{env:OTELCOL_...:-default}}"


@pytest.mark.parametrize("name", [n for n in CONFIG_NAMES if n not in NOT_BUILT])
def test_the_real_collector_validates_the_config(name):
    result = validate(CONFIGS / name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_s3_fails_only_because_awss3_is_not_built(tmp_path):
    name, component = "s3.yaml", NOT_BUILT["s3.yaml"]
    result = validate(CONFIGS / name)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f'unknown type: "{component}" for id: "{component}"' in output, output
    assert output.count("unknown type") == 1 and "invalid keys" not in output, output

    # Everything else in the file is valid: with the exporter swapped for `debug`
    # the same config validates.
    config = load(name)
    exporters = config["exporters"]
    assert set(exporters) == {component}
    config["exporters"] = {"debug": {}}
    for pipeline in config["service"]["pipelines"].values():
        pipeline["exporters"] = ["debug" if e == component else e
                                 for e in pipeline["exporters"]]
    swapped = tmp_path / name
    swapped.write_text(yaml.safe_dump(config))
    result = validate(swapped)
    assert result.returncode == 0, result.stdout + result.stderr


STARTABLE = [n for n in CONFIG_NAMES if n not in NOT_BUILT and n not in NEEDS_BACKEND_AT_START]


@pytest.mark.parametrize("name", STARTABLE)
def test_the_real_collector_starts_with_the_config(name, tmp_path, monkeypatch):
    """Started on free loopback ports (backends absent: exporters retry in the
    background), it reports healthy, and uses no deprecated component name."""
    health = f"127.0.0.1:{free_port()}"
    for key in [k for k in os.environ if k.startswith("OTELCOL_")]:
        monkeypatch.delenv(key)
    variables = {
        "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
        "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
        "OTELCOL_HEALTH_ENDPOINT": health,
        "OTELCOL_METRICS_HOST": "127.0.0.1",
        "OTELCOL_METRICS_PORT": str(free_port()),
        "OTELCOL_FILE_PATH": str(tmp_path / "out" / "traces.jsonl"),
        "OTELCOL_JAEGER_ENDPOINT": f"127.0.0.1:{free_port()}",
        "OTELCOL_TEMPO_ENDPOINT": f"127.0.0.1:{free_port()}",
        "OTELCOL_BACKEND_ENDPOINT": f"127.0.0.1:{free_port()}",
        "OTELCOL_KAFKA_BROKERS": f"127.0.0.1:{free_port()}",
        "OTELCOL_TIER2_HOSTNAMES": f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}",
    }
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    log = tmp_path / "otelcol.log"
    command = [str(program("otelcol-tradetrace")), "--config", str(CONFIGS / name)]
    with running(command, log, lambda: http_ok(f"http://{health}/"), name) as process:
        assert process.poll() is None
    text = log.read_text()
    assert "alias is deprecated" not in text, text[-3000:]
