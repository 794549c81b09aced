"""Configuration holes closed: every value that used to pass unnoticed, or to end in a
traceback, is a ConfigError whose message names the key path, the value and what is
allowed. One grid row per hole; then what must still be accepted around each of them."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tradetrace
from tradetrace import config_file, errors
from tradetrace.config import load_config
from tradetrace.decide.levels import BUILTIN_EVENT_TYPES
from tradetrace.errors import ConfigError
from tradetrace.launch import autostart

RUN_ID = "1 to 128 letters, digits, '.', '_' or '-'"
FLAG = "true or false"
EVENT = "a known event type"

# id -> (YAML text of the file, key path, the value as the message shows it, allowed)
FILE_HOLES: dict[str, tuple[str, str, str, str]] = {
    "publish wait nan": (
        "publish_wait_ms: .nan", "tracing.publish_wait_ms", "nan",
        "milliseconds from 0 to 1000"),
    "publish wait negative": (
        "publish_wait_ms: -1", "tracing.publish_wait_ms", "-1", "milliseconds from 0 to 1000"),
    "sigterm not a boolean": (
        "handle_sigterm: maybe", "tracing.handle_sigterm", "'maybe'", "true or false"),
    "file mode not octal": (
        'storage: {permissions: {file: "0988"}}', "tracing.storage.permissions.file",
        "'0988'", "an octal mode"),
    "folder mode too wide": (
        "storage: {permissions: {folder: 4095}}", "tracing.storage.permissions.folder",
        "4095", "an octal mode"),
    "flush timeout nan": (
        "flush_timeout_seconds: .nan", "tracing.flush_timeout_seconds", "nan",
        "a positive number of seconds"),
    "flush timeout inf": (
        "flush_timeout_seconds: .inf", "tracing.flush_timeout_seconds", "inf",
        "a positive number of seconds"),
    "flush timeout past the float range": (
        "flush_timeout_seconds: " + "9" * 400, "tracing.flush_timeout_seconds", "9999",
        "a positive number of seconds"),
    "rotation size nan": (
        "storage: {rotation: {max_megabytes: .nan}}", "tracing.storage.rotation.max_megabytes",
        "nan", "a positive number"),
    "rotation size -inf": (
        "storage: {rotation: {max_megabytes: -.inf}}",
        "tracing.storage.rotation.max_megabytes", "-inf", "a positive number"),
    "metrics interval inf": (
        "metrics: {interval_seconds: .inf}", "tracing.metrics.interval_seconds", "inf",
        "a number > 0"),
    "overload window inf": (
        "overload: {window_seconds: .inf}", "tracing.overload.window_seconds", "inf",
        "a number of seconds > 0"),
    "overload recover nan": (
        "overload: {recover_seconds: .nan}", "tracing.overload.recover_seconds", "nan",
        "a number of seconds >= 0"),
    "overload busy fraction nan": (
        "overload: {busy_fraction: .nan}", "tracing.overload.busy_fraction", "nan",
        "a fraction in (0, 1]"),
    "retention ttl inf": (
        "retention: {trade_ttl_seconds: .inf}", "tracing.retention.trade_ttl_seconds", "inf",
        "a number > 0"),
    "retention megabytes nan": (
        "retention: {max_buffered_megabytes: .nan}",
        "tracing.retention.max_buffered_megabytes", "nan", "a number > 0"),
    "keep_if threshold nan": (
        "retention: {keep_if: {any: [{rejected: true}, {loss_above: .nan}]}}",
        "tracing.retention.keep_if.any[1].loss_above", "nan", "a number"),
    "override keep_if threshold inf": (
        "overrides: {'portfolio_*': {retention: {keep_if: {slippage_bps_above: .inf}}}}",
        "tracing.overrides['portfolio_*'].retention.keep_if.slippage_bps_above", "inf",
        "a number"),
    "override event type typo": (
        "overrides: {'execution_*': {events: [ORDER, FILLL]}}",
        "tracing.overrides['execution_*'].events[1]", "'FILLL'", EVENT),
    "override event type nobody declared": (
        "overrides: {'execution_*': {events: [EXECUTION_REPORT]}}",
        "tracing.overrides['execution_*'].events[0]", "'EXECUTION_REPORT'", EVENT),
    "event_types not a list": (
        "event_types: MY_EVENT", "tracing.event_types", "'MY_EVENT'", "a list of event type"),
    "event_types entry not a name": (
        "event_types: [MY_EVENT, 'MY EVENT']", "tracing.event_types[1]", "'MY EVENT'",
        "an event type name"),
    "run_id climbing out of the folder": (
        "run_id: ../../x", "tracing.run_id", "'../../x'", RUN_ID),
    "run_id absolute path": ("run_id: /etc/cron.d/x", "tracing.run_id", "'/etc/cron.d/x'", RUN_ID),
    "run_id dot dot": ("run_id: '..'", "tracing.run_id", "'..'", RUN_ID),
    "run_id too long": ("run_id: " + "r" * 129, "tracing.run_id", "'rrrr", RUN_ID),
    "run_id a list": ("run_id: [a]", "tracing.run_id", "['a']", RUN_ID),
    "service_name a mapping": (
        "service_name: {a: 1}", "tracing.service_name", "{'a': 1}", "a service name"),
    "duplicate top key": (
        "level: debug\n  storage: {path: t}\n  level: minimal", "tracing.level", "'level'",
        "each key once per mapping"),
    "duplicate nested key": (
        "overrides:\n    'portfolio_*': {level: debug, level: none}",
        "tracing.overrides.portfolio_*.level", "'level'", "each key once per mapping"),
    "duplicate key in a list item": (
        "retention:\n    keep_if:\n      any:\n        - {loss_above: 1, loss_above: 2}",
        "tracing.retention.keep_if.any[0].loss_above", "'loss_above'",
        "each key once per mapping"),
    "redact not a mapping": ("redact: [api_key]", "tracing.redact", "['api_key']", "a mapping"),
    "redact unknown key": (
        "redact: {key: [pin]}", "tracing.redact.key", "'key'", "one of enabled, keys"),
    "redact enabled not a bool": (
        "redact: {enabled: 'no way'}", "tracing.redact.enabled", "'no way'", FLAG),
    "redact keys not a list": (
        "redact: {keys: api_key}", "tracing.redact.keys", "'api_key'", "a list of key names"),
    "redact key without a letter": (
        "redact: {extra_keys: [pin, '__']}", "tracing.redact.extra_keys[1]", "'__'",
        "at least one ASCII letter or digit"),
}


def _file(tmp_path: Path, tracing_body: str) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_text("tracing:\n  " + tracing_body + "\n", encoding="utf-8")
    return path


def _assert_names(exc: ConfigError, path: str, value: str, allowed: str) -> None:
    """The message names the key path, the bad value and what is allowed."""
    message = str(exc)
    assert exc.path == path, message
    assert message.startswith(f"{path}: {value}"), message
    assert allowed in exc.allowed and f"allowed: {exc.allowed}" in message, message


@pytest.mark.parametrize("hole", list(FILE_HOLES))
def test_file_holes_are_config_errors_naming_path_value_and_allowed(tmp_path, hole):
    """Each hole in the YAML file is refused before anything is patched."""
    text, path, value, allowed = FILE_HOLES[hole]
    with pytest.raises(ConfigError) as info:
        load_config(config_file=_file(tmp_path, text), env={})
    _assert_names(info.value, path, value, allowed)


# id -> (variables, key path (the variable), value as shown, allowed)
ENV_HOLES: dict[str, tuple[dict[str, str], str, str, str]] = {
    "fail fast maybe": ({"TRADETRACE_FAIL_FAST": "maybe"}, "TRADETRACE_FAIL_FAST", "'maybe'",
                        FLAG),
    "redact garbage": ({"TRADETRACE_REDACT": "sometimes"}, "TRADETRACE_REDACT", "'sometimes'",
                       FLAG),
    "sdk disabled garbage": ({"OTEL_SDK_DISABLED": "disable"}, "OTEL_SDK_DISABLED", "'disable'",
                             FLAG),
    "run id a path": ({"TRADETRACE_RUN_ID": "../../x"}, "TRADETRACE_RUN_ID", "'../../x'",
                      RUN_ID),
    "run id with a slash": ({"TRADETRACE_RUN_ID": "a/b"}, "TRADETRACE_RUN_ID", "'a/b'", RUN_ID),
    "parent pid not a number": ({"TRADETRACE_PARENT_PID": "abc"}, "TRADETRACE_PARENT_PID",
                                "'abc'", "a process id"),
}


@pytest.mark.parametrize("hole", list(ENV_HOLES))
def test_variable_holes_are_config_errors_naming_the_variable(hole):
    """A typed variable holding anything else is named, with its value and what is allowed."""
    variables, path, value, allowed = ENV_HOLES[hole]
    with pytest.raises(ConfigError) as info:
        load_config(env=variables)
    _assert_names(info.value, path, value, allowed)


# id -> (load_config arguments, key path, value as shown, allowed)
ARGUMENT_HOLES: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "run id argument a path": ({"run_id": "../x"}, "run_id", "'../x'", RUN_ID),
    "run id argument dot": ({"run_id": "."}, "run_id", "'.'", RUN_ID),
    "run id argument with a newline": ({"run_id": "run\n"}, "run_id", "'run\\n'", RUN_ID),
    "retention argument window nan": (
        {"retention": {"policy": "sliding_window", "window": float("nan")}}, "retention.window",
        "nan", "a whole number >= 1"),
    "retention argument limit inf": (
        {"retention": {"max_buffered_megabytes": float("inf")}},
        "retention.max_buffered_megabytes", "inf", "a number > 0"),
    "redact argument of another type": ({"redact": "off"}, "redact", "'off'", "true, false"),
    "redact argument unknown key": ({"redact": {"enable": False}}, "redact.enable", "'enable'",
                                    "one of enabled"),
}


@pytest.mark.parametrize("hole", list(ARGUMENT_HOLES))
def test_argument_holes_are_config_errors(hole):
    """Arguments to configure()/load_config() get the same checks as the file."""
    kwargs, path, value, allowed = ARGUMENT_HOLES[hole]
    with pytest.raises(ConfigError) as info:
        load_config(env={}, **kwargs)
    _assert_names(info.value, path, value, allowed)


def _binary(tmp_path: Path) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00tracing:")
    return path


def _latin1(tmp_path: Path) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_bytes("tracing:\n  service_name: caf\u00e9\n".encode("latin-1"))
    return path


def _directory(tmp_path: Path) -> Path:
    return tmp_path


def _list(tmp_path: Path) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_text("- tracing\n- level\n")
    return path


def _scalar(tmp_path: Path) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_text("just some text\n")
    return path


def _tracing_a_list(tmp_path: Path) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_text("tracing: [level, debug]\n")
    return path


def _two_documents(tmp_path: Path) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_text("tracing: {level: debug}\n---\ntracing: {level: none}\n")
    return path


def _deep(tmp_path: Path) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_text("tracing: " + "[" * 5000 + "]" * 5000 + "\n")
    return path


def _duplicate_tracing(tmp_path: Path) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_text("tracing: {level: debug}\nother: 1\ntracing: {level: none}\n")
    return path


def _unreadable(tmp_path: Path) -> Path:
    path = tmp_path / "tracing.yaml"
    path.write_text("tracing: {}\n")
    path.chmod(0)
    return path


# id -> (make the file, key path ("<file>" for the file's own path), value shown, allowed)
FILE_SHAPE_HOLES: dict[str, tuple[Any, str, str, str]] = {
    "binary file": (_binary, "<file>", "'byte 0x89 at offset 0'", "a UTF-8 text file"),
    "latin-1 file": (_latin1, "<file>", "'byte 0xe9 at offset 28'", "a UTF-8 text file"),
    "a directory": (_directory, "<file>", "'<file>'", "a readable YAML file"),
    "top level a list": (_list, "<file>", "'list'", "a YAML mapping with a 'tracing' key"),
    "top level a string": (_scalar, "<file>", "'str'", "a YAML mapping with a 'tracing' key"),
    "tracing a list": (_tracing_a_list, "tracing", "['level', 'debug']", "a mapping"),
    "two documents": (_two_documents, "<file>", "'invalid YAML at line 2, column 1'",
                      "a YAML mapping"),
    "nested too deep": (_deep, "<file>", "'YAML nested too deep'", "a YAML mapping"),
    "tracing twice": (_duplicate_tracing, "tracing", "'tracing'", "each key once per mapping"),
}
if hasattr(os, "geteuid") and os.geteuid() != 0:  # root reads a file whatever its mode
    FILE_SHAPE_HOLES["unreadable file"] = (_unreadable, "<file>", "'<file>'",
                                           "a readable YAML file")


@pytest.mark.parametrize("hole", list(FILE_SHAPE_HOLES))
def test_unusable_files_are_config_errors_not_tracebacks(tmp_path, hole):
    """A file that is not UTF-8 YAML holding one `tracing:` mapping is named, with why."""
    make, path, value, allowed = FILE_SHAPE_HOLES[hole]
    config = make(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(config_file=config, env={})
    _assert_names(info.value, path.replace("<file>", str(config)),
                  value.replace("<file>", str(config)), allowed)


def test_a_hole_in_configure_patches_nothing(tmp_path, demo):
    """configure() raises the ConfigError before anything is patched."""
    with pytest.raises(ConfigError, match="flush_timeout_seconds: nan"):
        tradetrace.configure("normal", profile="demo",
                             config_file=_file(tmp_path, "flush_timeout_seconds: .nan"))
    assert tradetrace.get_session() is None or not tradetrace.get_session().patched


# -- the messages say enough to fix the mistake -----------------------------------------

def test_unknown_event_type_suggests_the_closest_known_one(tmp_path):
    """A typo of a known type gets "did you mean", and the allowed part says how to
    declare a type of one's own."""
    config = _file(tmp_path, "overrides: {'execution_*': {events: [FILLL]}}")
    with pytest.raises(ConfigError) as info:
        load_config(config_file=config, env={})
    assert info.value.reason == "unknown event type; did you mean FILL?"
    assert "FILL, " in info.value.allowed and "declared in tracing.event_types" in str(info.value)


