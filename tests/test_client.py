"""End-to-end behaviour of Client: real uploader processes posting to a real sink."""

from __future__ import annotations

import datetime
import decimal
import logging
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from conftest import FAST_RETRY, WRITE_KEY, assert_accounted, wait_until

import rudder_fast
from rudder_fast import (
    APIError,
    Client,
    ConfigError,
    EventValidationError,
    RetryPolicy,
    TransportError,
)
from rudder_fast.sink import Faults, Sink


def _send_one_of_each(client: Client) -> dict[str, dict[str, Any]]:
    """Send one event of every type; return the built messages by messageId."""
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    calls = [
        client.identify("u1", {"email": "a@example.com"}, {"ip": "10.0.0.1"}, when),
        client.track("u1", "Order Completed", {"total": 12.5, "items": [1, 2]}),
        client.page("u1", "Docs", "Install", {"path": "/install"}),
        client.screen(None, "Home", "Feed", {"tab": 2}, anonymous_id="anon-7"),
        client.group("u1", "g-42", {"plan": "pro"}),
        client.alias("anon-7", "u1"),
    ]
    built = {}
    for queued, message in calls:
        assert queued is True
        built[message["messageId"]] = message
    return built


@pytest.mark.parametrize("gzip", [True, False])
def test_every_call_type_arrives(
    sink: Sink, make_client: Callable[..., Client], gzip: bool
) -> None:
    """Each of the six calls reaches the sink once, with the fields it was built with."""
    client = make_client(gzip=gzip)
    built = _send_one_of_each(client)

    assert client.flush(timeout=30) == 0

    received = {event["messageId"]: event for event in sink.events}
    assert set(received) == set(built)
    for message_id, message in built.items():
        event = received[message_id]
        assert event["type"] == message["type"]
        assert event["timestamp"] == message["timestamp"]
        assert event["channel"] == "server"
        assert event["context"]["library"]["name"] == "rudder-fast"
    by_type = {event["type"]: event for event in received.values()}
    assert by_type["identify"]["context"]["traits"] == {"email": "a@example.com"}
    assert by_type["identify"]["timestamp"] == "2024-05-01T12:30:00+00:00"
    assert by_type["track"]["properties"] == {"total": 12.5, "items": [1, 2]}
    assert by_type["page"]["category"] == "Docs"
    assert by_type["page"]["name"] == "Install"
    assert by_type["screen"]["anonymousId"] == "anon-7"
    assert by_type["screen"]["userId"] is None
    assert by_type["group"]["groupId"] == "g-42"
    assert by_type["alias"]["previousId"] == "anon-7"
    assert sink.stats()["statuses"] == {200: sink.stats()["accepted_requests"]}


def test_flush_drains_every_uploader(sink: Sink, make_client: Callable[..., Client]) -> None:
    """flush() sends partial batches held by several uploaders long before the interval."""
    client = make_client(workers=3, upload_size=1000, upload_interval=120)
    sent = 2500
    for index in range(sent):
        client.track(f"user-{index}", "Viewed", {"index": index})

    started = time.monotonic()
    assert client.flush(timeout=60) == 0
    assert time.monotonic() - started < 60

    assert sink.stats()["events"] == sent
    stats = client.stats()
    assert stats.delivered == sent
    assert stats.pending == 0
    assert len(stats.uploaders) == 3
    assert_accounted(stats)


def test_rejected_batch_reaches_on_error(sink: Sink, make_client: Callable[..., Client]) -> None:
    """A batch rejected with 400 is reported once to on_error, in the parent, with its events."""
    reports: list[tuple[APIError, list[dict[str, Any]]]] = []
    client = make_client(workers=1, on_error=lambda error, events: reports.append((error, events)))
    sink.set_faults(Faults(script=(400,)))
    _, rejected = client.track("u1", "Rejected Event", {"n": 1})

    assert client.flush(timeout=30) == 0

    assert len(reports) == 1
    error, events = reports[0]
    assert isinstance(error, APIError)
    assert error.status == 400
    assert [event["messageId"] for event in events] == [rejected["messageId"]]
    assert events[0]["event"] == "Rejected Event"
    stats = client.stats()
    assert stats.failed == 1
    assert stats.delivered == 0
    assert_accounted(stats)


