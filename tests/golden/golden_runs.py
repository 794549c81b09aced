"""Demo runs whose normalised spans are kept here (``demo-<level>.jsonl.gz``) from
before a change to the pipeline, so a refactoring that changes a span fails a test.

    python tests/golden/golden_runs.py      # writes them again: only on purpose
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from normalise import normalised  # noqa: E402  (beside this file)

BACKTEST = HERE.parents[1] / "examples" / "backtest.py"
LEVELS = ("minimal", "normal", "debug")
BARS, SEED = 150, 7


def demo_run(level: str, out: Path) -> list[str]:
    """Trace the demo at ``level`` into ``out``; its normalised spans."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}
    env.update(TRADETRACE_LEVEL=level, TRADETRACE_OUTPUT=str(out), TRADETRACE_RUN_ID="golden")
    done = subprocess.run([sys.executable, str(BACKTEST), "--bars", str(BARS), "--seed",
                           str(SEED), "--quiet"], env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return normalised(out)


def kept(level: str) -> list[str]:
    return gzip.decompress((HERE / f"demo-{level}.jsonl.gz").read_bytes()).decode().splitlines()


if __name__ == "__main__":
    import tempfile

    for level in LEVELS:
        with tempfile.TemporaryDirectory() as tmp:
            lines = demo_run(level, Path(tmp))
        (HERE / f"demo-{level}.jsonl.gz").write_bytes(
            gzip.compress("\n".join(lines).encode(), mtime=0))
        print(level, len(lines) - 1, "spans")
