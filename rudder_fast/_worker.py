"""The uploader process: takes chunks of serialized events, packs batches, delivers them.

An uploader reads three inputs and nothing else:

- the task queue shared by all uploaders, carrying ``Chunk`` tuples;
- its own control pipe from the parent, carrying ``("flush", chunk_id)`` and ``("stop",)``;
- the parent's sentinel, which becomes ready when the parent process dies.

It writes ``Report`` tuples to the results queue shared by all uploaders. Every message
on it is far below PIPE_BUF (4096 bytes), so each is one atomic pipe write and a killed
uploader cannot leave half a message for the parent to choke on.

Events of a chunk are resolved strictly in order (one batch at a time, split halves in
order), so a report only needs ``(chunk_id, start, count)`` for the parent to know which
events it covers.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, NamedTuple

from ._delivery import BatchSender, Delivery
from ._transport import BATCH_ENVELOPE_BYTES, Transport
from .config import UploaderConfig

__all__ = ["Chunk", "Report", "run_uploader"]

log = logging.getLogger(__name__)

# How long an uploader whose parent died keeps delivering the events it has taken and
# those still in the queue's pipe, before it exits. Choice: long enough for a few batches.
ORPHAN_DRAIN_S = 5.0

# When an orphaned uploader ends at the latest, even if its main loop is stuck.
ORPHAN_EXIT_S = ORPHAN_DRAIN_S + 2.0

# How long one queue read may wait for another uploader that is reading the same pipe.
_TASK_READ_TIMEOUT_S = 0.05


class Chunk(NamedTuple):
    """Serialized events handed from the parent to whichever uploader reads them first.

    ``events`` are JSON objects joined by newlines (orjson never writes a raw newline
    inside a document). ``start`` is the index, within the parent's chunk, of the first
    event here: a chunk re-sent after an uploader crash carries only its unresolved tail.
    ``created`` is the ``time.monotonic()`` of the chunk's oldest event; the clock is
    system-wide on Linux, so it is comparable across processes.
    """

    chunk_id: int
    start: int
    created: float
    events: bytes


class Report(NamedTuple):
    """A message from an uploader to the parent.

    kind "resolved": ``ranges`` of ``(chunk_id, start, count)`` reached ``outcome``
    ("delivered", "failed" or "dropped"); ``detail`` is ``(status, code, message)`` for
    failed and the reason for dropped. ``counters`` is ``(requests, retries, bytes_raw,
    bytes_sent)`` added by the batch, on the first report of each batch.
    kind "counters": only ``counters``, for a batch a stop interrupted before any outcome.
    kind "log": ``detail`` is ``(level, logger name, message)``.
    """

    kind: str
    worker: int
    ranges: tuple[tuple[int, int, int], ...] = ()
    outcome: str = ""
    detail: Any = None
    counters: tuple[int, int, int, int] | None = None


@dataclass(slots=True)
class _Held:
    """Events of one chunk that this uploader took and has not resolved yet."""

    chunk_id: int
    next_index: int
    created: float
    events: deque[bytes]


class _ForwardingHandler(logging.Handler):
    """Send this process's log records to the parent, which logs them with its handlers."""

    def __init__(self, results: Any, worker: int) -> None:
        super().__init__()
        self._results: Any = results
        self._worker = worker

    def detach(self) -> None:
        """Stop forwarding, because a write to a pipe no process reads could block forever."""
        self._results = _Discard()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)[:1000]
            self._results.put(
                Report("log", self._worker, detail=(record.levelno, record.name, text))
            )
        except Exception:
            self.handleError(record)


def run_uploader(
    config: UploaderConfig,
    worker: int,
    tasks: Any,
    results: Any,
    control: Connection,
    flush_target: int,
) -> None:
    """Entry point of an uploader process."""
    handler = _ForwardingHandler(results, worker)
    package_log = logging.getLogger("rudder_fast")
    package_log.addHandler(handler)
    package_log.setLevel(logging.DEBUG if config.debug else logging.INFO)
    package_log.propagate = False
    uploader = _Uploader(config, worker, tasks, results, control, flush_target, handler)
    threading.Thread(
        target=_end_when_orphaned_too_long, args=(uploader.parent_sentinel(),),
        name="orphan-watchdog", daemon=True,
    ).start()  # fmt: skip
    try:
        uploader.run()
    finally:
        uploader.close()


