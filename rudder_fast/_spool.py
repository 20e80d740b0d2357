"""The durable spool: events that could not be delivered, kept in zstandard segment files.

A segment is one zstandard frame, with the frame's content checksum, holding serialized
events one per line. Its file name sorts by creation time and carries its event count::

    <nanoseconds since epoch>-<pid>-<sequence>-<event count>.seg.zst

Rules that keep several processes on one directory from losing or doubling segments:

1. A segment is written to a temporary name and renamed into place, so readers never see
   a partial segment.
2. A reader claims a segment by renaming it to ``<name>.claimed-<pid>``; rename is atomic,
   so exactly one process wins each segment.
3. The claimer deletes the segment only after each of its events has an outcome (sent,
   reported, or written to a new segment). A claim whose process has died is taken over,
   so a crash mid-replay sends those events again: at-least-once, same messageIds.
4. A segment that fails to decompress or whose checksum does not match is moved to
   ``corrupt/`` with a warning, and the rest are still replayed.

Files are created 0600 and directories 0700: events are personal data.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import zstandard

__all__ = ["ClaimedSegment", "Spool", "SpoolSummary"]

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".seg.zst"
CLAIM_MARK = ".claimed-"
CORRUPT_DIR = "corrupt"
_SEGMENT_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)-(\d+)\.seg\.zst$")
_CLAIMED_NAME = re.compile(r"^(.+\.seg\.zst)\.claimed-(\d+)$")

# Claimed segments some replay in this process is working on. A claim named after this
# process but absent here was left by a client that shut down, and may be taken over.
_claims_in_use: set[Path] = set()
_claims_lock = threading.Lock()

# Choice: zstandard's default level; spooling is rare and disk space is what matters.
ZSTD_LEVEL = 3


@dataclass(frozen=True, slots=True)
class ClaimedSegment:
    """A segment this process renamed to its claim name and will replay."""

    path: Path
    events: int


@dataclass(frozen=True, slots=True)
class SpoolSummary:
    """Summary of a spool directory's contents, for ``rudder-fast spool inspect``."""

    segments: int
    events: int
    bytes: int
    claimed: int
    corrupt: int
    oldest_ns: int | None


