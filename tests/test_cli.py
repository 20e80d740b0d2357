"""The rudder-fast command, run as a real process against the sink."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import WRITE_KEY

from rudder_fast._message import MessageBuilder
from rudder_fast._serialize import dumps
from rudder_fast._spool import Spool
from rudder_fast.sink import Sink

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "events.ndjson"


def run_cli(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m rudder_fast ARGS``; the RUDDER_* variables come only from ``env``."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("RUDDER_WRITE_KEY", "RUDDER_DATA_PLANE_URL"):
        full_env.pop(name, None)
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", "rudder_fast", *args], input=stdin, env=full_env,
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def _event_lines(tmp_path: Path) -> Path:
    """The shared corpus if this checkout has it beside it, else generated events."""
    if CORPUS.is_file():
        return CORPUS
    builder = MessageBuilder()
    path = tmp_path / "events.ndjson"
    path.write_bytes(
        b"\n".join(dumps(builder.track(f"user-{i}", "Generated", {"i": i})) for i in range(150))
    )
    return path


def test_send_delivers_every_line(sink: Sink, tmp_path: Path) -> None:
    """`rudder-fast send FILE` delivers one event per line and exits 0."""
    events = _event_lines(tmp_path)
    lines = [line for line in events.read_bytes().splitlines() if line.strip()]

    result = run_cli("send", str(events), "--write-key", WRITE_KEY, "--data-plane-url", sink.url)

    assert result.returncode == 0, result.stderr
    assert f"delivered {len(lines)}  failed 0  dropped 0" in result.stdout
    assert sink.stats()["events"] == len(lines)
    # Lines without a messageId get a generated one; the others keep theirs.
    kept_ids = sorted(filter(None, (json.loads(line).get("messageId") for line in lines)))
    stored_ids = [event["messageId"] for event in sink.events]
    assert len(stored_ids) == len(lines)
    assert sorted(i for i in stored_ids if i in set(kept_ids)) == kept_ids


def test_send_reads_stdin_and_environment(sink: Sink) -> None:
    """`-` reads standard input; the key and URL may come from the environment."""
    builder = MessageBuilder()
    body = b"\n".join(dumps(builder.identify(f"user-{i}", {"n": i})) for i in range(5))

    result = run_cli(
        "send", "-", stdin=body,
        env={"RUDDER_WRITE_KEY": WRITE_KEY, "RUDDER_DATA_PLANE_URL": sink.url},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert sink.stats()["events"] == 5


def test_send_reports_invalid_lines(sink: Sink, tmp_path: Path) -> None:
    """Invalid lines are named by number and skipped; the exit status is 1."""
    builder = MessageBuilder()
    good = dumps(builder.track("u1", "Good", {}))
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(
        b"\n".join(
            [
                good,
                b"{not json",
                b'{"type": "track", "event": "No Id"}',
                b"[1, 2]",
                b'{"type": "teleport", "userId": "u"}',
                b"",
                good,
            ]
        )
    )

    result = run_cli("send", str(path), "--write-key", WRITE_KEY, "--data-plane-url", sink.url)

    assert result.returncode == 1
    assert "line 2: skipped: not valid JSON" in result.stderr
    assert "line 3: skipped: user_id or anonymous_id is required" in result.stderr
    assert "line 4: skipped: a JSON list, not an object" in result.stderr
    assert "line 5: skipped: type must be one of identify, track" in result.stderr
    assert "teleport" not in result.stderr
    assert "invalid lines 4" in result.stdout
    assert sink.stats()["events"] == 2


def test_send_without_key_fails_clearly(tmp_path: Path) -> None:
    """A missing write key is a usage error naming where to set it."""
    path = tmp_path / "one.ndjson"
    path.write_text("{}\n")
    result = run_cli("send", str(path), "--data-plane-url", "http://127.0.0.1:9", env={})
    assert result.returncode == 2
    assert "no write key: pass --write-key or set RUDDER_WRITE_KEY" in result.stderr


def test_send_failed_events_exit_nonzero(sink: Sink, tmp_path: Path) -> None:
    """Events the data plane rejects make the exit status 1."""
    path = tmp_path / "one.ndjson"
    path.write_bytes(dumps(MessageBuilder().track("u1", "Denied", {})))
    result = run_cli("send", str(path), "--write-key", "wrong", "--data-plane-url", sink.url)
    assert result.returncode == 1
    assert "delivered 0  failed 1" in result.stdout
    assert "failed: 1 events: unauthorized: invalid write key (HTTP 401)" in result.stderr


def test_spool_inspect_summarizes(tmp_path: Path) -> None:
    """`rudder-fast spool inspect DIR` shows segments and events."""
    spool = Spool(tmp_path, 2**30)
    builder = MessageBuilder()
    spool.write([dumps(builder.track("u1", "Spooled", {})) for _ in range(7)])
    spool.write([dumps(builder.track("u2", "Spooled", {})) for _ in range(3)])

    result = run_cli("spool", "inspect", str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert "segments         2" in result.stdout
    assert "events           10" in result.stdout


def test_help_names_units() -> None:
    """Every send option's help describes what it sets, with its unit."""
    result = run_cli("send", "--help")
    assert result.returncode == 0
    for text in ("seconds per HTTP attempt", "events per batch", "uploader processes",
                 "zlib level 0-9", "$RUDDER_WRITE_KEY", "$RUDDER_DATA_PLANE_URL"):  # fmt: skip
        assert text in " ".join(result.stdout.split())


def test_sink_subcommand_serves(tmp_path: Path) -> None:
    """`rudder-fast sink --port 0` prints the URL it listens on."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        [sys.executable, "-m", "rudder_fast", "sink", "--port", "0"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("listening on http://127.0.0.1:")
        finally:
            process.terminate()
            process.wait(timeout=10)
