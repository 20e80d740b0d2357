"""Sweep rudder_fast's worker count, upload_size and gzip level, one load test process per setting.

Run from the repository root::

    python -m bench.sweep                 # 3 x 3 x 2 settings, 100,000 events each
    python -m bench.sweep --quick         # 2 x 2 x 1 settings, 20,000 events each
    python -m bench.sweep --repeat 3      # each setting 3 times, the median run kept

Each setting runs ``python -m bench.loadtest --sdk ours`` in a fresh process, so the CPU
and memory numbers belong to that setting alone. The sweep prints a table, draws
``bench/sweep.png`` and recommends the setting with the most events/s.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

__all__ = ["main"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLOT = REPO_ROOT / "bench" / "sweep.png"
DEFAULT_EVENTS = 100_000
QUICK_EVENTS = 20_000
DEFAULT_WORKERS = (1, 2, 3)
DEFAULT_UPLOAD_SIZES = (100, 500, 1000)
DEFAULT_GZIP_LEVELS = (1, 6)
QUICK_WORKERS = (1, 2)
QUICK_UPLOAD_SIZES = (100, 500)
QUICK_GZIP_LEVELS = (1,)
# Choice: settings within this fraction of the fastest count as tied. Repeated runs of
# one setting can differ by far more (18,391 to 40,622 events/s for 20,000 events on a
# 2-core machine), so a decision needs --repeat.
TIE_FRACTION = 0.05
# Choice: one load test of 100,000 events takes seconds; this only catches a hang.
RUN_TIMEOUT_S = 900.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Setting:
    """One point of the sweep."""

    workers: int
    upload_size: int
    gzip_level: int

    def label(self) -> str:
        return f"workers={self.workers} upload_size={self.upload_size} gzip_level={self.gzip_level}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The load test's numbers for one setting, or why it failed.

    With repeated runs, ``run`` is the run with the median events/s and
    ``events_per_s_runs`` has the events/s of every run.
    """

    setting: Setting
    run: dict[str, Any] | None
    error: str | None
    events_per_s_runs: tuple[float, ...] = ()

    def value(self, key: str) -> float:
        assert self.run is not None
        return float(self.run[key])

    def rss_bytes(self, roles: tuple[str, ...]) -> int:
        assert self.run is not None
        return sum(
            p["peak_rss_bytes"] for p in self.run["processes"] if p["role"].startswith(roles)
        )


