"""rudder_fast: a drop-in replacement for ``rudderstack.analytics``, built for volume.

::

    caller thread                         parent process                 uploader processes
    ─────────────                         ──────────────                 ──────────────────
    track(...) ─► MessageBuilder ─► orjson ─► chunk of 100 ─► task queue ─► pack a batch
                  (validate, build)  (once)   (Pipeline)     (shared)       gzip (zlib stream)
                                                                            POST /v1/batch
                                                                            (urllib3 pool, retries)
    on_error / on_drop ◄─ callback thread ◄─ supervisor ◄─ results queue ◄─ outcome reports

- ``client.Client`` validates and builds each message and serializes it once.
- ``_pipeline.Pipeline`` groups events into chunks, keeps each chunk until every event
  in it has an outcome, and runs the supervisor and callback threads.
- ``_pool`` starts and stops the uploader processes, ``_worker`` is their main loop, and
  ``_delivery`` and ``_transport`` send a batch.
- ``_spool`` keeps undeliverable events on disk for the next client.
- ``sink`` is a local data plane for tests and benchmarks.

Logging policy: every module logs to ``logging.getLogger(__name__)`` under the
``rudder_fast`` logger, which has a ``NullHandler``. Retries log at DEBUG; a batch given up
on, a dropped event and a replaced uploader log one WARNING each, and repeated drop
warnings are rate-limited. No log line contains the write key, an ``Authorization``
header, or event contents. Uploaders forward their records to the parent, which logs them
with the prefix ``[uploader N]``.

The module-level API mirrors the official SDK: set the module attributes, then call the
functions. The default client is built from the attributes on the first call.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from typing import Any

from ._retry import RetryPolicy
from ._version import VERSION
from .client import Client
from .config import (
    DEFAULT_EXIT_TIMEOUT_S,
    DEFAULT_GZIP_LEVEL,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_QUEUE_FULL_TIMEOUT_S,
    Config,
    DropCallback,
    ErrorCallback,
)
from .errors import APIError, ConfigError, EventValidationError, RudderFastError, TransportError
from .stats import Stats, UploaderStats

__version__ = VERSION

__all__ = [
    "APIError",
    "Client",
    "Config",
    "ConfigError",
    "DropCallback",
    "ErrorCallback",
    "EventValidationError",
    "RetryPolicy",
    "RudderFastError",
    "Stats",
    "TransportError",
    "UploaderStats",
    "__version__",
    "alias",
    "flush",
    "group",
    "identify",
    "join",
    "page",
    "screen",
    "shutdown",
    "stats",
    "track",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

# -- settings, read when the default client is built ---------------------------------------

write_key: str | None = None
dataPlaneUrl: str | None = None
host: str | None = None  # deprecated alias of dataPlaneUrl
on_error: ErrorCallback | None = None
debug: bool = False
send: bool = True
sync_mode: bool = False
max_queue_size: int = 10000
gzip: bool = True
timeout: float = 15
max_retries: int | None = None  # None: the retry policy's count, 10 by default
upload_interval: float = 0.5
upload_size: int = 100
proxies: str | dict[str, str] | None = None
# Options of our own.
workers: int | None = None
thread: int | None = None  # the official SDK's name for the uploader count
max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
gzip_level: int = DEFAULT_GZIP_LEVEL
queue_full: str = "drop"
queue_full_timeout: float = DEFAULT_QUEUE_FULL_TIMEOUT_S
exit_timeout: float = DEFAULT_EXIT_TIMEOUT_S
on_drop: DropCallback | None = None
retry_policy: RetryPolicy | None = None
ca_certs: str | None = None
handle_sigterm: bool = True
spool_dir: str | None = None
spool_max_bytes: int | None = None

default_client: Client | None = None
_default_client_lock = threading.Lock()


def _build_default_client() -> Client:
    url = dataPlaneUrl
    if not url and host:
        warnings.warn(
            "rudder_fast.host is deprecated; set rudder_fast.dataPlaneUrl instead",
            DeprecationWarning,
            stacklevel=4,
        )
        url = host
    return Client(
        write_key,
        url,
        debug,
        max_queue_size,
        send,
        on_error,
        gzip,
        max_retries,
        sync_mode,
        timeout,
        proxies,
        workers if workers is not None else thread,
        upload_size,
        upload_interval,
        max_event_bytes=max_event_bytes,
        max_request_bytes=max_request_bytes,
        max_queue_bytes=max_queue_bytes,
        gzip_level=gzip_level,
        queue_full=queue_full,
        queue_full_timeout=queue_full_timeout,
        exit_timeout=exit_timeout,
        on_drop=on_drop,
        retry_policy=retry_policy,
        ca_certs=ca_certs,
        handle_sigterm=handle_sigterm,
        spool_dir=spool_dir,
        spool_max_bytes=spool_max_bytes,
    )


def _default() -> Client:
    global default_client  # noqa: PLW0603 - the module-level API's one client
    client = default_client
    if client is not None:
        return client
    with _default_client_lock:
        if default_client is None:
            default_client = _build_default_client()
        return default_client


def identify(*args: Any, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
    """Send an identify call through the default client."""
    return _default().identify(*args, **kwargs)


def track(*args: Any, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
    """Send a track call through the default client."""
    return _default().track(*args, **kwargs)


def page(*args: Any, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
    """Send a page call through the default client."""
    return _default().page(*args, **kwargs)


def screen(*args: Any, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
    """Send a screen call through the default client."""
    return _default().screen(*args, **kwargs)


def group(*args: Any, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
    """Send a group call through the default client."""
    return _default().group(*args, **kwargs)


def alias(*args: Any, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
    """Send an alias call through the default client."""
    return _default().alias(*args, **kwargs)


def flush(timeout: float | None = None) -> int:
    """Flush the default client; see ``Client.flush``."""
    client = default_client
    return 0 if client is None else client.flush(timeout)


def stats() -> Stats | None:
    """Return the default client's stats, or None before the first call."""
    client = default_client
    return None if client is None else client.stats()


def shutdown(timeout: float | None = None) -> int:
    """Shut down the default client; the next call builds a new one from the settings."""
    global default_client
    with _default_client_lock:
        client, default_client = default_client, None
    return 0 if client is None else client.shutdown(timeout)


def join() -> None:
    """Shut down the default client within ``exit_timeout``; see ``Client.join``."""
    shutdown(exit_timeout)


def _reset_lock_in_child() -> None:
    # A thread of the parent may have held the lock at fork time; the child's copy
    # would then stay locked forever.
    global _default_client_lock  # noqa: PLW0603
    _default_client_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_in_child)
