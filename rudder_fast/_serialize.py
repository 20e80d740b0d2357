"""Serialize one event to JSON bytes with orjson, applying one rule per value type.

The rules (the README's value table lists them, and tests/test_serialize.py checks each):

- NaN and ±Infinity, in floats, numpy values and ``Decimal``, become ``null``.
- ``uuid.UUID`` becomes its canonical string.
- numpy scalars and arrays become numbers and lists.
- ``Decimal`` becomes a JSON number with the same digits.
- ``Enum`` members become their value.
- sets and tuples become arrays.
- ``bytes`` are decoded as UTF-8; bytes that are not valid UTF-8 keep each bad byte as a
  ``\\xNN`` escape, so each bad byte stays visible.
- ``datetime``, ``date`` and ``time`` become ISO 8601 strings, naive values stay naive.
- ``timedelta`` becomes its length in seconds, as a number.
- dataclasses become objects.
- dict keys that are not strings become strings as ``json.dumps`` writes them; keys that
  become equal strings keep the last value, with a warning.
- integers beyond 64 bits are sent exactly, as JSON numbers.
- strings with lone surrogates have each one replaced by U+FFFD.
- objects of other types become ``str(obj)``, and a rate-limited warning names the type.

Only nesting deeper than orjson's limit (a cycle, for example) cannot be serialized, and
raises ``UnserializableEvent``; the caller drops that event with a reason.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import datetime
import decimal
import enum
import logging
import uuid
from typing import Any

import orjson

from ._ratelimit import RateLimitedLog

__all__ = ["UnserializableEvent", "dumps"]

log = logging.getLogger(__name__)
_unknown_type_warning = RateLimitedLog(log, interval_s=60.0)

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY

# orjson encodes integers in [-2**63, 2**64 - 1]; others need the slow path.
_MIN_INT = -(2**63)
_MAX_INT = 2**64 - 1

# orjson rejects deeper nesting with "Recursion limit reached" (orjson 3.x, 254 levels).
_MAX_DEPTH = 254


class UnserializableEvent(ValueError):
    """The event nests deeper than JSON encoding allows, or contains a cycle."""


def dumps(message: dict[str, Any]) -> bytes:
    """Return the event as compact JSON bytes.

    Raises ``UnserializableEvent`` only for nesting beyond 254 levels or a cycle.
    """
    try:
        return orjson.dumps(message, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        # Big integers, lone surrogates, non-string keys and deep nesting land here.
        pass
    sanitized = _sanitize(message, 0)
    try:
        return orjson.dumps(sanitized, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as error:  # pragma: no cover - _sanitize removed the causes
        raise UnserializableEvent(f"event cannot be encoded as JSON: {error}") from error


def _default(value: Any) -> Any:
    """Convert a value orjson does not encode natively; orjson calls this for each one."""
    if isinstance(value, decimal.Decimal):
        return orjson.Fragment(str(value)) if value.is_finite() else None
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if hasattr(value, "tolist") and callable(value.tolist):
        # numpy arrays of dtypes orjson does not encode (object, datetime64, ...)
        with contextlib.suppress(Exception):
            return value.tolist()
    if isinstance(value, collections.abc.Mapping):
        return dict(value)
    if isinstance(value, collections.abc.Sequence | collections.abc.Set):
        return list(value)
    _unknown_type_warning.warning(
        "Sending a value of type %s as str(value); convert it before the call to choose "
        "another representation",
        type(value).__qualname__,
    )
    try:
        return str(value)
    except Exception:
        return f"<unserializable {type(value).__qualname__}>"


def _sanitize(value: Any, depth: int) -> Any:
    """Return a copy of ``value`` that orjson can encode, or raise UnserializableEvent."""
    if depth > _MAX_DEPTH:
        raise UnserializableEvent(
            f"event nests deeper than {_MAX_DEPTH} levels (or contains a cycle)"
        )
    if isinstance(value, str):
        return _fix_surrogates(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if _MIN_INT <= value <= _MAX_INT:
            return value
        return orjson.Fragment(int.__repr__(value))
    if isinstance(value, dict):
        sanitized = {_key(key): _sanitize(item, depth + 1) for key, item in value.items()}
        if len(sanitized) < len(value):
            _unknown_type_warning.warning(
                "Keys that become the same string (such as 1 and '1') were merged; the "
                "last value of each was kept. Use distinct string keys"
            )
        return sanitized
    if isinstance(value, list | tuple | set | frozenset):
        return [_sanitize(item, depth + 1) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Not dataclasses.asdict: it deep-copies every field, which fails on locks,
        # generators and other objects that cannot be copied.
        fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
        return _sanitize(fields, depth)
    if isinstance(value, enum.Enum):
        return _sanitize(value.value, depth)
    try:
        orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _sanitize(_default(value), depth + 1)
    return value


def _key(key: Any) -> str:
    """Turn a dict key into the string ``json.dumps`` would write for it."""
    if isinstance(key, str):
        return _fix_surrogates(key)
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, enum.Enum):
        return _key(key.value)
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return float.__repr__(key)
    if isinstance(key, datetime.date | datetime.time):
        return key.isoformat()
    if isinstance(key, uuid.UUID):
        return str(key)
    return _fix_surrogates(str(key))


def _fix_surrogates(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 round trip joins valid surrogate pairs and replaces lone ones with U+FFFD.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
