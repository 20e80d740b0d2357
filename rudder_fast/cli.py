"""The ``rudder-fast`` command: send NDJSON event files, run the local sink, inspect a spool."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from ._events_file import InvalidEvent, call_from_event
from ._spool import Spool
from .client import Client
from .config import DEFAULT_GZIP_LEVEL, default_workers
from .errors import APIError, ConfigError, EventValidationError

__all__ = ["main"]

log = logging.getLogger(__name__)

# How often the progress line is redrawn.
PROGRESS_INTERVAL_S = 0.2
# Invalid lines reported one by one before only their count is kept.
MAX_REPORTED_INVALID_LINES = 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rudder-fast",
        description="Ship RudderStack events fast, run a local data plane, inspect a spool.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    send = commands.add_parser(
        "send",
        help="send a file of RudderStack events, one JSON object per line",
        description=(
            "Send each line's event through the uploader pool with the call of its type "
            "(identify, track, page, screen, group, alias), keeping its messageId, then "
            "print how many were delivered, failed and dropped. Invalid lines are reported "
            "with their line numbers and skipped. Exits 1 if any event failed, was dropped "
            "or was invalid, else 0."
        ),
    )
    send.add_argument("file", help="NDJSON file to send, or - for standard input")
    send.add_argument(
        "--write-key",
        default=os.environ.get("RUDDER_WRITE_KEY"),
        help="the source's write key (default: $RUDDER_WRITE_KEY)",
    )
    send.add_argument(
        "--data-plane-url",
        default=os.environ.get("RUDDER_DATA_PLANE_URL"),
        help="the data plane's URL (default: $RUDDER_DATA_PLANE_URL)",
    )
    send.add_argument(
        "--workers", type=_positive_int, default=default_workers(),
        help="uploader processes (default: %(default)s on this machine)",
    )  # fmt: skip
    send.add_argument(
        "--upload-size", type=int, default=100, help="events per batch (default: 100)"
    )
    send.add_argument(
        "--upload-interval", type=_positive_float, default=0.5,
        help="seconds an event may wait for its batch to fill (default: 0.5)",
    )  # fmt: skip
    send.add_argument(
        "--gzip-level", type=int, default=DEFAULT_GZIP_LEVEL,
        help="zlib level 0-9 for request bodies (default: %(default)s)",
    )  # fmt: skip
    send.add_argument("--no-gzip", action="store_true", help="send plain JSON bodies")
    send.add_argument(
        "--timeout",
        type=_positive_float,
        default=15.0,
        help="seconds per HTTP attempt (default: 15)",
    )
    send.add_argument("--max-retries", type=int, default=10, help="retries per batch (default: 10)")
    send.add_argument(
        "--max-queue-size", type=_positive_int, default=100_000,
        help="events held at once; reading waits for room beyond it (default: 100000)",
    )  # fmt: skip
    send.add_argument("--spool-dir", help="keep events that cannot be delivered in this directory")
    send.add_argument("--quiet", action="store_true", help="no progress line on standard error")

    commands.add_parser(
        "sink",
        help="run the local data plane (options: rudder-fast sink --help)",
        add_help=False,
    )

    spool = commands.add_parser("spool", help="work with a spool directory")
    spool_commands = spool.add_subparsers(dest="spool_command", required=True, metavar="ACTION")
    inspect = spool_commands.add_parser("inspect", help="summarize a spool's segments and events")
    inspect.add_argument("directory", help="the spool directory (spool_dir)")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser()
    if argv[:1] == ["sink"]:
        # Every later argument belongs to the sink's own parser.
        try:
            from .sink.__main__ import main as sink_main  # noqa: PLC0415 - optional extra
        except ImportError as error:
            print(
                f"rudder-fast sink needs the sink extra: pip install 'rudder-fast[sink]' ({error})",
                file=sys.stderr,
            )
            return 2
        return sink_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "spool":
        return _inspect_spool(args.directory)
    return _send(parser, args)


def _inspect_spool(directory: str) -> int:
    if not os.path.isdir(directory):
        print(f"rudder-fast: spool directory {directory!r} not found", file=sys.stderr)
        return 2
    summary = Spool(directory, max_bytes=2**63).summary()
    oldest = "-"
    if summary.oldest_ns is not None:
        oldest = datetime.datetime.fromtimestamp(
            summary.oldest_ns / 1e9, datetime.timezone.utc
        ).isoformat(timespec="seconds")
    print(f"directory        {os.path.abspath(directory)}")
    print(f"segments         {summary.segments}")
    print(f"events           {summary.events}")
    print(f"bytes            {summary.bytes}")
    print(f"being replayed   {summary.claimed}")
    print(f"set aside        {summary.corrupt} (corrupt)")
    print(f"oldest segment   {oldest}")
    return 0


def _send(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if not args.write_key:
        parser.error("no write key: pass --write-key or set RUDDER_WRITE_KEY")
    if not args.data_plane_url:
        parser.error("no data plane: pass --data-plane-url or set RUDDER_DATA_PLANE_URL")
    failures: Counter[str] = Counter()

    def count_failure(error: APIError, events: list[dict[str, Any]]) -> None:
        failures[str(error)] += len(events)

    try:
        client = Client(
            args.write_key,
            args.data_plane_url,
            gzip=not args.no_gzip,
            max_retries=args.max_retries,
            timeout=args.timeout,
            upload_size=args.upload_size,
            upload_interval=args.upload_interval,
            workers=args.workers,
            gzip_level=args.gzip_level,
            max_queue_size=args.max_queue_size,
            queue_full="block",
            queue_full_timeout=3600.0,
            spool_dir=args.spool_dir,
            handle_sigterm=False,
            on_error=count_failure,
        )
    except ConfigError as error:
        parser.error(str(error))

    progress = _Progress(enabled=not args.quiet and sys.stderr.isatty())
    invalid = 0
    try:
        with _input_lines(args.file) as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                reason = _send_line(client, line)
                if reason is not None:
                    invalid += 1
                    if invalid <= MAX_REPORTED_INVALID_LINES:
                        progress.clear()
                        print(f"line {number}: skipped: {reason}", file=sys.stderr)
                progress.update(client)
        # With --spool-dir, events spooled by earlier runs are replayed in the background.
        client._pipeline.wait_for_replay()
        client.flush()
    except OSError as error:
        print(f"rudder-fast: cannot read {args.file!r}: {error}", file=sys.stderr)
        client.shutdown(timeout=30)
        return 2
    finally:
        progress.clear()
    client.shutdown(timeout=30)

    stats = client.stats()
    if invalid > MAX_REPORTED_INVALID_LINES:
        print(f"... {invalid - MAX_REPORTED_INVALID_LINES} more invalid lines", file=sys.stderr)
    for reason, count in failures.most_common():
        print(f"failed: {count} events: {reason}", file=sys.stderr)
    for reason, count in sorted(stats.dropped_by_reason.items()):
        print(f"dropped: {count} events: {reason}", file=sys.stderr)
    print(
        f"delivered {stats.delivered}  failed {stats.failed}  dropped {stats.dropped}  "
        f"spooled {stats.spooled}  invalid lines {invalid}"
    )
    return 1 if stats.failed or stats.dropped or invalid else 0


def _send_line(client: Client, line: bytes) -> str | None:
    """Send one line's event; return why it was skipped, or None."""
    try:
        kind, call_args = call_from_event(orjson.loads(line), keep_message_id=True)
        getattr(client, kind)(*call_args)
    except orjson.JSONDecodeError as error:
        return f"not valid JSON ({error})"
    except (InvalidEvent, EventValidationError) as error:
        return str(error)
    return None


@contextlib.contextmanager
def _input_lines(name: str) -> Iterator[Iterator[bytes]]:
    """Yield the binary lines of a file, or of standard input for ``-``."""
    if name == "-":
        yield iter(sys.stdin.buffer)
        return
    with open(name, "rb") as file:
        yield iter(file)


class _Progress:
    """A progress line on standard error: events sent and delivered, and the rate."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._started = time.monotonic()
        self._next_draw = 0.0
        self._drawn = False

    def update(self, client: Client) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now < self._next_draw:
            return
        self._next_draw = now + PROGRESS_INTERVAL_S
        stats = client.stats()
        rate = stats.delivered / max(now - self._started, 1e-9)
        sys.stderr.write(
            f"\rsent {stats.enqueued:,}  delivered {stats.delivered:,}  "
            f"pending {stats.pending:,}  ({rate:,.0f} events/s)"
        )
        sys.stderr.flush()
        self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._drawn = False
