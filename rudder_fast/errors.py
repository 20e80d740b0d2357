"""The exceptions rudder_fast raises or hands to ``on_error``, all under one root.

Every class here pickles and unpickles to an equal error, because uploader processes
build the fields of an ``APIError`` and the parent process reports it.
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "ConfigError",
    "EventValidationError",
    "RudderFastError",
    "TransportError",
]


class RudderFastError(Exception):
    """Root of every exception that rudder_fast raises or reports."""


class ConfigError(RudderFastError, ValueError):
    """An option of ``Client`` or of the module-level settings is invalid.

    Raised by ``Client()`` (and by the first module-level call, which builds the default
    client) before any process starts. The message names the option, the rule and the
    value received.
    """


class EventValidationError(RudderFastError, AssertionError):
    """An argument of ``identify``, ``track``, ``page``, ``screen``, ``group`` or ``alias``
    is invalid.

    Raised at the call, before the event is queued. It is an ``AssertionError`` too,
    because the official SDK raises ``AssertionError`` for the same inputs and code
    written for it catches that. The message names the argument, the rule and the type
    received, never the value.
    """


class APIError(RudderFastError):
    """A batch could not be delivered to the data plane.

    Handed to ``on_error(error, events)`` in the parent process once the retry policy
    gives up on a batch (in ``sync_mode`` too, where the call also returns False).

    ``status`` is the HTTP status of the last attempt (``None`` when no response arrived),
    ``code`` a short machine-readable reason, ``message`` a human-readable text that
    never contains the write key or event contents.
    """

    def __init__(self, status: int | None, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        status = "no response" if self.status is None else f"HTTP {self.status}"
        return f"{self.code}: {self.message} ({status})"


def make_error(status: int | None, code: str, message: str) -> APIError:
    """Build the error for an attempt's outcome: TransportError when no response arrived."""
    if status is None:
        return TransportError(code, message)
    return APIError(status, code, message)


class TransportError(APIError):
    """The last attempt for a batch got no HTTP response.

    The connection was refused, reset or closed, the attempt timed out, or TLS failed.
    ``status`` is ``None``; ``code`` is ``"timeout"``, ``"connection_error"`` or
    ``"tls_error"`` (not retried).
    """

    def __init__(self, code: str, message: str) -> None:
        # Exception pickling calls cls(*self.args), so args must match this signature.
        RudderFastError.__init__(self, code, message)
        self.status = None
        self.code = code
        self.message = message
