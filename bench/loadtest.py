"""Load test: send events through rudder_fast or the official SDK to a local sink and measure.

Run from the repository root (``rudder_fast`` must be importable)::

    python -m bench.loadtest                      # 200,000 generated events, rudder_fast
    python -m bench.loadtest --sdk both           # then the official SDK, side by side
    python -m bench.loadtest --events /path/events.ndjson --smoke

Each run starts a fresh sink (``python -m rudder_fast.sink``) on 127.0.0.1, builds every
call's arguments, then times the calls and the flush. The exit status is 1 when the
rudder_fast run lost, dropped or failed any event; the official SDK's losses are reported,
not failed on.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import gc
import os
import signal
import sys
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

import rudder_fast
from bench._measure import (
    ProcessUsage,
    cpu_seconds,
    machine_info,
    peak_rss_bytes,
    percentile,
    reset_peak_rss,
)
from bench._sink import SinkProcess
from bench._workload import EventCall, Workload, generate, replay

__all__ = ["main"]

WRITE_KEY = "bench-write-key"
DEFAULT_EVENTS = 200_000
# Choice: a tenth of the default run; both SDKs together finish in seconds.
SMOKE_EVENTS = 20_000
DEFAULT_SEED = 1
# Choice: both SDKs send requests of the same size. The official SDK's default is 100;
# 500 made no difference to its throughput (50,000 events: 9,038 and 8,614 events/s).
DEFAULT_UPLOAD_SIZE = 500
# rudder-sdk-python 2.1.9 compresses with gzip.GzipFile's default level, 9.
OFFICIAL_GZIP_LEVEL = 9
# Choice: bounds on waits that take well under a second when nothing is wrong.
FLUSH_TIMEOUT_S = 600.0
SINK_COUNT_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 10.0

SDK_OURS = "rudder_fast"
SDK_OFFICIAL = "rudder-sdk-python"

BoundCall = tuple[Callable[..., Any], tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Settings:
    """Options of one invocation, the same for both SDKs."""

    events: int
    workers: int | None
    upload_size: int
    gzip: bool
    gzip_level: int | None
    events_file: Path | None
    seed: int


@dataclass(slots=True)
class _CallLoop:
    """Latencies and error counts of the timed loop of SDK calls."""

    latencies_ns: array[int]
    rejected: int
    raised: int
    first_error: str | None


# -- the timed part, common to both SDKs -------------------------------------------------


def _run_calls(calls: Sequence[BoundCall]) -> _CallLoop:
    """Call each method in order, timing every call with ``perf_counter_ns``.

    ``rejected`` counts calls that returned ``(False, message)``; ``raised`` counts calls
    that raised, and the first error is kept for the report.
    """
    latencies = array("q", bytes(8 * len(calls)))
    clock = time.perf_counter_ns
    rejected = 0
    raised = 0
    first_error: str | None = None
    for index, (method, args) in enumerate(calls):
        start = clock()
        try:
            accepted = method(*args)[0]
        except Exception as error:  # counted and reported; the run goes on
            accepted = True  # counted in raised, not in rejected
            raised += 1
            first_error = first_error or f"{type(error).__name__}: {error}"[:300]
        latencies[index] = clock() - start
        if not accepted:
            rejected += 1
    return _CallLoop(latencies, rejected, raised, first_error)


@dataclass(slots=True)
class _Window:
    """Clock and CPU readings at the start of the timed part of a run."""

    start_s: float
    producer_cpu_s: float
    sink_cpu_s: float
    peak_rss_reset: bool

    @classmethod
    def open(cls, sink_pid: int) -> _Window:
        # The harness's own objects (the pre-built calls) are moved out of the garbage
        # collector's reach, so collections during the run scan only the SDK's objects.
        gc.collect()
        gc.freeze()
        reset = reset_peak_rss()
        return cls(time.perf_counter(), cpu_seconds(os.getpid()), cpu_seconds(sink_pid), reset)


def _sink_usage(sink: SinkProcess, window: _Window) -> ProcessUsage:
    """Measure the sink's CPU since the window opened, and its peak memory."""
    return ProcessUsage(
        "sink",
        sink.pid,
        cpu_seconds(sink.pid) - window.sink_cpu_s,
        *peak_rss_bytes(sink.pid),
    )


