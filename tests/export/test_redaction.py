"""Redaction: payload values under secret-looking keys never reach a trace file.

Events carrying secrets (top level and nested) are traced to files on the toy bus
(tests/toybus.py) at NORMAL and DEBUG; the files' bytes are searched for every secret
value, and the spans read back. DEBUG's payload snapshot keeps each secret's key with
``[REDACTED]`` for its value; NORMAL writes only tradetrace's named attributes, which are
never redacted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import toybus
import tradetrace
from tradetrace import conventions as conv
from tradetrace.analyse.reader import read_spans
from tradetrace.config import load_config
from tradetrace.export.attributes import (
    DEFAULT_REDACT_KEYS,
    REDACTED,
    ConversionStats,
    HiddenKeys,
    Redaction,
    flatten,
)
from tradetrace.export.event_attributes import PAYLOAD_ATTRIBUTES

SECRETS = {
    "api_key": "sk-live-AAAA1111",
    "password": "hunter2-BBBB",
    "x_auth_token": "tok-CCCC",
    "account_id": "ACC-DDDD-42",
    "clientSecret": "cs-EEEE",
    "API-KEY": "ak-FFFF",
}
NESTED_SECRETS = {"api_key": "sk-nested-GGGG", "credentials": {"user": "bob-IIII",
                                                               "passphrase": "pp-HHHH"}}
SECRET_VALUES = [*SECRETS.values(), "sk-nested-GGGG", "bob-IIII", "pp-HHHH"]
#: attributes of the DEBUG snapshot that hold the marker, for one event
REDACTED_ATTRIBUTES = {conv.PAYLOAD_PREFIX + key for key in SECRETS} | {
    conv.PAYLOAD_PREFIX + "metadata.api_key", conv.PAYLOAD_PREFIX + "metadata.credentials"}
KINDS = ("ORDER", "ACCOUNT_UPDATE")


def _payload(n: int) -> dict[str, Any]:
    return {"symbol": "SPY", "side": "BUY", "price": 101.5, "quantity": 10,
            "order_id": f"o{n}", "strategy_id": "s1", "pin": "4321-JJJJ", **SECRETS,
            "metadata": {"strategy_id": "s1", **NESTED_SECRETS}}


def _trace(tmp_path: Path, level: str, config: str | None = None) -> tuple[bytes, list, int]:
    """Publish one event of each kind with secrets, traced to files; return the files'
    bytes, the event spans read back, and how many values were redacted meanwhile."""
    out = tmp_path / "traces"
    config_file = None
    if config is not None:
        config_file = tmp_path / "tracing.yaml"
        config_file.write_text("tracing:\n  " + config + "\n")
    before = ConversionStats.redacted
    tradetrace.configure(level, profile=toybus.PROFILE, output=out, run_id="redaction",
                         config_file=config_file)
    bus = toybus.Bus()
    for n, kind in enumerate(KINDS):
        bus.publish(toybus.Message(kind, _payload(n), node="portfolio_1"))
    tradetrace.shutdown()
    redacted = ConversionStats.redacted - before
    data = b"".join(path.read_bytes() for path in sorted(out.glob("*.jsonl")))
    spans = [s for s in read_spans([out]) if conv.EVENT_TYPE in s.attributes]
    assert sorted(s.attributes[conv.EVENT_TYPE] for s in spans) == sorted(KINDS)
    return data, spans, redacted


@pytest.mark.parametrize("level", ["normal", "debug"])
def test_no_secret_value_reaches_the_file(tmp_path, level):
    """By default, not one secret value is anywhere in the file's bytes."""
    data, _, _ = _trace(tmp_path, level)
    for value in SECRET_VALUES:
        assert value.encode() not in data, value


