"""load_config: the precedence order, the issue's example file, and ConfigError messages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradetrace.config import ContainerOverride, Rotation, TracingConfig, load_config
from tradetrace.decide.levels import TraceLevel
from tradetrace.errors import ConfigError

ALLOWED_LEVELS = "none, minimal, normal, debug"
ALLOWED_BACKENDS = "file, otlp, memory, none"

ISSUE_EXAMPLE = """\
tracing:
  level: minimal
  overrides:
    portfolio_*: {level: normal}
    execution_*: {level: debug, max_events: 100000}
  storage: {backend: file, path: traces/, rotation: {max_megabytes: 100}}
"""


def write(tmp_path: Path, text: str, name: str = "tracing.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_tracing(tmp_path: Path, tracing: Any, **top: Any) -> Path:
    return write(tmp_path, yaml.safe_dump({**top, "tracing": tracing}, sort_keys=False))


# -- precedence ------------------------------------------------------------------------

# setting -> (load_config argument, env var, where it lives in the file, the value each
# layer gives, how to read it back, the default)
SETTINGS: dict[str, dict[str, Any]] = {
    "level": dict(
        env="TRADETRACE_LEVEL",
        file_key=("level",),
        values={"arg": "debug", "env": "minimal", "file": "none"},
        read=lambda c: c.level,
        expect={
            "arg": TraceLevel.DEBUG,
            "env": TraceLevel.MINIMAL,
            "file": TraceLevel.NONE,
            "default": TraceLevel.NORMAL,
        },
    ),
    "profile": dict(
        env="TRADETRACE_PROFILE",
        file_key=("profile",),
        values={"arg": "admf", "env": "demo", "file": "my_profile.yaml"},
        read=lambda c: c.profile,
        expect={"arg": "admf", "env": "demo", "file": "my_profile.yaml", "default": None},
    ),
    "output": dict(
        env="TRADETRACE_OUTPUT",
        file_key=("storage", "path"),
        values={"arg": "out_arg", "env": "out_env", "file": "out_file/"},
        read=lambda c: c.output,
        expect={
            "arg": Path("out_arg"),
            "env": Path("out_env"),
            "file": Path("out_file"),
            "default": Path("tradetrace-traces"),
        },
    ),
    "backend": dict(
        env="TRADETRACE_STORAGE",
        file_key=("storage", "backend"),
        values={"arg": "memory", "env": "none", "file": "otlp"},
        read=lambda c: c.backend,
        expect={"arg": "memory", "env": "none", "file": "otlp", "default": "file"},
    ),
    "service_name": dict(
        env="OTEL_SERVICE_NAME",
        file_key=("service_name",),
        values={"arg": "svc_arg", "env": "svc_env", "file": "svc_file"},
        read=lambda c: c.service_name,
        # unset, the SDK resource decides (OTEL_RESOURCE_ATTRIBUTES, else "trading")
        expect={"arg": "svc_arg", "env": "svc_env", "file": "svc_file", "default": None},
    ),
    "run_id": dict(
        env="TRADETRACE_RUN_ID",
        file_key=("run_id",),
        values={"arg": "run_arg", "env": "run_env", "file": "run_file"},
        read=lambda c: c.run_id,
        expect={"arg": "run_arg", "env": "run_env", "file": "run_file", "default": None},
    ),
}

#: The winning layer -> the layers present (each one below it is set too, and loses).
LAYERS = {
    "arg": ("arg", "env", "file"),
    "env": ("env", "file"),
    "file": ("file",),
    "default": (),
}


@pytest.mark.parametrize("winner", list(LAYERS))
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_precedence_argument_then_env_then_file_then_default(
    tmp_path: Path, setting: str, winner: str
) -> None:
    """Each setting takes the explicit argument, else its env var, else the file, else the
    default."""
    spec = SETTINGS[setting]
    present = LAYERS[winner]
    kwargs: dict[str, Any] = {}
    env: dict[str, str] = {}
    if "arg" in present:
        kwargs[setting] = spec["values"]["arg"]
    if "env" in present:
        env[spec["env"]] = spec["values"]["env"]
    if "file" in present:
        tracing: dict[str, Any] = {}
        *parents, leaf = spec["file_key"]
        node = tracing
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = spec["values"]["file"]
        kwargs["config_file"] = write_tracing(tmp_path, tracing)
    config = load_config(env=env, **kwargs)
    if setting == "run_id" and winner == "default":
        assert re.fullmatch(r"run_\d{8}T\d{6}_[0-9a-f]{6}", config.run_id)
    else:
        assert spec["read"](config) == spec["expect"][winner]


def test_generated_run_ids_differ() -> None:
    """Without a run id anywhere, every load generates a fresh one."""
    assert load_config(env={}).run_id != load_config(env={}).run_id


def test_empty_env_values_do_not_count(tmp_path: Path) -> None:
    """An env var set to the empty string does not shadow the file."""
    path = write_tracing(tmp_path, {"level": "debug", "service_name": "svc_file"})
    config = load_config(config_file=path, env={"TRADETRACE_LEVEL": "", "OTEL_SERVICE_NAME": ""})
    assert (config.level, config.service_name) == (TraceLevel.DEBUG, "svc_file")


def test_config_file_from_env_var(tmp_path: Path) -> None:
    """TRADETRACE_CONFIG names the file when no config_file argument is given."""
    path = write_tracing(tmp_path, {"level": "debug"})
    config = load_config(env={"TRADETRACE_CONFIG": str(path)})
    assert config.level is TraceLevel.DEBUG
    assert config.source == str(path)


def test_config_file_argument_beats_env_var(tmp_path: Path) -> None:
    """An explicit config_file wins over TRADETRACE_CONFIG."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    from_arg = write_tracing(tmp_path / "a", {"level": "minimal"})
    from_env = write_tracing(tmp_path / "b", {"level": "debug"})
    config = load_config(config_file=from_arg, env={"TRADETRACE_CONFIG": str(from_env)})
    assert config.level is TraceLevel.MINIMAL
    assert config.source == str(from_arg)