def _bind(target: Any, calls: list[EventCall]) -> list[BoundCall]:
    methods = {kind: getattr(target, kind) for kind in {kind for kind, _ in calls}}
    return [(methods[kind], args) for kind, args in calls]


# -- one run of each SDK -----------------------------------------------------------------


def run_rudder_fast(settings: Settings, workload: Workload) -> dict[str, Any]:
    """Send the events through ``rudder_fast.Client`` and return the measurements."""
    with SinkProcess(WRITE_KEY) as sink:
        options: dict[str, Any] = {}
        if settings.gzip_level is not None:
            options["gzip_level"] = settings.gzip_level
        client = rudder_fast.Client(
            WRITE_KEY,
            sink.url,
            max_queue_size=settings.events + 1,
            gzip=settings.gzip,
            upload_size=settings.upload_size,
            workers=settings.workers,
            # Room for every event at the largest size, so that nothing is dropped.
            max_queue_bytes=(settings.events + 1) * rudder_fast.DEFAULT_MAX_EVENT_BYTES,
            **options,
        )
        try:
            calls = _bind(client, workload.calls(settings.events))
            window = _Window.open(sink.pid)
            loop = _run_calls(calls)
            calls_end = time.perf_counter()
            pending = client.flush(FLUSH_TIMEOUT_S)
            end = time.perf_counter()
            gc.unfreeze()
            producer_cpu = cpu_seconds(os.getpid()) - window.producer_cpu_s
            producer_rss, producer_rss_is_peak = peak_rss_bytes(os.getpid())
            stats = client.stats()
            uploaders = [
                ProcessUsage(f"uploader {n}", u.pid, u.cpu_s, *peak_rss_bytes(u.pid))
                for n, u in enumerate(stats.uploaders, 1)
            ]
            sink_stats = sink.wait_for_events(settings.events, SINK_COUNT_TIMEOUT_S)
            sink_usage = _sink_usage(sink, window)
        finally:
            gc.unfreeze()
            client.shutdown(SHUTDOWN_TIMEOUT_S)

    config = client.config
    processes = [
        ProcessUsage("producer", os.getpid(), producer_cpu, producer_rss, producer_rss_is_peak),
        *uploaders,
        sink_usage,
    ]
    result = _result(
        sdk=SDK_OURS,
        version=rudder_fast.__version__,
        config={
            "workers": config.workers,
            "upload_size": config.upload_size,
            "gzip": config.gzip,
            "gzip_level": config.gzip_level if config.gzip else None,
            "max_queue_size": config.max_queue_size,
        },
        settings=settings,
        workload=workload,
        loop=loop,
        times=(window.start_s, calls_end, end),
        processes=processes,
        sink_stats=sink_stats,
        peak_rss_reset=window.peak_rss_reset,
    )
    result["client_stats"] = {
        key: value for key, value in stats.as_dict().items() if key != "uploaders"
    }
    result["problems"] = _problems_of_rudder_fast(result, stats, pending)
    return result


def _problems_of_rudder_fast(
    result: dict[str, Any], stats: rudder_fast.Stats, pending: int
) -> list[str]:
    """List every way the run broke the promise that each event is delivered once."""
    sent = result["events_sent"]
    sink = result["sink"]
    problems = []
    if result["calls_raised"]:
        problems.append(f"{result['calls_raised']} calls raised; first: {result['first_error']}")
    if result["calls_rejected"]:
        problems.append(f"{result['calls_rejected']} calls returned (False, message)")
    if pending:
        problems.append(f"flush() returned with {pending} events still pending")
    if stats.dropped:
        problems.append(f"client dropped {stats.dropped} events: {stats.dropped_by_reason}")
    if stats.failed:
        problems.append(f"client reported {stats.failed} events failed")
    if stats.delivered != sent:
        problems.append(f"client counted {stats.delivered} delivered of {sent} sent")
    if sink["unique_message_ids"] != sent:
        problems.append(
            f"sink received {sink['unique_message_ids']} distinct messageIds of {sent} sent "
            f"({sink['events']} events, {sink['duplicates']} duplicates, "
            f"{sink['rejected_requests']} rejected requests)"
        )
    return problems


