"""Accepted events, request counters and seen message ids, shared by the server and API threads."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, Any, TypedDict

from ._gateway import dump_json

__all__ = ["EventStore", "SinkStats"]


class SinkStats(TypedDict):
    """Counters of the batch endpoint since the sink was created or last reset.

    ``requests`` counts handled batch requests, ``accepted_requests`` plus
    ``rejected_requests`` (every error response, injected ones included). A request
    waiting out ``delay_s`` is not counted yet. ``closed_without_response`` counts the
    accepted requests whose connection ``close_after_store`` closed instead of sending 200.

    Every accepted event adds to ``events`` and to one of ``unique_message_ids``,
    ``duplicates`` (its ``messageId`` was already accepted) or
    ``events_without_message_id`` (no non-empty string ``messageId``).

    ``bytes_received`` counts the bodies of all batch requests as sent, before
    decompression. ``bytes_decompressed`` counts the decoded bodies of accepted requests.
    ``connections`` counts the TCP connections opened to the sink, and ``statuses`` maps
    each status sent in response to a batch request to its count.
    """

    requests: int
    accepted_requests: int
    rejected_requests: int
    closed_without_response: int
    events: int
    unique_message_ids: int
    duplicates: int
    events_without_message_id: int
    bytes_received: int
    bytes_decompressed: int
    connections: int
    statuses: dict[int, int]


class EventStore:
    """Accepted events and counters, written by the event loop thread and read by any thread.

    Every counter, the event list and the message id set change under ``_lock``, so
    ``stats()`` and ``events()`` see whole requests only. The NDJSON record file is
    written by the event loop thread alone, outside the lock, and is opened and closed
    while that thread is not running.

    NOTE: the message id set grows by one string per unique id until ``reset()``, about
    100 bytes each for UUIDs, so long benchmarks should reset between runs.
    """

    def __init__(self, keep_events: bool, record_path: Path | None) -> None:
        self._keep_events = keep_events
        self._record_path = record_path
        self._record_file: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._events_added = threading.Condition(self._lock)
        self._events: list[dict[str, Any]] = []
        self._message_ids: set[str] = set()
        self._stats = _zero_stats()

    # Record file: opened by Sink.start() and closed by Sink.stop(), between server runs.

    def open_record(self) -> None:
        """Open the NDJSON record file for appending, if a record path was given."""
        if self._record_path is not None and self._record_file is None:
            self._record_file = self._record_path.open("ab")

    def close_record(self) -> None:
        """Close the NDJSON record file, if it is open."""
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None

    # Writers: the event loop thread.

    def count_connection(self) -> None:
        with self._lock:
            self._stats["connections"] += 1

    def add_rejected(self, status: int, body_bytes: int) -> None:
        """Count a batch request that got an error status."""
        with self._lock:
            stats = self._stats
            stats["requests"] += 1
            stats["rejected_requests"] += 1
            stats["bytes_received"] += body_bytes
            statuses = stats["statuses"]
            statuses[status] = statuses.get(status, 0) + 1

    def add_accepted(
        self,
        events: list[dict[str, Any]],
        body_bytes: int,
        decoded_bytes: int,
        responded: bool,
    ) -> None:
        """Store the events of an accepted batch request and count it.

        ``responded`` is False when the connection is closed instead of sending 200.
        """
        if self._record_file is not None:
            lines = b"\n".join([dump_json(event) for event in events])
            self._record_file.write(lines + b"\n")
            self._record_file.flush()

        with self._lock:
            stats = self._stats
            stats["requests"] += 1
            stats["accepted_requests"] += 1
            stats["bytes_received"] += body_bytes
            stats["bytes_decompressed"] += decoded_bytes
            if responded:
                statuses = stats["statuses"]
                statuses[200] = statuses.get(200, 0) + 1
            else:
                stats["closed_without_response"] += 1
            self._count_message_ids(events)
            stats["events"] += len(events)
            if self._keep_events:
                self._events.extend(events)
            self._events_added.notify_all()

    def _count_message_ids(self, events: list[dict[str, Any]]) -> None:
        # Caller holds _lock.
        seen = self._message_ids
        duplicates = 0
        without_id = 0
        for event in events:
            message_id = event.get("messageId")
            if not isinstance(message_id, str) or not message_id:
                without_id += 1
            elif message_id in seen:
                duplicates += 1
            else:
                seen.add(message_id)
        stats = self._stats
        stats["duplicates"] += duplicates
        stats["events_without_message_id"] += without_id
        stats["unique_message_ids"] = len(seen)

    # Readers and control: any thread.

    def events(self) -> list[dict[str, Any]]:
        """Return a copy of the list of accepted events, in arrival order."""
        with self._lock:
            return list(self._events)

    def stats(self) -> SinkStats:
        """Return a copy of the counters."""
        with self._lock:
            snapshot = self._stats.copy()
            snapshot["statuses"] = dict(self._stats["statuses"])
            return snapshot

    def reset(self) -> None:
        """Clear the events, the message ids and every counter. The record file is kept."""
        with self._lock:
            self._events = []
            self._message_ids = set()
            self._stats = _zero_stats()

    def wait_for_events(self, count: int, timeout_s: float | None) -> bool:
        """Block until at least ``count`` events were accepted since the last reset.

        Returns False if ``timeout_s`` seconds pass first. None waits without a limit.
        """
        with self._events_added:
            return self._events_added.wait_for(lambda: self._stats["events"] >= count, timeout_s)


def _zero_stats() -> SinkStats:
    return SinkStats(
        requests=0,
        accepted_requests=0,
        rejected_requests=0,
        closed_without_response=0,
        events=0,
        unique_message_ids=0,
        duplicates=0,
        events_without_message_id=0,
        bytes_received=0,
        bytes_decompressed=0,
        connections=0,
        statuses={},
    )