class Spool:
    """One process's handle on a spool directory; thread-safe."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        _make_private_dir(self.directory)
        self._lock = threading.Lock()
        self._sequence = 0
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)

    def __repr__(self) -> str:
        return f"<Spool {self.directory}>"

    # -- writing --------------------------------------------------------------------

    def write(self, events: list[bytes]) -> int:
        """Append ``events`` as one new segment; return how many older events were evicted.

        Raises OSError when the segment cannot be written (disk full, permissions).
        """
        if not events:
            return 0
        payload = self._compressor.compress(b"\n".join(events))
        with self._lock:
            self._sequence += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._sequence}-{len(events)}"
        final = self.directory / (name + SEGMENT_SUFFIX)
        temporary = self.directory / (".tmp-" + name)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(payload)
                file.flush()
                os.fsync(file.fileno())
            os.rename(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return self._evict_over_cap()

    def _evict_over_cap(self) -> int:
        """Delete the oldest unclaimed segments until the spool fits ``max_bytes``."""
        segments = self._segments()
        total = sum(size for _, size, _ in segments)
        evicted = 0
        for path, size, count in segments:
            if total <= self.max_bytes:
                break
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue  # another process claimed or evicted it first
            total -= size
            evicted += count
        if evicted:
            log.warning(
                "Spool %s is over spool_max_bytes=%d: evicted the %d oldest spooled events",
                self.directory, self.max_bytes, evicted,
            )  # fmt: skip
        return evicted

    # -- replaying ------------------------------------------------------------------

    def claim_next(self, older_than_ns: int | None = None) -> ClaimedSegment | None:
        """Claim the oldest segment no process is replaying, or one whose claimer died.

        With ``older_than_ns``, only segments created before that time are considered.
        """
        for path, _size, count in self._segments():
            if older_than_ns is not None and _created_ns(path.name) >= older_than_ns:
                break
            claimed = path.with_name(path.name + CLAIM_MARK + str(os.getpid()))
            if _rename_if_present(path, claimed):
                return _in_use(ClaimedSegment(claimed, count))
        for path, owner in self._claims():
            if owner == os.getpid():
                with _claims_lock:
                    if path in _claims_in_use:
                        continue
                    _claims_in_use.add(path)
                log.info("Taking over spool segment %s left by an earlier client", path.name)
                return ClaimedSegment(path, _count_from_name(path.name))
            if not psutil.pid_exists(owner):
                claimed = path.with_name(
                    _CLAIMED_NAME.sub(r"\1", path.name) + CLAIM_MARK + str(os.getpid())
                )
                if _rename_if_present(path, claimed):
                    log.info(
                        "Taking over spool segment %s from exited process %d", claimed.name, owner
                    )
                    return _in_use(ClaimedSegment(claimed, _count_from_name(claimed.name)))
        return None

    def read(self, segment: ClaimedSegment) -> list[bytes] | None:
        """Return the events of a claimed segment; None if it was corrupt and set aside."""
        try:
            data = segment.path.read_bytes()
            events = zstandard.ZstdDecompressor().decompress(data).split(b"\n")
        except (zstandard.ZstdError, OSError) as error:
            self._set_aside(segment.path, str(error))
            return None
        if len(events) != segment.events:
            self._set_aside(
                segment.path, f"holds {len(events)} events, its name says {segment.events}"
            )
            return None
        return events

    def release(self, segment: ClaimedSegment) -> None:
        """Delete a claimed segment whose events all have an outcome."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(segment.path)
        self.abandon(segment)

    def abandon(self, segment: ClaimedSegment) -> None:
        """Leave a claimed segment for a later client, in this process or another."""
        with _claims_lock:
            _claims_in_use.discard(segment.path)

    def _set_aside(self, path: Path, reason: str) -> None:
        corrupt = self.directory / CORRUPT_DIR
        _make_private_dir(corrupt)
        target = corrupt / _CLAIMED_NAME.sub(r"\1", path.name)
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, target)
        with _claims_lock:
            _claims_in_use.discard(path)
        log.warning("Spool segment %s is corrupt (%s); moved it to %s", path.name, reason, corrupt)

    # -- listing --------------------------------------------------------------------

    def _segments(self) -> list[tuple[Path, int, int]]:
        """Unclaimed segments, oldest first, as (path, size in bytes, event count)."""
        found = []
        for entry in os.scandir(self.directory):
            match = _SEGMENT_NAME.match(entry.name)
            if match is None:
                continue
            with contextlib.suppress(FileNotFoundError):
                found.append((Path(entry.path), entry.stat().st_size, int(match.group(4))))
        found.sort(key=lambda item: item[0].name)
        return found

    def _claims(self) -> list[tuple[Path, int]]:
        claims = []
        for entry in os.scandir(self.directory):
            match = _CLAIMED_NAME.match(entry.name)
            if match is not None:
                claims.append((Path(entry.path), int(match.group(2))))
        claims.sort(key=lambda item: item[0].name)
        return claims

    def summary(self) -> SpoolSummary:
        segments = self._segments()
        corrupt_dir = self.directory / CORRUPT_DIR
        corrupt = len(list(corrupt_dir.iterdir())) if corrupt_dir.is_dir() else 0
        return SpoolSummary(
            segments=len(segments),
            events=sum(count for _, _, count in segments),
            bytes=sum(size for _, size, _ in segments),
            claimed=len(self._claims()),
            corrupt=corrupt,
            oldest_ns=_created_ns(segments[0][0].name) if segments else None,
        )


def _in_use(segment: ClaimedSegment) -> ClaimedSegment:
    with _claims_lock:
        _claims_in_use.add(segment.path)
    return segment


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning(
            "Spool directory %s is readable or writable by other users (mode %o); events "
            "are personal data, so consider chmod 700",
            path, mode,
        )  # fmt: skip


def _rename_if_present(source: Path, target: Path) -> bool:
    try:
        os.rename(source, target)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return False  # another process got there first
        raise
    return True


def _created_ns(name: str) -> int:
    return int(name.split("-", 1)[0])


def _count_from_name(name: str) -> int:
    match = _SEGMENT_NAME.match(_CLAIMED_NAME.sub(r"\1", name))
    return int(match.group(4)) if match else 0
