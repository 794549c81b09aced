"""Every launch path, in real subprocesses: TRADETRACE_LEVEL alone, `tradetrace run`,
`opentelemetry-instrument` (through the distro's TracerProvider to a real OTLP/HTTP
receiver), and two at once. Each must give the in-process trace shape, once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from otlp_receiver import OtlpReceiver
from tradetrace import conventions as conv
from tradetrace.analyse.reader import read_spans
from tradetrace.launch.autostart import is_launcher
from tradetrace.testing import recording

ROOT = Path(__file__).resolve().parents[2]
BACKTEST = str(ROOT / "examples" / "backtest.py")
FAKE_ADMF = Path(__file__).resolve().parents[1] / "fake_admf"
BARS, SEED = 120, 5

ADMF_SCRIPT = f"""
import sys
sys.path.insert(0, {str(FAKE_ADMF)!r})
from src.core.coordinator.coordinator import Coordinator  # imported after tracing starts
Coordinator().run_topology("backtest", {{"bars": {BARS}, "seed": {SEED}}})
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    env.update(extra)
    return env


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env,
                          cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


def _otel_instrument() -> list[str]:
    script = Path(sys.executable).parent / "opentelemetry-instrument"
    if script.exists():
        return [str(script)]
    found = shutil.which("opentelemetry-instrument")
    assert found, "opentelemetry-instrument is installed with opentelemetry-instrumentation"
    return [found]


def shape(spans: list[tuple[str, str, str, dict]]) -> tuple[Counter, Counter]:
    """(span names, (event type, cause's event type) pairs): what a trace looks like,
    whatever its ids. Also checks that no span was written twice."""
    ids = [span_id for _, span_id, _, _ in spans]
    assert len(ids) == len(set(ids)), "a span was exported twice"
    by_id = {span_id: attributes for _, span_id, _, attributes in spans}
    names = Counter(name for name, _, _, _ in spans)
    causes = Counter(
        (attributes.get(conv.EVENT_TYPE), by_id.get(parent, {}).get(conv.EVENT_TYPE))
        for _, _, parent, attributes in spans if conv.EVENT_TYPE in attributes
    )
    return names, causes


def _from_files(folder: Path) -> list[tuple[str, str, str, dict]]:
    return [(s.name, s.span_id, s.parent_id or "", s.attributes) for s in read_spans([folder])]


def _in_process(run) -> tuple[Counter, Counter]:
    with recording("normal") as spans:
        run()
        found = spans.spans()
    return shape([
        (s.name, f"{s.context.span_id:016x}",
         f"{s.parent.span_id:016x}" if s.parent else "", dict(s.attributes)) for s in found
    ])


@pytest.fixture(scope="module")
def demo_shape():
    import demo_engine

    return _in_process(lambda: demo_engine.run_backtest(bars=BARS, seed=SEED))


@pytest.fixture(scope="module")
def admf_shape():
    from src.core.coordinator.coordinator import Coordinator

    return _in_process(
        lambda: Coordinator().run_topology("backtest", {"bars": BARS, "seed": SEED}))


def _programs(tmp_path: Path) -> dict[str, list[str]]:
    script = tmp_path / "admf_main.py"
    script.write_text(ADMF_SCRIPT)
    return {
        "demo": [sys.executable, BACKTEST, "--bars", str(BARS), "--seed", str(SEED), "--quiet"],
        "admf": [sys.executable, str(script)],
    }


@pytest.mark.parametrize("program", ["demo", "admf"])
def test_environment_variable_alone_traces_the_program(program, tmp_path, request):
    expected = request.getfixturevalue(f"{program}_shape")
    out = tmp_path / "traces"
    _run(_programs(tmp_path)[program],
         _env(TRADETRACE_LEVEL="normal", TRADETRACE_OUTPUT=str(out)), tmp_path)
    assert shape(_from_files(out)) == expected


@pytest.mark.parametrize("program", ["demo", "admf"])
def test_tradetrace_run_traces_the_program(program, tmp_path, request):
    expected = request.getfixturevalue(f"{program}_shape")
    out = tmp_path / "traces"
    command = [sys.executable, "-m", "tradetrace.cli.main", "run", "--level", "normal",
               "--output", str(out), "--", *_programs(tmp_path)[program]]
    done = _run(command, _env(), tmp_path)
    said = [line for line in done.stderr.splitlines() if "tradetrace" in line]
    assert said[0].startswith("tradetrace: tracing run ")  # where the spans go, ...
    assert all(" + dropped 0 + pending 0" in line for line in said[1:])  # ... all of them
    assert shape(_from_files(out)) == expected


def _otel_env(receiver: OtlpReceiver, **extra: str) -> dict[str, str]:
    settings = {
        "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none", "OTEL_SERVICE_NAME": "backtester",
        "OTEL_TRACES_SAMPLER": "tradetrace", "OTEL_TRACES_SAMPLER_ARG": "normal",
    }
    return _env(**{**settings, **extra})


def _received(receiver: OtlpReceiver) -> list[tuple[str, str, str, dict]]:
    return [(s.name, s.span_id, s.parent_id, s.attributes) for s in receiver.spans]


