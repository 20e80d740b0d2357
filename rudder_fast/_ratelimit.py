"""Rate-limited logging, so a warning repeated per event cannot flood the caller's logs."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Emits at most one record per ``interval_s``; the next one reports how many were skipped."""

    def __init__(self, logger: logging.Logger, interval_s: float) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._next_emit = 0.0
        self._suppressed = 0

    def warning(self, message: str, *args: Any) -> None:
        self.log(logging.WARNING, message, *args)

    def log(self, level: int, message: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._next_emit:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._next_emit = now + self._interval_s
        if suppressed:
            message += " (%d similar messages suppressed)"
            args = (*args, suppressed)
        self._logger.log(level, message, *args)
