"""The value rules of _serialize: one rule per type, none raising into the caller."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import logging
import math
import uuid
from typing import Any

import numpy as np
import orjson
import pytest

from rudder_fast import _serialize
from rudder_fast._ratelimit import RateLimitedLog
from rudder_fast._serialize import UnserializableEvent, dumps


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Opaque:
    def __str__(self) -> str:
        return "opaque-object"


class BrokenStr:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def roundtrip(value: Any) -> Any:
    """Serialize {"v": value} and return what a JSON parser reads back for v."""
    return json.loads(dumps({"v": value}))["v"]


# (value, what the data plane reads back); the README's value table lists the same rules.
CASES = [
    pytest.param(math.nan, None, id="nan"),
    pytest.param(math.inf, None, id="inf"),
    pytest.param(-math.inf, None, id="-inf"),
    pytest.param([1.5, math.nan, 2], [1.5, None, 2], id="nan-in-list"),
    pytest.param(uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001", id="uuid"),
    pytest.param(np.int64(7), 7, id="numpy-int"),
    pytest.param(np.float32(0.5), 0.5, id="numpy-float"),
    pytest.param(np.float64("nan"), None, id="numpy-nan"),
    pytest.param(np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]], id="numpy-array"),
    pytest.param(np.array([1.0, np.nan]), [1.0, None], id="numpy-array-nan"),
    pytest.param(np.array(["a", None], dtype=object), ["a", None], id="numpy-object-array"),
    pytest.param(np.bool_(True), True, id="numpy-bool"),
    pytest.param(decimal.Decimal("12.50"), 12.5, id="decimal"),
    pytest.param(decimal.Decimal("1E+3"), 1000, id="decimal-exponent"),
    pytest.param(decimal.Decimal("NaN"), None, id="decimal-nan"),
    pytest.param(decimal.Decimal("-Infinity"), None, id="decimal-inf"),
    pytest.param(Color.RED, "red", id="enum"),
    pytest.param(Level.HIGH, 3, id="int-enum"),
    pytest.param({3}, [3], id="set"),
    pytest.param(frozenset({"a"}), ["a"], id="frozenset"),
    pytest.param((1, "b"), [1, "b"], id="tuple"),
    pytest.param(b"caf\xc3\xa9", "café", id="utf8-bytes"),
    pytest.param(b"\xff\x00ok", "\\xff\x00ok", id="non-utf8-bytes"),
    pytest.param(bytearray(b"ab"), "ab", id="bytearray"),
    pytest.param(datetime.date(2024, 2, 29), "2024-02-29", id="date"),
    pytest.param(
        datetime.datetime(2024, 1, 2, 3, 4, 5, 600000), "2024-01-02T03:04:05.600000", id="naive"
    ),
    pytest.param(
        datetime.datetime(
            2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
        ),
        "2024-01-02T03:04:05-05:00",
        id="aware-datetime",
    ),
    pytest.param(datetime.time(13, 45, 1), "13:45:01", id="time"),
    pytest.param(datetime.timedelta(minutes=1, milliseconds=500), 60.5, id="timedelta"),
    pytest.param(Point(1, 2.5), {"x": 1, "y": 2.5}, id="dataclass"),
    pytest.param(
        {2: "a", None: "b", False: "c", 1.5: "d"},
        {"2": "a", "null": "b", "false": "c", "1.5": "d"},
        id="keys",
    ),
    pytest.param({(1, 2): "tuple-key"}, {"(1, 2)": "tuple-key"}, id="tuple-key"),
    pytest.param(2**64, 2**64, id="int-over-64-bits"),
    pytest.param(-(2**70) - 1, -(2**70) - 1, id="negative-int-over-64-bits"),
    pytest.param([2**100, 1], [2**100, 1], id="big-int-in-list"),
    pytest.param("a\ud800b", "a\ufffdb", id="lone-surrogate"),
    pytest.param({"\udcff": 1}, {"\ufffd": 1}, id="surrogate-key"),
    pytest.param(Opaque(), "opaque-object", id="unknown-type"),
    pytest.param(BrokenStr(), "<unserializable BrokenStr>", id="broken-str"),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_value_rule(value: Any, expected: Any) -> None:
    """Each value type reaches the data plane as its documented JSON value."""
    assert roundtrip(value) == expected


@dataclasses.dataclass
class Holder:
    lock: Any
    big: int


def test_uncopyable_dataclass_on_slow_path() -> None:
    """A dataclass holding a lock serializes even when a big integer forces the slow path."""
    import threading

    value = roundtrip(Holder(threading.Lock(), 2**70))
    assert value["big"] == 2**70
    assert "lock" in value["lock"]


def test_colliding_keys_keep_last_value() -> None:
    """Keys 1 and "1" become one key; the last value is kept."""
    assert roundtrip({1: "int key", "1": "str key"}) == {"1": "str key"}


def test_big_int_keeps_its_neighbours() -> None:
    """A big integer costs neither its list nor the other properties."""
    event = {"properties": {"ids": [1, 2**65, 3], "name": "kept", "nan": math.nan}}
    assert json.loads(dumps(event)) == {
        "properties": {"ids": [1, 2**65, 3], "name": "kept", "nan": None}
    }


def test_big_int_is_exact_on_the_wire() -> None:
    """Integers beyond 64 bits are written digit for digit, not as floats."""
    assert dumps({"v": 123456789012345678901234567890}) == b'{"v":123456789012345678901234567890}'


def test_output_is_valid_strict_json() -> None:
    """No NaN or Infinity tokens ever reach the wire."""
    text = dumps({"a": [math.nan, math.inf, np.float64("inf"), decimal.Decimal("NaN")]})
    assert orjson.loads(text) == {"a": [None, None, None, None]}
    assert b"NaN" not in text
    assert b"Infinity" not in text


def test_cycle_is_unserializable() -> None:
    """A cycle raises UnserializableEvent, which the client turns into a counted drop."""
    looped: dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(UnserializableEvent, match="nests deeper than 254 levels"):
        dumps({"v": looped})


def test_deep_but_finite_nesting_within_limit() -> None:
    """Nesting within orjson's limit serializes unchanged."""
    nested: Any = "leaf"
    for _ in range(200):
        nested = [nested]
    assert json.loads(dumps({"v": nested}))["v"] == nested


def test_unknown_type_warns_with_type_name(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown types log their type name once, never their text."""
    fresh = RateLimitedLog(_serialize.log, interval_s=60.0)
    monkeypatch.setattr(_serialize, "_unknown_type_warning", fresh)
    caplog.set_level(logging.WARNING, logger="rudder_fast")
    roundtrip(Opaque())
    roundtrip(Opaque())
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert "Opaque" in messages[0]
    assert "opaque-object" not in messages[0]
