"""Command line of the sink: ``python -m rudder_fast.sink`` serves until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from ._faults import Faults
from ._gateway import DEFAULT_MAX_REQUEST_BYTES
from ._sink import Sink

__all__ = ["main"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser, with help text that names each option's unit."""
    parser = argparse.ArgumentParser(
        prog="python -m rudder_fast.sink",
        description=(
            "Run a local RudderStack data plane that responds to POST /v1/batch like "
            "rudder-server's gateway. Prints 'listening on URL' to stdout once it serves, "
            "and stops on SIGINT or SIGTERM."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8080,
        help="TCP port; 0 picks a free one, shown in the 'listening on' line "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--write-key",
        action="append",
        dest="write_keys",
        metavar="KEY",
        help="write key to accept; repeat for several (default: accept any non-empty key)",
    )
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="append every accepted event to this NDJSON file, one event per line",
    )
    parser.add_argument(
        "--keep-events",
        action="store_true",
        help="keep accepted events in memory for GET /_sink/events (default: counters only)",
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        default=DEFAULT_MAX_REQUEST_BYTES,
        metavar="BYTES",
        help="limit on the decompressed request body in bytes; larger gets 413 "
        "(default: %(default)s, the gateway's default)",
    )

    faults = parser.add_argument_group("fault injection, for batch requests only")
    faults.add_argument(
        "--script",
        type=_parse_script,
        default=(),
        metavar="STATUSES",
        help="comma-separated statuses for the next batch requests, one per request, "
        "such as 503,429,200; 200 handles the request normally",
    )
    faults.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="PROBABILITY",
        help="probability from 0 to 1 that a batch request after the script gets "
        "--fail-status (default: %(default)s)",
    )
    faults.add_argument(
        "--fail-status",
        type=int,
        default=503,
        metavar="STATUS",
        help="error status from 400 to 599 for --fail-rate (default: %(default)s)",
    )
    faults.add_argument(
        "--delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds to wait before handling each batch request and responding "
        "(default: %(default)s)",
    )
    faults.add_argument(
        "--close-after-store",
        action="store_true",
        help="store each accepted batch, then close the connection without a response",
    )
    faults.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed for --fail-rate's random draws (default: seeded by the system)",
    )

    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="level of the log lines written to stderr (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the sink until SIGINT or SIGTERM and return the exit status.

    Invalid options exit with status 2 through argparse. A port that cannot be bound, or
    a record file that cannot be opened, returns 1.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = Faults(
            script=args.script,
            fail_rate=args.fail_rate,
            fail_status=args.fail_status,
            delay_s=args.delay,
            close_after_store=args.close_after_store,
            seed=args.seed,
        )
        sink = Sink(
            host=args.host,
            port=args.port,
            write_keys=args.write_keys,
            record_path=args.record,
            keep_events=args.keep_events,
            max_request_bytes=args.max_request_bytes,
            faults=faults,
        )
    except (TypeError, ValueError) as error:
        parser.error(str(error))

    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    # The handlers only set a flag, and the main thread stops the sink.
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous_handlers = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            sink.start()
        except OSError as error:
            # The OS error names the cause, such as a port in use or a missing directory.
            logger.error("failed to start the sink on %s port %d: %s", args.host, args.port, error)  # noqa: TRY400
            return 1
        # The line that a parent process reads to learn the port.
        print(f"listening on {sink.url}", flush=True)
        stop_requested.wait()
        logger.info("stop requested by signal")
        sink.stop()
    finally:
        for signum, handler in previous_handlers.items():
            if handler is not None:  # None: the handler was not installed from Python
                signal.signal(signum, handler)
    return 0


def _parse_script(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated statuses such as 503,429,200, got {text!r}"
        ) from None


if __name__ == "__main__":
    sys.exit(main())
