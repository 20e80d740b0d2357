"""Property-based bad input: odd event contents and odd options never escape as crashes."""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from typing import Any

import pytest
from conftest import FAST_RETRY, WRITE_KEY, assert_accounted
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rudder_fast import Client, ConfigError, EventValidationError
from rudder_fast.sink import Sink

ODD_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: includes integers beyond 64 bits
    | st.floats()  # includes NaN and infinities
    | st.text()  # includes lone surrogates
    | st.binary(max_size=40)
    | st.decimals()
    | st.uuids()
    | st.datetimes(timezones=st.none() | st.timezones())
    | st.dates()
    | st.timedeltas()
    | st.text(min_size=2000, max_size=5000)
)
ODD_KEYS = st.text() | st.integers() | st.none() | st.booleans() | st.tuples(st.integers())
ODD_VALUES = st.recursive(
    ODD_LEAVES,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.frozensets(st.integers() | st.text(max_size=5), max_size=4)
        | st.dictionaries(ODD_KEYS, children, max_size=5)
    ),
    max_leaves=30,
)
PROPERTIES = st.dictionaries(st.text(), ODD_VALUES, max_size=6)


def _deeply_nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"n": value}
    return value


def test_odd_event_contents_are_delivered_or_dropped() -> None:
    """Every odd event is delivered or dropped with a reason; no uploader dies."""
    drops: list[tuple[str, str]] = []
    queued_ids: list[str] = []

    with Sink(write_keys={WRITE_KEY}) as sink:
        client = Client(
            WRITE_KEY, sink.url, workers=2, retry_policy=FAST_RETRY, max_queue_size=100_000,
            on_drop=lambda reason, events: drops.extend((reason, e["messageId"]) for e in events),
        )  # fmt: skip

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(user_id=st.text(min_size=1) | st.integers(min_value=1), properties=PROPERTIES)
        def send(user_id: Any, properties: dict[str, Any]) -> None:
            try:
                queued, message = client.track(user_id, "Odd", properties)
            except EventValidationError:
                # The one documented validation error these arguments can cause.
                assert not str(user_id).strip()
                return
            if queued:
                queued_ids.append(message["messageId"])

        try:
            send()
            for extreme in (_deeply_nested(300), {"nan": math.nan, "big": 10**400}):
                queued, message = client.track("u-1", "Extreme", extreme)
                if queued:
                    queued_ids.append(message["messageId"])
            assert client.flush(timeout=120) == 0
            stats = client.stats()
            assert_accounted(stats)
            assert stats.uploader_restarts == 0
            assert stats.failed == 0
            stored = {event["messageId"] for event in sink.events}
            assert stored == set(queued_ids)
            assert stats.delivered == len(queued_ids)
            assert stats.dropped == len(drops)
            assert {reason for reason, _ in drops} <= {"too_large", "unserializable"}
            assert "unserializable" in {reason for reason, _ in drops}
        finally:
            client.shutdown(timeout=10)


BAD_OPTIONS = [
    ("upload_size", 0), ("upload_size", -5), ("upload_size", 2.5), ("upload_size", "100"),
    ("upload_interval", 0), ("upload_interval", -1), ("upload_interval", math.inf),
    ("upload_interval", math.nan), ("upload_interval", "0.5"),
    ("max_queue_size", 0), ("max_queue_size", None), ("max_queue_size", 10**30 + 0.5),
    ("timeout", 0), ("timeout", -3), ("timeout", (1, 0)), ("timeout", "15"),
    ("max_retries", -1), ("max_retries", 1.5),
    ("thread", 0), ("workers", -2), ("workers", "2"),
    ("gzip_level", 10), ("gzip_level", -1),
    ("max_event_bytes", 10), ("max_request_bytes", 1000), ("max_queue_bytes", 1),
    ("queue_full", "wait"), ("queue_full_timeout", -1), ("exit_timeout", math.nan),
    ("on_error", "not callable"), ("on_drop", 42), ("proxies", 3128),
    ("proxies", {"https": 3128}), ("retry_policy", {"max_retries": 3}),
    ("ca_certs", "/nonexistent/ca.pem"),
]  # fmt: skip


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS)
def test_bad_option_names_itself(option: str, value: Any) -> None:
    """Each invalid option raises ConfigError whose message names the option."""
    with pytest.raises(ConfigError) as caught:
        Client(WRITE_KEY, "http://127.0.0.1:9", **{option: value})
    name = {"workers": "thread", "timeout": "timeout"}.get(option, option)
    assert name.split("[")[0] in str(caught.value)


@settings(max_examples=200, deadline=None)
@given(
    option=st.sampled_from(
        ["upload_size", "upload_interval", "max_queue_size", "timeout", "max_retries",
         "workers", "gzip_level", "max_event_bytes", "max_request_bytes", "exit_timeout"]
    ),
    value=st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    | st.lists(st.integers(), max_size=3) | st.decimals(),
)  # fmt: skip
def test_any_option_value_is_accepted_or_config_error(option: str, value: Any) -> None:
    """No option value makes the constructor raise anything but ConfigError."""
    try:
        client = Client(WRITE_KEY, "http://127.0.0.1:9", send=False, **{option: value})
    except ConfigError:
        return
    client.shutdown(timeout=1)


ODD_IDS = [
    (None, EventValidationError), ("", EventValidationError), (0, EventValidationError),
    ([1], EventValidationError), ({"id": 1}, EventValidationError),
    (b"bytes-id", EventValidationError), ("   ", EventValidationError),
    (uuid.UUID(int=5), EventValidationError),
    (decimal.Decimal("7"), None), (3.5, None), (True, None),
    (datetime.date(2024, 1, 1), EventValidationError),
]  # fmt: skip


@pytest.mark.parametrize(("user_id", "error"), ODD_IDS)
def test_odd_user_ids(user_id: Any, error: type[Exception] | None) -> None:
    """User ids follow the official SDK's rule: a truthy number or string."""
    client = Client(WRITE_KEY, send=False)
    if error is None:
        queued, message = client.track(user_id, "Odd Id")
        assert queued
        assert message["userId"] == str(user_id)
    else:
        with pytest.raises(error, match="user_id or anonymous_id"):
            client.track(user_id, "Odd Id")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"send": "false"}, "send must be True or False"),
        ({"gzip": "no"}, "gzip must be True or False"),
        ({"debug": 2}, "debug must be True or False"),
        ({"workers": 1000}, "must be at most 64"),
        ({"max_event_bytes": 3_999_500}, "max_request_bytes .* must be at least max_event_bytes"),
        ({"host": "http://127.0.0.1:9/v1/batch"}, "without /v1/batch"),
    ],
)
def test_misleading_options_are_rejected(options: dict[str, Any], message: str) -> None:
    """Options that would silently misbehave raise a ConfigError giving the reason."""
    options.setdefault("host", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=message):
        Client(WRITE_KEY, **options)


def test_proxy_password_not_in_repr() -> None:
    """A proxy URL's password stays out of the config's repr."""
    client = Client(WRITE_KEY, "http://127.0.0.1:9", proxies="http://user:s3cret@proxy:3128",
                    send=False)  # fmt: skip
    assert "s3cret" not in repr(client.config)


def test_unusable_spool_dir_is_config_error(tmp_path: Any) -> None:
    """A spool_dir that cannot be created raises ConfigError naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="spool_dir"):
        Client(WRITE_KEY, "http://127.0.0.1:9", spool_dir=str(blocker / "spool"))