def run_official(settings: Settings, workload: Workload) -> dict[str, Any]:
    """Send the events through ``rudderstack.analytics.Client`` and return the measurements.

    The official SDK uploads from one consumer thread in this process. Its ``flush()``
    has no timeout, so it runs in a helper thread joined with FLUSH_TIMEOUT_S.
    """
    # Imported here so that --sdk ours works without the official SDK installed.
    from rudderstack.analytics import Client  # noqa: PLC0415
    from rudderstack.analytics.version import VERSION  # noqa: PLC0415

    failed: list[int] = []

    def on_error(error: Exception, batch: list[Any]) -> None:
        failed.append(len(batch))

    # The official SDK adds keys to the caller's context dicts; a private copy keeps
    # the shared templates as they were for other runs.
    templates = Workload(
        copy.deepcopy(workload.templates),
        workload.source,
        workload.lines_read,
        workload.invalid_lines,
    )
    with SinkProcess(WRITE_KEY) as sink:
        client = Client(
            WRITE_KEY,
            host=sink.url,
            max_queue_size=settings.events + 1,
            upload_size=settings.upload_size,
            gzip=settings.gzip,
            on_error=on_error,
        )
        # Its exit hook joins the consumer with no timeout; the finally below bounds it.
        atexit.unregister(client.join)
        try:
            calls = _bind(client, templates.calls(settings.events))
            window = _Window.open(sink.pid)
            loop = _run_calls(calls)
            calls_end = time.perf_counter()
            flusher = threading.Thread(target=client.flush, name="official-flush", daemon=True)
            flusher.start()
            flusher.join(FLUSH_TIMEOUT_S)
            end = time.perf_counter()
            gc.unfreeze()
            producer_cpu = cpu_seconds(os.getpid()) - window.producer_cpu_s
            producer_rss, producer_rss_is_peak = peak_rss_bytes(os.getpid())
            accepted = settings.events - loop.rejected - loop.raised
            sink_stats = sink.wait_for_events(accepted, SINK_COUNT_TIMEOUT_S)
            sink_usage = _sink_usage(sink, window)
        finally:
            gc.unfreeze()
            for consumer in client.consumers:
                consumer.pause()
            for consumer in client.consumers:
                consumer.join(SHUTDOWN_TIMEOUT_S)

    result = _result(
        sdk=SDK_OFFICIAL,
        version=VERSION,
        config={
            "workers": len(client.consumers),
            "upload_size": settings.upload_size,
            "gzip": settings.gzip,
            "gzip_level": OFFICIAL_GZIP_LEVEL if settings.gzip else None,
            "max_queue_size": settings.events + 1,
        },
        settings=settings,
        workload=workload,
        loop=loop,
        times=(window.start_s, calls_end, end),
        processes=[
            ProcessUsage("producer", os.getpid(), producer_cpu, producer_rss, producer_rss_is_peak),
            sink_usage,
        ],
        sink_stats=sink_stats,
        peak_rss_reset=window.peak_rss_reset,
    )
    result["failed_in_on_error"] = sum(failed)
    notes = []  # losses of the official SDK are reported, not failed on
    if flusher.is_alive():
        notes.append(f"flush() had not returned after {FLUSH_TIMEOUT_S:.0f} s")
    lost = result["events_sent"] - result["sink"]["unique_message_ids"]
    if lost:
        notes.append(
            f"{lost} events not delivered: {loop.rejected} not queued (queue full), "
            f"{loop.raised} raised, {sum(failed)} in failed batches"
        )
    result["notes"] = notes
    return result


