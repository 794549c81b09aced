"""The demo's spans at each level are those written before a change to the pipeline
(tests/golden/, normalised for random ids and wall-clock times): a refactoring that
changes what a user sees fails here. Rewrite them only on purpose
(``python tests/golden/golden_runs.py``) and say why in the commit."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from golden_runs import LEVELS, demo_run, kept  # noqa: E402


@pytest.mark.parametrize("level", LEVELS)
def test_the_demo_writes_the_spans_it_wrote_before(tmp_path: Path, level: str) -> None:
    now, before = demo_run(level, tmp_path), kept(level)
    assert len(before) > 5
    if now != before:
        diff = list(difflib.unified_diff(before, now, "before", "now", lineterm="", n=0))
        pytest.fail(f"{len(diff)} diff lines, first ones:\n" + "\n".join(d[:400] for d in diff[:8]))