def test_duplicate_keys_give_both_lines(tmp_path):
    """Both places of a duplicated key are named, so either can be deleted."""
    config = _file(tmp_path, "level: debug\n  storage: {path: t}\n  level: minimal")
    with pytest.raises(ConfigError) as info:
        load_config(config_file=config, env={})
    assert info.value.reason == (f"duplicate key in {config}: line 4 column 3, "
                                 f"first at line 2 column 3")


def test_a_not_finite_number_says_so():
    """NaN and infinities are refused as such, not merely as out of range."""
    with pytest.raises(ConfigError) as info:
        errors.finite_number(float("inf"), "x", "a number > 0", valid=lambda v: v > 0)
    assert info.value.reason == "not a finite number"


@pytest.mark.parametrize("module", [errors, config_file])
def test_docstring_examples(module):
    """The examples in the new modules' docstrings run as shown."""
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# -- what is still accepted -------------------------------------------------------------

def test_declared_event_types_may_be_named_in_overrides(tmp_path):
    """`tracing.event_types` declares a system's own types (any case, compared upper)."""
    config = _file(tmp_path, "event_types: [my_event, Rebalance]\n"
                   "  overrides: {'execution_*': {events: [MY_EVENT, rebalance, fill]}}")
    cfg = load_config(config_file=config, env={})
    assert cfg.event_types == {"MY_EVENT", "REBALANCE"}
    assert cfg.policy_for("execution_1").events == {"MY_EVENT", "REBALANCE", "FILL"}