def test_server_errors_are_retried(sink: Sink, make_client: Callable[..., Client]) -> None:
    """503 then 500 then success delivers every event once, counting two retries."""
    client = make_client(workers=1)
    sink.set_faults(Faults(script=(503, 500)))
    _, message = client.track("u1", "Retried", {})

    assert client.flush(timeout=30) == 0

    assert [event["messageId"] for event in sink.events] == [message["messageId"]]
    stats = client.stats()
    assert stats.retries == 2
    assert stats.requests == 3
    assert stats.delivered == 1


def test_invalid_write_key_fails_without_retry(
    sink: Sink, make_client: Callable[..., Client]
) -> None:
    """A 401 is not retried: the batch goes straight to on_error."""
    reports: list[APIError] = []
    client = Client(
        "not-the-key", sink.url, workers=1, retry_policy=FAST_RETRY,
        on_error=lambda error, events: reports.append(error),
    )  # fmt: skip
    try:
        client.track("u1", "Denied", {})
        assert client.flush(timeout=30) == 0
        assert [error.status for error in reports] == [401]
        assert client.stats().requests == 1
    finally:
        client.shutdown(timeout=10)


def test_flush_with_timeout_returns_when_unreachable() -> None:
    """flush(timeout=1) returns within about a second when nothing listens."""
    with Sink() as probe:
        url = probe.url
    # The probe is stopped: its port now refuses connections.
    patient = RetryPolicy(max_retries=50, backoff_base_s=0.05, backoff_max_s=0.2, budget_s=60.0)
    client = Client(WRITE_KEY, url, workers=1, retry_policy=patient)
    try:
        client.track("u1", "Lost Cause", {})
        started = time.monotonic()
        pending = client.flush(timeout=1)
        elapsed = time.monotonic() - started
        assert pending == 1
        assert elapsed < 2.0
        assert_accounted(client.stats())
    finally:
        started = time.monotonic()
        dropped = client.shutdown(timeout=1)
        assert time.monotonic() - started < 4.0
    assert dropped == 1
    stats = client.stats()
    assert stats.dropped_by_reason == {"shutdown_deadline": 1}
    assert_accounted(stats)


def test_validation_errors_raise_at_the_call(make_client: Callable[..., Client]) -> None:
    """Invalid arguments raise an AssertionError naming the argument and the type."""
    client = make_client()
    with pytest.raises(EventValidationError, match="event must be a string, got int"):
        client.track("u1", 42)
    with pytest.raises(AssertionError, match="user_id or anonymous_id is required"):
        client.track(None, "Event")
    with pytest.raises(AssertionError, match="properties must be a dict, got list"):
        client.track("u1", "Event", ["not", "a", "dict"])
    with pytest.raises(AssertionError, match=r"timestamp must be a datetime\.datetime, got str"):
        client.identify("u1", timestamp="2024-01-01")
    assert client.stats().enqueued == 0


def test_oversized_event_is_dropped_with_reason(
    sink: Sink, make_client: Callable[..., Client]
) -> None:
    """An event over max_event_bytes returns False, is counted and reaches on_drop."""
    drops: list[tuple[str, list[dict[str, Any]]]] = []
    client = make_client(on_drop=lambda reason, events: drops.append((reason, events)))
    queued, message = client.track("u1", "Huge", {"blob": "x" * 40_000})
    assert queued is False
    client.track("u1", "Small", {})

    assert client.flush(timeout=30) == 0

    assert [reason for reason, _ in drops] == ["too_large"]
    assert drops[0][1][0]["messageId"] == message["messageId"]
    stats = client.stats()
    assert stats.dropped_by_reason == {"too_large": 1}
    assert stats.delivered == 1
    assert_accounted(stats)


def test_queue_full_drops_and_counts(sink: Sink, make_client: Callable[..., Client]) -> None:
    """Past max_queue_size, calls return False and the drops are counted."""
    sink.set_faults(Faults(delay_s=0.5))
    client = make_client(workers=1, max_queue_size=10, upload_size=5)
    results = [client.track("u1", "Burst", {"i": i})[0] for i in range(50)]

    assert results.count(True) == 10
    stats = client.stats()
    assert stats.dropped_by_reason == {"queue_full": 40}
    assert_accounted(stats)
    assert client.flush(timeout=30) == 0
    assert sink.stats()["events"] == 10


