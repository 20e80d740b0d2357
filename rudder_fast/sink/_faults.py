"""Fault settings for the sink's batch endpoint and the run-time state that applies them."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from ._gateway import (
    INVALID_JSON,
    INVALID_WRITE_KEY,
    READ_BODY_FAILED,
    REQUEST_TOO_LARGE,
)

__all__ = ["FaultInjector", "Faults", "faults_from_json", "faults_to_json", "injected_text"]

# The gateway's response bodies for the statuses a fault can inject. 404 is the text for a
# disabled source, and other statuses get their HTTP reason phrase.
_GATEWAY_TEXTS = {
    400: INVALID_JSON,
    401: INVALID_WRITE_KEY,
    404: "source is disabled\n",
    413: REQUEST_TOO_LARGE,
    429: "max requests limit reached\n",
    500: READ_BODY_FAILED,
    503: "Service Unavailable\n",
}


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults that the sink injects into ``POST /v1/batch`` requests. The defaults inject none.

    Every batch request first takes the next status of ``script``. While the script lasts
    it alone decides: 200 means the request is handled normally, and any other status is
    sent at once as the response. After the script, each request gets ``fail_status``
    with probability ``fail_rate``. Injected responses are counted but store nothing.

    Attributes:
        script: Statuses for the next batch requests, one per request, in arrival order.
            Each is 200 or an error status from 400 to 599.
        fail_rate: Probability from 0 to 1 that a request after the script gets
            ``fail_status`` instead of being handled.
        fail_status: Error status from 400 to 599 used by ``fail_rate``.
        delay_s: Seconds to wait before handling each batch request and responding. Other
            connections are served meanwhile, and the request is still handled if its
            client has gone.
        close_after_store: If True, an accepted batch is stored and counted, and then the
            connection is closed without a response, so the client sees an error although
            its events arrived.
        seed: Seed of the random generator for ``fail_rate``. None seeds from the system.

    Raises:
        TypeError: a field has the wrong type, such as a str status or a bool seed.
        ValueError: a field is out of range.

    Both messages name the field, the rule and the value received.
    """

    script: tuple[int, ...] = ()
    fail_rate: float = 0.0
    fail_status: int = 503
    delay_s: float = 0.0
    close_after_store: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.script, (tuple, list)):
            raise TypeError(
                f"Faults.script must be a tuple of statuses, got {type(self.script).__name__}"
            )
        for status in self.script:
            _require_int("script status", status)
            if not (status == 200 or 400 <= status <= 599):
                raise ValueError(
                    f"Faults.script statuses must be 200 or from 400 to 599, got {status!r}"
                )
        # A list (from JSON or a caller) becomes a tuple, so the settings stay immutable.
        object.__setattr__(self, "script", tuple(self.script))

        _require_number("fail_rate", self.fail_rate)
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"Faults.fail_rate must be from 0 to 1, got {self.fail_rate!r}")

        _require_int("fail_status", self.fail_status)
        if not 400 <= self.fail_status <= 599:
            raise ValueError(
                f"Faults.fail_status must be an error status from 400 to 599, "
                f"got {self.fail_status!r}"
            )

        _require_number("delay_s", self.delay_s)
        if not 0.0 <= self.delay_s < math.inf:
            raise ValueError(
                f"Faults.delay_s must be a finite number of seconds >= 0, got {self.delay_s!r}"
            )

        if not isinstance(self.close_after_store, bool):
            raise TypeError(
                f"Faults.close_after_store must be True or False, got {self.close_after_store!r}"
            )
        if self.seed is not None:
            _require_int("seed", self.seed)


def faults_from_json(payload: object) -> Faults:
    """Build Faults from a decoded JSON object whose members are Faults field names.

    Missing members keep their defaults. Raises TypeError for a payload that is not an
    object or a member of the wrong type, and ValueError for an unknown member or a value
    out of range.
    """
    if not isinstance(payload, dict):
        raise TypeError(f"faults must be a JSON object, got {type(payload).__name__}")
    known = {field.name for field in dataclasses.fields(Faults)}
    unknown = sorted(set(payload) - known)
    if unknown:
        raise ValueError(f"unknown Faults fields {unknown}; known fields are {sorted(known)}")
    return Faults(**payload)


def faults_to_json(faults: Faults) -> dict[str, Any]:
    """Return the fields of ``faults`` as a dict that orjson can serialize."""
    return dataclasses.asdict(faults)


def injected_text(status: int) -> str:
    """Return the response body for an injected status, newline included."""
    text = _GATEWAY_TEXTS.get(status)
    if text is not None:
        return text
    try:
        return HTTPStatus(status).phrase + "\n"
    except ValueError:
        return f"injected status {status}\n"


class FaultInjector:
    """The unplayed part of a Faults script and the random generator for its fail_rate.

    A new injector replaces the old one whenever the faults change, so the script restarts
    from its first status. Only the event loop thread calls ``next_status``.
    """

    __slots__ = ("_random", "_script", "faults")

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._script = deque(faults.script)
        # Fault injection needs repeatable draws, not unpredictable ones.
        self._random = random.Random(faults.seed)  # noqa: S311

    def next_status(self) -> int | None:
        """Take the status to inject into the next batch request, or None to handle it."""
        if self._script:
            status = self._script.popleft()
            return None if status == 200 else status
        fail_rate = self.faults.fail_rate
        if fail_rate > 0.0 and self._random.random() < fail_rate:
            return self.faults.fail_status
        return None


def _require_int(field: str, value: object) -> None:
    # bool is a subclass of int, but True is no status or seed.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"Faults.{field} must be an integer, got {value!r}")


def _require_number(field: str, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"Faults.{field} must be a number, got {value!r}")
