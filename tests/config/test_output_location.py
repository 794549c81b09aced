"""Where trace files go by default, and that the traced program is told: a folder named
for tradetrace in the working directory, never one of the traced system's own (ADMF-PC
keeps its signal and trade store in ``./traces``), said on stderr at start and at exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tradetrace import conventions as conv
from tradetrace.analyse.reader import read_spans
from tradetrace.config import DEFAULT_OUTPUT, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: A trading system with its own ``traces/`` store in its working directory: it reads
#: what an earlier run left there and writes this run's results beside it.
OWN_STORE = f"""
import json, os, sys
sys.path.insert(0, {str(EXAMPLES)!r})
import demo_engine
{{before}}
results = demo_engine.run_backtest(bars=40, seed=3)
store = os.path.join({{store!r}}, "traces")
earlier = json.load(open(os.path.join(store, "index.json")))
with open(os.path.join(store, "run-2.json"), "w") as f:
    json.dump({{{{"events": results["events"], "earlier": earlier}}}}, f)
print(results["events"])
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    env.update(extra)
    return env


def _system(tmp_path: Path, before: str = "") -> tuple[Path, dict[str, bytes]]:
    """The program, and its store as an earlier run left it."""
    store = tmp_path / "traces"
    store.mkdir()
    (store / "index.json").write_text('{"runs": 1}')
    (store / "run-1.jsonl").write_text('{"signal": 1}\n')  # a name like one of ours
    script = tmp_path / "main.py"
    script.write_text(OWN_STORE.format(before=before, store=str(tmp_path)))
    return script, {p.name: p.read_bytes() for p in store.iterdir()}


def _said(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tradetrace")]


def test_the_default_folder_is_named_for_tradetrace():
    assert load_config(env={}).output == Path(DEFAULT_OUTPUT) == Path("tradetrace-traces")


def test_a_system_with_its_own_traces_folder_keeps_it_to_itself(tmp_path):
    """Traced with the defaults from the system's root: its ``traces/`` holds exactly
    what it wrote there, tradetrace's files are in ``tradetrace-traces/``, and stderr
    says so at start and at exit."""
    script, before = _system(tmp_path)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=_env(TRADETRACE_LEVEL="normal"))
    assert done.returncode == 0, done.stderr
    store = tmp_path / "traces"
    assert sorted(p.name for p in store.iterdir()) == sorted([*before, "run-2.json"])
    assert all((store / name).read_bytes() == data for name, data in before.items())

    ours = tmp_path / DEFAULT_OUTPUT
    events = [s for s in read_spans([ours]) if conv.EVENT_TYPE in s.attributes]
    assert len(events) == int(done.stdout)
    start, end = _said(done.stderr)  # no logging configured: both printed on stderr
    assert start.startswith("tradetrace: tracing run ") and start.endswith(f"files in {ours}")
    assert f"(files in {ours}): recorded " in end and " + dropped 0 + pending 0" in end


def test_files_go_where_the_start_line_said_after_the_program_changes_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script, _ = _system(tmp_path, before=f"os.chdir({str(elsewhere)!r})")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=_env(TRADETRACE_LEVEL="normal"))
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / DEFAULT_OUTPUT).glob("run_*-0001.jsonl"))
    assert not (elsewhere / DEFAULT_OUTPUT).exists()


def test_with_logging_configured_the_exit_line_goes_through_it(tmp_path):
    """The program's logging decides (here: INFO, with its own format); never twice."""
    script, _ = _system(tmp_path, before=(
        "import logging; logging.basicConfig(level=logging.INFO, format='LOG %(message)s')"))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=_env(TRADETRACE_LEVEL="normal"))
    assert done.returncode == 0, done.stderr
    (start,) = _said(done.stderr)  # at interpreter start: logging not configured yet
    assert start.startswith("tradetrace: tracing run ")
    (end,) = [line for line in done.stderr.splitlines() if " = exported " in line]
    assert end.startswith("LOG tradetrace: run ")


def test_an_explicit_folder_is_used_as_given(tmp_path):
    script, _ = _system(tmp_path)
    out = tmp_path / "mine"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path,
                          env=_env(TRADETRACE_LEVEL="minimal", TRADETRACE_OUTPUT=str(out)))
    assert done.returncode == 0, done.stderr
    assert _said(done.stderr)[0].endswith(f"at level minimal, files in {out}")
    assert list(out.glob("run_*-0001.jsonl"))
    assert not (tmp_path / DEFAULT_OUTPUT).exists()
