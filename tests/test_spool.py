"""The durable spool: events survive outages and restarts, at least once, same messageIds."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import WRITE_KEY, assert_accounted, wait_until

from rudder_fast import Client, RetryPolicy
from rudder_fast._message import MessageBuilder
from rudder_fast._serialize import dumps
from rudder_fast._spool import Spool
from rudder_fast.sink import Sink

REPO = Path(__file__).resolve().parent.parent
SHORT_RETRY = RetryPolicy(max_retries=2, backoff_base_s=0.01, backoff_max_s=0.02, budget_s=2.0)


def _events(count: int, prefix: str) -> list[bytes]:
    builder = MessageBuilder()
    return [dumps(builder.track(f"{prefix}-{i}", "Spooled", {"i": i})) for i in range(count)]


def test_outage_past_retry_budget_is_replayed(sink: Sink, tmp_path: Path) -> None:
    """Events failed during an outage are spooled, then a new client delivers each once."""
    spool_dir = tmp_path / "spool"
    sink.stop()
    first = Client(WRITE_KEY, sink.url, workers=1, retry_policy=SHORT_RETRY, spool_dir=spool_dir)
    sent = [first.track(f"user-{i}", "During Outage", {"i": i})[1]["messageId"] for i in range(300)]
    assert first.flush(timeout=30) == 0
    stats = first.stats()
    assert stats.spooled == 300
    assert stats.failed == 0
    assert_accounted(stats)
    first.shutdown(timeout=10)
    assert Spool(spool_dir, 2**30).summary().events == 300

    sink.start()
    second = Client(WRITE_KEY, sink.url, workers=1, spool_dir=spool_dir)
    try:
        assert wait_until(lambda: sink.stats()["events"] >= 300, timeout=30)
        assert second.flush(timeout=30) == 0
        assert wait_until(lambda: Spool(spool_dir, 2**30).summary().claimed == 0, timeout=10)
        stats = second.stats()
        assert stats.replayed == 300
        assert stats.delivered == 300
        assert_accounted(stats)
    finally:
        second.shutdown(timeout=10)
    stored = [event["messageId"] for event in sink.events]
    assert sorted(stored) == sorted(sent)
    assert Spool(spool_dir, 2**30).summary().segments == 0


def test_shutdown_deadline_spools_instead_of_dropping(tmp_path: Path) -> None:
    """Events still pending at the shutdown deadline land in the spool."""
    with Sink() as probe:
        url = probe.url
    patient = RetryPolicy(max_retries=100, backoff_base_s=0.05, backoff_max_s=0.1, budget_s=60)
    client = Client(WRITE_KEY, url, workers=1, retry_policy=patient, spool_dir=tmp_path)
    for index in range(50):
        client.track(f"user-{index}", "Pending At Exit", {})
    assert client.shutdown(timeout=1) == 50
    stats = client.stats()
    assert stats.spooled == 50
    assert stats.dropped == 0
    assert_accounted(stats)
    assert Spool(tmp_path, 2**30).summary().events == 50


def test_queue_full_spools_and_returns_true(sink: Sink, tmp_path: Path) -> None:
    """With a spool, a full queue keeps the event on disk and the call returns True."""
    client = Client(WRITE_KEY, sink.url, workers=1, max_queue_size=5, spool_dir=tmp_path)
    try:
        results = [client.track("u1", "Burst", {"i": i})[0] for i in range(40)]
        assert all(results)
        assert client.flush(timeout=30) == 0
        stats = client.stats()
        assert stats.spooled >= 30
        assert stats.dropped == 0
        assert_accounted(stats)
    finally:
        client.shutdown(timeout=10)


def test_truncated_segment_is_set_aside(
    sink: Sink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A truncated segment moves to corrupt/ with a warning; the others are replayed."""
    spool = Spool(tmp_path, 2**30)
    spool.write(_events(20, "good-a"))
    spool.write(_events(20, "broken"))
    spool.write(_events(20, "good-b"))
    middle = sorted(tmp_path.glob("*.seg.zst"))[1]
    middle.write_bytes(middle.read_bytes()[:-9])

    client = Client(WRITE_KEY, sink.url, workers=1, spool_dir=tmp_path)
    try:
        assert wait_until(lambda: sink.stats()["events"] >= 40, timeout=30)
        assert wait_until(lambda: spool.summary().segments == 0)
        assert wait_until(lambda: spool.summary().claimed == 0)
    finally:
        client.shutdown(timeout=10)
    users = {event["userId"].split("-")[1] for event in sink.events}
    assert users == {"a", "b"}
    assert sink.stats()["events"] == 40
    assert [path.name for path in (tmp_path / "corrupt").iterdir()] == [middle.name]
    assert any("is corrupt" in record.getMessage() for record in caplog.records)


