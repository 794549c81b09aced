"""Payload values to OTel attribute values, flattening, and their OTLP JSON form."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradetrace.export.attributes import (
    MAX_STRING,
    SKIP,
    ConversionStats,
    flatten,
    to_attribute,
)
from tradetrace.model.otlp_json import Attributes, any_value


class Side(enum.Enum):
    BUY = "BUY"


class Bucket(enum.Enum):
    SMALL = 1


class Priority(enum.IntEnum):
    HIGH = 3


class Symbol(str):
    pass


class Opaque:
    pass


@pytest.fixture
def skipped() -> Iterator[Any]:
    """How many values were skipped since the test started (the counter is process-wide)."""
    start = ConversionStats.skipped
    yield lambda: ConversionStats.skipped - start


def assert_same(actual: Any, expected: Any) -> None:
    """Equal and of exactly the same type (so 1 and 1.0 and True are told apart)."""
    assert actual == expected
    assert type(actual) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AAPL", "AAPL"),
        ("", ""),
        (42, 42),
        (-1, -1),
        (1.5, 1.5),
        (True, True),
        (False, False),
        (decimal.Decimal("101.25"), 101.25),
        (dt.datetime(2024, 1, 2, 9, 30, 15), "2024-01-02T09:30:15"),
        (
            dt.datetime(2024, 1, 2, 9, 30, tzinfo=dt.timezone.utc),
            "2024-01-02T09:30:00+00:00",
        ),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.time(9, 30, 0, 500), "09:30:00.000500"),
        (dt.timedelta(minutes=1, milliseconds=500), 60.5),
        (Side.BUY, "BUY"),
        (Bucket.SMALL, 1),
        (Priority.HIGH, 3),
        (Symbol("SPY"), "SPY"),
        (np.int64(7), 7),
        (np.int32(-3), -3),
        (np.float32(0.5), 0.5),
        (np.float64(2.25), 2.25),
        (np.bool_(True), True),
        (np.bool_(False), False),
        (np.array(5), 5),
        (np.array(2.5), 2.5),
        (np.str_("QQQ"), "QQQ"),
        (pd.Timestamp("2024-01-02 09:30:00"), "2024-01-02T09:30:00"),
        (pd.Timestamp("2024-01-02 09:30:00", tz="UTC"), "2024-01-02T09:30:00+00:00"),
        (pd.Timedelta(seconds=90), 90.0),
    ],
    ids=lambda v: type(v).__name__,
)
def test_scalar_conversions(value: Any, expected: Any, skipped: Any) -> None:
    """Each supported scalar becomes a plain str/int/float/bool, nothing skipped."""
    assert_same(to_attribute(value), expected)
    assert skipped() == 0


def test_long_strings_are_truncated() -> None:
    """Strings (and str subclasses) are cut to MAX_STRING characters."""
    assert to_attribute("x" * (MAX_STRING + 10)) == "x" * MAX_STRING
    assert_same(to_attribute(Symbol("y" * (MAX_STRING + 1))), "y" * MAX_STRING)


def test_nan_decimal_and_float_are_kept_as_floats() -> None:
    """NaN stays a float NaN (OTLP JSON has a form for it)."""
    assert math.isnan(to_attribute(float("nan")))
    assert math.isnan(to_attribute(decimal.Decimal("NaN")))


@pytest.mark.parametrize(
    "value",
    [None, pd.NA, Opaque(), object(), {1, 2}, b"bytes", 1 + 2j],
    ids=["None", "NA", "Opaque", "object", "set", "bytes", "complex"],
)
def test_values_without_attribute_form_are_skipped_and_counted(value: Any, skipped: Any) -> None:
    """None, pd.NA and arbitrary objects give SKIP and raise the skipped count by one."""
    assert to_attribute(value) is SKIP
    assert skipped() == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2, 3], (1, 2, 3)),
        (("a", "b"), ("a", "b")),
        ([1.5, 2.5], (1.5, 2.5)),
        ([True, False], (True, False)),
        ([1, 2.5], (1.0, 2.5)),
        ([decimal.Decimal("1.5"), 2], (1.5, 2.0)),
        ([np.int64(1), np.int64(2)], (1, 2)),
        ([Side.BUY, "SELL"], ("BUY", "SELL")),
        ([], ()),
    ],
)
def test_homogeneous_lists_become_tuples(
    value: Any, expected: tuple[Any, ...], skipped: Any
) -> None:
    """Lists of one attribute type become tuples; ints mixed with floats become floats."""
    result = to_attribute(value)
    assert result == expected
    assert type(result) is tuple
    assert [type(v) for v in result] == [type(v) for v in expected]
    assert skipped() == 0


@pytest.mark.parametrize(
    "value",
    [["a", 1], [True, 1], [[1, 2], [3, 4]], [(1,), 2], [1, "a", 2.0]],
    ids=["str-int", "bool-int", "nested", "tuple-int", "three-kinds"],
)
def test_mixed_and_nested_lists_are_skipped(value: Any, skipped: Any) -> None:
    """Mixed-type and nested lists have no attribute form: SKIP, counted once."""
    assert to_attribute(value) is SKIP
    assert skipped() == 1


def test_none_items_are_dropped_from_lists(skipped: Any) -> None:
    """None inside a list is dropped (and counted); the rest is kept."""
    assert to_attribute([1, None, 2]) == (1, 2)
    assert skipped() == 1


def test_list_of_only_none_is_skipped(skipped: Any) -> None:
    """A list holding only None is skipped as a whole (each None and the list counted)."""
    assert to_attribute([None, None]) is SKIP
    assert skipped() == 3


# -- flatten ---------------------------------------------------------------------------


def test_flatten_makes_dotted_keys(skipped: Any) -> None:
    """Nested dicts become dotted keys under the prefix, values converted."""
    payload = {
        "symbol": "SPY",
        "quantity": decimal.Decimal("10"),
        "metadata": {"strategy_id": "momentum", "params": {"fast": 5, "slow": 20}},
    }
    assert dict(flatten("trading.payload.", payload)) == {
        "trading.payload.symbol": "SPY",
        "trading.payload.quantity": 10.0,
        "trading.payload.metadata.strategy_id": "momentum",
        "trading.payload.metadata.params.fast": 5,
        "trading.payload.metadata.params.slow": 20,
    }
    assert skipped() == 0


def test_flatten_stops_at_depth_three(skipped: Any) -> None:
    """Keys nest three deep at most; a dict at the fourth level is skipped and counted."""
    payload = {"a": {"b": {"c": 1, "d": {"e": 2}}}, "top": 0}
    assert dict(flatten("", payload)) == {"a.b.c": 1, "top": 0}
    assert skipped() == 1


@pytest.mark.parametrize(("depth", "keys"), [(1, {"x"}), (2, {"x", "a.b"})])
def test_flatten_depth_argument(depth: int, keys: set[str], skipped: Any) -> None:
    """The depth argument bounds how many key levels are joined."""
    payload = {"x": 1, "a": {"b": 2, "c": {"d": 3}}}
    assert set(dict(flatten("", payload, depth=depth))) == keys
    assert skipped() == 1


def test_flatten_drops_unconvertible_values(skipped: Any) -> None:
    """Values without attribute form are left out of the flattened pairs and counted."""
    payload = {"ok": 1, "none": None, "obj": Opaque(), "mixed": ["a", 1]}
    assert list(flatten("p.", payload)) == [("p.ok", 1)]
    assert skipped() == 3


# -- OTLP JSON AnyValue ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AAPL", {"stringValue": "AAPL"}),
        ('quote " and \\ and \n and é', {"stringValue": 'quote " and \\ and \n and é'}),
        (True, {"boolValue": True}),
        (False, {"boolValue": False}),
        (42, {"intValue": "42"}),
        (-7, {"intValue": "-7"}),
        (2**63 - 1, {"intValue": "9223372036854775807"}),
        (1.5, {"doubleValue": 1.5}),
        (1e-7, {"doubleValue": 1e-7}),
        (1e20, {"doubleValue": 1e20}),
        (float("inf"), {"doubleValue": "Infinity"}),
        (float("-inf"), {"doubleValue": "-Infinity"}),
        ((1, 2), {"arrayValue": {"values": [{"intValue": "1"}, {"intValue": "2"}]}}),
        (
            ("a", True, 0.25),
            {
                "arrayValue": {
                    "values": [
                        {"stringValue": "a"},
                        {"boolValue": True},
                        {"doubleValue": 0.25},
                    ]
                }
            },
        ),
        ([], {"arrayValue": {"values": []}}),
    ],
    ids=lambda v: type(v).__name__,
)
def test_any_value_json(value: Any, expected: dict[str, Any]) -> None:
    """Values encode to OTLP/JSON AnyValue: ints as strings, bools as bools, arrays nested."""
    assert json.loads(any_value(value)) == expected


def test_any_value_nan_is_a_string() -> None:
    """NaN is written as the string "NaN", which strict JSON parsers accept."""
    text = any_value(float("nan"))
    assert json.loads(text) == {"doubleValue": "NaN"}
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in {text}"))


def test_any_value_int_is_not_a_json_number() -> None:
    """64-bit ints are decimal strings, so JSON readers do not lose precision."""
    decoded = json.loads(any_value(2**62 + 1))
    assert isinstance(decoded["intValue"], str)
    assert int(decoded["intValue"]) == 2**62 + 1


def test_any_value_other_types_fall_back_to_str() -> None:
    """Anything else is written as its str() form."""
    assert json.loads(any_value(decimal.Decimal("1.5"))) == {"stringValue": "1.5"}


@pytest.mark.parametrize("cached", [(), ("trading.symbol",)], ids=["uncached", "cached"])
def test_attributes_encoder_key_value_objects(cached: tuple[str, ...]) -> None:
    """The encoder writes OTLP key/value objects, the same with or without the cache."""
    encode = Attributes(cached)
    text = (
        "["
        + encode.many(
            [("trading.symbol", "SPY"), ("trading.symbol", "SPY"), ("trading.quantity", 10)]
        )
        + "]"
    )
    assert json.loads(text) == [
        {"key": "trading.symbol", "value": {"stringValue": "SPY"}},
        {"key": "trading.symbol", "value": {"stringValue": "SPY"}},
        {"key": "trading.quantity", "value": {"intValue": "10"}},
    ]
    assert json.loads(encode("k", 1.5)) == {"key": "k", "value": {"doubleValue": 1.5}}
