"""The parent's side of the upload pipeline: chunking, the uploader pool, and accounting.

Actors and the state each one owns (the pipeline lock guards all shared state):

- Producer threads (``put``) append serialized events to ``_buffer`` and hand a full
  buffer to the task queue as one ``Chunk``, keeping the chunk in ``_chunks`` until
  every event of it has an outcome.
- The supervisor thread reads uploader reports from the results queue, resolves events
  in ``_chunks``, hands off a buffer that waited ``linger_s``, and writes spooled events
  to disk. When an uploader dies it replaces the whole pool, because the queues may be
  corrupt then (a process killed while holding a queue's lock leaves it locked), and
  re-sends every unresolved event through new ones.
- The callback thread runs ``on_error`` and ``on_drop``, so a slow or re-entrant
  callback (one that calls ``flush()``) never stalls the supervisor.
- With a spool, the replay thread feeds the events of older segments through ``put``.
- ``flush`` and ``shutdown`` wait on ``_changed``, notified whenever events are resolved
  or a callback returns.

Invariant, under the lock: ``enqueued == delivered + failed + dropped + spooled +
pending``, where pending is the sum of unresolved events over ``_chunks`` plus
``len(_buffer)``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import multiprocessing.queues
import multiprocessing.util
import os
import queue
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

import orjson

from ._delivery import DELIVERED, FAILED
from ._pool import (
    UPLOADER_EXIT_GRACE_S,
    UploaderPool,
    discard_pool,
    exit_cleanly_on_sigterm,
    forget_inherited_uploaders,
    join_or_kill,
    note_exit_started,
    spawn_pool,
)
from ._ratelimit import RateLimitedLog
from ._retry import Decision
from ._spool import Spool
from ._worker import Chunk, Report
from .config import Config
from .errors import APIError, ConfigError, make_error
from .stats import Stats, uploader_stats

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)

# Choice: events per chunk. One queue put costs about 6 us and a list of 100 about 0.4 us
# per event (measured with multiprocessing.Queue on the benchmark machine). Above 100,
# fewer than 1 % of calls pay for a hand-off, so it stays out of the p99 call latency,
# and the queue's feeder thread needs the GIL less often.
CHUNK_EVENTS = 256
# A chunk is handed off early once its events reach this many bytes.
CHUNK_MAX_BYTES = 1024 * 1024
# Maximum time a partial chunk waits in the parent for more events. It is also capped
# at half the upload interval, so the interval still bounds an event's wait.
CHUNK_LINGER_S = 0.05
# The spool takes events that would be dropped for these reasons, and batches that
# failed with a response worth retrying later.
SPOOLED = "spooled"
_SPOOLABLE_DROPS = frozenset({"queue_full", "shutdown_deadline", "uploader_crashed"})
# Events buffered for the spool are written as one segment once this many accumulate,
# or when the supervisor next wakes.
SPOOL_SEGMENT_EVENTS = 10_000

# Pause after an unexpected error in the supervisor, so a repeating one cannot spin.
SUPERVISOR_ERROR_BACKOFF_S = 0.1

# After this many uploader deaths with no event resolved in between, the pool is
# considered broken and pending events are dropped instead of re-sent forever.
MAX_CONSECUTIVE_CRASHES = 5

_queue_full_warning = RateLimitedLog(log, interval_s=10.0)


class _Chunk:
    """The parent's copy of a chunk, kept until each of its events has an outcome."""

    __slots__ = ("bytes_left", "chunk_id", "count", "created", "events", "resolved")

    def __init__(self, chunk_id: int, created: float, events: bytes, count: int) -> None:
        self.chunk_id = chunk_id
        self.created = created
        self.events = events
        self.count = count
        self.resolved = 0
        self.bytes_left = len(events)

    def slice(self, start: int, count: int) -> list[bytes]:
        return self.events.split(b"\n")[start : start + count]

    def unresolved_tail(self) -> bytes:
        return b"\n".join(self.events.split(b"\n")[self.resolved :])