def test_sync_mode_sends_in_the_calling_thread(
    sink: Sink, make_client: Callable[..., Client]
) -> None:
    """In sync_mode the event is stored before the call returns; no uploader starts."""
    client = make_client(sync_mode=True)
    queued, message = client.track("u1", "Synchronous", {})
    assert queued is True
    assert [event["messageId"] for event in sink.events] == [message["messageId"]]
    assert client.stats().uploaders == ()
    assert client.stats().delivered == 1


def test_send_false_only_validates(sink: Sink, make_client: Callable[..., Client]) -> None:
    """With send=False the call builds the message and nothing is sent."""
    client = make_client(send=False)
    queued, message = client.track("u1", "Not Sent", {"a": 1})
    assert queued is True
    assert message["event"] == "Not Sent"
    assert client.flush(timeout=5) == 0
    assert sink.stats()["requests"] == 0


def test_caller_dicts_are_not_mutated(make_client: Callable[..., Client]) -> None:
    """The caller's context, traits and properties come back unchanged."""
    client = make_client(send=False)
    context = {"ip": "10.0.0.1"}
    traits = {"name": "Ada"}
    client.identify("u1", traits, context)
    assert context == {"ip": "10.0.0.1"}
    assert traits == {"name": "Ada"}


def test_write_key_never_logged(
    sink: Sink, make_client: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    """Debug logs of a failing run, uploaders' included, never contain the write key."""
    caplog.set_level(logging.DEBUG, logger="rudder_fast")
    sink.set_faults(Faults(script=(503, 503, 401)))
    client = make_client(debug=True, workers=1)
    client.track("u1", "Logged", {"secret_property": "do-not-log-me"})
    client.flush(timeout=30)
    client.shutdown(timeout=10)

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "[uploader 0]" in text
    assert "Giving up on a batch of 1 events" in text
    assert WRITE_KEY not in text
    assert "do-not-log-me" not in text
    assert WRITE_KEY not in repr(client)
    assert WRITE_KEY not in repr(client.config)


def test_errors_pickle_round_trip() -> None:
    """Errors cross process boundaries intact."""
    for error in (APIError(500, "server_error", "boom"), TransportError("timeout", "slow")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (copy.status, copy.code, copy.message) == (error.status, error.code, error.message)


def test_bad_options_raise_config_error(sink: Sink) -> None:
    """Invalid options fail at construction with the option's name."""
    with pytest.raises(ConfigError, match="write_key must be a non-empty string"):
        Client(None, sink.url)
    with pytest.raises(ConfigError, match="dataPlaneUrl is not set"):
        Client(WRITE_KEY)
    with pytest.raises(ConfigError, match="is not a valid URL"):
        Client(WRITE_KEY, "not a url")
    with pytest.raises(ConfigError, match="must be an absolute http"):
        Client(WRITE_KEY, "dataplane.example.com")
    with pytest.raises(ConfigError, match="must not contain credentials"):
        Client(WRITE_KEY, "https://user:secret@dataplane.example.com")
    with pytest.raises(ConfigError, match="upload_size must be an integer >= 1, got 0"):
        Client(WRITE_KEY, sink.url, upload_size=0)
    with pytest.raises(ConfigError, match="upload_interval must be a finite number"):
        Client(WRITE_KEY, sink.url, upload_interval=-1)
    with pytest.raises(ConfigError, match="gzip_level must be an integer from 0 to 9"):
        Client(WRITE_KEY, sink.url, gzip_level=11)
    with pytest.raises(ConfigError, match="thread must be an integer >= 1"):
        Client(WRITE_KEY, sink.url, thread=0)


def test_module_level_api(sink: Sink) -> None:
    """Module attributes configure the default client, upload_size included."""
    rudder_fast.write_key = WRITE_KEY
    rudder_fast.dataPlaneUrl = sink.url
    rudder_fast.upload_size = 7
    rudder_fast.workers = 1
    try:
        for index in range(14):
            rudder_fast.track(f"user-{index}", "Module Call", {})
        assert rudder_fast.flush(timeout=30) == 0
        assert rudder_fast.default_client is not None
        assert rudder_fast.default_client.config.upload_size == 7
        stats = rudder_fast.stats()
        assert stats is not None
        assert stats.delivered == 14
        assert stats.requests == 2
    finally:
        rudder_fast.shutdown(timeout=10)
        rudder_fast.write_key = None
        rudder_fast.dataPlaneUrl = None
        rudder_fast.upload_size = 100
        rudder_fast.workers = None
    assert rudder_fast.default_client is None


def test_stats_reads_as_mapping(make_client: Callable[..., Client]) -> None:
    """stats() is readable by attribute and by key."""
    stats = make_client().stats()
    assert stats["enqueued"] == stats.enqueued == 0
    assert set(stats) >= {"enqueued", "delivered", "failed", "dropped", "pending"}
    assert stats.as_dict()["pending"] == 0


def test_context_manager_shuts_down(sink: Sink) -> None:
    """Leaving a with block delivers queued events and stops the uploaders."""
    with Client(WRITE_KEY, sink.url, workers=1, upload_interval=60) as client:
        client.track("u1", "In Block", {})
        pids = [uploader.pid for uploader in client.stats().uploaders]
    assert sink.stats()["events"] == 1
    assert client.track("u1", "After Close", {})[0] is False
    assert client.stats().dropped_by_reason == {"closed": 1}
    assert len(pids) == 1
    assert not psutil.pid_exists(pids[0])


def test_queue_full_block_waits_for_room(sink: Sink, make_client: Callable[..., Client]) -> None:
    """With queue_full="block", a full queue delays the call instead of dropping."""
    sink.set_faults(Faults(delay_s=0.05))
    client = make_client(
        workers=1, max_queue_size=20, upload_size=10, upload_interval=0.01, queue_full="block"
    )
    results = [client.track("u1", "Blocked", {"i": i})[0] for i in range(100)]

    assert results == [True] * 100
    assert client.flush(timeout=30) == 0
    assert sink.stats()["events"] == 100
    assert client.stats().dropped == 0


def test_callbacks_may_flush_and_shut_down(sink: Sink, make_client: Callable[..., Client]) -> None:
    """on_error can call flush() and shutdown() without deadlocking."""
    calls: list[int] = []
    client: Client | None = None

    def on_error(error: APIError, events: list[dict[str, Any]]) -> None:
        assert client is not None
        calls.append(client.flush(timeout=10))
        calls.append(client.shutdown(timeout=10))

    sink.set_faults(Faults(script=(400,)))
    client = make_client(workers=1, on_error=on_error)
    client.track("u1", "Rejected", {})
    client.flush(timeout=30)

    assert calls == [0, 0]
    assert client.track("u1", "After Shutdown", {})[0] is False


def test_callback_exception_does_not_stop_delivery(
    sink: Sink, make_client: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    """An exception raised by on_error is logged, and later events still arrive."""

    def on_error(error: APIError, events: list[dict[str, Any]]) -> None:
        raise RuntimeError("callback failed")

    sink.set_faults(Faults(script=(400,)))
    client = make_client(workers=1, on_error=on_error)
    client.track("u1", "Rejected", {})
    assert client.flush(timeout=30) == 0
    client.track("u1", "Accepted", {})
    assert client.flush(timeout=30) == 0

    assert [event["event"] for event in sink.events] == ["Accepted"]
    assert any("raised an exception" in record.getMessage() for record in caplog.records)


def test_shutdown_interrupts_retry_backoff(sink: Sink) -> None:
    """shutdown(timeout=1) does not wait out a long backoff between retries."""
    sink.set_faults(Faults(fail_rate=1.0, fail_status=503))
    slow = RetryPolicy(max_retries=10, backoff_base_s=30.0, backoff_max_s=30.0, budget_s=600)
    client = Client(WRITE_KEY, sink.url, workers=1, retry_policy=slow)
    client.track("u1", "Stuck", {})
    assert wait_until(lambda: sink.stats()["requests"] >= 1)

    started = time.monotonic()
    dropped = client.shutdown(timeout=1)

    assert time.monotonic() - started < 3.0
    assert dropped == 1
    assert client.stats().dropped_by_reason == {"shutdown_deadline": 1}


def test_module_host_is_a_deprecated_alias(sink: Sink) -> None:
    """rudder_fast.host still works, with a DeprecationWarning pointing to dataPlaneUrl."""
    rudder_fast.write_key = WRITE_KEY
    rudder_fast.host = sink.url
    rudder_fast.upload_interval = 0.05
    try:
        with pytest.warns(DeprecationWarning, match="set rudder_fast.dataPlaneUrl instead"):
            rudder_fast.track("u1", "Via Host", {})
        assert rudder_fast.default_client is not None
        assert rudder_fast.default_client.config.upload_interval_s == 0.05
        assert rudder_fast.flush(timeout=30) == 0
        assert sink.stats()["events"] == 1
    finally:
        rudder_fast.shutdown(timeout=10)
        rudder_fast.write_key = None
        rudder_fast.host = None
        rudder_fast.upload_interval = 0.5


def test_default_client_is_built_once_across_threads(sink: Sink) -> None:
    """Concurrent first calls from many threads share one default client."""
    rudder_fast.write_key = WRITE_KEY
    rudder_fast.dataPlaneUrl = sink.url
    rudder_fast.workers = 1
    clients: list[Client] = []
    barrier = threading.Barrier(8)

    def first_call() -> None:
        barrier.wait()
        rudder_fast.track("u1", "Race", {})
        assert rudder_fast.default_client is not None
        clients.append(rudder_fast.default_client)

    threads = [threading.Thread(target=first_call) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len({id(client) for client in clients}) == 1
        assert rudder_fast.flush(timeout=30) == 0
        assert sink.stats()["events"] == 8
    finally:
        rudder_fast.shutdown(timeout=10)
        rudder_fast.write_key = None
        rudder_fast.dataPlaneUrl = None
        rudder_fast.workers = None


@pytest.mark.parametrize(
    ("proxies", "url", "expected"),
    [
        (None, "https://dp.example.com", None),
        ("proxy.internal:3128", "https://dp.example.com", "http://proxy.internal:3128"),
        ("http://proxy.internal:3128", "http://127.0.0.1:8080", "http://proxy.internal:3128"),
        ({"https": "http://p:1", "http": "http://q:2"}, "https://dp.example.com", "http://p:1"),
        ({"https": "http://p:1", "http": "http://q:2"}, "http://127.0.0.1:8080", "http://q:2"),
        ({"http": "http://q:2"}, "https://dp.example.com", None),
    ],
)
def test_proxies_pick_the_data_plane_scheme(proxies: Any, url: str, expected: str | None) -> None:
    """proxies takes a requests-style mapping or a host:port string, as the official SDK."""
    client = Client(WRITE_KEY, url, proxies=proxies, send=False)
    assert client.config.proxy_url == expected


def test_lagging_uploader_fills_batches(sink: Sink, make_client: Callable[..., Client]) -> None:
    """An uploader behind schedule still packs upload_size events per request."""
    sink.set_faults(Faults(delay_s=0.3))
    client = make_client(workers=1, upload_size=1000, upload_interval=0.01)
    for index in range(6000):
        client.track(f"user-{index}", "Backlog", {})

    assert client.flush(timeout=60) == 0

    # 6,000 events make 6 full batches; chunks of 256 sent one per request would make 24.
    assert sink.stats()["accepted_requests"] <= 12
    assert sink.stats()["events"] == 6000


def test_on_error_gets_events_with_huge_numbers(
    sink: Sink, make_client: Callable[..., Client]
) -> None:
    """A failed batch holding numbers beyond a double's range still reaches on_error."""
    reports: list[list[dict[str, Any]]] = []
    client = make_client(workers=1, on_error=lambda error, events: reports.append(events))
    sink.set_faults(Faults(script=(400,)))
    client.track("u1", "Huge Number", {"amount": decimal.Decimal("1e400"), "n": 10**400})
    assert client.flush(timeout=30) == 0
    client.track("u2", "Later", {})
    assert client.flush(timeout=30) == 0

    assert len(reports) == 1
    assert reports[0][0]["properties"]["n"] == 10**400
    assert sink.stats()["events"] == 1
    assert_accounted(client.stats())