def test_defaults_without_any_source() -> None:
    """With nothing set, the defaults apply and the source says so."""
    config = load_config(env={})
    assert config.level is TraceLevel.NORMAL
    assert config.overrides == ()
    assert config.backend == "file"
    assert config.output == Path("tradetrace-traces")
    assert config.rotation == Rotation(100.0, 0)
    assert config.flush_timeout_seconds == 5.0
    assert config.source == "defaults"


def test_env_none_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without env=, the process environment is read."""
    monkeypatch.setenv("TRADETRACE_LEVEL", "debug")
    assert load_config().level is TraceLevel.DEBUG


# -- the issue's example file ----------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "level", "traces", "max_events", "handler_spans"),
    [
        ("portfolio_1a2b", TraceLevel.NORMAL, {"BAR", "SIGNAL", "ORDER", "FILL"}, 10000, False),
        ("execution_9f", TraceLevel.DEBUG, {"BAR", "SIGNAL", "ORDER", "FILL"}, 100000, True),
        ("data_x", TraceLevel.MINIMAL, set(), 1000, False),
        ("strategy_y", TraceLevel.MINIMAL, set(), 1000, False),
        ("risk_z", TraceLevel.MINIMAL, {"ORDER", "FILL"}, 5000, False),
    ],
)
def test_issue_example_policies(
    tmp_path: Path,
    container: str,
    level: TraceLevel,
    traces: set[str],
    max_events: int,
    handler_spans: bool,
) -> None:
    """The issue's example file gives each container the level, events and cap it asks for."""
    config = load_config(config_file=write(tmp_path, ISSUE_EXAMPLE), env={})
    policy = config.policy_for(container)
    assert policy.level is level
    assert {e for e in ("BAR", "SIGNAL", "ORDER", "FILL") if policy.traces(e)} == traces
    assert policy.traced is bool(traces)
    assert policy.max_events == max_events
    assert policy.handler_spans is handler_spans


def test_issue_example_storage(tmp_path: Path) -> None:
    """The issue's example file sets the global level, the overrides and the storage."""
    config = load_config(config_file=write(tmp_path, ISSUE_EXAMPLE), env={})
    assert config.level is TraceLevel.MINIMAL
    assert config.overrides == (
        ContainerOverride("portfolio_*", TraceLevel.NORMAL),
        ContainerOverride("execution_*", TraceLevel.DEBUG, 100000),
    )
    assert config.backend == "file"
    assert config.output == Path("traces")
    assert config.rotation == Rotation(max_megabytes=100.0, max_files=0)


def test_other_top_level_keys_are_ignored(tmp_path: Path) -> None:
    """A bigger application config can embed `tracing:` next to its own keys."""
    path = write_tracing(
        tmp_path,
        {"level": "debug"},
        engine={"workers": 4, "colour": "blue"},
        data={"symbols": ["SPY", "QQQ"]},
    )
    assert load_config(config_file=path, env={}).level is TraceLevel.DEBUG


