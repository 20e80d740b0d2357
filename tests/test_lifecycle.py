"""Process lifecycles: interpreter exit, forked children, killed uploaders and parents."""

from __future__ import annotations

import json
import multiprocessing.util
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import psutil
from conftest import WRITE_KEY, assert_accounted, wait_until

from rudder_fast import Client
from rudder_fast.sink import Faults, Sink

REPO = Path(__file__).resolve().parent.parent


def _run_script(tmp_path: Path, body: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True,
        timeout=timeout, check=False, cwd=tmp_path,
    )  # fmt: skip


def _start_script(path: Path, body: str, stderr: int | None = None) -> subprocess.Popen[str]:
    """Write ``body`` to ``path`` and start it, with standard input and output as pipes."""
    path.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(path)], env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=stderr, text=True,
    )  # fmt: skip


def test_script_exit_without_flush_delivers(sink: Sink, tmp_path: Path) -> None:
    """A script with no __main__ guard and no flush() still delivers what it queued."""
    result = _run_script(
        tmp_path,
        f"""
        import rudder_fast as rudder_analytics
        rudder_analytics.write_key = {WRITE_KEY!r}
        rudder_analytics.dataPlaneUrl = {sink.url!r}
        rudder_analytics.upload_interval = 30
        for index in range(250):
            rudder_analytics.track("user-%d" % index, "Exited Early", {{"index": index}})
        print("queued")
        """,
    )
    assert result.returncode == 0, result.stderr
    # The script ran once: uploaders do not re-run an unguarded main module.
    assert result.stdout.count("queued") == 1
    assert sink.stats()["events"] == 250
    assert sink.stats()["duplicates"] == 0


def test_killed_uploader_is_replaced(sink: Sink, make_client: Callable[..., Client]) -> None:
    """SIGKILL of an uploader mid-run loses no event: the pool is replaced and resends."""
    sink.set_faults(Faults(delay_s=0.05))
    client = make_client(workers=2, upload_size=50)
    sent = 2000
    for index in range(sent):
        client.track(f"user-{index}", "Survives Crash", {"index": index})
    victim = client.stats().uploaders[0].pid
    os.kill(victim, signal.SIGKILL)
    for index in range(sent, sent + 500):
        client.track(f"user-{index}", "After Crash", {"index": index})

    assert client.flush(timeout=60) == 0

    stats = client.stats()
    assert stats.uploader_restarts >= 1
    assert victim not in [uploader.pid for uploader in stats.uploaders]
    assert stats.delivered == sent + 500
    assert_accounted(stats)
    assert sink.stats()["unique_message_ids"] == sent + 500