# -- results -----------------------------------------------------------------------------


def _result(
    *,
    sdk: str,
    version: str,
    config: dict[str, Any],
    settings: Settings,
    workload: Workload,
    loop: _CallLoop,
    times: tuple[float, float, float],
    processes: list[ProcessUsage],
    sink_stats: dict[str, Any],
    peak_rss_reset: bool,
) -> dict[str, Any]:
    """Gather one run's numbers into a JSON-ready dict."""
    start, calls_end, end = times
    elapsed = end - start
    delivered = sink_stats["unique_message_ids"]
    ordered = sorted(loop.latencies_ns)
    ours = [p for p in processes if p.role != "sink"]
    sink = next(p for p in processes if p.role == "sink")
    ours_cpu = sum(p.cpu_s for p in ours)
    received = sink_stats["bytes_received"]
    decompressed = sink_stats["bytes_decompressed"]
    return {
        "sdk": sdk,
        "version": version,
        "config": {**config, "events": settings.events, "input": workload.source},
        "events_sent": settings.events,
        "calls_rejected": loop.rejected,
        "calls_raised": loop.raised,
        "first_error": loop.first_error,
        "delivered": delivered,
        "elapsed_s": elapsed,
        "calls_s": calls_end - start,
        "flush_s": end - calls_end,
        "events_per_s": delivered / elapsed if elapsed > 0 else 0.0,
        "latency_us": {
            "p50": percentile(ordered, 0.50) / 1000,
            "p99": percentile(ordered, 0.99) / 1000,
            "p999": percentile(ordered, 0.999) / 1000,
            "max": ordered[-1] / 1000,
            "mean": sum(ordered) / len(ordered) / 1000,
        },
        "processes": [p.as_dict() for p in processes],
        "cpu_s_sdk": ours_cpu,
        "cpu_us_per_event": ours_cpu * 1e6 / delivered if delivered else None,
        "sink_cpu_us_per_event": sink.cpu_s * 1e6 / delivered if delivered else None,
        "peak_rss_reset": peak_rss_reset,
        "bytes_per_event": decompressed / sink_stats["events"] if sink_stats["events"] else None,
        "compression_ratio": decompressed / received if received else None,
        "sink": sink_stats,
    }


def _mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def format_run(result: dict[str, Any]) -> str:
    """Render one run as an aligned text block."""
    config = result["config"]
    latency = result["latency_us"]
    sink = result["sink"]
    gzip = f"gzip level {config['gzip_level']}" if config["gzip"] else "no gzip"

    workers = config["workers"]
    if result["sdk"] == SDK_OURS:
        workers_text = f"{workers} uploader process{'es' if workers != 1 else ''}"
    else:
        workers_text = f"{workers} consumer thread{'s' if workers != 1 else ''}"

    if result["bytes_per_event"] is None:
        payload = "n/a (the sink accepted no events)"
    else:
        payload = f"{result['bytes_per_event']:,.0f} bytes/event on average as JSON"
        if config["gzip"]:
            payload += f", {result['compression_ratio']:.1f}x smaller gzipped"

    lines = [
        f"{result['sdk']} {result['version']}",
        f"  config       {workers_text}, upload_size {config['upload_size']}, "
        f"{gzip}, max_queue_size {config['max_queue_size']:,}",
        f"  delivered    {result['delivered']:,} of {result['events_sent']:,} events "
        f"(sink: {sink['events']:,} events, {sink['duplicates']:,} duplicates, "
        f"{sink['accepted_requests']:,} requests accepted, "
        f"{sink['rejected_requests']:,} rejected)",
        f"  throughput   {result['events_per_s']:,.0f} events/s end to end "
        f"({result['elapsed_s']:.2f} s: calls {result['calls_s']:.2f} s, "
        f"flush {result['flush_s']:.2f} s)",
        f"  call latency p50 {latency['p50']:.1f} µs, p99 {latency['p99']:.1f} µs, "
        f"p99.9 {latency['p999']:.1f} µs, max {latency['max']:,.0f} µs",
        f"  CPU          {_per_event(result['cpu_us_per_event'])} µs/event in the SDK's "
        f"processes; sink {_per_event(result['sink_cpu_us_per_event'])} µs/event",
        f"  payload      {payload}",
        "  processes    role          pid      CPU s   peak RSS",
    ]

    for process in result["processes"]:
        marker = "" if process["rss_is_peak"] else " (at end, not peak)"
        lines.append(
            f"               {process['role']:<12} {process['pid']:<8} "
            f"{process['cpu_s']:>6.2f}   {_mb(process['peak_rss_bytes']):>9}{marker}"
        )
    if not result["peak_rss_reset"]:
        lines.append("  note         the producer's peak RSS includes earlier runs in this process")
    lines.extend(f"  PROBLEM      {problem}" for problem in result.get("problems", []))
    lines.extend(f"  note         {note}" for note in result.get("notes", []))
    return "\n".join(lines)