def _end_when_orphaned_too_long(parent_sentinel: int) -> None:
    """End the process ORPHAN_EXIT_S after the parent died, whatever the main loop does.

    The main loop drains for ORPHAN_DRAIN_S and exits, unless it is blocked reading a
    chunk that the dying parent left half-written in the queue's pipe: that read never
    returns, and without this thread the uploader would be orphaned forever.
    """
    wait([parent_sentinel])
    time.sleep(ORPHAN_EXIT_S)  # a deadline, not a synchronization
    os._exit(0)


class _Uploader:
    def __init__(
        self,
        config: UploaderConfig,
        worker: int,
        tasks: Any,
        results: Any,
        control: Connection,
        flush_target: int,
        log_handler: _ForwardingHandler,
    ) -> None:
        self._config = config
        self._log_handler = log_handler
        self._worker = worker
        self._tasks = tasks
        # NOTE: the queue's reader end is private to multiprocessing.Queue, but waiting
        # on it together with other handles is what concurrent.futures.process does too.
        self._task_reader: Connection = tasks._reader
        self._results = results
        self._control = control
        parent = multiprocessing.parent_process()
        assert parent is not None, "an uploader runs as a child process"
        self._parent_sentinel = parent.sentinel
        self._transport = Transport(config)
        self._sender = BatchSender(
            self._transport,
            config.retry,
            config.gzip,
            config.gzip_level,
            self._wait,
            on_retry=self._report_progress,
        )
        self._held: deque[_Held] = deque()
        self._held_count = 0
        self._held_bytes = 0
        self._flush_target = flush_target
        self._stopping = False
        # Set once the parent has died: the time by which this uploader must exit.
        self._drain_deadline: float | None = None

    def close(self) -> None:
        self._transport.close()

    def parent_sentinel(self) -> int:
        return self._parent_sentinel

    # -- main loop ------------------------------------------------------------------

    def run(self) -> None:
        log.debug("Uploader %d started", self._worker)
        handles: list[Any] = [self._task_reader, self._control, self._parent_sentinel]
        while not self._stopping:
            if self._batch_due():
                if not self._send_batch():
                    return
                continue
            timeout = self._time_to_deadline()
            ready = wait(handles, timeout)
            if self._control in ready:
                self._read_control()
            if self._parent_sentinel in ready:
                self._drain_as_orphan()
                return
            if self._task_reader in ready and not self._stopping:
                self._take_chunk(_TASK_READ_TIMEOUT_S)
        log.debug("Uploader %d stopped", self._worker)

    def _batch_due(self) -> bool:
        """Return whether the events held should be sent now rather than wait for more."""
        if not self._held:
            return False
        config = self._config
        if self._held_count >= config.upload_size:
            return True
        if self._held_bytes + BATCH_ENVELOPE_BYTES >= config.max_request_bytes:
            return True
        overdue = time.monotonic() >= self._held[0].created + config.upload_interval_s
        # A flush is waiting for these events.
        flushing = self._held[0].chunk_id <= self._flush_target
        if not (overdue or flushing):
            return False
        # Fill the batch first with events that are ready now. An uploader that lags
        # behind finds every chunk overdue, and sending one chunk per request would
        # ignore upload_size and make it lag further.
        return not self._task_reader.poll()

    def _time_to_deadline(self) -> float | None:
        if not self._held:
            return None
        deadline = self._held[0].created + self._config.upload_interval_s
        return max(0.0, deadline - time.monotonic())

    def _read_control(self) -> None:
        while self._control.poll():
            try:
                message = self._control.recv()
            except EOFError:
                # The parent closed our pipe: it is shutting down or gone.
                self._stopping = True
                return
            if message[0] == "flush":
                self._flush_target = max(self._flush_target, message[1])
            elif message[0] == "stop":
                self._stopping = True

    def _take_chunk(self, timeout: float) -> bool:
        """Move one chunk from the task queue into the held events; False if none came."""
        try:
            chunk: Chunk | None = self._tasks.get(timeout=timeout)
        except queue.Empty:
            return False
        if chunk is None:
            return False  # put by the parent to start the queue's feeder thread
        events = deque(chunk.events.split(b"\n"))
        self._held.append(_Held(chunk.chunk_id, chunk.start, chunk.created, events))
        self._held_count += len(events)
        self._held_bytes += len(chunk.events) + 1
        return True

    # -- sending --------------------------------------------------------------------

    def _send_batch(self) -> bool:
        """Deliver one batch from the held events; return False if a stop interrupted it."""
        events, ranges = self._pack_batch()
        delivery = self._sender.deliver(events)
        self._report(delivery, ranges)
        return not delivery.interrupted

    def _pack_batch(self) -> tuple[list[bytes], list[tuple[int, int, int]]]:
        """Take events from the front of the held chunks, within the count and byte caps."""
        config = self._config
        events: list[bytes] = []
        ranges: list[tuple[int, int, int]] = []
        size = BATCH_ENVELOPE_BYTES
        while self._held and len(events) < config.upload_size:
            held = self._held[0]
            start = held.next_index
            while held.events and len(events) < config.upload_size:
                event = held.events[0]
                # A single event always fits: the producer rejects events larger than
                # max_event_bytes, which is below max_request_bytes.
                if events and size + len(event) + 1 > config.max_request_bytes:
                    break
                held.events.popleft()
                events.append(event)
                size += len(event) + 1
            taken = len(events) - sum(count for _, _, count in ranges)
            if taken:
                ranges.append((held.chunk_id, start, taken))
                held.next_index += taken
            if held.events:
                break
            self._held.popleft()
        self._held_count -= len(events)
        self._held_bytes -= size - BATCH_ENVELOPE_BYTES
        return events, ranges

    def _report_progress(self, delivery: Delivery) -> None:
        """Publish the counters of a batch still being retried, so stats() shows them live.

        The counters are zeroed once sent, so the final report carries only the rest.
        """
        counters = (delivery.requests, delivery.retries, delivery.bytes_raw, delivery.bytes_sent)
        self._results.put(Report("counters", self._worker, counters=counters))
        delivery.requests = delivery.retries = delivery.bytes_raw = delivery.bytes_sent = 0

    def _report(self, delivery: Delivery, ranges: list[tuple[int, int, int]]) -> None:
        counters: tuple[int, int, int, int] | None = (
            delivery.requests,
            delivery.retries,
            delivery.bytes_raw,
            delivery.bytes_sent,
        )
        if not delivery.outcomes:
            self._results.put(Report("counters", self._worker, counters=counters))
            return
        # Walk the ranges and the outcomes together: both cover the batch in order.
        pending = deque(ranges)
        for outcome in delivery.outcomes:
            covered: list[tuple[int, int, int]] = []
            needed = outcome.count
            while needed:
                chunk_id, start, count = pending.popleft()
                used = min(count, needed)
                covered.append((chunk_id, start, used))
                if used < count:
                    pending.appendleft((chunk_id, start + used, count - used))
                needed -= used
            detail = outcome.error if outcome.error is not None else outcome.reason
            self._results.put(
                Report("resolved", self._worker, tuple(covered), outcome.kind, detail, counters)
            )
            counters = None

    def _wait(self, seconds: float) -> bool:
        """Sleep between attempts; return False if a stop or the orphan deadline cut it."""
        deadline = time.monotonic() + seconds
        if self._drain_deadline is not None:
            # Orphaned: no control message can arrive, so only the deadline matters.
            if deadline > self._drain_deadline:
                return False
            time.sleep(seconds)
            return True
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            ready = wait([self._control, self._parent_sentinel], remaining)
            if self._control in ready:
                self._read_control()
                if self._stopping:
                    return False
            if self._parent_sentinel in ready:
                self._become_orphan()
                return self._wait(max(0.0, deadline - time.monotonic()))

    # -- orphaned -------------------------------------------------------------------

    def _become_orphan(self) -> None:
        """Start the bounded drain after the parent died; from now on no report is read."""
        if self._drain_deadline is not None:
            return
        self._drain_deadline = time.monotonic() + ORPHAN_DRAIN_S
        self._results = _Discard()
        self._log_handler.detach()
        log.debug(
            "Uploader %d: parent exited, draining for up to %.1f s", self._worker, ORPHAN_DRAIN_S
        )

    def _drain_as_orphan(self) -> None:
        """Deliver what is held and still readable from the queue, until the deadline."""
        self._become_orphan()
        assert self._drain_deadline is not None
        while time.monotonic() < self._drain_deadline:
            while self._held_count < self._config.upload_size and self._task_reader.poll():
                if not self._take_chunk(_TASK_READ_TIMEOUT_S):
                    break
            if not self._held:
                return
            if not self._send_batch():
                return


class _Discard:
    """Stands in for the results queue once the parent is gone."""

    def put(self, _item: object) -> None:
        return
