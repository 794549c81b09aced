"""The real trading frameworks with built-in profiles, from the venv `.ci/install-frameworks`
makes: each example script runs its backtest bare and traced at every level and checks
the traces against the framework's own record (results, spans per type, chains, trades)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".cache" / "frameworks" / "venv" / "bin" / "python"
#: this checkout's tradetrace first (the venv may hold another checkout's, installed -e)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)}


def _python_with(package: str) -> Path:
    if not PYTHON.exists():
        pytest.skip(f"no {PYTHON}: run `bash .ci/install-frameworks` (README's test command)")
    probe = subprocess.run([str(PYTHON), "-c", f"import {package}, tradetrace"],
                           capture_output=True, text=True, timeout=120, env=ENV)
    if probe.returncode != 0:
        pytest.skip(f"{PYTHON} cannot import {package}: {probe.stderr.strip()[-300:]}")
    return PYTHON


@pytest.mark.parametrize(("package", "script", "minimal_check"), [
    ("nautilus_trader", "nautilus_backtest.py", "minimal records the order lifecycle"),
    ("backtrader", "backtrader_backtest.py", "minimal records the trade events"),
])
def test_framework_backtest_traced_at_every_level(package: str, script: str,
                                                  minimal_check: str) -> None:
    python = _python_with(package)
    done = subprocess.run([str(python), str(ROOT / "examples" / script),
                           "--bars", "1500", "--python", str(python)],
                          capture_output=True, text=True, timeout=900, env=ENV)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "all checks passed", done.stdout
    assert not [line for line in lines if "FAIL" in line]
    for check in ("results unchanged", "spans per event type equal", "order chains complete",
                  "trades: ", minimal_check):
        assert any(check in line for line in lines), check