def test_override_events_are_uppercased_and_used(tmp_path: Path) -> None:
    """An override's events list (any case) replaces the level's own event set."""
    path = write_tracing(
        tmp_path, {"level": "minimal", "overrides": {"data_*": {"events": ["bar", "Tick"]}}}
    )
    policy = load_config(config_file=path, env={}).policy_for("data_1")
    assert policy.level is TraceLevel.MINIMAL
    assert policy.events == frozenset({"BAR", "TICK"})
    assert policy.traces("BAR") and not policy.traces("FILL")


def test_override_without_level_keeps_global_level(tmp_path: Path) -> None:
    """An override that sets only max_events keeps the global level."""
    path = write_tracing(
        tmp_path, {"level": "debug", "overrides": {"portfolio_*": {"max_events": 7}}}
    )
    policy = load_config(config_file=path, env={}).policy_for("portfolio_1")
    assert (policy.level, policy.max_events) == (TraceLevel.DEBUG, 7)


# -- override specificity --------------------------------------------------------------

SPECIFIC_OVERRIDES = {
    "portfolio_*": {"level": "normal"},
    "portfolio_1*": {"level": "debug"},
    "portfolio_1a2b": {"level": "none"},
    "*": {"level": "minimal"},
}


@pytest.mark.parametrize("reverse", [False, True], ids=["listed", "reversed"])
@pytest.mark.parametrize(
    ("container", "level"),
    [
        ("portfolio_1a2b", TraceLevel.NONE),  # exact name beats every glob
        ("portfolio_1a2bc", TraceLevel.DEBUG),  # portfolio_1* has 11 literal chars
        ("portfolio_17", TraceLevel.DEBUG),
        ("portfolio_2", TraceLevel.NORMAL),  # portfolio_* (10) beats * (0)
        ("risk_1", TraceLevel.MINIMAL),
    ],
)
def test_most_specific_override_wins_in_any_order(
    tmp_path: Path, container: str, level: TraceLevel, reverse: bool
) -> None:
    """Exact names beat globs and more literal characters beat fewer, whatever the order."""
    items = list(SPECIFIC_OVERRIDES.items())
    overrides = dict(reversed(items) if reverse else items)
    path = write_tracing(tmp_path, {"level": "normal", "overrides": overrides})
    assert load_config(config_file=path, env={}).policy_for(container).level is level


def test_specificity_ignores_bracket_sets() -> None:
    """A [...] set counts as a wildcard, not as literal characters."""
    bracket = ContainerOverride("p_[abcdefgh]*")
    literal = ContainerOverride("p_a*")
    exact = ContainerOverride("p_a")
    assert bracket.specificity == (0, 2)
    assert literal.specificity == (0, 3)
    assert exact.specificity == (1, 3)
    config = TracingConfig(
        level=TraceLevel.NORMAL,
        overrides=(
            ContainerOverride("p_[abcdefgh]*", TraceLevel.DEBUG),
            ContainerOverride("p_a*", TraceLevel.MINIMAL),
        ),
    )
    assert config.policy_for("p_a1").level is TraceLevel.MINIMAL
    assert config.policy_for("p_b1").level is TraceLevel.DEBUG


# -- standard OTEL_* variables ---------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_otel_sdk_disabled_forces_level_none(tmp_path: Path, value: str) -> None:
    """OTEL_SDK_DISABLED=true turns tracing off over every other level source."""
    path = write_tracing(tmp_path, {"level": "debug"})
    env = {"OTEL_SDK_DISABLED": value, "TRADETRACE_LEVEL": "debug"}
    assert load_config(level="debug", config_file=path, env=env).level is TraceLevel.NONE


@pytest.mark.parametrize("value", ["false", ""])
def test_otel_sdk_disabled_false_changes_nothing(value: str) -> None:
    """OTEL_SDK_DISABLED=false (or empty) leaves the level alone."""
    assert load_config(level="debug", env={"OTEL_SDK_DISABLED": value}).level is TraceLevel.DEBUG


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_otlp_endpoint_makes_otlp_the_default_backend(variable: str) -> None:
    """An OTLP endpoint in the environment makes `otlp` the default storage."""
    assert load_config(env={variable: "http://localhost:4318"}).backend == "otlp"


