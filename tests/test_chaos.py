"""Chaos scenarios against the sink: every event is delivered, reported or dropped.

Each scenario sends events through real uploaders while the sink misbehaves, then checks
that no event is lost silently: each messageId sent is stored by the sink, handed to
``on_error``, or handed to ``on_drop``, and the client's counters add up. Run with
``pytest tests/test_chaos.py -s`` to print each scenario's counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import WRITE_KEY, assert_accounted, wait_until

from rudder_fast import APIError, Client, RetryPolicy
from rudder_fast.sink import Faults, Sink

EVENTS = 2000

# Retries that outlast a 10-second outage while keeping each test bounded.
PATIENT = RetryPolicy(max_retries=60, backoff_base_s=0.05, backoff_max_s=1.0, budget_s=40.0)


@dataclass
class Outcome:
    """What one scenario sent and where each event ended up."""

    name: str
    sent: set[str] = field(default_factory=set)
    reported: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    errors: list[APIError] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_error(self, error: APIError, events: list[dict[str, Any]]) -> None:
        with self.lock:
            self.errors.append(error)
            self.reported.update(event["messageId"] for event in events)

    def on_drop(self, reason: str, events: list[dict[str, Any]]) -> None:
        with self.lock:
            self.dropped.update(event["messageId"] for event in events)


SUMMARY: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _print_summary() -> Iterator[None]:
    yield
    if SUMMARY:
        columns = ("sent", 5), ("delivered", 9), ("dups", 5), ("reported", 8), ("dropped", 7)
        header = f"{'scenario':34} " + " ".join(f"{name:>{width}}" for name, width in columns)
        print("\n" + "\n".join([header, *SUMMARY]))


def _send(client: Client, outcome: Outcome, count: int = EVENTS) -> None:
    for index in range(count):
        queued, message = client.track(f"user-{index % 97}", "Chaos", {"index": index})
        assert queued
        outcome.sent.add(message["messageId"])


def _check(outcome: Outcome, client: Client, sink: Sink) -> set[str]:
    """Assert nothing was lost silently; record the counts; return the delivered ids."""
    stats = client.stats()
    assert_accounted(stats)
    assert stats.pending == 0
    stored = [event["messageId"] for event in sink.events]
    delivered = set(stored) & outcome.sent
    lost = outcome.sent - delivered - outcome.reported - outcome.dropped
    assert not lost, f"{len(lost)} events lost without a trace"
    assert stats.failed == len(outcome.reported)
    assert stats.dropped == len(outcome.dropped)
    duplicates = len(stored) - len(set(stored))
    SUMMARY.append(
        f"{outcome.name:34} {len(outcome.sent):5} {len(delivered):9} {duplicates:5} "
        f"{len(outcome.reported):8} {len(outcome.dropped):7}"
    )
    return delivered


def _client(sink: Sink, outcome: Outcome, **options: Any) -> Client:
    options.setdefault("workers", 2)
    options.setdefault("retry_policy", PATIENT)
    options.setdefault("max_queue_size", EVENTS * 2)
    return Client(
        options.pop("write_key", WRITE_KEY), sink.url,
        on_error=outcome.on_error, on_drop=outcome.on_drop, **options,
    )  # fmt: skip


@pytest.fixture
def run(sink: Sink) -> Iterator[Callable[..., tuple[Client, Outcome]]]:
    clients: list[Client] = []

    def start(name: str, **options: Any) -> tuple[Client, Outcome]:
        outcome = Outcome(name)
        client = _client(sink, outcome, **options)
        clients.append(client)
        return client, outcome

    yield start
    for client in clients:
        client.shutdown(timeout=10)


def test_thirty_percent_failing_responses(sink: Sink, run: Callable[..., Any]) -> None:
    """With 30 % of responses 503, retries deliver everything exactly once."""
    sink.set_faults(Faults(fail_rate=0.3, fail_status=503, seed=7))
    client, outcome = run("30% responses 503")
    _send(client, outcome)
    assert client.flush(timeout=120) == 0

    delivered = _check(outcome, client, sink)
    assert delivered == outcome.sent
    assert client.stats().retries > 0
    assert sink.stats()["duplicates"] == 0


def test_outage_then_recovery(sink: Sink, run: Callable[..., Any]) -> None:
    """A 10-second outage (connections refused) ends with every event delivered."""
    client, outcome = run("10 s outage, then recovery")
    _send(client, outcome, EVENTS // 2)
    assert client.flush(timeout=60) == 0
    sink.stop()
    outage_ends = time.monotonic() + 10.0
    _send(client, outcome, EVENTS // 2)
    assert wait_until(lambda: client.stats().retries >= 3, timeout=10)
    # The rest of the outage: a scenario length, not a synchronization.
    time.sleep(max(0.0, outage_ends - time.monotonic()))
    assert client.stats().delivered == EVENTS // 2
    sink.start()
    assert client.flush(timeout=120) == 0

    delivered = _check(outcome, client, sink)
    assert delivered == outcome.sent


def test_responses_slower_than_timeout(sink: Sink, run: Callable[..., Any]) -> None:
    """Answers slower than `timeout` are retried; events stored anyway come back as duplicates."""
    sink.set_faults(Faults(delay_s=1.0))
    client, outcome = run("responses slower than timeout", timeout=0.3, upload_size=200)
    _send(client, outcome)
    assert wait_until(lambda: client.stats().retries >= 2, timeout=30)
    sink.set_faults(Faults())
    assert client.flush(timeout=120) == 0

    delivered = _check(outcome, client, sink)
    assert delivered == outcome.sent


def test_connection_closed_after_storing(sink: Sink, run: Callable[..., Any]) -> None:
    """Batches stored without a response are resent with the same messageIds."""
    sink.set_faults(Faults(close_after_store=True))
    client, outcome = run("connection closed after storing", upload_size=200)
    _send(client, outcome)
    assert wait_until(lambda: sink.stats()["requests"] >= 3, timeout=30)
    sink.set_faults(Faults())
    assert client.flush(timeout=120) == 0

    delivered = _check(outcome, client, sink)
    assert delivered == outcome.sent
    assert sink.stats()["duplicates"] > 0
    assert sink.stats()["unique_message_ids"] == EVENTS


def test_permanent_401(sink: Sink, run: Callable[..., Any]) -> None:
    """A wrong write key reports every event to on_error, without retries."""
    client, outcome = run("permanent 401 (wrong write key)", write_key="wrong-key")
    _send(client, outcome)
    assert client.flush(timeout=60) == 0

    _check(outcome, client, sink)
    assert outcome.reported == outcome.sent
    assert {error.status for error in outcome.errors} == {401}
    assert client.stats().retries == 0
    assert sink.stats()["events"] == 0


def test_batch_rejected_with_400(sink: Sink, run: Callable[..., Any]) -> None:
    """One batch rejected with 400 is reported; the others are delivered."""
    sink.set_faults(Faults(script=(400,)))
    client, outcome = run("one batch rejected with 400", upload_size=100)
    _send(client, outcome)
    assert client.flush(timeout=60) == 0

    delivered = _check(outcome, client, sink)
    assert len(outcome.reported) == 100
    assert delivered == outcome.sent - outcome.reported
    assert {error.status for error in outcome.errors} == {400}


def test_oversized_batches_are_split(sink: Sink, run: Callable[..., Any]) -> None:
    """Behind a data plane with a small request limit, 413 splits batches until they fit."""
    sink.stop()
    small = Sink(port=sink.port, write_keys={WRITE_KEY}, max_request_bytes=30_000)
    small.start()
    try:
        client, outcome = run("413: request limit 30 KB", upload_size=500)
        _send(client, outcome, 500)
        client.track("u1", "Too Big Alone", {"blob": "x" * 31_000})
        assert client.flush(timeout=60) == 0
        stored = {event["messageId"] for event in small.events}
        assert stored == outcome.sent
        assert client.stats().dropped_by_reason == {"too_large": 1}
        assert small.stats()["statuses"][413] > 0
    finally:
        small.stop()