def test_two_processes_share_a_spool(sink: Sink, tmp_path: Path) -> None:
    """Two processes replaying one spool directory neither lose nor double an event."""
    spool = Spool(tmp_path / "shared", 2**30)
    expected = set()
    for segment in range(12):
        events = _events(50, f"seg{segment}")
        spool.write(events)
        expected.update(f"seg{segment}-{i}" for i in range(50))
    script = tmp_path / "replayer.py"
    script.write_text(
        textwrap.dedent(f"""
        import time
        import rudder_fast
        from rudder_fast._spool import Spool
        client = rudder_fast.Client({WRITE_KEY!r}, {sink.url!r}, workers=1,
                                    spool_dir={str(tmp_path / "shared")!r})
        spool = Spool({str(tmp_path / "shared")!r}, 2**30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            summary = spool.summary()
            if summary.segments == 0 and summary.claimed == 0:
                break
            client.flush(timeout=1)
        client.shutdown(timeout=10)
        print(client.stats().replayed)
    """)
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    replayed = []
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        replayed.append(int(output.strip()))

    users = [event["userId"] for event in sink.events]
    assert sorted(users) == sorted(expected)
    assert sum(replayed) == len(expected)
    assert sink.stats()["duplicates"] == 0


def test_files_are_private(tmp_path: Path) -> None:
    """The spool directory is 0700 and segments are 0600."""
    spool = Spool(tmp_path / "private", 2**30)
    spool.write(_events(3, "p"))
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    (segment,) = (tmp_path / "private").glob("*.seg.zst")
    assert stat.S_IMODE(segment.stat().st_mode) == 0o600


def test_size_cap_evicts_oldest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Past spool_max_bytes the oldest segments go first, and the eviction is counted."""
    caplog.set_level(logging.WARNING)
    spool = Spool(tmp_path, max_bytes=4000)
    evicted = 0
    for segment in range(10):
        evicted += spool.write(_events(10, f"s{segment}"))
    summary = spool.summary()
    assert summary.bytes <= 4000
    assert evicted == 100 - summary.events
    assert evicted > 0
    remaining = sorted(path.name for path in tmp_path.glob("*.seg.zst"))
    assert remaining == sorted(remaining)[-summary.segments :]
    assert any("evicted the" in record.getMessage() for record in caplog.records)


def test_sync_mode_spools_failures(tmp_path: Path) -> None:
    """In sync_mode a failure worth retrying later is spooled, and the call returns True."""
    with Sink() as probe:
        url = probe.url
    client = Client(WRITE_KEY, url, sync_mode=True, retry_policy=SHORT_RETRY, spool_dir=tmp_path)
    queued, _ = client.track("u1", "Sync Down", {})
    assert queued
    stats = client.stats()
    assert stats.spooled == 1
    assert stats.failed == 0
    assert_accounted(stats)
    assert Spool(tmp_path, 2**30).summary().events == 1


def test_claim_left_in_this_process_is_taken_over(sink: Sink, tmp_path: Path) -> None:
    """A segment claimed by a client that shut down is replayed by the next one."""
    spool = Spool(tmp_path, 2**30)
    spool.write(_events(30, "left"))
    claimed = spool.claim_next()
    assert claimed is not None
    spool.abandon(claimed)

    client = Client(WRITE_KEY, sink.url, workers=1, spool_dir=tmp_path)
    try:
        assert wait_until(lambda: sink.stats()["events"] >= 30, timeout=30)
        assert client._pipeline.wait_for_replay(timeout=30)
    finally:
        client.shutdown(timeout=10)
    assert spool.summary().claimed == 0