def test_trade_rules_declare_their_own_event_types(tmp_path):
    """Types given a role in `tracing.trades` are known too (retention.md's own system)."""
    config = _file(tmp_path, "trades: {orders: [NEW_ORDER], fills: [EXECUTION_REPORT]}\n"
                   "  overrides: {'execution_*': {events: [new_order, EXECUTION_REPORT]}}")
    cfg = load_config(config_file=config, env={})
    assert cfg.policy_for("execution_1").events == {"NEW_ORDER", "EXECUTION_REPORT"}


def test_every_builtin_event_type_is_accepted(tmp_path):
    """ADMF-PC's and the demo engine's types need no declaration."""
    names = ", ".join(sorted(BUILTIN_EVENT_TYPES))
    cfg = load_config(config_file=_file(tmp_path, f"overrides: {{'*': {{events: [{names}]}}}}"),
                      env={})
    assert cfg.policy_for("x").events == BUILTIN_EVENT_TYPES
    assert {"BAR", "SIGNAL", "PORTFOLIO_UPDATE", "CLASSIFICATION"} <= BUILTIN_EVENT_TYPES


@pytest.mark.parametrize("run_id", ["spy-5m-2024", "run_20240102T093000_1a2b3c", "a", "A.b_c-1",
                                    "r" * 128])
