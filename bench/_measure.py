"""CPU time, peak memory and latency percentiles of the benchmark's processes, and the machine."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "ProcessUsage",
    "cpu_seconds",
    "machine_info",
    "peak_rss_bytes",
    "percentile",
    "reset_peak_rss",
]


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """One process's CPU seconds over a run and its peak resident memory in bytes.

    ``rss_is_peak`` is False where the kernel's high-water mark (``VmHWM``) could not be
    read, and ``peak_rss_bytes`` is then the resident memory when the run ended.
    """

    role: str
    pid: int
    cpu_s: float
    peak_rss_bytes: int
    rss_is_peak: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "pid": self.pid,
            "cpu_s": round(self.cpu_s, 4),
            "peak_rss_bytes": self.peak_rss_bytes,
            "rss_is_peak": self.rss_is_peak,
        }


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds of a process, all of its threads included."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def peak_rss_bytes(pid: int) -> tuple[int, bool]:
    """Return a process's peak resident memory in bytes and whether it is the peak.

    Reads ``VmHWM`` from ``/proc/PID/status`` (Linux). Elsewhere, returns the current
    resident memory and False; for a process that has exited, returns 0 and False.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024, True
    try:
        return psutil.Process(pid).memory_info().rss, False
    except psutil.Error:
        return 0, False


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current resident memory (Linux 4.0 and later).

    Lets a second run in the same process report its own peak. Returns False where the
    kernel does not allow it.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def percentile(ordered: Sequence[int], fraction: float) -> int:
    """Return the nearest-rank percentile of values sorted in ascending order."""
    if not ordered:
        raise ValueError("percentile of an empty sequence")
    # Rounding first keeps 0.99 * 200000 at rank 198000 rather than 198001.
    rank = max(1, math.ceil(round(fraction * len(ordered), 6)))
    return ordered[min(rank, len(ordered)) - 1]


def machine_info() -> dict[str, Any]:
    """Describe the CPU, core counts, memory, OS and Python that produced the numbers."""
    try:
        usable_cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable_cores = os.cpu_count() or 1
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores,
        "memory_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"