def test_debug_keeps_secret_keys_with_the_marker_and_counts_them(tmp_path):
    """At DEBUG each secret key (nested ones dotted) is present, valued [REDACTED]; a
    mapping under a secret key is one redacted attribute; each redaction is counted."""
    data, spans, redacted = _trace(tmp_path, "debug")
    for span in spans:
        hidden = {k for k, v in span.attributes.items() if v == REDACTED}
        assert hidden == REDACTED_ATTRIBUTES
        assert not any(k.startswith(conv.PAYLOAD_PREFIX + "metadata.credentials.")
                       for k in span.attributes)
        assert span.attributes[conv.PAYLOAD_PREFIX + "metadata.strategy_id"] == "s1"
        assert span.attributes[conv.PAYLOAD_PREFIX + "pin"] == "4321-JJJJ"  # not in the list
    assert redacted == len(REDACTED_ATTRIBUTES) * len(KINDS)
    assert data.count(b'"[REDACTED]"') == redacted


def test_normal_writes_no_payload_snapshot_and_redacts_nothing(tmp_path):
    """At NORMAL only the named trading.* attributes are written: secrets are absent
    (key and value), and nothing needed redacting."""
    _, spans, redacted = _trace(tmp_path, "normal")
    assert redacted == 0
    for span in spans:
        assert not any(k.startswith(conv.PAYLOAD_PREFIX) for k in span.attributes)
        assert span.attributes[conv.SYMBOL] == "SPY"


def test_with_redaction_off_the_values_are_written(tmp_path):
    """`redact: false` writes DEBUG's payload values as they are."""
    data, spans, redacted = _trace(tmp_path, "debug", config="redact: false")
    assert redacted == 0
    for value in SECRET_VALUES:
        assert value.encode() in data, value
    assert spans[0].attributes[conv.PAYLOAD_PREFIX + "api_key"] == SECRETS["api_key"]


def test_a_custom_list_replaces_the_default(tmp_path):
    """`redact.keys` replaces the default list: `pin` is hidden, `api_key` no longer."""
    data, spans, redacted = _trace(tmp_path, "debug", config="redact: {keys: [pin]}")
    assert b"4321-JJJJ" not in data and SECRETS["api_key"].encode() in data
    for span in spans:
        hidden = {k for k, v in span.attributes.items() if v == REDACTED}
        assert hidden == {conv.PAYLOAD_PREFIX + "pin"}
    assert redacted == len(KINDS)


def test_extra_keys_add_to_the_default(tmp_path):
    """`redact.extra_keys` hides more without giving up the default list."""
    data, _, redacted = _trace(tmp_path, "debug", config="redact: {extra_keys: [pin]}")
    for value in [*SECRET_VALUES, "4321-JJJJ"]:
        assert value.encode() not in data, value
    assert redacted == (len(REDACTED_ATTRIBUTES) + 1) * len(KINDS)


def test_named_trading_attributes_are_never_redacted(tmp_path):
    """Listing keys that feed tradetrace's own attributes hides them in the payload
    snapshot only: trading.symbol, trading.order.id and trading.price keep their values."""
    _, spans, _ = _trace(tmp_path, "debug",
                         config="redact: {keys: [symbol, order_id, price, strategy]}")
    for span in spans:
        attributes = span.attributes
        assert attributes[conv.SYMBOL] == "SPY" and attributes[conv.PRICE] == 101.5
        assert attributes[conv.ORDER_ID].startswith("o")
        assert attributes[conv.STRATEGY_ID] == "s1"
        assert attributes[conv.PAYLOAD_PREFIX + "symbol"] == REDACTED
        hidden = {k for k, v in attributes.items() if v == REDACTED}
        assert all(k.startswith(conv.PAYLOAD_PREFIX) for k in hidden)


def test_the_redact_variable_overrides_the_file(tmp_path, monkeypatch):
    """TRADETRACE_REDACT=false turns it off over a file that leaves it on."""
    monkeypatch.setenv("TRADETRACE_REDACT", "false")
    data, _, _ = _trace(tmp_path, "debug", config="redact: true")
    assert SECRETS["api_key"].encode() in data