@pytest.mark.parametrize("program", ["demo", "admf"])
def test_opentelemetry_instrument_exports_through_the_distro(program, tmp_path, request):
    """The spans go through the TracerProvider opentelemetry-distro configured: the OTLP
    exporter of OTEL_EXPORTER_OTLP_*, the resource of OTEL_SERVICE_NAME."""
    expected = request.getfixturevalue(f"{program}_shape")
    with OtlpReceiver() as receiver:
        _run(_otel_instrument() + _programs(tmp_path)[program], _otel_env(receiver), tmp_path)
        spans = _received(receiver)  # the program flushed at exit: everything is here
        resources = {tuple(sorted(s.resource.items())) for s in receiver.spans}
    assert shape(spans) == expected
    (resource,) = [dict(r) for r in resources]
    assert resource["service.name"] == "backtester"
    assert resource["telemetry.auto.version"]  # set by the distro's configurator
    assert resource[conv.RUN_ID].startswith("run_")


@pytest.mark.parametrize("argv, launcher", [
    (["/usr/bin/python3", "/venv/bin/opentelemetry-instrument", "python", "main.py"], True),
    (["python", "/venv/bin/tradetrace", "summary", "runs/"], True),
    (["python", "-m", "tradetrace.cli.main", "run", "--", "python", "x.py"], True),
    (["python", "-X", "importtime", "-m", "tradetrace", "query"], True),
    (["python", "main.py", "--config", "tradetrace"], False),
    (["python", "-m", "src.main"], False),
    (["python", "-c", "import tradetrace"], False),
    (["python"], False),
])
def test_launchers_are_not_traced_themselves(argv, launcher):
    """A launcher runs with the variables set for the program it starts."""
    assert is_launcher(argv) is launcher


def test_sampler_argument_sets_the_level(tmp_path):
    with OtlpReceiver() as receiver:
        env = _otel_env(receiver, OTEL_TRACES_SAMPLER_ARG="minimal")
        _run(_otel_instrument() + _programs(tmp_path)["demo"], env, tmp_path)
        types = {s.attributes.get(conv.EVENT_TYPE) for s in receiver.spans}
    assert "BAR" not in types and "SIGNAL" not in types


@pytest.mark.parametrize("switch", [
    {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "flask, tradetrace"},
    {"OTEL_SDK_DISABLED": "true"},
])
def test_opentelemetry_switches_turn_it_off(switch, tmp_path):
    """Disabled by OpenTelemetry's own variables: nothing is sent, even with
    TRADETRACE_LEVEL set (the start-up hook steps aside under opentelemetry-instrument)."""
    with OtlpReceiver() as receiver:
        env = _otel_env(receiver, TRADETRACE_LEVEL="normal", **switch)
        done = _run(_otel_instrument() + _programs(tmp_path)["demo"], env, tmp_path)
        assert "trades" in done.stdout
        assert receiver.spans == []


def test_both_paths_at_once_trace_once(tmp_path, demo_shape):
    """opentelemetry-instrument plus TRADETRACE_* variables: one instrumentation; the
    tradetrace storage named by TRADETRACE_OUTPUT wins over the provider."""
    out = tmp_path / "traces"
    with OtlpReceiver() as receiver:
        env = _otel_env(receiver, TRADETRACE_LEVEL="normal", TRADETRACE_OUTPUT=str(out))
        _run(_otel_instrument() + _programs(tmp_path)["demo"], env, tmp_path)
        assert [s for s in receiver.spans if conv.EVENT_TYPE in s.attributes] == []
    assert shape(_from_files(out)) == demo_shape


def test_tradetrace_run_with_the_variable_already_set_traces_once(tmp_path, demo_shape):
    out = tmp_path / "traces"
    command = [sys.executable, "-m", "tradetrace.cli.main", "run", "--output", str(out),
               "--", *_programs(tmp_path)["demo"]]
    _run(command, _env(TRADETRACE_LEVEL="normal"), tmp_path)
    assert shape(_from_files(out)) == demo_shape


@pytest.mark.parametrize("variables, message", [
    ({"TRADETRACE_LEVEL": "verbose"}, "TRADETRACE_LEVEL: 'verbose' is not valid"),
    ({"TRADETRACE_LEVL": "normal"}, "unknown variable TRADETRACE_LEVL (did you mean "
                                    "TRADETRACE_LEVEL?"),
])
def test_a_bad_variable_is_one_line_and_an_untraced_run(variables, message, tmp_path):
    done = _run(_programs(tmp_path)["demo"], _env(**variables), tmp_path)
    assert "trades" in done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("tradetrace: tracing disabled: ") and message in line
    assert not (tmp_path / "tradetrace-traces").exists()


def test_a_broken_config_file_is_one_line_and_an_untraced_run(tmp_path):
    config = tmp_path / "tracing.yaml"
    config.write_text("tracing:\n  level: [normal\n")
    done = _run(_programs(tmp_path)["demo"], _env(TRADETRACE_CONFIG=str(config)), tmp_path)
    assert "trades" in done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert "invalid YAML at line 3" in line


