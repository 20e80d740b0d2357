"""Shared fixtures: a real sink on 127.0.0.1 and clients with test-friendly timings."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import rudder_fast
from rudder_fast import Client, RetryPolicy
from rudder_fast.sink import Sink

WRITE_KEY = "test-write-key-5f1c9d"

# Retries that finish within a test's patience.
FAST_RETRY = RetryPolicy(max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05, budget_s=5.0)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink(write_keys={WRITE_KEY}) as server:
        yield server


@pytest.fixture
def make_client(sink: Sink) -> Iterator[Callable[..., Client]]:
    """Build clients aimed at the sink; each is shut down at the end of the test."""
    clients: list[Client] = []

    def build(**options: Any) -> Client:
        options.setdefault("host", sink.url)
        options.setdefault("workers", 2)
        options.setdefault("retry_policy", FAST_RETRY)
        options.setdefault("exit_timeout", 5.0)
        client = Client(WRITE_KEY, **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.shutdown(timeout=10)


@pytest.fixture(autouse=True)
def _reset_module_client() -> Iterator[None]:
    yield
    rudder_fast.shutdown(timeout=10)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def assert_accounted(stats: rudder_fast.Stats) -> None:
    """Every event has one outcome or is pending."""
    resolved = stats.delivered + stats.failed + stats.dropped + stats.spooled
    assert stats.enqueued == resolved + stats.pending
