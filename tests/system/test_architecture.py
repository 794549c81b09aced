"""The dependency rules of ARCHITECTURE.md, read from the imports of every module.

Stages import only the stages the data reaches them from or goes to next, so data flows
one way: on the publish path capture calls decide, whose routes hold retain's buffers;
the export worker pulls from retain. ``model/`` is below every stage and imports none.
The viewer (serve) reads what analyse answers; the wiring (session, launch, reporting, the
public API) and the CLI sit above them all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tradetrace

PACKAGE = Path(tradetrace.__file__).parent

#: stage -> the stages it may import (besides itself and the shared modules)
ALLOWED = {
    "model": set(),
    "capture": {"decide", "model"},
    "decide": {"retain", "model"},
    "retain": {"model"},
    "export": {"retain", "model"},
    "analyse": {"model"},
    "serve": {"analyse", "model"},
}
#: top-level modules any stage may use: errors, names, settings, the plug-in tables
SHARED = {"errors", "conventions", "environment_variables", "plugins", "config", "config_file",
          "config_sections", "_version"}


def _imports(path: Path, source: str | None = None) -> list[tuple[str, int]]:
    """(the tradetrace module imported, line) for every import in ``path``, resolved."""
    package = ["tradetrace", *path.relative_to(PACKAGE).parent.parts]
    found = []
    text = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            found += [(name, node.lineno) for name in names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name.startswith("tradetrace.")]


def _stage(module: str) -> str:
    return module.split(".")[1]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] in ALLOWED)


def test_the_rules_see_every_stage() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert set(ALLOWED) | {"launch", "cli"} == folders
    assert len(_modules()) > 60


def _wrong(path: Path, source: str | None = None) -> list[str]:
    stage = path.relative_to(PACKAGE).parts[0]
    return [
        f"{path.relative_to(PACKAGE)}:{line} imports {module}"
        for module, line in _imports(path, source)
        if _stage(module) != stage and _stage(module) not in ALLOWED[stage]
        and not (_stage(module) in SHARED and stage != "model")
    ]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_stages_import_along_the_pipeline(path: Path) -> None:
    assert _wrong(path) == []


def test_shared_modules_import_no_stage_at_load() -> None:
    # plugins imports implementations by name when one is chosen, never at load
    for name in ("errors", "conventions", "environment_variables", "plugins"):
        top_level = [
            module for module, _ in _imports(PACKAGE / f"{name}.py")
            if _stage(module) in ALLOWED or _stage(module) in {"launch", "cli", "session"}
        ]
        assert top_level == [], name


def test_the_rule_catches_backward_and_upward_imports() -> None:
    tail = PACKAGE / "retain" / "tail.py"
    source = (
        "from ..export.metrics import TradingMetrics\n"  # retain reaching forward: wrong
        "from ..model.record import KIND\n"
        "from .trades import TrackedTrade\n"
        "from ..errors import ConfigError\n"
        "from .. import session\n"  # a stage importing the wiring: wrong
        "import tradetrace.capture.publish\n"  # retain reaching back: wrong
    )
    assert _wrong(tail, source) == [
        "retain/tail.py:1 imports tradetrace.export.metrics",
        "retain/tail.py:5 imports tradetrace.session",
        "retain/tail.py:6 imports tradetrace.capture.publish",
    ]
    model = PACKAGE / "model" / "route.py"
    assert _wrong(model, "from ..errors import ConfigError\n") == [
        "model/route.py:1 imports tradetrace.errors"]
