"""Deliver one batch: attempts, backoff between them, and 413 splits.

Used by the uploader processes and, in ``sync_mode``, by the caller's thread.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._message import utc_now_iso
from ._retry import Decision, RetryPolicy
from ._transport import AttemptResult, BatchBody, Transport

__all__ = ["DELIVERED", "DROPPED", "FAILED", "BatchSender", "Delivery", "Outcome"]

log = logging.getLogger(__name__)

DELIVERED = "delivered"
FAILED = "failed"
DROPPED = "dropped"

# The gateway's text for a body it could not read (a corrupt gzip stream or a cut
# upload). Only used to retry such a 500 fewer times, never to skip a retry.
_UNREADABLE_BODY_TEXT = "failed to read body"

Wait = Callable[[float], bool]
"""``wait(seconds)`` sleeps and returns False when the sleep was interrupted by a stop."""

Progress = Callable[["Delivery"], None]
"""Called before each backoff wait with the delivery so far, to publish its counters."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The outcome of ``count`` consecutive events of a batch.

    For FAILED, ``error`` is ``(status, code, message)``; for DROPPED, ``reason`` names why.
    """

    count: int
    kind: str
    error: tuple[int | None, str, str] | None = None
    reason: str | None = None


@dataclass(slots=True)
class Delivery:
    """The record of delivering one batch: outcomes for a prefix of its events, and counters.

    ``outcomes`` cover every event unless ``interrupted``, when the rest is unresolved.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False
    requests: int = 0
    retries: int = 0
    bytes_raw: int = 0
    bytes_sent: int = 0


class BatchSender:
    """Sends batches over one transport with one retry policy; not thread-safe."""

    def __init__(
        self,
        transport: Transport,
        policy: RetryPolicy,
        gzip: bool,
        gzip_level: int,
        wait: Wait,
        on_retry: Progress | None = None,
    ) -> None:
        self._on_retry = on_retry
        self._transport = transport
        self._policy = policy
        self._gzip = gzip
        self._gzip_level = gzip_level
        self._wait = wait
        self._rng = random.Random()  # noqa: S311 - jitter, not secrets

    def deliver(self, events: list[bytes]) -> Delivery:
        """Send ``events`` as one batch, retrying and splitting as the policy decides."""
        delivery = Delivery()
        self._deliver_part(events, delivery)
        return delivery

    def _deliver_part(self, events: list[bytes], delivery: Delivery) -> None:
        policy = self._policy
        body = BatchBody(events, self._gzip, self._gzip_level)
        started = time.monotonic()
        retries = 0
        unreadable_bodies = 0
        while True:
            payload = body.render(utc_now_iso())
            result = self._transport.post(payload)
            delivery.requests += 1
            delivery.bytes_raw += body.raw_bytes
            delivery.bytes_sent += len(payload)

            decision = policy.decide(result.status, result.code)
            if decision is Decision.DONE:
                delivery.outcomes.append(Outcome(len(events), DELIVERED))
                return
            if decision is Decision.SPLIT:
                self._split(events, delivery)
                return
            if decision is Decision.FAIL:
                self._give_up(events, result, retries, delivery)
                return

            if result.status == 500 and _UNREADABLE_BODY_TEXT in result.message:
                unreadable_bodies += 1
            delay = policy.backoff_s(retries, result.retry_after, self._rng)
            elapsed = time.monotonic() - started
            if not policy.may_retry(retries, unreadable_bodies, elapsed, delay):
                self._give_up(events, result, retries, delivery)
                return
            log.debug(
                "Retrying a batch of %d events in %.2f s after %s (retry %d of %d)",
                len(events), delay, _describe(result), retries + 1, policy.max_retries,
            )  # fmt: skip
            retries += 1
            delivery.retries += 1
            if self._on_retry is not None:
                self._on_retry(delivery)
            if not self._wait(delay):
                delivery.interrupted = True
                return

    def _split(self, events: list[bytes], delivery: Delivery) -> None:
        """Resend the halves of a batch the server found too large; drop a lone event."""
        if len(events) == 1:
            log.warning(
                "Dropping an event of %d bytes: the data plane rejects it as too large "
                "(413) even on its own",
                len(events[0]),
            )
            delivery.outcomes.append(Outcome(1, DROPPED, reason="too_large"))
            return
        middle = len(events) // 2
        log.debug("Splitting a batch of %d events after 413", len(events))
        for half in (events[:middle], events[middle:]):
            self._deliver_part(half, delivery)
            if delivery.interrupted:
                return

    def _give_up(
        self, events: list[bytes], result: AttemptResult, retries: int, delivery: Delivery
    ) -> None:
        log.warning(
            "Giving up on a batch of %d events (%d bytes) to %s after %d retries: %s",
            len(events), sum(map(len, events)), self._transport.origin, retries,
            _describe(result),
        )  # fmt: skip
        delivery.outcomes.append(
            Outcome(len(events), FAILED, error=(result.status, result.code, result.message))
        )


def _describe(result: AttemptResult) -> str:
    if result.status is None:
        return f"{result.code} ({result.message})"
    return f"HTTP {result.status} {result.code}"