def _per_event(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def comparison(ours: dict[str, Any], official: dict[str, Any]) -> dict[str, Any]:
    """Pair the headline numbers of both runs with the ratio rudder_fast / official."""

    def producer_rss(result: dict[str, Any]) -> int:
        return next(p["peak_rss_bytes"] for p in result["processes"] if p["role"] == "producer")

    def sdk_rss(result: dict[str, Any]) -> int:
        return sum(p["peak_rss_bytes"] for p in result["processes"] if p["role"] != "sink")

    rows = {
        "events/s end to end": (ours["events_per_s"], official["events_per_s"]),
        "call p50 (µs)": (ours["latency_us"]["p50"], official["latency_us"]["p50"]),
        "call p99 (µs)": (ours["latency_us"]["p99"], official["latency_us"]["p99"]),
        "CPU µs/event, SDK": (ours["cpu_us_per_event"], official["cpu_us_per_event"]),
        "CPU µs/event, sink": (ours["sink_cpu_us_per_event"], official["sink_cpu_us_per_event"]),
        "peak RSS producer (MB)": (producer_rss(ours) / 1e6, producer_rss(official) / 1e6),
        "peak RSS all SDK processes (MB)": (sdk_rss(ours) / 1e6, sdk_rss(official) / 1e6),
        "delivered": (ours["delivered"], official["delivered"]),
    }
    return {
        name: {
            SDK_OURS: a,
            SDK_OFFICIAL: b,
            "ratio": a / b if a is not None and b else None,
        }
        for name, (a, b) in rows.items()
    }


def format_comparison(table: dict[str, Any]) -> str:
    """Render the side-by-side table; the ratio column is rudder_fast divided by official."""
    lines = [f"{'':<32} {SDK_OURS:>14} {SDK_OFFICIAL:>18} {'ratio':>8}"]
    for name, row in table.items():
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        lines.append(
            f"{name:<32} {_number(row[SDK_OURS]):>14} {_number(row[SDK_OFFICIAL]):>18} {ratio:>8}"
        )
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) or value >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def format_header(machine: dict[str, Any], workload: Workload, settings: Settings) -> str:
    """Render the machine and input lines printed before the runs."""
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(workload.kinds().items()))
    lines = [
        f"machine  {machine['cpu_model']}, {machine['logical_cores']} logical cores "
        f"({machine['usable_cores']} usable), {machine['memory_bytes'] / 2**30:.1f} GiB, "
        f"{machine['os']}, {machine['python']}",
        f"input    {workload.source}: {len(workload.templates):,} distinct calls "
        f"({kinds}), cycled to {settings.events:,} events",
    ]
    if workload.lines_read:
        invalid = sum(workload.invalid_lines.values())
        lines.append(f"         {workload.lines_read} lines read, {invalid} invalid")
        lines.extend(
            f"           {count} x {reason}" for reason, count in workload.invalid_lines.items()
        )
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; each option's help names its unit."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadtest",
        description="Ship events through rudder_fast and/or the official RudderStack SDK "
        "into a local sink on 127.0.0.1 and report events/s, call latency, CPU and memory.",
    )

    events = parser.add_argument_group("events")
    events.add_argument(
        "--events",
        type=Path,
        metavar="FILE",
        help="NDJSON file of RudderStack events to replay, cycled to the event count "
        "(default: a seeded generator)",
    )
    events.add_argument(
        "--events-count",
        type=_positive_int,
        metavar="N",
        help=f"events to send per SDK (default: {DEFAULT_EVENTS:,}, or {SMOKE_EVENTS:,} "
        "with --smoke)",
    )
    events.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="seed of the event generator (default: %(default)s)",
    )
    events.add_argument(
        "--smoke",
        action="store_true",
        help=f"a short run for CI: {SMOKE_EVENTS:,} events unless --events-count is given",
    )

    sdk = parser.add_argument_group("SDK settings")
    sdk.add_argument(
        "--sdk",
        choices=["ours", "official", "both"],
        default="ours",
        help="which SDK to run; both runs rudder_fast, then the official SDK "
        "(default: %(default)s)",
    )
    sdk.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="rudder_fast uploader processes (default: the client's, from the core count)",
    )
    sdk.add_argument(
        "--upload-size",
        type=_positive_int,
        default=DEFAULT_UPLOAD_SIZE,
        metavar="N",
        help="events per request, for both SDKs (default: %(default)s)",
    )
    sdk.add_argument(
        "--gzip-level",
        type=int,
        choices=range(10),
        metavar="0-9",
        help="rudder_fast's gzip level (default: the client's, 1); the official SDK "
        f"always uses {OFFICIAL_GZIP_LEVEL}",
    )
    sdk.add_argument("--no-gzip", action="store_true", help="send uncompressed JSON, for both SDKs")

    parser.add_argument(
        "--json", type=Path, metavar="OUT", help="also write the results to this JSON file"
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds the finally blocks, which stop the client and the sink.
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the load test and return the exit status: 1 if rudder_fast lost any event."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = Settings(
        events=args.events_count or (SMOKE_EVENTS if args.smoke else DEFAULT_EVENTS),
        workers=args.workers,
        upload_size=args.upload_size,
        gzip=not args.no_gzip,
        gzip_level=args.gzip_level,
        events_file=args.events,
        seed=args.seed,
    )
    workload = replay(args.events) if args.events else generate(args.seed, settings.events)
    if not workload.templates:
        print(f"error: no valid events in {workload.source}", file=sys.stderr)
        return 2

    machine = machine_info()
    print(format_header(machine, workload, settings), flush=True)
    runners: list[Callable[[Settings, Workload], dict[str, Any]]] = {
        "ours": [run_rudder_fast],
        "official": [run_official],
        "both": [run_rudder_fast, run_official],
    }[args.sdk]
    runs = []
    for runner in runners:
        print(flush=True)
        runs.append(runner(settings, workload))
        print(format_run(runs[-1]), flush=True)

    table = comparison(runs[0], runs[1]) if len(runs) == 2 else None
    if table is not None:
        print()
        print(format_comparison(table))

    if args.json:
        report = {
            "command": ["python", "-m", "bench.loadtest", *(argv or sys.argv[1:])],
            "machine": machine,
            "settings": {**asdict(settings), "events_file": str(settings.events_file or "")},
            "input": {
                "source": workload.source,
                "distinct_calls": len(workload.templates),
                "kinds": workload.kinds(),
                "lines_read": workload.lines_read,
                "invalid_lines": workload.invalid_lines,
            },
            "runs": runs,
            "comparison": table,
        }
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))

    problems = [problem for run in runs for problem in run.get("problems", [])]
    if problems:
        print(f"\nFAILED: the {SDK_OURS} run did not deliver every event once:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