def test_explicit_file_backend_beats_otlp_endpoint(tmp_path: Path) -> None:
    """`storage.backend: file` in the file wins over OTEL_EXPORTER_OTLP_ENDPOINT."""
    path = write_tracing(tmp_path, {"storage": {"backend": "file"}})
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}
    assert load_config(config_file=path, env=env).backend == "file"
    assert load_config(backend="file", env=env).backend == "file"
    assert load_config(env={**env, "TRADETRACE_STORAGE": "file"}).backend == "file"


# -- ConfigError -----------------------------------------------------------------------


def test_config_error_is_a_value_error() -> None:
    """ConfigError is a ValueError carrying the path, the value and what is allowed."""
    error = ConfigError("tracing.level", "loud", ALLOWED_LEVELS)
    assert isinstance(error, ValueError)
    assert (error.path, error.value, error.allowed) == ("tracing.level", "loud", ALLOWED_LEVELS)
    assert str(error) == f"tracing.level: 'loud' is not valid; allowed: {ALLOWED_LEVELS}"


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    """Invalid YAML raises ConfigError naming the file and the line of the problem."""
    path = write(tmp_path, "tracing:\n  level: minimal\n bad: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_file=path, env={})
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message  # the badly indented key is on the third line


@pytest.mark.parametrize(
    "text",
    ["engine: {workers: 4}\n", "- tracing\n", "just a string\n"],
    ids=["other-keys", "list", "scalar"],
)
def test_file_without_tracing_key(tmp_path: Path, text: str) -> None:
    """A file without a top-level `tracing` mapping is rejected, naming the file."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(config_file=path, env={})
    assert str(path) in str(info.value)
    assert "'tracing' key" in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    """A config file that does not exist raises ConfigError naming it."""
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(config_file=path, env={})
    assert str(path) in str(info.value)
    assert "a readable YAML file" in str(info.value)


def test_missing_config_file_from_env(tmp_path: Path) -> None:
    """A missing TRADETRACE_CONFIG file is an error too, not silently ignored."""
    path = tmp_path / "gone.yaml"
    with pytest.raises(ConfigError, match="gone.yaml"):
        load_config(env={"TRADETRACE_CONFIG": str(path)})


def assert_message(error: pytest.ExceptionInfo[ConfigError], *parts: str) -> None:
    message = str(error.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize(
    ("kwargs", "env", "path"),
    [
        ({"level": "loud"}, {}, "level"),
        ({}, {"TRADETRACE_LEVEL": "loud"}, "TRADETRACE_LEVEL"),
        ({"level": "loud"}, {"TRADETRACE_LEVEL": "debug"}, "level"),
    ],
    ids=["argument", "env", "argument-over-env"],
)
def test_unknown_level_outside_file(kwargs: dict[str, str], env: dict[str, str], path: str) -> None:
    """An unknown level names where it came from, the value and the level names."""
    with pytest.raises(ConfigError) as info:
        load_config(env=env, **kwargs)
    assert info.value.path == path
    assert_message(info, f"{path}: 'loud'", ALLOWED_LEVELS)


@pytest.mark.parametrize(
    ("tracing", "path", "value"),
    [
        ({"level": "verbose"}, "tracing.level", "'verbose'"),
        ({"level": 7}, "tracing.level", "7"),
        ({"level": True}, "tracing.level", "True"),
        (
            {"overrides": {"portfolio_*": {"level": "max"}}},
            "tracing.overrides['portfolio_*'].level",
            "'max'",
        ),
    ],
)
def test_unknown_level_in_file(
    tmp_path: Path, tracing: dict[str, Any], path: str, value: str
) -> None:
    """An unknown level in the file names its key path, the value and the level names."""
    with pytest.raises(ConfigError) as info:
        load_config(config_file=write_tracing(tmp_path, tracing), env={})
    assert_message(info, f"{path}: {value}", ALLOWED_LEVELS)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "non-empty"),
        ("portfolio_[", "unclosed '['"),
        ("portfolio_[a[b]", "nested '['"),
        ("portfolio 1", "unexpected character"),
        ("portfolio/*", "unexpected character"),
        ("portfolio_é", "unexpected character"),
    ],
)
def test_bad_override_globs(tmp_path: Path, pattern: str, reason: str) -> None:
    """A bad container glob names the override, the reason and the allowed characters."""
    tracing = {"overrides": {pattern: {"level": "debug"}}}
    with pytest.raises(ConfigError) as info:
        load_config(config_file=write_tracing(tmp_path, tracing), env={})
    assert_message(info, f"tracing.overrides[{pattern!r}]", reason, "wildcards * ? [...]")


def test_non_string_override_key(tmp_path: Path) -> None:
    """A YAML key that is not a string (e.g. a number) is not a container glob."""
    path = write(tmp_path, "tracing:\n  overrides:\n    42: {level: debug}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_file=path, env={})
    assert_message(info, "tracing.overrides[42]", "non-empty string")


@pytest.mark.parametrize(
    ("tracing", "path", "allowed"),
    [
        ({"colour": "red"}, "tracing.colour", "flush_timeout_seconds"),
        ({"storage": {"colour": "red"}}, "tracing.storage.colour", "backend, path, rotation"),
        (
            {"storage": {"rotation": {"colour": "red"}}},
            "tracing.storage.rotation.colour",
            "max_megabytes, max_files",
        ),
        (
            {"overrides": {"portfolio_*": {"colour": "red"}}},
            "tracing.overrides['portfolio_*'].colour",
            "level, max_events, events",
        ),
    ],
    ids=["tracing", "storage", "rotation", "override"],
)
def test_unknown_keys(tmp_path: Path, tracing: dict[str, Any], path: str, allowed: str) -> None:
    """An unknown key at any level is named by its full key path, with the allowed keys."""
    with pytest.raises(ConfigError) as info:
        load_config(config_file=write_tracing(tmp_path, tracing), env={})
    assert info.value.path == path
    assert_message(info, path, "unknown key", allowed)


@pytest.mark.parametrize("value", [0, -1, "x", True, 1.5])
def test_bad_max_events(tmp_path: Path, value: Any) -> None:
    """max_events must be a whole number >= 1 (not 0, negative, text, a bool or a float)."""
    tracing = {"overrides": {"execution_*": {"max_events": value}}}
    with pytest.raises(ConfigError) as info:
        load_config(config_file=write_tracing(tmp_path, tracing), env={})
    assert_message(
        info, f"tracing.overrides['execution_*'].max_events: {value!r}", "a whole number >= 1"
    )


@pytest.mark.parametrize(
    "events", ["FILL", ["FILL", 1], ["FILL ORDER"], [""], [None], ["1FILL"], {"FILL": 1}]
)
def test_bad_events_lists(tmp_path: Path, events: Any) -> None:
    """An override's events must be a list of event type names."""
    tracing = {"overrides": {"data_*": {"events": events}}}
    with pytest.raises(ConfigError) as info:
        load_config(config_file=write_tracing(tmp_path, tracing), env={})
    assert_message(info, "tracing.overrides['data_*'].events", "a list of event type names")


@pytest.mark.parametrize(
    ("rotation", "path", "allowed"),
    [
        ({"max_megabytes": 0}, "tracing.storage.rotation.max_megabytes", "a positive number"),
        ({"max_megabytes": -5}, "tracing.storage.rotation.max_megabytes", "a positive number"),
        ({"max_megabytes": "big"}, "tracing.storage.rotation.max_megabytes", "a positive number"),
        ({"max_megabytes": True}, "tracing.storage.rotation.max_megabytes", "a positive number"),
        ({"max_files": -1}, "tracing.storage.rotation.max_files", "a whole number >= 0"),
        ({"max_files": 1.5}, "tracing.storage.rotation.max_files", "a whole number >= 0"),
        ({"max_files": True}, "tracing.storage.rotation.max_files", "a whole number >= 0"),
        (100, "tracing.storage.rotation", "a mapping"),
    ],
)
def test_bad_rotation(tmp_path: Path, rotation: Any, path: str, allowed: str) -> None:
    """Rotation sizes must be positive numbers and file counts whole numbers >= 0."""
    tracing = {"storage": {"rotation": rotation}}
    with pytest.raises(ConfigError) as info:
        load_config(config_file=write_tracing(tmp_path, tracing), env={})
    assert info.value.path == path
    assert_message(info, path, allowed)


def test_good_rotation(tmp_path: Path) -> None:
    """Valid rotation values are kept, the size as a float."""
    tracing = {"storage": {"rotation": {"max_megabytes": 2, "max_files": 3}}}
    config = load_config(config_file=write_tracing(tmp_path, tracing), env={})
    assert config.rotation == Rotation(2.0, 3)
    assert isinstance(config.rotation.max_megabytes, float)


@pytest.mark.parametrize(
    ("kwargs", "env", "tracing", "path"),
    [
        ({}, {}, {"storage": {"backend": "s3"}}, "tracing.storage.backend"),
        ({"backend": "s3"}, {}, None, "backend"),
        ({}, {"TRADETRACE_STORAGE": "s3"}, None, "TRADETRACE_STORAGE"),
    ],
    ids=["file", "argument", "env"],
)
def test_bad_backend(
    tmp_path: Path, kwargs: dict[str, Any], env: dict[str, str], tracing: Any, path: str
) -> None:
    """An unknown backend names where it came from, the value and the backends."""
    kwargs = dict(kwargs)
    if tracing is not None:
        kwargs["config_file"] = write_tracing(tmp_path, tracing)
    with pytest.raises(ConfigError) as info:
        load_config(env=env, **kwargs)
    assert info.value.path == path
    assert_message(info, f"{path}: 's3'", ALLOWED_BACKENDS)


@pytest.mark.parametrize("value", [0, -1, "5", True, None])
def test_bad_flush_timeout(tmp_path: Path, value: Any) -> None:
    """flush_timeout_seconds must be a positive number."""
    tracing = {"flush_timeout_seconds": value}
    with pytest.raises(ConfigError) as info:
        load_config(config_file=write_tracing(tmp_path, tracing), env={})
    assert_message(
        info, f"tracing.flush_timeout_seconds: {value!r}", "a positive number of seconds"
    )


def test_good_flush_timeout(tmp_path: Path) -> None:
    """A positive int flush timeout is accepted as a float."""
    config = load_config(config_file=write_tracing(tmp_path, {"flush_timeout_seconds": 2}), env={})
    assert config.flush_timeout_seconds == 2.0


def test_flush_timeout_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    """TRADETRACE_FLUSH_TIMEOUT: the launch paths' way to bound the exit (seconds)."""
    path = write_tracing(tmp_path, {"flush_timeout_seconds": 2})
    env = {"TRADETRACE_FLUSH_TIMEOUT": "0.5"}
    assert load_config(config_file=path, env=env).flush_timeout_seconds == 0.5
    assert load_config(env={"TRADETRACE_FLUSH_TIMEOUT": ""}).flush_timeout_seconds == 5.0


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf"])
def test_bad_flush_timeout_variable(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"TRADETRACE_FLUSH_TIMEOUT": value})
    assert info.value.path == "TRADETRACE_FLUSH_TIMEOUT"
    assert info.value.allowed == "a positive number of seconds"