def measure_setting(
    setting: Setting, repeat: int, events: int, seed: int, events_file: Path | None, workdir: Path
) -> tuple[Outcome, dict[str, Any] | None]:
    """Run the load test ``repeat`` times; keep the run with the median events/s.

    Returns the outcome and the last whole JSON report. The first failed run ends the
    setting.
    """
    runs: list[dict[str, Any]] = []
    report = None
    for attempt in range(1, repeat + 1):
        outcome, report = run_setting(setting, events, seed, events_file, workdir / str(attempt))
        if outcome.run is None:
            return outcome, report
        runs.append(outcome.run)
        print(f"  {outcome.value('events_per_s'):,.0f} events/s", flush=True)
    runs.sort(key=lambda run: float(run["events_per_s"]))
    speeds = tuple(float(run["events_per_s"]) for run in runs)
    return Outcome(setting, runs[len(runs) // 2], None, speeds), report


def run_setting(
    setting: Setting, events: int, seed: int, events_file: Path | None, workdir: Path
) -> tuple[Outcome, dict[str, Any] | None]:
    """Run one load test in a child process; return its outcome and its whole JSON report."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"w{setting.workers}-u{setting.upload_size}-g{setting.gzip_level}.json"
    command = [
        sys.executable, "-m", "bench.loadtest", "--sdk", "ours",
        "--events-count", str(events), "--seed", str(seed),
        "--workers", str(setting.workers), "--upload-size", str(setting.upload_size),
        "--gzip-level", str(setting.gzip_level), "--json", str(out),
    ]  # fmt: skip
    if events_file is not None:
        command += ["--events", str(events_file)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])

    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # SIGTERM lets the load test stop its sink and uploaders before it exits.
        process.terminate()
        try:
            process.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        return Outcome(setting, None, f"timed out after {RUN_TIMEOUT_S:.0f} s"), None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    if process.returncode != 0 or not out.exists():
        # The last lines of a traceback name the error and where it was raised. Lines of
        # only carets and spaces are Python 3.11's position markers, so they are left out.
        lines = (stderr or stdout).decode(errors="replace").strip().splitlines()
        tail = [line.strip() for line in lines if line.strip().strip("^~ ")][-2:]
        detail = " | ".join(tail) or "no output"
        return Outcome(setting, None, f"exit status {process.returncode}: {detail}"), None
    report: dict[str, Any] = orjson.loads(out.read_bytes())
    return Outcome(setting, report["runs"][0], None), report


def recommend(outcomes: list[Outcome]) -> Outcome | None:
    """Pick the most events/s; within TIE_FRACTION of it, the least CPU per event wins."""
    done = [o for o in outcomes if o.run is not None]
    if not done:
        return None
    fastest = max(o.value("events_per_s") for o in done)
    tied = [o for o in done if o.value("events_per_s") >= fastest * (1 - TIE_FRACTION)]
    return min(tied, key=lambda o: (o.value("cpu_us_per_event"), -o.value("events_per_s")))


def format_table(outcomes: list[Outcome]) -> str:
    """Render one row per setting, in the order run.

    With repeated runs, each row shows the median run and then the events/s of every run.
    """
    repeated = any(len(outcome.events_per_s_runs) > 1 for outcome in outcomes)
    header = (
        f"{'workers':>7} {'upload':>6} {'gzip':>4} {'events/s':>9} {'p50 µs':>7} "
        f"{'p99 µs':>7} {'CPU µs/ev':>9} {'sink µs/ev':>10} {'producer MB':>11} "
        f"{'uploaders MB':>12} {'requests':>8}"
    )
    lines = [header + ("  events/s of every run" if repeated else "")]
    for outcome in outcomes:
        s = outcome.setting
        prefix = f"{s.workers:>7} {s.upload_size:>6} {s.gzip_level:>4}"
        if outcome.run is None:
            lines.append(f"{prefix} FAILED: {outcome.error}")
            continue
        run = outcome.run
        row = (
            f"{prefix} {run['events_per_s']:>9,.0f} {run['latency_us']['p50']:>7.1f} "
            f"{run['latency_us']['p99']:>7.1f} {run['cpu_us_per_event']:>9.1f} "
            f"{run['sink_cpu_us_per_event']:>10.1f} "
            f"{outcome.rss_bytes(('producer',)) / 1e6:>11.1f} "
            f"{outcome.rss_bytes(('uploader',)) / 1e6:>12.1f} "
            f"{run['sink']['accepted_requests']:>8,}"
        )
        if repeated:
            row += "  " + ", ".join(f"{speed:,.0f}" for speed in outcome.events_per_s_runs)
        lines.append(row)
    return "\n".join(lines)


def draw(outcomes: list[Outcome], path: Path, title: str) -> None:
    """Plot events/s and CPU per event against upload_size, one line per workers and level."""
    import matplotlib  # noqa: PLC0415 - the backend must be chosen before pyplot loads

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib import ticker  # noqa: PLC0415

    done = [o for o in outcomes if o.run is not None]
    figure, (speed, cpu) = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")

    # One color per worker count, one line style per gzip level.
    worker_counts = sorted({o.setting.workers for o in done})
    levels = sorted({o.setting.gzip_level for o in done})
    line_styles = ["-", "--", ":", "-."]
    for workers, level in itertools.product(worker_counts, levels):
        points = sorted(
            (o for o in done if (o.setting.workers, o.setting.gzip_level) == (workers, level)),
            key=lambda o: o.setting.upload_size,
        )
        if not points:
            continue
        sizes = [o.setting.upload_size for o in points]
        style = {
            "color": f"C{worker_counts.index(workers)}",
            "linestyle": line_styles[levels.index(level) % len(line_styles)],
            "marker": "o",
            "label": f"{workers} worker{'s' if workers > 1 else ''}, gzip {level}",
        }
        speed.plot(sizes, [o.value("events_per_s") for o in points], **style)
        cpu.plot(sizes, [o.value("cpu_us_per_event") for o in points], **style)

    for axes, ylabel in ((speed, "events/s delivered"), (cpu, "CPU µs per event (SDK processes)")):
        axes.set_xlabel("upload_size (events per request)")
        axes.set_ylabel(ylabel)
        axes.set_xscale("log")
        axes.set_xticks(sorted({o.setting.upload_size for o in done}))
        axes.xaxis.set_major_formatter(ticker.ScalarFormatter())
        axes.xaxis.set_minor_locator(ticker.NullLocator())
        axes.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
        axes.set_ylim(bottom=0)
        axes.grid(visible=True, alpha=0.3)
        axes.legend(fontsize="small")
    figure.suptitle(title, fontsize="medium")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; each option's help names its unit."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.sweep",
        description="Run the rudder_fast load test over worker counts, upload sizes and gzip "
        "levels, print a table, draw a plot and recommend a setting.",
    )

    swept = parser.add_argument_group("settings to sweep")
    swept.add_argument(
        "--quick",
        action="store_true",
        help="sweep 2 worker counts x 2 upload sizes x gzip level 1, with fewer events",
    )
    swept.add_argument(
        "--workers",
        type=_int_list,
        metavar="N,N",
        help=f"uploader process counts (default: {_joined(DEFAULT_WORKERS)})",
    )
    swept.add_argument(
        "--upload-sizes",
        type=_int_list,
        metavar="N,N",
        help=f"events per request (default: {_joined(DEFAULT_UPLOAD_SIZES)})",
    )
    swept.add_argument(
        "--gzip-levels",
        type=_int_list,
        metavar="N,N",
        help=f"gzip levels from 0 to 9 (default: {_joined(DEFAULT_GZIP_LEVELS)})",
    )
    swept.add_argument(
        "--repeat",
        type=_positive_int,
        default=1,
        metavar="N",
        help="runs per setting; the run with the median events/s is kept (default: 1)",
    )

    events = parser.add_argument_group("events")
    events.add_argument(
        "--events-count",
        type=_positive_int,
        metavar="N",
        help=f"events per run (default: {DEFAULT_EVENTS:,}, or {QUICK_EVENTS:,} with --quick)",
    )
    events.add_argument("--events", type=Path, metavar="FILE", help="NDJSON events to replay")
    events.add_argument("--seed", type=int, default=1, help="generator seed (default: 1)")

    output = parser.add_argument_group("output")
    output.add_argument(
        "--plot", type=Path, default=DEFAULT_PLOT, help="PNG to draw (default: bench/sweep.png)"
    )
    output.add_argument(
        "--json", type=Path, metavar="OUT", help="also write every run's numbers to this file"
    )
    return parser


def _joined(values: tuple[int, ...]) -> str:
    return ",".join(str(value) for value in values)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 1,2,3, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds run_setting's finally, which ends the running load test.
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; return 1 if any setting failed, else 0."""
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    events = args.events_count or (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    workers = args.workers or (QUICK_WORKERS if args.quick else DEFAULT_WORKERS)
    sizes = args.upload_sizes or (QUICK_UPLOAD_SIZES if args.quick else DEFAULT_UPLOAD_SIZES)
    levels = args.gzip_levels or (QUICK_GZIP_LEVELS if args.quick else DEFAULT_GZIP_LEVELS)
    if min(workers) < 1 or min(sizes) < 1:
        parser.error(f"worker counts and upload sizes must be >= 1, got {workers} and {sizes}")
    if not all(0 <= level <= 9 for level in levels):
        parser.error(f"gzip levels must be from 0 to 9, got {levels}")
    settings = [Setting(*values) for values in itertools.product(workers, sizes, levels)]

    outcomes: list[Outcome] = []
    machine: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="rudder-fast-sweep-") as workdir:
        for number, setting in enumerate(settings, 1):
            print(f"[{number}/{len(settings)}] {setting.label()}", flush=True)
            outcome, report = measure_setting(
                setting, args.repeat, events, args.seed, args.events, Path(workdir)
            )
            outcomes.append(outcome)
            if report is not None and machine is None:
                machine = report["machine"]
            if outcome.run is None:
                print(f"  failed: {outcome.error}", flush=True)

    source = str(args.events) if args.events else f"generated (seed={args.seed})"
    print()
    if machine is not None:
        print(
            f"machine  {machine['cpu_model']}, {machine['usable_cores']} usable cores, "
            f"{machine['python']}"
        )
    print(f"input    {source}, {events:,} events per setting\n")
    print(format_table(outcomes))

    failed = sum(1 for outcome in outcomes if outcome.run is None)
    if failed:
        print(
            f"\n{failed} of {len(outcomes)} settings failed; the plot and the recommendation "
            "cover the others"
        )
    best = recommend(outcomes)
    if best is not None:
        title = f"rudder_fast sweep: {events:,} events per run, {source}"
        if args.repeat > 1:
            title += f", median of {args.repeat} runs"
        if machine is not None:
            title += f"; {machine['cpu_model']}, {machine['usable_cores']} cores"
        draw(outcomes, args.plot, title)
        print(f"\nplot     {args.plot}")
        fastest = max(o.value("events_per_s") for o in outcomes if o.run is not None)
        print(
            f"\nrecommended: {best.setting.label()}: {best.value('events_per_s'):,.0f} events/s, "
            f"{best.value('cpu_us_per_event'):.1f} CPU µs/event (the fastest setting made "
            f"{fastest:,.0f} events/s; settings within {TIE_FRACTION:.0%} of it count as "
            "tied, and the one with the least CPU per event wins)"
        )

    if args.json:
        args.json.write_bytes(
            orjson.dumps(
                {
                    "machine": machine,
                    "input": source,
                    "events_per_setting": events,
                    "outcomes": [
                        {
                            "setting": asdict(o.setting),
                            "run": o.run,
                            "error": o.error,
                            "events_per_s_runs": o.events_per_s_runs,
                        }
                        for o in outcomes
                    ],
                    "recommended": None if best is None else asdict(best.setting),
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    return 0 if all(o.run is not None for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