# -- which keys ------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "api_key", "apiKey", "API-KEY", "ApiKey", "x_api_key", "metadata.api_key", "account_id",
    "accountId", "ACCOUNT", "x_auth_token", "refresh_token", "client_secret", "clientSecret",
    "password", "db_password_hash", "passwd", "passphrase", "credentials", "credentials.user",
    "private_key", "aws_access_key_id", "Authorization", "broker.account.number",
])
def test_the_default_list_hides(name):
    """Default: api key, access/private key, secret, password, passphrase, token,
    credential(s), authorization, account; any case, any separators, nested or not."""
    assert Redaction().hides(name)


@pytest.mark.parametrize("name", [*PAYLOAD_ATTRIBUTES, "timestamp", "order_type", "strength",
                                  "metadata.strategy_id", "reason", "pnl", "bar_count"])
def test_the_default_list_spares_trading_payload_keys(name):
    """The payload keys tradetrace names attributes after, and the demo's, are not hidden."""
    assert not Redaction().hides(name)


def test_disabled_hides_nothing():
    """`enabled: false` hides no key at all."""
    assert not Redaction(DEFAULT_REDACT_KEYS, enabled=False).hides("api_key")


def test_redaction_is_decided_once_per_key_not_per_value():
    """Encoding a thousand payloads of one shape asks the list once per key name."""
    asked: list[str] = []

    class Counting(Redaction):
        def hides(self, name: str) -> bool:
            asked.append(name)
            return super().hides(name)

    hidden = HiddenKeys(Counting(), "p.")
    for n in range(1000):
        items = dict(flatten("p.", {"symbol": "SPY", "qty": n, "api_key": f"k{n}",
                                    "meta": {"token": n}}, hidden=hidden))
        assert items == {"p.symbol": "SPY", "p.qty": n, "p.api_key": REDACTED,
                         "p.meta.token": REDACTED}
    assert sorted(asked) == ["api_key", "meta", "meta.token", "qty", "symbol"]


# -- the settings ----------------------------------------------------------------------

def _redaction(tmp_path: Path, text: str | None = None, **kwargs: Any) -> Redaction:
    path = None
    if text is not None:
        path = tmp_path / "r.yaml"
        path.write_text("tracing:\n  " + text + "\n")
    return load_config(config_file=path, **kwargs).redaction


def test_redaction_is_on_by_default_with_the_default_list(tmp_path):
    """No setting at all: on, with DEFAULT_REDACT_KEYS."""
    assert _redaction(tmp_path, env={}) == Redaction(DEFAULT_REDACT_KEYS, True)


@pytest.mark.parametrize("text, expected", [
    ("redact: false", Redaction(DEFAULT_REDACT_KEYS, False)),
    ("redact: true", Redaction(DEFAULT_REDACT_KEYS, True)),
    ("redact: {enabled: false}", Redaction(DEFAULT_REDACT_KEYS, False)),
    ("redact: {keys: [pin, Card-Number]}", Redaction(("pin", "Card-Number"), True)),
    ("redact: {extra_keys: [pin, token]}", Redaction((*DEFAULT_REDACT_KEYS, "pin"), True)),
    ("redact: {keys: [pin], extra_keys: [ssn]}", Redaction(("pin", "ssn"), True)),
    ("redact: {keys: []}", Redaction((), True)),
])
def test_the_file_sets_the_redaction(tmp_path, text, expected):
    """`redact:` true/false or {enabled, keys (replace), extra_keys (add)}."""
    assert _redaction(tmp_path, text, env={}) == expected


def test_the_variable_beats_the_file_and_the_argument_beats_both(tmp_path):
    """TRADETRACE_REDACT sets `enabled` over the file; the argument over the variable."""
    text = "redact: {enabled: true, extra_keys: [pin]}"
    off = _redaction(tmp_path, text, env={"TRADETRACE_REDACT": "false"})
    assert off == Redaction((*DEFAULT_REDACT_KEYS, "pin"), False)
    on = _redaction(tmp_path, "redact: false", env={"TRADETRACE_REDACT": "true"})
    assert on.enabled
    assert _redaction(tmp_path, text, env={"TRADETRACE_REDACT": "false"}, redact=True).enabled
    assert _redaction(tmp_path, text, env={}, redact={"keys": ["x"]}).keys == ("x", "pin")