@pytest.mark.parametrize(
    ("tracing", "path", "allowed"),
    [
        ({"storage": "file"}, "tracing.storage", "a mapping"),
        ({"overrides": ["portfolio_*"]}, "tracing.overrides", "a mapping"),
        ({"overrides": {"portfolio_*": "debug"}}, "tracing.overrides['portfolio_*']", "a mapping"),
        ({"storage": {"path": ""}}, "tracing.storage.path", "a folder path"),
        ({"storage": {"path": 5}}, "tracing.storage.path", "a folder path"),
        ({"profile": ["admf"]}, "tracing.profile", "a profile name"),
    ],
)
def test_wrong_shapes(tmp_path: Path, tracing: dict[str, Any], path: str, allowed: str) -> None:
    """Values of the wrong shape name their key path and what is allowed."""
    with pytest.raises(ConfigError) as info:
        load_config(config_file=write_tracing(tmp_path, tracing), env={})
    assert info.value.path == path
    assert_message(info, path, allowed)


def test_tracing_not_a_mapping(tmp_path: Path) -> None:
    """`tracing:` holding a scalar is rejected as not a mapping."""
    with pytest.raises(ConfigError) as info:
        load_config(config_file=write(tmp_path, "tracing: 5\n"), env={})
    assert_message(info, "tracing: 5", "a mapping")


def test_profile_mapping_in_file_is_kept(tmp_path: Path) -> None:
    """An inline profile mapping in the file is passed through as is."""
    profile = {"bus": "src.core.events.bus:EventBus"}
    config = load_config(config_file=write_tracing(tmp_path, {"profile": profile}), env={})
    assert config.profile == profile


def test_the_encoder_is_a_thread_unless_a_process_is_asked_for():
    from tradetrace.config import load_config
    from tradetrace.errors import ConfigError

    assert load_config(env={}).encoder == "thread"
    assert load_config(env={"TRADETRACE_ENCODER": " Process "}).encoder == "process"
    with pytest.raises(ConfigError, match="TRADETRACE_ENCODER"):
        load_config(env={"TRADETRACE_ENCODER": "fork"})