def test_forked_child_has_its_own_pipeline(sink: Sink, make_client: Callable[..., Client]) -> None:
    """A child forked after start sends only its own events and never hangs in flush."""
    client = make_client(workers=1, upload_interval=30)
    for index in range(30):
        client.track(f"parent-{index}", "From Parent", {})
    parent_uploaders = {uploader.pid for uploader in client.stats().uploaders}

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
        code = 1
        try:
            for index in range(20):
                client.track(f"child-{index}", "From Child", {})
            pending = client.flush(timeout=30)
            stats = client.stats()
            report = {
                "pending": pending,
                "delivered": stats.delivered,
                "enqueued": stats.enqueued,
                "uploaders": [uploader.pid for uploader in stats.uploaders],
            }
            os.write(write_end, json.dumps(report).encode())
            client.shutdown(timeout=10)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = json.loads(pipe.read() or "{}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    assert report["pending"] == 0
    assert report["enqueued"] == 20
    assert report["delivered"] == 20
    assert not set(report["uploaders"]) & parent_uploaders
    assert client.flush(timeout=30) == 0
    names = [event["userId"] for event in sink.events]
    assert sorted(names) == sorted([f"parent-{i}" for i in range(30)] +
                                   [f"child-{i}" for i in range(20)])  # fmt: skip


def test_killed_parent_leaves_no_orphans(sink: Sink, tmp_path: Path) -> None:
    """Uploaders exit by themselves after their parent is SIGKILLed."""
    with _start_script(
        tmp_path / "victim.py",
        f"""
        import sys
        import rudder_fast
        client = rudder_fast.Client({WRITE_KEY!r}, {sink.url!r}, workers=2)
        client.track("u1", "Before Kill", {{}})
        client.flush(timeout=30)
        print(" ".join(str(u.pid) for u in client.stats().uploaders), flush=True)
        sys.stdin.read()
    """,
        stderr=subprocess.DEVNULL,
    ) as victim:
        assert victim.stdout is not None
        pids = [int(pid) for pid in victim.stdout.readline().split()]
        victim.kill()
        victim.wait(timeout=10)
    assert len(pids) == 2

    assert wait_until(lambda: not any(map(_is_running, pids)), timeout=15)


def _is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_exit_delivers(sink: Sink, tmp_path: Path) -> None:
    """SIGTERM to a script runs the bounded shutdown: queued events arrive, status 143."""
    with _start_script(
        tmp_path / "terminated.py",
        f"""
        import sys
        import rudder_fast
        client = rudder_fast.Client({WRITE_KEY!r}, {sink.url!r}, workers=1, upload_interval=60)
        for index in range(120):
            client.track("user-%d" % index, "Before SIGTERM", {{}})
        print("ready", flush=True)
        sys.stdin.read()
    """,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        process.terminate()
        assert process.wait(timeout=30) == 143
    assert sink.stats()["events"] == 120


def test_fork_pool_workers_deliver(sink: Sink, tmp_path: Path) -> None:
    """Events tracked in a fork-context multiprocessing.Pool arrive once each."""
    result = _run_script(
        tmp_path,
        f"""
        import multiprocessing
        import rudder_fast

        rudder_fast.write_key = {WRITE_KEY!r}
        rudder_fast.dataPlaneUrl = {sink.url!r}
        rudder_fast.workers = 1

        def work(index):
            rudder_fast.track("pool-%d" % index, "From Pool", {{"index": index}})
            return index

        if __name__ == "__main__":
            rudder_fast.track("parent", "Before Pool", {{}})
            with multiprocessing.get_context("fork").Pool(3) as pool:
                assert sorted(pool.map(work, range(60))) == list(range(60))
                pool.close()
                pool.join()
            rudder_fast.track("parent", "After Pool", {{}})
        """,
    )
    assert result.returncode == 0, result.stderr
    users = sorted(event["userId"] for event in sink.events)
    assert users == sorted(["parent", "parent"] + [f"pool-{i}" for i in range(60)])
    assert sink.stats()["duplicates"] == 0


def test_pool_with_block_delivers(sink: Sink, tmp_path: Path) -> None:
    """A Pool's with block terminates its workers; their events still arrive."""
    result = _run_script(
        tmp_path,
        f"""
        import multiprocessing
        import rudder_fast

        def init():
            rudder_fast.write_key = {WRITE_KEY!r}
            rudder_fast.dataPlaneUrl = {sink.url!r}
            rudder_fast.workers = 1

        def work(index):
            return rudder_fast.track("pool-%d" % index, "Terminated Pool", {{}})[0]

        if __name__ == "__main__":
            with multiprocessing.get_context("fork").Pool(4, initializer=init) as pool:
                assert all(pool.map(work, range(200)))
        """,
    )
    assert result.returncode == 0, result.stderr
    assert sink.stats()["events"] == 200
    assert sink.stats()["duplicates"] == 0


def test_preloaded_parent_forks_workers(sink: Sink, tmp_path: Path) -> None:
    """A gunicorn-style parent that started the client forks workers; nothing is resent."""
    result = _run_script(
        tmp_path,
        f"""
        import os, sys
        import rudder_fast

        rudder_fast.write_key = {WRITE_KEY!r}
        rudder_fast.dataPlaneUrl = {sink.url!r}
        rudder_fast.upload_interval = 30
        for index in range(25):
            rudder_fast.track("master-%d" % index, "Preload", {{}})
        children = []
        for worker in range(3):
            pid = os.fork()
            if pid == 0:
                for index in range(10):
                    rudder_fast.track("worker-%d-%d" % (worker, index), "Request", {{}})
                sys.exit(0)
            children.append(pid)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        """,
    )
    assert result.returncode == 0, result.stderr
    users = sorted(event["userId"] for event in sink.events)
    expected = [f"master-{i}" for i in range(25)]
    expected += [f"worker-{w}-{i}" for w in range(3) for i in range(10)]
    assert users == sorted(expected)


def test_forked_child_exit_spares_parent_uploaders(
    sink: Sink, make_client: Callable[..., Client]
) -> None:
    """A forked child that exits normally does not stop its parent's uploaders."""
    client = make_client(workers=1)
    client.track("parent", "Before Forks", {})
    assert client.flush(timeout=30) == 0
    uploader = client.stats().uploaders[0].pid
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            # The exit hook a normal exit runs: it sends SIGTERM to every daemonic
            # process multiprocessing lists as a child of this process.
            multiprocessing.util._exit_function()  # type: ignore[attr-defined]
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    client.track("parent", "After Forks", {})
    assert client.flush(timeout=30) == 0

    stats = client.stats()
    assert stats.uploader_restarts == 0
    assert [u.pid for u in stats.uploaders] == [uploader]
    assert sink.stats()["events"] == 2


def test_second_sigterm_keeps_the_shutdown(sink: Sink, tmp_path: Path) -> None:
    """A second SIGTERM during the exit-time shutdown does not abort it."""
    sink.set_faults(Faults(delay_s=0.5))
    with _start_script(
        tmp_path / "twice.py",
        f"""
        import sys
        import rudder_fast
        from rudder_fast.sink import Faults
        client = rudder_fast.Client({WRITE_KEY!r}, {sink.url!r}, workers=1, upload_interval=60)
        for index in range(100):
            client.track("user-%d" % index, "Twice", {{}})
        print("ready", flush=True)
        sys.stdin.read()
    """,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        process.terminate()
        assert wait_until(lambda: sink.stats()["connections"] >= 1, timeout=10)
        process.terminate()
        assert process.wait(timeout=30) == 143
    assert sink.stats()["events"] == 100


def test_uploader_killed_during_shutdown(sink: Sink) -> None:
    """shutdown() without a timeout completes when an uploader dies while it waits."""
    sink.set_faults(Faults(delay_s=1.0))
    client = Client(WRITE_KEY, sink.url, workers=1)
    for index in range(50):
        client.track(f"user-{index}", "Killed In Shutdown", {})
    assert wait_until(lambda: sink.stats()["connections"] >= 1, timeout=10)
    victim = client.stats().uploaders[0].pid
    killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
    killer.start()
    try:
        assert client.shutdown() == 0
    finally:
        killer.cancel()
    stats = client.stats()
    assert stats.delivered == 50
    assert stats.uploader_restarts == 1
    assert_accounted(stats)
