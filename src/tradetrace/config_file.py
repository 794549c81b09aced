"""Reading the YAML config file: UTF-8 text holding one mapping with a ``tracing`` key,
in which no mapping names a key twice.

PyYAML keeps the last of two equal keys without a word, so a file that sets
``level: debug`` and, twenty lines further, ``level: minimal`` would trace at MINIMAL.
Here that is a :class:`~tradetrace.errors.ConfigError` giving both lines. Every other
way a file can be unusable (missing, a directory, unreadable, not UTF-8, not YAML,
nested too deep, not a mapping) is a ConfigError naming the file too, never a traceback.

>>> try:
...     load_yaml("tracing:\\n  level: debug\\n  level: minimal\\n", "tracing.yaml")
... except ConfigError as exc:
...     print(exc.path, "-", exc.reason)
tracing.level - duplicate key in tracing.yaml: line 3 column 3, first at line 2 column 3
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

_MERGE = "tag:yaml.org,2002:merge"


def read_tracing_section(path: Path) -> dict[str, Any]:
    """The ``tracing:`` mapping of a YAML config file; ConfigError if unusable."""
    data = load_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict) or "tracing" not in data:
        raise ConfigError(str(path), type(data).__name__, "a YAML mapping with a 'tracing' key")
    tracing = data["tracing"]
    if tracing is None:
        return {}
    if not isinstance(tracing, dict):
        raise ConfigError("tracing", tracing, "a mapping")
    return tracing


def load_yaml_file(path: Path) -> Any:
    """The document in the YAML file ``path`` (None if empty), with every check above."""
    return load_yaml(_read_text(path), str(path))


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:  # missing, a directory, no permission...
        raise ConfigError(
            str(path), str(path), "a readable YAML file", exc.strerror or type(exc).__name__
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(path), f"byte 0x{raw[exc.start]:02x} at offset {exc.start}",
            "a UTF-8 text file", "not UTF-8 text",
        ) from None


def load_yaml(text: str, source: str) -> Any:
    """The document in ``text`` (None if empty), read safely; ``source`` names it in
    errors. Refuses a key given twice in one mapping (a merge ``<<`` may be overridden)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, "", source, set())
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or ""
        raise ConfigError(source, f"invalid YAML at {where}", "a YAML mapping", problem) from None
    except RecursionError:
        raise ConfigError(source, "YAML nested too deep", "a YAML mapping") from None
    finally:
        loader.dispose()


def _refuse_duplicate_keys(node: yaml.Node, path: str, source: str, seen: set[int]) -> None:
    if id(node) in seen:  # an alias: walked already (and an alias may refer to itself)
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], yaml.Node] = {}
        for key, value in node.value:
            if key.tag == _MERGE:
                _refuse_duplicate_keys(value, path, source, seen)
                continue
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            child = f"{path}.{name}" if path else str(name)
            if name is not None:
                earlier = first.setdefault((key.tag, name), key)
                if earlier is not key:
                    raise ConfigError(
                        child, name, "each key once per mapping",
                        f"duplicate key in {source}: {_at(key)}, first at {_at(earlier)}",
                    )
            _refuse_duplicate_keys(value, child, source, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, f"{path}[{i}]", source, seen)


def _at(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1} column {node.start_mark.column + 1}"
