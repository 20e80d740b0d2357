"""The retry policy: which responses are retried, and how long to wait between attempts."""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

from .errors import ConfigError

__all__ = ["Decision", "RetryPolicy"]

# urllib3's Retry-After parser accepts both delta-seconds and HTTP dates.
_RETRY_AFTER_PARSER = Retry(total=0)


class Decision(enum.Enum):
    """The next step for a batch after one attempt."""

    DONE = "done"
    RETRY = "retry"
    SPLIT = "split"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry rules for a batch that did not get a 2xx response.

    Network errors, timeouts, 408, 429 and 5xx are retried; other 4xx are not, since the
    same request would be rejected again. 413 splits the batch. Waits grow exponentially
    from ``backoff_base_s`` up to ``backoff_max_s`` with full jitter (a uniform draw
    between zero and the bound), so uploaders that failed together do not retry together.
    A batch is given up on after ``max_retries`` retries or once ``budget_s`` seconds have
    passed since its first attempt, whichever comes first. Every resend carries the same
    events, so the same ``messageId`` values.
    """

    max_retries: int = 10
    backoff_base_s: float = 0.25
    # Choice: a data plane that restarts is back within seconds, so a longer wait only
    # delays recovery. The official SDK's backoff is uncapped.
    backoff_max_s: float = 10.0
    # Choice: about ten capped waits; past this the batch is reported through on_error.
    budget_s: float = 120.0
    # A proxy may ask for a long pause, but waiting longer than this keeps events from
    # every other destination waiting too.
    retry_after_max_s: float = 30.0
    # A 500 whose body reports that the request body could not be read means a corrupt
    # gzip stream or a cut upload, and a broken compressor fails the same way every time.
    unreadable_body_retries: int = 2

    def __post_init__(self) -> None:
        _check_int("max_retries", self.max_retries, minimum=0)
        _check_int("unreadable_body_retries", self.unreadable_body_retries, minimum=0)
        _check_seconds("backoff_base_s", self.backoff_base_s, allow_zero=True)
        _check_seconds("backoff_max_s", self.backoff_max_s, allow_zero=True)
        _check_seconds("budget_s", self.budget_s, allow_zero=False)
        _check_seconds("retry_after_max_s", self.retry_after_max_s, allow_zero=True)
        if self.backoff_max_s < self.backoff_base_s:
            raise ConfigError(
                f"RetryPolicy: backoff_max_s ({self.backoff_max_s}) must be >= "
                f"backoff_base_s ({self.backoff_base_s})"
            )

    def decide(self, status: int | None, code: str = "") -> Decision:
        """Classify the outcome of one attempt; ``None`` means no HTTP response arrived.

        ``code`` is the transport's reason when there was no response. A TLS failure
        (``"tls_error"``) is not retried, since the certificate will not change.
        """
        if status is None:
            return Decision.FAIL if code == "tls_error" else Decision.RETRY
        if 200 <= status < 300:
            return Decision.DONE
        if status == 413:
            return Decision.SPLIT
        if status in (408, 429) or status >= 500:
            return Decision.RETRY
        return Decision.FAIL

    def may_retry(
        self, retries_done: int, unreadable_bodies: int, elapsed_s: float, delay_s: float
    ) -> bool:
        """Return whether one more attempt fits the retry count and the time budget."""
        if retries_done >= self.max_retries:
            return False
        if unreadable_bodies > self.unreadable_body_retries:
            return False
        return elapsed_s + delay_s <= self.budget_s

    def backoff_s(self, retries_done: int, retry_after: str | None, rng: random.Random) -> float:
        """Return the wait before retry number ``retries_done + 1``.

        A valid ``Retry-After`` header wins over the jittered backoff, capped at
        ``retry_after_max_s``; an invalid one is ignored.
        """
        if retry_after is not None:
            try:
                requested = _RETRY_AFTER_PARSER.parse_retry_after(retry_after)
            except InvalidHeader:
                requested = None
            if requested is not None:
                return min(max(requested, 0.0), self.retry_after_max_s)
        bound = min(self.backoff_max_s, self.backoff_base_s * 2.0**retries_done)
        return rng.uniform(0.0, bound)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"RetryPolicy: {name} must be an integer >= {minimum}, "
            f"got {value!r} ({type(value).__name__})"
        )


def _check_seconds(name: str, value: object, allow_zero: bool) -> None:
    valid = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not valid:
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(
            f"RetryPolicy: {name} must be a finite number of seconds {bound}, "
            f"got {value!r} ({type(value).__name__})"
        )
