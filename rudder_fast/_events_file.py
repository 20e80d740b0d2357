"""Turn RudderStack event objects, as found one per line in NDJSON files, into SDK calls."""

from __future__ import annotations

import datetime
import re
from typing import Any

__all__ = ["EventCall", "InvalidEvent", "call_from_event"]

EventCall = tuple[str, tuple[Any, ...]]
"""The method name (``"track"``, ...) and its positional arguments, in the official order."""

# An ISO 8601 fraction of any length; Python 3.10's fromisoformat takes only 3 or 6 digits.
_FRACTION = re.compile(r"\.(\d+)")


class InvalidEvent(ValueError):
    """An event object that cannot become an SDK call; the message gives the reason."""


def call_from_event(event: Any, keep_message_id: bool) -> EventCall:
    """Map one event object to the call of its ``type``.

    ``keep_message_id=False`` leaves the id to the SDK, so each replayed copy is unique.
    Raises InvalidEvent for a non-object, an unknown type, or a field of the wrong kind;
    the SDK's own validation runs when the call is made.
    """
    if not isinstance(event, dict):
        raise InvalidEvent(f"a JSON {type(event).__name__}, not an object")
    kind = event.get("type")
    context = _dict_field(event, "context")
    integrations = _dict_field(event, "integrations")
    timestamp = _timestamp(event.get("timestamp") or event.get("originalTimestamp"))
    user_id = event.get("userId")
    anonymous_id = event.get("anonymousId")
    message_id = event.get("messageId") if keep_message_id else None

    args: tuple[Any, ...]
    if kind == "identify":
        traits = _dict_field(event, "traits") or (context or {}).get("traits")
        args = (user_id, traits, context, timestamp, anonymous_id, integrations, message_id)
    elif kind == "track":
        args = (user_id, event.get("event"), _dict_field(event, "properties"), context,
                timestamp, anonymous_id, integrations, message_id)  # fmt: skip
    elif kind in ("page", "screen"):
        args = (user_id, event.get("category"), event.get("name"),
                _dict_field(event, "properties"), context, timestamp, anonymous_id,
                integrations, message_id)  # fmt: skip
    elif kind == "group":
        args = (user_id, event.get("groupId"), _dict_field(event, "traits"), context,
                timestamp, anonymous_id, integrations, message_id)  # fmt: skip
    elif kind == "alias":
        args = (event.get("previousId"), user_id, context, timestamp, integrations, message_id)
    else:
        raise InvalidEvent("type must be one of identify, track, page, screen, group, alias")
    return kind, args


def _dict_field(event: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = event.get(name)
    if value is None or isinstance(value, dict):
        return value
    raise InvalidEvent(f"{name} is a JSON {type(value).__name__}, not an object")


def _timestamp(value: Any) -> datetime.datetime | None:
    """Parse an ISO 8601 timestamp; None (the SDK then uses now) if absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"timestamp is a JSON {type(value).__name__}, not a string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda match: "." + match.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEvent("timestamp is not an ISO 8601 date and time") from None
