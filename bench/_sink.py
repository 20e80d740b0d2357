"""The local data plane as a child process: start it on a free port, read its counters, stop it."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson
import urllib3

import rudder_fast

__all__ = ["SinkError", "SinkProcess"]

# The sink prints this line to stdout once it accepts connections.
_LISTENING = re.compile(rb"listening on (http://127\.0\.0\.1:(\d+))\s*$")
# Choice: the sink starts in about 0.15 s on an idle machine; a loaded CI machine gets
# a hundred times that.
STARTUP_TIMEOUT_S = 20.0
# Choice: SIGTERM lets the sink close its connections (it allows itself 2 s for that).
STOP_TIMEOUT_S = 10.0
# How often wait_for_events reads the counters.
POLL_INTERVAL_S = 0.02
REPO_ROOT = Path(rudder_fast.__file__).resolve().parent.parent


class SinkError(RuntimeError):
    """Raised when the sink does not start, exits early, or fails a stats request."""


class SinkProcess:
    """``python -m rudder_fast.sink`` on 127.0.0.1 with a free port, stopped on exit.

    Its stderr goes to a temporary file, shown in errors. After the listening line, a
    thread reads and discards its stdout, so the sink cannot block on a full pipe.
    """

    def __init__(self, write_key: str) -> None:
        self._write_key = write_key
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._http: urllib3.HTTPConnectionPool | None = None
        self._drain: threading.Thread | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        """The sink's process id."""
        if self._process is None:
            raise SinkError("the sink is not running")
        return self._process.pid

    def __enter__(self) -> SinkProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the sink and wait up to STARTUP_TIMEOUT_S for its listening line."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        command = [sys.executable, "-m", "rudder_fast.sink", "--host", "127.0.0.1", "--port", "0"]
        command += ["--write-key", self._write_key]

        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, env=env, bufsize=0
        )
        assert self._process.stdout is not None

        line = self._read_line(self._process.stdout, time.monotonic() + STARTUP_TIMEOUT_S)
        match = _LISTENING.match(line)
        if match is None:
            raise SinkError(
                f"the sink printed {line[:200]!r} instead of 'listening on "
                f"http://127.0.0.1:PORT'{self._stderr_tail()}"
            )
        self.url = match.group(1).decode()
        self._http = urllib3.HTTPConnectionPool("127.0.0.1", int(match.group(2)), maxsize=1)

        self._drain = threading.Thread(
            target=_drain, args=(self._process.stdout,), name="sink-stdout", daemon=True
        )
        self._drain.start()

    def _read_line(self, stream: IO[bytes], deadline: float) -> bytes:
        """Read one line from the sink's stdout, failing at the deadline or at EOF."""
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while b"\n" not in data:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise SinkError(
                        f"the sink did not print its listening line within "
                        f"{STARTUP_TIMEOUT_S:.0f} s{self._stderr_tail()}"
                    )
                # One byte at a time, so nothing after the line is taken from the drain.
                byte = os.read(stream.fileno(), 1)
                if not byte:
                    raise SinkError(
                        f"the sink exited with status {self._exit_status()} before "
                        f"listening{self._stderr_tail()}"
                    )
                data += byte
        return data

    def stats(self) -> dict[str, Any]:
        """Return the sink's counters from ``GET /_sink/stats``."""
        if self._http is None:
            raise SinkError("the sink is not running")
        response = self._http.request("GET", "/_sink/stats", timeout=5.0, retries=False)
        if response.status != 200:
            raise SinkError(f"GET /_sink/stats returned {response.status}: {response.data[:200]!r}")
        stats: dict[str, Any] = orjson.loads(response.data)
        return stats

    def wait_for_events(self, count: int, timeout_s: float) -> dict[str, Any]:
        """Poll the counters until ``events`` reaches ``count`` or ``timeout_s`` passes.

        Returns the last counters read either way, so the caller compares them.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            stats = self.stats()
            if stats["events"] >= count or time.monotonic() >= deadline:
                return stats
            time.sleep(POLL_INTERVAL_S)

    def stop(self) -> None:
        """Stop the sink with SIGTERM, or SIGKILL after STOP_TIMEOUT_S; safe to call twice."""
        process, self._process = self._process, None
        if self._http is not None:
            self._http.close()
            self._http = None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(
                    f"the sink (pid {process.pid}) did not stop within {STOP_TIMEOUT_S:.0f} s "
                    "of SIGTERM; killing it",
                    file=sys.stderr,
                )
                process.kill()
                process.wait()
        # The drain thread reads EOF once the sink has exited.
        if self._drain is not None:
            self._drain.join(STOP_TIMEOUT_S)
            self._drain = None
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _exit_status(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode(errors="replace").strip()
        return f"; its stderr ends with:\n{tail}" if tail else ""


def _drain(stream: IO[bytes]) -> None:
    while stream.read(65536):
        pass
