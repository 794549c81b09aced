"""The runnable examples in the public API's docstrings run and show what they say."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from tradetrace.config import load_config

MODULES = [
    "tradetrace",
    "tradetrace.config",
    "tradetrace.decide.sampler",
    "tradetrace.decide.overload",
    "tradetrace.capture.propagation",
    "tradetrace.launch.instrumentor",
    "tradetrace.plugins",
    "tradetrace.model.events",
    "tradetrace.retain.policy",
    "tradetrace.retain.policies.keep_if",
    "tradetrace.retain.trade_rules",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("page", ["production.md", "retention.md", "configuration.md"])
def test_yaml_configs_in_the_docs_load(page, tmp_path):
    """Every `tracing:` YAML block a page shows is a valid configuration."""
    text = (DOCS / page).read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    configs = [b for b in blocks if b.startswith("tracing:")]
    assert configs, f"{page} shows no tracing config"
    for n, block in enumerate(configs):
        path = tmp_path / f"{n}.yaml"
        path.write_text(block)
        load_config(config_file=path, env={})  # raises ConfigError naming a bad key
