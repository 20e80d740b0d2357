"""``Client``: the six event calls, ``flush`` and ``shutdown``, as the official SDK has them."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Any

from . import _serialize
from ._delivery import DELIVERED, FAILED, BatchSender
from ._message import Message, MessageBuilder
from ._pipeline import SPOOLED, Pipeline
from ._ratelimit import RateLimitedLog
from ._retry import RetryPolicy
from ._transport import Transport
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
    build_config,
)
from .errors import ConfigError, make_error
from .stats import Stats

__all__ = ["Client"]

log = logging.getLogger("rudder_fast")
_drop_warning = RateLimitedLog(log, interval_s=10.0)

Result = tuple[bool, Message]


class Client:
    """A RudderStack client whose uploads run in a pool of processes.

    The positional parameters are the official ``rudderstack.analytics.Client``'s, in its
    order; ``thread`` is the number of uploader processes (``workers``). Options of our
    own are keyword-only. The uploaders start on the first event.
    """

    def __init__(
        self,
        write_key: str | None = None,
        host: str | None = None,
        debug: bool = False,
        max_queue_size: int = 10000,
        send: bool = True,
        on_error: ErrorCallback | None = None,
        gzip: bool = True,
        max_retries: int | None = None,
        sync_mode: bool = False,
        timeout: float | tuple[float, float] = 15,
        proxies: str | dict[str, str] | None = None,
        thread: int | None = None,
        upload_size: int = 100,
        upload_interval: float = 0.5,
        *,
        data_plane_url: str | None = None,
        workers: int | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        gzip_level: int = DEFAULT_GZIP_LEVEL,
        queue_full: str = "drop",
        queue_full_timeout: float = DEFAULT_QUEUE_FULL_TIMEOUT_S,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT_S,
        on_drop: DropCallback | None = None,
        retry_policy: RetryPolicy | None = None,
        ca_certs: str | None = None,
        handle_sigterm: bool = True,
        spool_dir: str | None = None,
        spool_max_bytes: int | None = None,
    ) -> None:
        self._config: Config = build_config(
            write_key,
            _one_of("host", host, "data_plane_url", data_plane_url),
            debug,
            max_queue_size,
            send,
            on_error,
            gzip,
            max_retries,
            sync_mode,
            timeout,
            proxies,
            _one_of("thread", thread, "workers", workers),
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
        if self._config.debug:
            _enable_debug_logging()
        self._builder = MessageBuilder()
        self._pipeline = Pipeline(self._config)
        self._sync_lock = threading.Lock()
        self._sync_sender: BatchSender | None = None

    def __repr__(self) -> str:
        mode = "sync" if self._config.sync_mode else f"workers={self._config.workers}"
        return f"<rudder_fast.Client {self._config.data_plane_url or '(no data plane)'} {mode}>"

    @property
    def config(self) -> Config:
        """The validated options (the write key is left out of its repr)."""
        return self._config

    # -- the six calls ------------------------------------------------------------------

    def identify(self, user_id: Any = None, traits: Any = None, context: Any = None,
                 timestamp: Any = None, anonymous_id: Any = None, integrations: Any = None,
                 message_id: Any = None) -> Result:  # fmt: skip
        """Record who a user is; ``traits`` are sent in ``context.traits``."""
        return self._submit(self._builder.identify(
            user_id, traits, context, timestamp, anonymous_id, integrations, message_id
        ))  # fmt: skip

    def track(self, user_id: Any = None, event: Any = None, properties: Any = None,
              context: Any = None, timestamp: Any = None, anonymous_id: Any = None,
              integrations: Any = None, message_id: Any = None) -> Result:  # fmt: skip
        """Record that a user did ``event``."""
        return self._submit(self._builder.track(
            user_id, event, properties, context, timestamp, anonymous_id, integrations,
            message_id,
        ))  # fmt: skip

    def page(self, user_id: Any = None, category: Any = None, name: Any = None,
             properties: Any = None, context: Any = None, timestamp: Any = None,
             anonymous_id: Any = None, integrations: Any = None,
             message_id: Any = None) -> Result:  # fmt: skip
        """Record a page view (``category`` comes before ``name``, as in the official SDK)."""
        return self._submit(self._builder.page(
            user_id, category, name, properties, context, timestamp, anonymous_id,
            integrations, message_id,
        ))  # fmt: skip

    def screen(self, user_id: Any = None, category: Any = None, name: Any = None,
               properties: Any = None, context: Any = None, timestamp: Any = None,
               anonymous_id: Any = None, integrations: Any = None,
               message_id: Any = None) -> Result:  # fmt: skip
        """Record a mobile screen view (``category`` comes before ``name``)."""
        return self._submit(self._builder.screen(
            user_id, category, name, properties, context, timestamp, anonymous_id,
            integrations, message_id,
        ))  # fmt: skip

    def group(self, user_id: Any = None, group_id: Any = None, traits: Any = None,
              context: Any = None, timestamp: Any = None, anonymous_id: Any = None,
              integrations: Any = None, message_id: Any = None) -> Result:  # fmt: skip
        """Associate a user with a group."""
        return self._submit(self._builder.group(
            user_id, group_id, traits, context, timestamp, anonymous_id, integrations,
            message_id,
        ))  # fmt: skip

    def alias(self, previous_id: Any = None, user_id: Any = None, context: Any = None,
              timestamp: Any = None, integrations: Any = None,
              message_id: Any = None) -> Result:  # fmt: skip
        """Merge the identity ``previous_id`` into ``user_id``."""
        return self._submit(self._builder.alias(
            previous_id, user_id, context, timestamp, integrations, message_id
        ))  # fmt: skip

    # -- delivery -------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> int:
        """Send every uploader's partial batch now and wait for the events queued so far.

        Returns once each event accepted before the call is delivered, reported to
        ``on_error`` or dropped, or once ``timeout`` seconds have passed. The result is
        how many of those events are still pending (0 when all have an outcome).
        """
        return self._pipeline.flush(_check_timeout(timeout))

    def shutdown(self, timeout: float | None = None) -> int:
        """Flush, then stop the uploaders, all within ``timeout`` seconds.

        Events still pending at the deadline are dropped with the reason
        ``shutdown_deadline``; returns how many. Later calls on this client return
        ``(False, message)``. Calling it again does nothing.
        """
        return self._pipeline.shutdown(_check_timeout(timeout))

    def join(self) -> None:
        """Shut down within ``exit_timeout`` seconds; the official SDK's name for stopping."""
        self._pipeline.shutdown(self._config.exit_timeout_s)

    def stats(self) -> Stats:
        """Return a snapshot of event outcomes, counters and uploader processes."""
        return self._pipeline.stats()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown(self._config.exit_timeout_s)

    # -- internals ------------------------------------------------------------------------

    def _submit(self, message: Message) -> Result:
        try:
            data = _serialize.dumps(message)
        except _serialize.UnserializableEvent as error:
            return self._drop(message, "unserializable", str(error))
        if len(data) > self._config.max_event_bytes:
            return self._drop(
                message,
                "too_large",
                f"{len(data)} bytes serialized, over max_event_bytes="
                f"{self._config.max_event_bytes}",
            )
        if not self._config.send:
            return True, message
        if self._config.sync_mode:
            return self._send_now(data, message)
        reason = self._pipeline.put(data)
        if reason is None or reason == SPOOLED:
            return True, message
        self._pipeline.schedule_drop(reason, [message])
        return False, message

    def _drop(self, message: Message, reason: str, detail: str) -> Result:
        _drop_warning.warning("Dropping a %s event (%s): %s", message.get("type"), reason, detail)
        if self._config.send:
            self._pipeline.count_drop(reason)
            self._pipeline.schedule_drop(reason, [message])
        return False, message

    def _send_now(self, data: bytes, message: Message) -> Result:
        """Deliver one event in the caller's thread, with the uploaders' retry policy."""
        config = self._config
        with self._sync_lock:
            if self._sync_sender is None:
                transport = Transport(config.uploader_config())
                self._sync_sender = BatchSender(
                    transport, config.retry, config.gzip, config.gzip_level, _sleep
                )
            delivery = self._sync_sender.deliver([data])
        self._pipeline.add_request_counters(
            delivery.requests, delivery.retries, delivery.bytes_raw, delivery.bytes_sent
        )
        outcome = delivery.outcomes[0]
        if outcome.kind == DELIVERED:
            self._pipeline.count_sync(DELIVERED)
            return True, message
        if outcome.kind == FAILED and outcome.error is not None:
            if self._pipeline.spool_sync(data, outcome.error):
                return True, message
            self._pipeline.count_sync(FAILED)
            self._pipeline.report_error(make_error(*outcome.error), [message])
        else:
            reason = outcome.reason or "too_large"
            self._pipeline.count_sync(outcome.kind, reason)
            self._pipeline.schedule_drop(reason, [message])
        return False, message


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


def _one_of(name: str, value: Any, alias: str, alias_value: Any) -> Any:
    if alias_value is None:
        return value
    if value is not None and value != alias_value:
        raise ConfigError(f"{name} and {alias} name the same option; pass only one of them")
    return alias_value


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ValueError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")
    return float(timeout)


def _enable_debug_logging() -> None:
    """Set the package logger to DEBUG; print to stderr if nothing else would show it."""
    package_log = logging.getLogger("rudder_fast")
    package_log.setLevel(logging.DEBUG)
    if not package_log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        package_log.addHandler(handler)
