"""The demo runs the command-line tests read (made once per session)."""

from __future__ import annotations

import pytest

import tradetrace


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Two demo runs (different seeds) in two folders, and each run's own results."""
    import demo_engine

    folders, results = [], []
    for seed in (3, 4):
        folder = tmp_path_factory.mktemp(f"run{seed}")
        tradetrace.configure("normal", profile="demo", output=folder, backend="file")
        results.append(demo_engine.run_backtest(bars=300, seed=seed))
        tradetrace.shutdown()
        folders.append(str(folder))
    return folders, results
