"""The runnable examples in the public API's docstrings run and show what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "tradetrace",
    "tradetrace.config",
    "tradetrace.decide.sampler",
    "tradetrace.decide.overload",
    "tradetrace.capture.propagation",
    "tradetrace.launch.instrumentor",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