def test_plain_run_ids_are_accepted(run_id):
    """Names of letters, digits, '.', '_' and '-' are run ids, from any source."""
    assert load_config(run_id=run_id, env={}).run_id == run_id
    assert load_config(env={"TRADETRACE_RUN_ID": run_id}).run_id == run_id


def test_a_whole_number_run_id_in_yaml_is_its_digits(tmp_path):
    """`run_id: 2024` in YAML is an int: it names the run as "2024"."""
    assert load_config(config_file=_file(tmp_path, "run_id: 2024"), env={}).run_id == "2024"


def test_an_empty_run_id_still_means_generated():
    """As before, an empty run id is no run id: one is generated."""
    assert load_config(run_id="", env={}).run_id.startswith("run_")


def test_yaml_merge_keys_may_override_what_they_merge(tmp_path):
    """`<<: *base` then a key of the base is an override, not a duplicate."""
    path = tmp_path / "tracing.yaml"
    path.write_text("base: &base {level: debug, run_id: shared}\n"
                    "tracing:\n  <<: *base\n  level: minimal\n")
    cfg = load_config(config_file=path, env={})
    assert (cfg.level.name, cfg.run_id) == ("MINIMAL", "shared")


def test_equal_keys_in_different_mappings_are_not_duplicates(tmp_path):
    """The same key under two parents is fine."""
    config = _file(tmp_path, "overrides:\n    'a_*': {level: debug}\n    'b_*': {level: none}")
    assert len(load_config(config_file=config, env={}).overrides) == 2


