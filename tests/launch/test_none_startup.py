"""Level NONE from the environment costs a process the reading of its settings, not the
pipeline: the start-up hook checks every setting but imports neither the session nor
the OpenTelemetry SDK, and the session, which would patch nothing, is made when the
program asks for it (``get_session()``, ``set_level()``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _python(code: str, tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env.update(variables)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)


def test_none_imports_neither_the_session_nor_the_sdk(tmp_path):
    done = _python("import sys; print(sorted(m for m in ('tradetrace.session', "
                   "'opentelemetry.sdk.trace', 'tradetrace.launch.autostart') "
                   "if m in sys.modules))", tmp_path, TRADETRACE_LEVEL="none")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['tradetrace.launch.autostart']"
    assert done.stderr == ""


def test_the_session_at_none_is_there_when_asked_for(tmp_path):
    """As configured at start: the run id it was given, nothing patched; set_level()
    leaves NONE as from any session configured at none."""
    done = _python("import tradetrace\n"
                   "s = tradetrace.get_session()\n"
                   "print(s.config.run_id, s.active, s.patched)\n"
                   "tradetrace.set_level('normal')\n"
                   "print(tradetrace.get_session() is s, s.active)\n"
                   "tradetrace.shutdown()\n", tmp_path,
                   TRADETRACE_LEVEL="NONE", TRADETRACE_RUN_ID="quiet-1",
                   TRADETRACE_STORAGE="none")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["quiet-1 False []", "True True"]


def test_a_bad_setting_at_none_is_still_said(tmp_path):
    done = _python("print('ran')", tmp_path, TRADETRACE_LEVEL="none",
                   TRADETRACE_RUN_ID="no/slashes")
    assert done.returncode == 0 and done.stdout == "ran\n"
    assert done.stderr.startswith("tradetrace: tracing disabled: TRADETRACE_RUN_ID")


def test_an_explicit_configure_replaces_the_waiting_session(tmp_path):
    done = _python("import tradetrace\n"
                   "s = tradetrace.configure('none', run_id='mine', backend='none')\n"
                   "print(tradetrace.get_session() is s, s.config.run_id)\n",
                   tmp_path, TRADETRACE_LEVEL="none", TRADETRACE_RUN_ID="hook")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True mine"
