"""Uploader processes: starting them from spawn, their queues, and stopping them."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing
import multiprocessing.queues
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ._worker import run_uploader
from .config import UploaderConfig

__all__ = [
    "UPLOADER_EXIT_GRACE_S",
    "TaskQueue",
    "UploaderPool",
    "discard_pool",
    "exit_cleanly_on_sigterm",
    "forget_inherited_uploaders",
    "join_or_kill",
    "note_exit_started",
    "spawn_pool",
]

log = logging.getLogger(__name__)

# How long a stopped or replaced uploader gets to exit before it is killed.
UPLOADER_EXIT_GRACE_S = 2.0


class TaskQueue(multiprocessing.queues.Queue):  # type: ignore[type-arg]
    """The shared task queue; quiet when fed after the pool that read it was replaced."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx=ctx)
        self.discarded = False

    def _on_queue_feeder_error(self, e: Exception, obj: object) -> None:
        # multiprocessing's hook for errors in the feeder thread; it prints a traceback
        # by default. After a pool is replaced its readers are gone, so writes fail with
        # EPIPE and the events are re-sent through the new queue anyway.
        if self.discarded:
            log.debug("Discarded task queue: %s", e)
        else:
            log.error("Failed to send a chunk to the uploaders: %r", e)


class UploaderPool:
    """One generation of uploaders with their queues; replaced whole after a crash."""

    def __init__(self, tasks: TaskQueue, results: Any, workers: list[BaseProcess],
                 controls: list[Connection]) -> None:  # fmt: skip
        self.tasks = tasks
        self.results = results
        self.workers = workers
        self.controls = controls


# A pipe buffers 64 KiB by default, less than one chunk of 256 events of 1 KB, so the
# feeder thread and the uploaders would take turns on every chunk, and an uploader would
# often find the pipe empty while the next chunk was still being written. 1 MiB is the
# most an unprivileged process may ask for (/proc/sys/fs/pipe-max-size on Linux).
TASK_PIPE_BYTES = 1024 * 1024


def _enlarge_pipe(tasks: TaskQueue) -> None:
    set_pipe_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_pipe_size is None:  # pragma: no cover - not Linux
        return
    # NOTE: _writer is multiprocessing.Queue's private end of the pipe.
    with contextlib.suppress(OSError, AttributeError):
        writer = tasks._writer  # type: ignore[attr-defined]  # private, see the NOTE
        fcntl.fcntl(writer.fileno(), set_pipe_size, TASK_PIPE_BYTES)


def spawn_pool(config: UploaderConfig, workers: int, flush_target: int) -> UploaderPool:
    """Start ``workers`` uploader processes with a new task queue and results queue."""
    # spawn, not fork: the parent has threads running, and a forked child would
    # inherit their locks in whatever state they were.
    ctx = multiprocessing.get_context("spawn")
    tasks = TaskQueue(ctx)
    _enlarge_pipe(tasks)
    # A queue starts its feeder thread on the first put, and from Python 3.12 no thread
    # can start during interpreter exit, when the bounded shutdown may make that put.
    # A None starts the thread now; uploaders skip it.
    tasks.put(None)
    results = ctx.SimpleQueue()
    processes: list[BaseProcess] = []
    controls: list[Connection] = []
    for index in range(workers):
        reader, writer = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=run_uploader,
            args=(config, index, tasks, results, reader, flush_target),
            name=f"rudder-fast-uploader-{index}",
            daemon=True,
        )
        with _uploader_start_context():
            process.start()
        reader.close()
        processes.append(process)
        controls.append(writer)
    log.debug("Started %d uploader processes", len(processes))
    return UploaderPool(tasks, results, processes, controls)


def join_or_kill(processes: list[BaseProcess], grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()


def forget_inherited_uploaders(pool: UploaderPool) -> None:
    """In a forked child, drop the parent's uploaders from multiprocessing's child list.

    After ``os.fork()`` the list still names them, and multiprocessing's exit hook
    sends SIGTERM to every daemonic process in it, so a child that exits normally would
    stop the parent's uploaders.
    """
    children = multiprocessing.process._children  # type: ignore[attr-defined]
    for process in pool.workers:
        children.discard(process)


def discard_pool(pool: UploaderPool) -> None:
    pool.tasks.discarded = True
    # Do not wait for the feeder thread at exit, because no process may be left to read
    # what it writes.
    pool.tasks.cancel_join_thread()
    pool.tasks.close()
    pool.results.close()
    for control in pool.controls:
        control.close()


# Set by the first SIGTERM this process handles; reset in a forked child.
_exit_requested = False


def _raise_system_exit(signum: int, _frame: types.FrameType | None) -> None:
    global _exit_requested  # noqa: PLW0603 - signal handlers can only share module state
    if _exit_requested:
        # A second SIGTERM would abort the bounded shutdown the first one started, and
        # lose what it was delivering; exit_timeout still bounds that shutdown.
        return
    _exit_requested = True
    raise SystemExit(128 + signum)


def note_exit_started() -> None:
    """Ignore SIGTERM from now on: the bounded shutdown at exit has begun.

    A process exiting normally can get SIGTERM during that shutdown, for example a
    ``multiprocessing.Pool`` worker: its pool sends it a stop task, then terminates it.
    Raising SystemExit then would abort the delivery of what it queued.
    """
    global _exit_requested  # noqa: PLW0603 - shared with the signal handler
    _exit_requested = True


def _reset_exit_request_in_child() -> None:
    global _exit_requested  # noqa: PLW0603
    _exit_requested = False


os.register_at_fork(after_in_child=_reset_exit_request_in_child)


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so atexit runs the bounded shutdown.

    Python's default for SIGTERM ends the process at once, without atexit, which would
    lose every event still in the parent. Only a default handler is replaced, and only
    from the main thread (the one place signal handlers can be set): an application or
    server that handles SIGTERM itself keeps its handler. The exit status stays 143.
    Further SIGTERMs are ignored while that shutdown runs, whatever started it.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_system_exit)


@contextlib.contextmanager
def _uploader_start_context() -> Iterator[None]:
    """Adjust two of multiprocessing's process-wide checks while an uploader starts.

    1. ``spawn`` re-imports the main script in every child so pickled functions from it
       resolve. Uploaders need nothing from it, and a script without an
       ``if __name__ == "__main__":`` guard would run again in each uploader, sending
       its events twice or failing to start. ``Process.start()`` reads
       ``sys.modules["__main__"]``, so a bare module replaces it during the call.
    2. A daemonic process, such as a ``multiprocessing.Pool`` worker, may not start
       children, because they would be orphaned when it is terminated. Uploaders watch
       their parent's sentinel and exit by themselves, so the flag is lifted for the call.

    NOTE: another thread that reads ``__main__`` or the daemon flag during those
    milliseconds gets the temporary values.
    """
    real_main = sys.modules["__main__"]
    process_config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    was_daemon = process_config.get("daemon")
    sys.modules["__main__"] = types.ModuleType("__main__")
    if was_daemon:
        process_config["daemon"] = False
    try:
        yield
    finally:
        sys.modules["__main__"] = real_main
        if was_daemon:
            process_config["daemon"] = was_daemon