@pytest.mark.parametrize("word, expected", [("true", True), ("ON", True), (" 1 ", True),
                                            ("yes", True), ("false", False), ("Off", False),
                                            ("0", False), ("no", False), ("", None)])
def test_boolean_variables_take_these_words(word, expected):
    """true/false, 1/0, yes/no, on/off in any case; empty is unset."""
    from tradetrace import environment_variables as ev

    assert ev.flag({"X": word}, "X") is expected
    disabled = load_config(env={"OTEL_SDK_DISABLED": word}).disabled
    assert disabled is (expected is True)


def test_numbers_may_be_whole_numbers_in_yaml(tmp_path):
    """`flush_timeout_seconds: 3` is three seconds, as a float."""
    cfg = load_config(config_file=_file(tmp_path, "flush_timeout_seconds: 3"), env={})
    assert cfg.flush_timeout_seconds == 3.0


def test_fail_fast_garbage_reads_as_not_set_when_failing():
    """A garbled TRADETRACE_FAIL_FAST was itself the error reported: no exit for it."""
    assert autostart.fail_fast({"TRADETRACE_FAIL_FAST": "maybe"}) is False
    assert autostart.fail_fast({"TRADETRACE_FAIL_FAST": "yes"}) is True


def test_fail_fast_garbage_is_one_line_and_an_untraced_run(tmp_path):
    """In a real process: the variable is named on stderr, the program runs untraced."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    env.update(TRADETRACE_LEVEL="normal", TRADETRACE_FAIL_FAST="maybe")
    done = subprocess.run([sys.executable, "-c", "print('ran')"], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "ran\n"
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("tradetrace: tracing disabled: TRADETRACE_FAIL_FAST: 'maybe' is "
                           "not valid")
    assert not (tmp_path / "traces").exists()
