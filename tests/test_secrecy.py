"""The write key never leaks: not in any output, repr, exception or on_error payload."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import WRITE_KEY

from rudder_fast import Client, ConfigError
from rudder_fast.sink import Faults, Sink

REPO = Path(__file__).resolve().parent.parent
EVENT_CONTENT = "personal-data-7c1e"


def test_nothing_printed_contains_the_key(tmp_path: Path) -> None:
    """A debug run through retries, failures and a crash prints neither key nor contents."""
    with Sink(write_keys={WRITE_KEY}, faults=Faults(script=(503, 429, 500, 401))) as sink:
        script = tmp_path / "leaky.py"
        script.write_text(
            textwrap.dedent(f"""
            import logging, os, signal, sys
            import rudder_fast
            logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
            def on_error(error, events):
                print("on_error:", repr(error), str(error), error.args, file=sys.stderr)
            retry = rudder_fast.RetryPolicy(max_retries=5, backoff_base_s=0.01,
                                            backoff_max_s=0.02)
            client = rudder_fast.Client({WRITE_KEY!r}, {sink.url!r}, debug=True, workers=1,
                                        on_error=on_error, retry_policy=retry)
            print(repr(client), repr(client.config), file=sys.stderr)
            client.track("u1", "Secret", {{"value": {EVENT_CONTENT!r}}})
            client.flush(timeout=30)
            os.kill(client.stats().uploaders[0].pid, signal.SIGKILL)
            client.track("u1", "After Crash", {{"value": {EVENT_CONTENT!r}}})
            client.flush(timeout=30)
            client.shutdown(timeout=10)
            print(client.stats(), file=sys.stderr)
        """)
        )
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        result = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The run did exercise the paths that could leak.
    assert "on_error:" in output
    assert "[uploader 0]" in output
    assert "Retrying a batch" in output
    assert "exited unexpectedly" in output
    assert WRITE_KEY not in output
    assert EVENT_CONTENT not in output
    assert "Authorization" not in output


def test_errors_do_not_echo_credentials() -> None:
    """A data plane URL with credentials is rejected without repeating them."""
    with pytest.raises(ConfigError) as caught:
        Client(WRITE_KEY, "https://user:hunter2@dp.example.com")
    assert "hunter2" not in str(caught.value)
    assert WRITE_KEY not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        Client(42, "https://dp.example.com")  # type: ignore[arg-type]
    assert "42" not in str(caught.value)
