"""The public ``Sink``: a local RudderStack data plane served from its own uvloop thread."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import uvloop

from ._faults import Faults
from ._gateway import DEFAULT_MAX_REQUEST_BYTES
from ._server import SinkApp
from ._store import EventStore, SinkStats

__all__ = ["Sink"]

logger = logging.getLogger(__name__)

# Maximum time that stop() waits for the server thread to end. It covers
# CLOSE_TIMEOUT_S of _server plus closing the listening socket.
STOP_TIMEOUT_S = 10.0


class Sink:
    """A local HTTP server that accepts ``POST /v1/batch`` as RudderStack's gateway does.

    It responds with the gateway's statuses and texts, stores accepted events in memory
    and optionally in an NDJSON file, counts requests, and injects the faults set with
    ``Faults``. ``start()`` serves from a daemon thread, so tests and benchmarks can use
    it from synchronous code. Besides ``/v1/batch`` it serves ``GET /version``,
    ``GET /_sink/stats``, ``GET /_sink/events``, ``POST /_sink/reset`` and
    ``GET``/``POST /_sink/faults``.

    Args:
        host: Loopback address to listen on, 127.0.0.0/8 or ::1.
        port: TCP port. 0 picks a free port at the first ``start()``, and later starts
            reuse it.
        write_keys: Write keys to accept. None accepts any non-empty key.
        record_path: NDJSON file that every accepted event is appended to, one per line.
        keep_events: If True, accepted events are kept in ``events``. If False, only
            the counters and the message ids are kept.
        max_request_bytes: Limit on the decompressed body. Larger requests get 413.
        faults: Faults to inject. None injects none.
        ssl_context: a server-side TLS context; with one, the sink serves HTTPS.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range, or ``host`` is not a loopback address.

    Both messages name the argument and, except for write keys, the value received.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        write_keys: Iterable[str] | None = None,
        record_path: str | os.PathLike[str] | None = None,
        keep_events: bool = True,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        faults: Faults | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        _validate_host(host)
        _require_int("port", port)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, got {port!r}")
        _require_int("max_request_bytes", max_request_bytes)
        if max_request_bytes < 1:
            raise ValueError(f"max_request_bytes must be at least 1, got {max_request_bytes!r}")
        if faults is None:
            faults = Faults()
        _require_faults(faults)

        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._store = EventStore(keep_events, Path(record_path) if record_path else None)
        self._app = SinkApp(self._store, _encode_write_keys(write_keys), max_request_bytes, faults)
        # Set while running. Only start() and stop() change them, from the caller's thread.
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._start_error: Exception | None = None

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<Sink {self._host} port {self._port} {state}>"

    def __enter__(self) -> Sink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Properties.

    @property
    def is_running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._thread is not None

    @property
    def port(self) -> int:
        """The TCP port, known after the first ``start()`` when created with port 0."""
        if self._port == 0:
            raise RuntimeError("Sink.port is unknown until start() binds the socket")
        return self._port

    @property
    def url(self) -> str:
        """The base URL to use as ``dataPlaneUrl``, such as ``http://127.0.0.1:8080``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{host}:{self.port}"

    @property
    def events(self) -> list[dict[str, Any]]:
        """A copy of the accepted events in arrival order. Empty when ``keep_events`` is False."""
        return self._store.events()

    @property
    def faults(self) -> Faults:
        """The fault settings in force."""
        return self._app.injector.faults

    # Control.

    def stats(self) -> SinkStats:
        """Return a copy of the counters. ``SinkStats`` describes each one."""
        return self._store.stats()

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings. A script starts with the next batch request."""
        _require_faults(faults)
        self._app.set_faults(faults)

    def reset(self) -> None:
        """Clear the events, the message ids and the counters. Faults and the record file stay."""
        self._store.reset()

    def wait_for_events(self, count: int, timeout: float | None = None) -> bool:
        """Block until at least ``count`` events were accepted since creation or the last reset.

        ``timeout`` is in seconds, and None waits without a limit. Returns False if the
        timeout passes first.
        """
        return self._store.wait_for_events(count, timeout)

    # Lifecycle.

    def start(self) -> None:
        """Start serving from a daemon thread and return once the socket listens.

        Raises RuntimeError if already running, and OSError if the port cannot be bound
        or the record file cannot be opened.
        """
        if self._thread is not None:
            raise RuntimeError(f"the sink at {self.url} is already running")
        self._store.open_record()

        ready = threading.Event()
        thread = threading.Thread(
            target=self._run, args=(ready,), name="rudder-fast-sink", daemon=True
        )
        thread.start()
        ready.wait()
        if self._start_error is not None:
            thread.join()
            self._store.close_record()
            error, self._start_error = self._start_error, None
            raise error
        self._thread = thread
        logger.info("sink listening on %s", self.url)

    def stop(self) -> None:
        """Close the listening socket and every connection, then end the thread.

        Responses still waiting out ``Faults.delay_s`` are dropped. Stopping a stopped sink
        does nothing.
        """
        thread = self._thread
        if thread is None:
            return
        loop = self._loop
        stop_requested = self._stop_requested
        if thread.is_alive() and loop is not None and stop_requested is not None:
            loop.call_soon_threadsafe(stop_requested.set)
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():
            raise RuntimeError(f"the sink thread did not stop within {STOP_TIMEOUT_S} s")

        self._thread = None
        self._loop = None
        self._stop_requested = None
        self._store.close_record()
        logger.info("sink on port %d stopped", self._port)

    def _run(self, ready: threading.Event) -> None:
        try:
            loop = uvloop.new_event_loop()
            try:
                loop.run_until_complete(self._serve(ready))
            finally:
                loop.close()
        except Exception as error:
            if ready.is_set():
                logger.exception("sink server on port %d failed", self._port)
            else:
                # start() raises it, so it needs no log line.
                self._start_error = error
        finally:
            # Releases start() also when the server failed before it could listen.
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        # SO_REUSEADDR lets a restart bind the port while old connections linger in
        # TIME_WAIT.
        server = await loop.create_server(
            self._app.create_connection,
            self._host,
            self._port,
            reuse_address=True,
            ssl=self._ssl_context,
        )
        self._port = server.sockets[0].getsockname()[1]
        self._loop = loop
        self._stop_requested = stop_requested
        ready.set()

        await stop_requested.wait()
        server.close()
        await self._app.close_connections()
        # Responses still waiting for clients that already disconnected have no
        # connection left to close, so cancel them here.
        waiting = asyncio.all_tasks() - {asyncio.current_task()}
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        await server.wait_closed()


def _require_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")


def _require_faults(faults: object) -> None:
    if not isinstance(faults, Faults):
        raise TypeError(f"faults must be a Faults instance, got {type(faults).__name__}")


def _validate_host(host: str) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"host must be a loopback IP address such as 127.0.0.1 or ::1, got {host!r}"
        )


def _encode_write_keys(write_keys: Iterable[str] | None) -> frozenset[bytes] | None:
    if write_keys is None:
        return None
    if isinstance(write_keys, (str, bytes)):
        raise TypeError("write_keys must be a collection of strings, not one string")
    encoded = set()
    for index, key in enumerate(write_keys):
        # The messages leave out the key itself, which is a secret.
        if not isinstance(key, str):
            raise TypeError(f"write_keys[{index}] must be a str, got {type(key).__name__}")
        if not key or ":" in key:
            # Basic auth ends the user name at the first colon, so such a key never matches.
            raise ValueError(f"write_keys[{index}] must be a non-empty string without ':'")
        encoded.add(key.encode())
    return frozenset(encoded)
