"""Differential tests: the same calls through rudder_fast and rudder-sdk-python 2.1.9."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rudderstack.analytics.client import Client as OfficialClient
from rudderstack.analytics.request import DatetimeSerializer

from rudder_fast import Client, EventValidationError
from rudder_fast._serialize import dumps

WHEN = datetime.datetime(2024, 3, 1, 8, 0, 0, 123456, tzinfo=datetime.timezone.utc)
EAST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")


@pytest.fixture(scope="module")
def official() -> OfficialClient:
    return OfficialClient("differential-key", send=False)


@pytest.fixture(scope="module")
def ours() -> Iterator[Client]:
    client = Client("differential-key", send=False)
    yield client
    client.shutdown()


def wire(message: dict[str, Any], serializer: str) -> dict[str, Any]:
    """What the data plane would parse from this message."""
    if serializer == "official":
        parsed: dict[str, Any] = json.loads(json.dumps(message, cls=DatetimeSerializer))
    else:
        parsed = orjson.loads(dumps(message))
    return parsed


def comparable(message: dict[str, Any], serializer: str, keep_time: bool) -> dict[str, Any]:
    """Drop what legitimately differs: context.library, and generated ids and times."""
    parsed = wire(message, serializer)
    parsed["context"].pop("library")
    if not keep_time:
        assert ISO_UTC.match(parsed.pop("timestamp"))
    return parsed


# Each call with every argument given, positionally, as code written for the official SDK
# passes them.
FULL_CALLS = [
    ("identify", ("u-1", {"plan": "pro"}, {"ip": "10.1.1.1"}, WHEN, "anon-1",
                  {"Amplitude": False}, "m-identify")),
    ("track", ("u-1", "Order Completed", {"total": 19.99, "sku": ["a", "b"]},
               {"locale": "fr-FR"}, WHEN, "anon-1", {"All": False}, "m-track")),
    ("page", ("u-1", "Docs", "Install", {"path": "/install"}, {"page": {"url": "/x"}},
              WHEN, "anon-1", {}, "m-page")),
    ("screen", ("u-1", "Main", "Feed", {"tab": 3}, {}, WHEN.astimezone(EAST), None,
                None, "m-screen")),
    ("group", ("u-1", "g-9", {"seats": 12}, {"active": True}, WHEN, "anon-1", None,
               "m-group")),
    ("alias", ("anon-1", "u-1", {"k": "v"}, WHEN, {"Mixpanel": True}, "m-alias")),
]  # fmt: skip

# The same calls with only what is required, so defaults (ids, time) are generated.
MINIMAL_CALLS = [
    ("identify", ("u-1",)),
    ("identify", (None, None, None, None, "anon-only")),
    ("track", (42, "Numeric User")),
    ("page", ("u-1",)),
    ("screen", (None, None, None, None, None, None, 7.5)),
    ("group", ("u-1", 12345)),
    ("alias", ("old", 99)),
    ("alias", (0, "u-1")),
    ("alias", ("", "u-1")),
    ("group", ("u-1", 0)),
    ("group", ("u-1", "")),
]


@pytest.mark.parametrize(("method", "args"), FULL_CALLS, ids=[c[0] for c in FULL_CALLS])
def test_full_call_matches_official(
    official: OfficialClient, ours: Client, method: str, args: tuple[Any, ...]
) -> None:
    """With every argument given, both SDKs send the same fields."""
    _, theirs = getattr(official, method)(*args)
    _, mine = getattr(ours, method)(*args)
    assert comparable(mine, "ours", True) == comparable(theirs, "official", True)


@pytest.mark.parametrize(("method", "args"), MINIMAL_CALLS)
def test_minimal_call_matches_official(
    official: OfficialClient, ours: Client, method: str, args: tuple[Any, ...]
) -> None:
    """With defaults, both SDKs send the same fields apart from generated ones."""
    _, theirs = getattr(official, method)(*args)
    _, mine = getattr(ours, method)(*args)
    expected = comparable(theirs, "official", False)
    actual = comparable(mine, "ours", False)
    expected.pop("messageId")
    actual_id = actual.pop("messageId")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", actual_id
    )
    assert actual == expected


INVALID_CALLS = [
    ("track", (None, "No Id")),
    ("track", ("u-1", None)),
    ("track", ("u-1", 17)),
    ("track", ("u-1", "E", ["not a dict"])),
    ("track", ("u-1", "E", {}, ["not a dict"])),
    ("track", ("u-1", "E", {}, None, "2024-01-01")),
    ("track", ("u-1", "E", {}, None, None, None, ["not a dict"])),
    ("identify", ("u-1", "not a dict")),
    ("identify", ([1, 2],)),
    ("page", ("u-1", None, 5)),
    ("page", ("u-1", 5, "Name")),
    ("screen", ("u-1", None, {"a": 1})),
    ("group", ("u-1", None)),
    ("group", ("u-1", "g", "not a dict")),
    ("alias", (None, "u-1")),
    ("alias", ("old", None)),
]


@pytest.mark.parametrize(("method", "args"), INVALID_CALLS)
def test_invalid_call_raises_like_official(
    official: OfficialClient, ours: Client, method: str, args: tuple[Any, ...]
) -> None:
    """What the official SDK rejects with AssertionError, we reject with one too."""
    with pytest.raises(AssertionError):
        getattr(official, method)(*args)
    with pytest.raises(EventValidationError) as caught:
        getattr(ours, method)(*args)
    assert isinstance(caught.value, AssertionError)
    text = str(caught.value)
    assert "must be" in text or "is required" in text
    # The message names types, never values.
    assert "not a dict" not in text


# Text without lone surrogates: the official SDK's json.dumps would escape them and
# ours replaces them (see test_serialize), a documented difference.
PLAIN_TEXT = st.characters(blacklist_categories=("Cs",))
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=PLAIN_TEXT, max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet=PLAIN_TEXT, max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
PROPERTIES = st.dictionaries(st.text(alphabet=PLAIN_TEXT, max_size=10), JSON_VALUES, max_size=6)
# Ids of only whitespace are a documented difference (tested below), so none here.
IDS = st.one_of(
    st.text(alphabet=PLAIN_TEXT, min_size=1, max_size=12).filter(str.strip),
    st.integers(min_value=1, max_value=2**40),
)


@settings(max_examples=150, deadline=None)
@given(
    user_id=IDS,
    event=st.text(alphabet=PLAIN_TEXT, max_size=30),
    properties=PROPERTIES,
    context=PROPERTIES,
)
def test_track_properties_match_official(
    official: OfficialClient, ours: Client, user_id: Any, event: str,
    properties: dict[str, Any], context: dict[str, Any],
) -> None:  # fmt: skip
    """Arbitrary JSON properties and contexts reach the wire identically."""
    args = (user_id, event, properties, context, WHEN, None, None, "m-1")
    _, theirs = official.track(*args)
    _, mine = ours.track(*args)
    assert comparable(mine, "ours", True) == comparable(theirs, "official", True)


@settings(max_examples=100, deadline=None)
@given(user_id=IDS, traits=PROPERTIES, group_id=IDS)
def test_identify_and_group_traits_match_official(
    official: OfficialClient, ours: Client, user_id: Any, traits: dict[str, Any], group_id: Any
) -> None:
    """Traits land in the same place for identify (context.traits) and group (traits)."""
    for method, args in (
        ("identify", (user_id, traits, None, WHEN, None, None, "m-2")),
        ("group", (user_id, group_id, traits, None, WHEN, None, None, "m-3")),
    ):
        _, theirs = getattr(official, method)(*args)
        _, mine = getattr(ours, method)(*args)
        assert comparable(mine, "ours", True) == comparable(theirs, "official", True)


def test_blank_id_rejected_unlike_official(official: OfficialClient, ours: Client) -> None:
    """A whitespace-only id, which would sink its whole batch at the server, raises here."""
    queued, _ = official.track("   ", "Blank")
    assert queued
    with pytest.raises(EventValidationError, match="non-whitespace character"):
        ours.track("   ", "Blank")


def test_naive_utcnow_west_of_utc(ours: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A naive utcnow() on a host at UTC-5 is read as UTC, not as local time."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        naive_utc = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        _, message = ours.track("u-1", "Clock", None, None, naive_utc)
    finally:
        monkeypatch.undo()
        time.tzset()
    stamped = datetime.datetime.fromisoformat(message["timestamp"])
    skew = stamped - datetime.datetime.now(datetime.timezone.utc)
    assert abs(skew.total_seconds()) < 60


def test_naive_local_now_keeps_local_offset(
    ours: Client, official: OfficialClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A naive datetime.now() is stamped with the local offset, as the official SDK does."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        now = datetime.datetime.now()
        _, mine = ours.track("u-1", "Clock", None, None, now, None, None, "m-4")
        _, theirs = official.track("u-1", "Clock", None, None, now, None, None, "m-4")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert mine["timestamp"].endswith("+05:30")
    assert mine["timestamp"] == theirs["timestamp"]