def test_fail_fast_stops_the_program_instead(tmp_path):
    marker = tmp_path / "started"
    script = tmp_path / "p.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=_env(TRADETRACE_LEVEL="verbose",
                                               TRADETRACE_FAIL_FAST="true"))
    assert done.returncode == 2
    assert "TRADETRACE_LEVEL: 'verbose' is not valid" in done.stderr
    assert not marker.exists()


def test_without_variables_nothing_is_imported(tmp_path):
    """The start-up hook costs a scan of the variable names, nothing more."""
    done = _run([sys.executable, "-c",
                 "import sys; print(sorted(m for m in sys.modules if 'tradetrace' in m))"],
                _env(), tmp_path)
    assert done.stdout.strip() == "[]"
    hooked = _run([sys.executable, "-c", "import sys; print('tradetrace' in sys.modules)"],
                  _env(TRADETRACE_LEVEL="none"), tmp_path)
    assert hooked.stdout.strip() == "True"  # the .pth line is installed and active


def test_metrics_follow_the_distro_to_the_same_receiver(tmp_path):
    """opentelemetry-distro makes otlp the metrics exporter: trading metrics go there too."""
    with OtlpReceiver() as receiver:
        env = _otel_env(receiver)
        del env["OTEL_METRICS_EXPORTER"]
        _run(_otel_instrument() + _programs(tmp_path)["demo"], env, tmp_path)
        assert receiver.metric_requests >= 1
        assert receiver.spans


def test_a_broken_opentelemetry_install_is_one_line_and_an_untraced_run(tmp_path):
    shadow = tmp_path / "shadow" / "opentelemetry"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ImportError('opentelemetry is broken here', name='opentelemetry')\n")
    done = _run([sys.executable, "-c", "print('traded')"],
                _env(TRADETRACE_LEVEL="normal", PYTHONPATH=str(shadow.parent)), tmp_path)
    assert done.stdout == "traded\n"
    (line,) = done.stderr.strip().splitlines()
    assert line == "tradetrace: tracing disabled: opentelemetry is broken here"


#: A program with options of its own, some spelled like tradetrace's or
#: opentelemetry-instrument's (ADMF-PC: `main.py --config config/....yaml --bars N`).
OPTIONS_PROGRAM = f"""
import argparse, json, sys
sys.path.insert(0, {str(ROOT / "examples")!r})
parser = argparse.ArgumentParser()
for option in ("--config", "--level", "--output", "--bars"):
    parser.add_argument(option)
args = parser.parse_args()
import demo_engine
results = demo_engine.run_backtest(bars=int(args.bars), seed={SEED})
print(json.dumps({{**vars(args), "events": results["events"]}}))
"""
PROGRAM_ARGS = ["--config", "its.yaml", "--level", "its-level", "--output", "its-out",
                "--bars", "40"]


def _launch_forms(script: Path, out: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Every documented command form, for a program with options of its own."""
    program = [sys.executable, str(script), *PROGRAM_ARGS]
    tradetrace_run = [sys.executable, "-m", "tradetrace.cli.main", "run", "--level", "normal",
                      "--output", str(out)]
    otel = {"OTEL_TRACES_SAMPLER": "tradetrace", "OTEL_TRACES_SAMPLER_ARG": "normal",
            "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
            "OTEL_TRACES_EXPORTER": "none", "TRADETRACE_OUTPUT": str(out)}
    return {
        "variables": (program, {"TRADETRACE_LEVEL": "normal", "TRADETRACE_OUTPUT": str(out)}),
        "tradetrace run --": (tradetrace_run + ["--", *program], {}),
        "tradetrace run": (tradetrace_run + program, {}),
        "opentelemetry-instrument --": (_otel_instrument() + ["--", *program], otel),
    }


@pytest.mark.parametrize("form", ["variables", "tradetrace run --", "tradetrace run",
                                  "opentelemetry-instrument --"])
def test_a_program_with_its_own_options_runs_traced_in_every_documented_form(form, tmp_path):
    """The program gets every option it was given (`--config` and those spelled like
    tradetrace's own flags); tradetrace gets its own, and traces the run."""
    script = tmp_path / "main.py"
    script.write_text(OPTIONS_PROGRAM)
    out = tmp_path / "spans"
    command, env = _launch_forms(script, out)[form]
    done = _run(command, _env(**env), tmp_path)
    got = json.loads(done.stdout)
    assert {k: got[k] for k in ("config", "level", "output")} == {
        "config": "its.yaml", "level": "its-level", "output": "its-out"}
    events = [s for s in read_spans([out]) if conv.EVENT_TYPE in s.attributes]
    assert len(events) == got["events"] > 0


def test_without_the_dashes_opentelemetry_instrument_takes_the_program_s_config(tmp_path):
    """Why the docs put `--` after opentelemetry-instrument: it reads its own options
    (and their prefixes) from the whole line, `--config` matching two of them."""
    script = tmp_path / "main.py"
    script.write_text(OPTIONS_PROGRAM)
    done = subprocess.run(_otel_instrument() + [sys.executable, str(script), *PROGRAM_ARGS],
                          capture_output=True, text=True, timeout=60, env=_env(), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert "ambiguous option: --config could match" in done.stderr