class Pipeline:
    """Moves serialized events from producer threads to the uploaders and accounts for them."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._uploader_config = config.uploader_config()
        self._linger_s = min(CHUNK_LINGER_S, config.upload_interval_s / 2)
        self._spool = _open_spool(config)
        # Serializes segment writes, which happen outside the pipeline lock.
        self._spool_write_lock = threading.Lock()
        self._replay_thread: threading.Thread | None = None
        self._init_state()
        _live_pipelines.add(self)
        if self._spool is not None and config.send and not config.sync_mode:
            self._replay_thread = threading.Thread(
                target=self._replay, name="rudder-fast-replay", daemon=True
            )
            self._replay_thread.start()

    def _init_state(self) -> None:
        """Set every piece of mutable state; also used in a forked child to start afresh."""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._buffer: list[bytes] = []
        self._buffer_bytes = 0
        self._buffer_created = 0.0
        self._chunks: dict[int, _Chunk] = {}
        self._next_chunk_id = 1
        self._flush_target = 0
        self._pool: UploaderPool | None = None
        self._started = False
        self._closing = False
        # Set by shutdown when it sends the uploaders "stop", so their exits are expected.
        self._stopping_uploaders = False
        self._closed = False
        self._broken = False
        self._consecutive_crashes = 0
        self._restarts = 0
        # Counters; pending is derived, never stored.
        self._enqueued = 0
        self._delivered = 0
        self._failed = 0
        self._dropped: Counter[str] = Counter()
        self._pending_bytes = 0
        self._spooled = 0
        self._replayed = 0
        self._spool_evicted = 0
        self._spool_buffer: list[bytes] = []
        self._requests = 0
        self._retries = 0
        self._bytes_raw = 0
        self._bytes_sent = 0
        # Supervisor thread and its wake-up pipe.
        self._supervisor: threading.Thread | None = None
        self._supervisor_idle = False
        self._wake_reader, self._wake_writer = os.pipe()
        os.set_blocking(self._wake_reader, False)
        os.set_blocking(self._wake_writer, False)
        # Callback thread.
        self._callbacks: queue.SimpleQueue[tuple[Callable[..., object], tuple[Any, ...]] | None]
        self._callbacks = queue.SimpleQueue()
        self._callback_thread: threading.Thread | None = None
        self._callbacks_scheduled = 0
        self._callbacks_done = 0
        self._deferred_logs: list[tuple[int, str, str, int]] = []
        self._finalizer: multiprocessing.util.Finalize | None = None

    # -- producer side ----------------------------------------------------------------

    def put(self, data: bytes, replayed: bool = False) -> str | None:
        """Queue one serialized event; return None, SPOOLED, or the reason it was dropped.

        A ``replayed`` event from the spool waits for room instead of being dropped.
        """
        with self._lock:
            reason = self._admit_locked(len(data), wait_for_room=replayed)
            if reason == "closed" and replayed:
                return reason  # still in its claimed segment, which a later client replays
            if reason is not None:
                self._enqueued += 1
                if reason in _SPOOLABLE_DROPS and self._spool is not None:
                    self._spool_locked([data])
                    return SPOOLED
                self._dropped[reason] += 1
                return reason
            if replayed:
                self._replayed += 1
            if not self._started:
                self._start_locked()
            if not self._buffer:
                self._buffer_created = time.monotonic()
                if self._supervisor_idle:
                    self._wake()
            self._buffer.append(data)
            self._buffer_bytes += len(data)
            self._enqueued += 1
            self._pending_bytes += len(data)
            if len(self._buffer) < CHUNK_EVENTS and self._buffer_bytes < CHUNK_MAX_BYTES:
                return None
            self._hand_off_locked()
        # Yield the GIL so the queue's feeder thread pickles and writes the chunk now. A
        # producer that never blocks would otherwise hold the GIL for whole switch
        # intervals (5 ms), and the feeder would move one chunk per interval.
        time.sleep(0)
        return None

    def count_drop(self, reason: str) -> None:
        """Count an event the client dropped before it reached the pipeline."""
        with self._lock:
            self._enqueued += 1
            self._dropped[reason] += 1

    def count_sync(self, outcome: str, reason: str | None = None) -> None:
        """Count an event sent in the caller's thread (sync_mode)."""
        with self._lock:
            self._enqueued += 1
            if outcome == DELIVERED:
                self._delivered += 1
            elif outcome == FAILED:
                self._failed += 1
            else:
                self._dropped[reason or "unknown"] += 1

    def spool_sync(self, data: bytes, error: tuple[int | None, str, str]) -> bool:
        """Spool an event that failed in sync_mode, if a spool is set and a retry may help.

        Returns whether the event was spooled (and counted as such).
        """
        status, code, _ = error
        if self._spool is None or self._config.retry.decide(status, code) is not Decision.RETRY:
            return False
        with self._lock:
            self._enqueued += 1
            self._spool_locked([data])
        self._write_spool()
        return True

    def add_request_counters(self, requests: int, retries: int, raw: int, sent: int) -> None:
        with self._lock:
            self._requests += requests
            self._retries += retries
            self._bytes_raw += raw
            self._bytes_sent += sent

    def _admit_locked(self, size: int, wait_for_room: bool) -> str | None:
        if self._closing or self._closed:
            return "closed"
        if self._broken:
            return "uploader_crashed"
        if not self._is_full_locked(size):
            return None
        if wait_for_room or self._config.queue_full == "block":
            deadline = None
            if not wait_for_room:
                deadline = time.monotonic() + self._config.queue_full_timeout_s
            while self._is_full_locked(size) and not self._is_closing_locked():
                if not self._wait_locked(deadline):
                    break
            # The wait released the lock: shutdown may have begun meanwhile.
            if self._is_closing_locked():
                return "closed"
            if not self._is_full_locked(size):
                return None
        _queue_full_warning.warning(
            "Dropping events: the queue is full (max_queue_size=%d events, "
            "max_queue_bytes=%d); raise them, add uploaders, or use queue_full='block'",
            self._config.max_queue_size,
            self._config.max_queue_bytes,
        )
        return "queue_full"

    def _is_closing_locked(self) -> bool:
        return self._closing or self._closed

    def _is_full_locked(self, size: int) -> bool:
        return (
            self._pending_locked() >= self._config.max_queue_size
            or self._pending_bytes + size > self._config.max_queue_bytes
        )

    def _pending_locked(self) -> int:
        resolved = self._delivered + self._failed + self._spooled + sum(self._dropped.values())
        return self._enqueued - resolved

    def _hand_off_locked(self) -> None:
        """Move the buffered events into the task queue as one chunk."""
        if not self._buffer or self._pool is None:
            return
        chunk = _Chunk(
            self._next_chunk_id, self._buffer_created, b"\n".join(self._buffer), len(self._buffer)
        )
        self._next_chunk_id += 1
        self._buffer = []
        self._buffer_bytes = 0
        self._chunks[chunk.chunk_id] = chunk
        self._pool.tasks.put(Chunk(chunk.chunk_id, 0, chunk.created, chunk.events))

    # -- starting the pool ------------------------------------------------------------

    def _start_locked(self) -> None:
        self._started = True
        self._pool = spawn_pool(self._uploader_config, self._config.workers, self._flush_target)
        self._callback_thread = threading.Thread(
            target=self._run_callbacks, name="rudder-fast-callbacks", daemon=True
        )
        self._callback_thread.start()
        self._supervisor = threading.Thread(
            target=self._supervise, name="rudder-fast-supervisor", daemon=True
        )
        self._supervisor.start()
        # At interpreter exit, and at the end of a multiprocessing child (which skips
        # atexit but runs multiprocessing's finalizers), shut down within the deadline.
        atexit.register(self._shutdown_at_exit)
        if self._config.handle_sigterm:
            exit_cleanly_on_sigterm()
        self._finalizer = multiprocessing.util.Finalize(
            self, self._shutdown_at_exit, exitpriority=100
        )

    # -- supervisor -------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_writer, b"\0")

    def _supervise(self) -> None:
        while True:
            try:
                if not self._supervise_once():
                    return
            except Exception:
                # A bug here must not silently stop every delivery report.
                log.exception("Supervisor step failed; continuing")
                time.sleep(SUPERVISOR_ERROR_BACKOFF_S)

    def _supervise_once(self) -> bool:
        """Wait for reports, deaths or a due hand-off, and act on them; False to stop."""
        with self._lock:
            if self._closed or self._pool is None:
                return False
            pool = self._pool
            handles: list[Any] = [pool.results._reader, self._wake_reader]
            handles += [process.sentinel for process in pool.workers]
            timeout = None
            if self._buffer:
                timeout = max(0.0, self._buffer_created + self._linger_s - time.monotonic())
            if self._spool_buffer:
                timeout = 0.0
            self._supervisor_idle = timeout is None
        ready = wait(handles, timeout)
        with self._lock:
            self._supervisor_idle = False
            if self._closed or self._pool is not pool:
                return True
            if self._wake_reader in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_reader, 4096)
            self._read_reports_locked()
            if not self._stopping_uploaders:
                dead = [p for p in pool.workers if p.sentinel in ready or not p.is_alive()]
                if dead:
                    self._replace_pool_locked(dead)
            if self._buffer and time.monotonic() >= self._buffer_created + self._linger_s:
                self._hand_off_locked()
        self._emit_deferred_logs()
        self._write_spool()
        return True

    def _read_reports_locked(self) -> None:
        if self._pool is None:
            return
        results = self._pool.results
        reader = results._reader
        resolved_any = False
        while reader.poll():
            try:
                report: Report = results.get()
            except (EOFError, OSError):
                return
            if report.counters is not None:
                requests, retries, raw, sent = report.counters
                self._requests += requests
                self._retries += retries
                self._bytes_raw += raw
                self._bytes_sent += sent
            if report.kind == "resolved":
                self._resolve_locked(report)
                resolved_any = True
            elif report.kind == "log":
                level, name, text = report.detail
                self._deferred_logs.append((level, name, text, report.worker))
        if resolved_any:
            self._consecutive_crashes = 0
            self._changed.notify_all()

    def _resolve_locked(self, report: Report) -> None:
        for chunk_id, start, count in report.ranges:
            chunk = self._chunks.get(chunk_id)
            if chunk is None or start != chunk.resolved:
                # Cannot happen while reports come from the current pool only; logged
                # rather than raised so accounting stays as right as it can be.
                log.error("Ignoring a report for events %d+%d of chunk %d", start, count, chunk_id)
                continue
            chunk.resolved += count
            released = (
                chunk.bytes_left
                if chunk.resolved >= chunk.count
                else min(chunk.bytes_left, len(chunk.events) * count // chunk.count)
            )
            chunk.bytes_left -= released
            self._pending_bytes -= released
            if report.outcome == DELIVERED:
                self._delivered += count
            elif report.outcome == FAILED:
                status, code, _ = report.detail
                retryable = self._config.retry.decide(status, code) is Decision.RETRY
                if self._spool is not None and retryable:
                    # The data plane may accept these later: keep them for the next client.
                    self._spool_locked(chunk.slice(start, count))
                else:
                    self._failed += count
                    self._schedule_error_locked(report.detail, chunk.slice(start, count))
            else:
                reason = str(report.detail)
                self._dropped[reason] += count
                self._schedule_drop_locked(reason, chunk.slice(start, count))
            if chunk.resolved >= chunk.count:
                del self._chunks[chunk_id]

    def _replace_pool_locked(self, dead: list[BaseProcess]) -> None:
        """Stop every uploader, then re-send every unresolved event through a new pool."""
        assert self._pool is not None
        old = self._pool
        for process in dead:
            process.join(0)
            log.warning(
                "Uploader %s (pid %s) exited unexpectedly with code %s; replacing the "
                "uploaders and re-sending %d unresolved events with the same messageIds",
                process.name, process.pid, process.exitcode, self._unresolved_in_chunks(),
            )  # fmt: skip
        # Reports already written are complete messages; apply them before stopping
        # the survivors, so events they delivered are not sent twice.
        self._read_reports_locked()
        for process in old.workers:
            if process.is_alive():
                process.terminate()
        join_or_kill(old.workers, UPLOADER_EXIT_GRACE_S)
        self._read_reports_locked()
        discard_pool(old)
        self._restarts += 1
        self._consecutive_crashes += 1

        if self._consecutive_crashes > MAX_CONSECUTIVE_CRASHES:
            log.error(
                "Uploaders died %d times in a row without delivering anything; dropping "
                "%d pending events and accepting no more. Check the uploaders' log lines",
                self._consecutive_crashes, self._unresolved_in_chunks(),
            )  # fmt: skip
            self._broken = True
            self._pool = None
            self._drop_unresolved_locked("uploader_crashed")
            return
        self._pool = spawn_pool(self._uploader_config, self._config.workers, self._flush_target)
        for chunk in self._chunks.values():
            self._pool.tasks.put(
                Chunk(chunk.chunk_id, chunk.resolved, chunk.created, chunk.unresolved_tail())
            )
        self._changed.notify_all()

    def _unresolved_in_chunks(self) -> int:
        return sum(chunk.count - chunk.resolved for chunk in self._chunks.values())

    def _drop_unresolved_locked(self, reason: str) -> None:
        """Drop (or spool) every event without an outcome, buffer included."""
        unresolved = [chunk.slice(chunk.resolved, chunk.count - chunk.resolved)
                      for chunk in self._chunks.values()]  # fmt: skip
        unresolved.append(self._buffer)
        self._chunks.clear()
        self._buffer = []
        self._buffer_bytes = 0
        for events in unresolved:
            if not events:
                continue
            if self._spool is not None and reason in _SPOOLABLE_DROPS:
                self._spool_locked(events)
            else:
                self._dropped[reason] += len(events)
                self._schedule_drop_locked(reason, events)
        self._pending_bytes = 0
        self._changed.notify_all()

    # -- spool ------------------------------------------------------------------------

    def _spool_locked(self, events: list[bytes]) -> None:
        """Count events as spooled and buffer them for the next segment write."""
        self._spooled += len(events)
        self._spool_buffer.extend(events)
        if self._supervisor_idle or len(self._spool_buffer) >= SPOOL_SEGMENT_EVENTS:
            self._wake()

    def _write_spool(self) -> None:
        """Write the buffered events as one segment; called outside the pipeline lock.

        If the write fails, the events move from spooled to dropped ("spool_failed").
        """
        if self._spool is None:
            return
        with self._spool_write_lock:
            with self._lock:
                events, self._spool_buffer = self._spool_buffer, []
            if not events:
                return
            try:
                evicted = self._spool.write(events)
            except OSError as error:
                log.error(  # noqa: TRY400 - the OSError names the cause; a traceback adds nothing
                    "Failed to write %d events to the spool %s: %s",
                    len(events), self._spool.directory, error,
                )  # fmt: skip
                with self._lock:
                    self._spooled -= len(events)
                    self._dropped["spool_failed"] += len(events)
                    self._schedule_drop_locked("spool_failed", events)
                return
            log.info("Spooled %d events to %s", len(events), self._spool.directory)
            with self._lock:
                self._spool_evicted += evicted

    def _replay(self) -> None:
        """Send the events of every segment in the spool, oldest first, then delete it."""
        assert self._spool is not None
        # Segments written after this point hold events this client failed to deliver;
        # replaying them here would loop while the data plane is down.
        started_ns = time.time_ns()
        while not (self._closing or self._closed):
            segment = self._spool.claim_next(older_than_ns=started_ns)
            if segment is None:
                return
            events = self._spool.read(segment)
            if events is None:
                continue
            log.info("Replaying %d spooled events from %s", len(events), segment.path.name)
            for data in events:
                if self.put(data, replayed=True) == "closed":
                    # Shutting down: the claim stays, and a later client takes it over.
                    self._spool.abandon(segment)
                    return
            # Each event now has an outcome, or is spooled again in a newer segment.
            if self.flush() == 0:
                self._spool.release(segment)

    def wait_for_replay(self, timeout: float | None = None) -> bool:
        """Wait until the spool's older segments are replayed; False if time ran out."""
        if self._replay_thread is None:
            return True
        self._replay_thread.join(timeout)
        return not self._replay_thread.is_alive()

    def _emit_deferred_logs(self) -> None:
        """Log the uploaders' records outside the lock, as a handler may call back in."""
        with self._lock:
            records, self._deferred_logs = self._deferred_logs, []
        for level, name, text, worker in records:
            logging.getLogger(name).log(level, "[uploader %d] %s", worker, text)

    # -- callbacks --------------------------------------------------------------------

    def _schedule_error_locked(self, detail: Any, events: list[bytes]) -> None:
        if self._config.on_error is None:
            return
        error = make_error(*detail)
        self._schedule_locked(self._config.on_error, (error, _decode(events)))

    def _schedule_drop_locked(self, reason: str, events: list[bytes]) -> None:
        if self._config.on_drop is None:
            return
        self._schedule_locked(self._config.on_drop, (reason, _decode(events)))

    def schedule_drop(self, reason: str, events: list[dict[str, Any]]) -> None:
        """Report events the client dropped to ``on_drop``, on the callback thread.

        After shutdown the callback thread is gone, so the callback runs in the caller's.
        """
        on_drop = self._config.on_drop
        if on_drop is None:
            return
        with self._lock:
            if not self._closed:
                self._ensure_callback_thread_locked()
                self._schedule_locked(on_drop, (reason, events))
                return
        try:
            on_drop(reason, events)
        except Exception:
            log.exception("on_drop raised an exception")

    def report_error(self, error: APIError, events: list[dict[str, Any]]) -> None:
        """Report a batch sent in the caller's thread (sync_mode) to ``on_error``."""
        if self._config.on_error is None:
            return
        with self._lock:
            self._ensure_callback_thread_locked()
            self._schedule_locked(self._config.on_error, (error, events))

    def _schedule_locked(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._callbacks_scheduled += 1
        self._callbacks.put((callback, args))

    def _ensure_callback_thread_locked(self) -> None:
        if self._callback_thread is None and not self._closed:
            thread = threading.Thread(
                target=self._run_callbacks, name="rudder-fast-callbacks", daemon=True
            )
            try:
                thread.start()
            except RuntimeError:
                # Python 3.12+ cannot start threads during interpreter exit; the queued
                # callbacks then run in the thread that shuts the pipeline down.
                return
            self._callback_thread = thread

    def _run_callbacks(self) -> None:
        while True:
            item = self._callbacks.get()
            if item is None:
                return
            callback, args = item
            try:
                callback(*args)
            except Exception:
                log.exception(
                    "%s raised an exception; delivery continues",
                    getattr(callback, "__qualname__", "callback"),
                )
            with self._lock:
                self._callbacks_done += 1
                self._changed.notify_all()

    # -- flush and shutdown -----------------------------------------------------------

    def flush(self, timeout: float | None = None) -> int:
        """Send partial batches now and wait until events queued so far have outcomes.

        Returns how many of those events are still pending (0 when all are done). With a
        timeout, returns by the deadline whatever the uploaders are doing.
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        in_callback = threading.current_thread() is self._callback_thread
        with self._lock:
            if self._pool is None:
                return len(self._buffer)
            self._hand_off_locked()
            target = self._next_chunk_id - 1
            if target > self._flush_target:
                self._flush_target = target
                self._send_control_locked(("flush", target))
            while not self._settled_locked(target):
                if not self._wait_locked(deadline):
                    break
            pending = sum(
                chunk.count - chunk.resolved
                for chunk in self._chunks.values()
                if chunk.chunk_id <= target
            )
            # on_error and on_drop for those events count as part of their outcome;
            # a callback that calls flush() cannot wait for itself.
            callbacks_target = self._callbacks_scheduled
            while not in_callback and self._callbacks_done < callbacks_target:
                if not self._wait_locked(deadline):
                    break
        # Spooled events have their outcome once the segment is on disk.
        self._write_spool()
        return pending

    def _settled_locked(self, target: int) -> bool:
        # _chunks keeps insertion order, which is chunk id order.
        first = next(iter(self._chunks), None)
        return first is None or first > target

    def _wait_locked(self, deadline: float | None) -> bool:
        """Wait for a change; return False once the deadline has passed."""
        if deadline is None:
            self._changed.wait()
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self._changed.wait(remaining)
        return True

    def _send_control_locked(self, message: tuple[Any, ...]) -> None:
        if self._pool is None:
            return
        for control in self._pool.controls:
            with contextlib.suppress(OSError):
                control.send(message)

    def shutdown(self, timeout: float | None = None) -> int:
        """Flush, stop the uploaders, and drop what is left, all within ``timeout``.

        Returns the number of events dropped (or spooled, with a spool) because the
        deadline passed.
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with self._lock:
            if self._closing or self._closed:
                return 0
            self._closing = True
            self._changed.notify_all()
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.flush(remaining)

        with self._lock:
            pool = self._pool
            self._stopping_uploaders = True
            self._send_control_locked(("stop",))
        if pool is not None:
            grace = UPLOADER_EXIT_GRACE_S
            if deadline is not None:
                grace = max(0.0, min(grace, deadline - time.monotonic()))
            join_or_kill(pool.workers, grace)

        with self._lock:
            self._read_reports_locked()
            dropped = self._pending_locked()
            if dropped:
                log.warning(
                    "Shutdown deadline reached: %s %d events that were not delivered",
                    "spooling" if self._spool is not None else "dropping",
                    dropped,
                )
                self._drop_unresolved_locked("shutdown_deadline")
            if pool is not None:
                discard_pool(pool)
            self._pool = None
            self._closed = True
            self._changed.notify_all()
        self._wake()
        self._emit_deferred_logs()
        self._write_spool()
        self._stop_threads(deadline)
        atexit.unregister(self._shutdown_at_exit)
        if self._finalizer is not None:
            self._finalizer.cancel()
        return dropped

    def _stop_threads(self, deadline: float | None) -> None:
        current = threading.current_thread()
        if self._replay_thread is not None and self._replay_thread is not current:
            timeout = None if deadline is None else max(0.1, deadline - time.monotonic())
            self._replay_thread.join(timeout)
        if self._supervisor is not None and self._supervisor is not current:
            self._supervisor.join()
        self._callbacks.put(None)
        if self._callback_thread is None:
            self._run_callbacks()  # no thread could start: run what is queued here
        elif self._callback_thread is not current:
            timeout = None if deadline is None else max(0.1, deadline - time.monotonic())
            self._callback_thread.join(timeout)

    def _shutdown_at_exit(self) -> None:
        if self._config.handle_sigterm:
            note_exit_started()
        self.shutdown(self._config.exit_timeout_s)

    # -- stats ------------------------------------------------------------------------

    def stats(self) -> Stats:
        with self._lock:
            pids = [p.pid for p in self._pool.workers if p.pid] if self._pool else []
            counts = Stats(
                enqueued=self._enqueued,
                delivered=self._delivered,
                failed=self._failed,
                dropped=sum(self._dropped.values()),
                dropped_by_reason=dict(self._dropped),
                pending=self._pending_locked(),
                retries=self._retries,
                requests=self._requests,
                bytes_raw=self._bytes_raw,
                bytes_sent=self._bytes_sent,
                queue_depth=self._unresolved_in_chunks() + len(self._buffer),
                uploader_restarts=self._restarts,
                spooled=self._spooled,
                replayed=self._replayed,
                spool_evicted=self._spool_evicted,
                uploaders=(),
            )
        # psutil reads /proc, so it runs outside the lock.
        return dataclasses.replace(counts, uploaders=tuple(uploader_stats(pid) for pid in pids))

    # -- fork -------------------------------------------------------------------------

    def _forget_after_fork(self) -> None:
        """In a forked child: drop the parent's pool, threads and events, start empty.

        The parent's queues, pipes and locks are left alone, never closed or used here:
        a lock held by a parent thread at fork time stays held forever in the child.
        The parent still delivers its own pending events.
        """
        with contextlib.suppress(OSError):
            os.close(self._wake_reader)
            os.close(self._wake_writer)
        if self._pool is not None:
            forget_inherited_uploaders(self._pool)
        self._init_state()


def _open_spool(config: Config) -> Spool | None:
    if not config.spool_dir:
        return None
    try:
        return Spool(config.spool_dir, config.spool_max_bytes)
    except OSError as error:
        raise ConfigError(
            f"spool_dir {config.spool_dir!r} cannot be used: {error}; pass a writable "
            "directory path"
        ) from error


def _decode(events: list[bytes]) -> list[dict[str, Any]]:
    return [_decode_one(event) for event in events]


def _decode_one(event: bytes) -> dict[str, Any]:
    """Parse an event for a callback; never raises, whatever the bytes contain."""
    try:
        return orjson.loads(event)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:
        pass
    try:
        # The standard library reads numbers beyond a double's range, which orjson
        # rejects and which the serializer writes exactly.
        return json.loads(event)  # type: ignore[no-any-return]
    except (ValueError, RecursionError):
        # Only a spool segment edited by hand can hold bytes that are not JSON.
        return {"unparseable_event": event.decode("utf-8", "replace")}


# Every pipeline alive in this process, so a forked child can reset each of them.
_live_pipelines: weakref.WeakSet[Pipeline] = weakref.WeakSet()


def _reset_pipelines_in_child() -> None:
    for pipeline in list(_live_pipelines):
        pipeline._forget_after_fork()


os.register_at_fork(after_in_child=_reset_pipelines_in_child)
