"""``Client.stats()``: a snapshot of every event's outcome and of the uploader processes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import psutil

__all__ = ["Stats", "UploaderStats", "uploader_stats"]


@dataclass(frozen=True, slots=True)
class UploaderStats:
    """One uploader process: its pid, resident memory in bytes and CPU seconds used."""

    pid: int
    alive: bool
    rss_bytes: int
    cpu_s: float


@dataclass(frozen=True, slots=True)
class Stats(Mapping[str, Any]):
    """Counts since the client started; readable as attributes and as a mapping.

    ``enqueued == delivered + failed + dropped + spooled + pending`` is true in every
    snapshot. ``enqueued`` counts every event a call accepted as valid, and every event
    replayed from the spool, including those then dropped (``dropped_by_reason`` says
    why: ``queue_full``, ``too_large``, ``unserializable``, ``closed``,
    ``shutdown_deadline``, ``uploader_crashed``, ``spool_failed``). ``spooled`` events
    were written to the spool for a later client; ``replayed`` counts events this
    client read back from it; ``spool_evicted`` counts spooled events deleted to keep
    the spool under ``spool_max_bytes``.
    ``bytes_raw`` and ``bytes_sent`` are request bodies before and after compression,
    counted per attempt. ``queue_depth`` is the events waiting in the parent or held by
    uploaders.
    """

    enqueued: int
    delivered: int
    failed: int
    dropped: int
    dropped_by_reason: dict[str, int]
    pending: int
    retries: int
    requests: int
    bytes_raw: int
    bytes_sent: int
    queue_depth: int
    uploader_restarts: int
    spooled: int
    replayed: int
    spool_evicted: int
    uploaders: tuple[UploaderStats, ...]

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def as_dict(self) -> dict[str, Any]:
        """Return a plain dict, with uploaders as dicts too (for JSON or logging)."""
        return asdict(self)

    @classmethod
    def _keys(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))


def uploader_stats(pid: int) -> UploaderStats:
    """Read one process's memory and CPU; a process that is gone reads as zeros."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            rss = process.memory_info().rss
            times = process.cpu_times()
        return UploaderStats(pid, True, rss, times.user + times.system)
    except psutil.Error:
        return UploaderStats(pid, False, 0, 0.0)
