"""The sink's HTTP/1.1 server: an httptools parser per connection and the routes it serves.

Everything here runs on the sink's event loop thread. A connection parses requests as
bytes arrive and responds to each one when its message is complete. Responses leave in
request order: a request that must wait (``Faults.delay_s``, or an earlier response still
waiting) becomes a task chained after the previous one, and the connection stops reading
until the chain is done.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Collection
from http import HTTPStatus
from typing import Any, NamedTuple, cast

import httptools
import orjson

from ._faults import FaultInjector, Faults, faults_from_json, faults_to_json, injected_text
from ._gateway import (
    OK,
    REQUEST_TOO_LARGE,
    RequestRejected,
    check_request_size,
    decode_body,
    dump_json,
    parse_batch,
    read_write_key,
)
from ._store import EventStore

__all__ = ["SinkApp"]

logger = logging.getLogger(__name__)

# A body larger than this, as received or decoded, gets 413 without validation,
# so that one request cannot take unbounded memory. A choice: 16 times the gateway's
# default request limit. A larger max_request_bytes raises the cap to match.
BODY_CAP_BYTES = 64 * 1024 * 1024

# Time that stop() gives open connections to flush their last response before aborting them.
CLOSE_TIMEOUT_S = 2.0

_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_VERSION_BODY = orjson.dumps({"Version": "rudder-fast-sink", "Features": ["gzip-req-payload"]})
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


class _Response(NamedTuple):
    status: int
    content_type: bytes
    body: bytes
    # Extra header lines, each ending with CRLF.
    headers: bytes = b""


def _text_response(status: int, text: str) -> _Response:
    return _Response(status, _TEXT, text.encode())


_OK_RESPONSE = _text_response(200, OK)
# The bodies that Go's net/http writes for an unknown path and a malformed request.
_NOT_FOUND = _text_response(404, "404 page not found\n")
_BAD_REQUEST = _text_response(400, "400 Bad Request")
_INTERNAL_ERROR = _text_response(500, "internal error in the sink\n")


class _Request:
    """One parsed request: the parts that the handlers use, not the whole header list."""

    __slots__ = (
        "body",
        "body_bytes",
        "body_over_cap",
        "close_after_store",
        "content_encoding",
        "handler",
        "http_version",
        "injected_status",
        "is_batch",
        "keep_alive",
        "write_key_rejection",
    )

    def __init__(self) -> None:
        self.handler: _Handler = _respond_not_found
        self.is_batch = False
        self.keep_alive = True
        self.http_version = "1.1"
        self.content_encoding: bytes | None = None
        self.write_key_rejection: RequestRejected | None = None
        self.body = b""
        self.body_bytes = 0
        self.body_over_cap = False
        # Set from the fault injector when a batch request is complete.
        self.injected_status: int | None = None
        self.close_after_store = False


# A handler returns the response, or None to close the connection without one.
_Handler = Callable[[_Request], _Response | None]


class _Route(NamedTuple):
    handler: _Handler
    reads_body: bool
    is_batch: bool = False


def _respond_not_found(request: _Request) -> _Response:
    return _NOT_FOUND


def _respond_bad_request(request: _Request) -> _Response:
    return _BAD_REQUEST


def _method_not_allowed(allowed: Collection[bytes]) -> _Handler:
    allow_header = b"Allow: " + b", ".join(allowed) + b"\r\n"
    response = _Response(405, _TEXT, b"Method Not Allowed\n", allow_header)
    return lambda request: response


class SinkApp:
    """Routes, handlers and state shared by every connection, across restarts of the sink.

    ``injector`` is replaced, never mutated, by ``set_faults`` from any thread, and the
    event loop thread reads it once per batch request.
    """

    def __init__(
        self,
        store: EventStore,
        write_keys: frozenset[bytes] | None,
        max_request_bytes: int,
        faults: Faults,
    ) -> None:
        self.store = store
        self.write_keys = write_keys
        self.max_request_bytes = max_request_bytes
        self.body_cap_bytes = max(BODY_CAP_BYTES, max_request_bytes)
        self.injector = FaultInjector(faults)
        self._connections: set[_Connection] = set()
        self._connections_closed: asyncio.Event | None = None
        self._routes: dict[bytes, dict[bytes, _Route]] = {
            b"/v1/batch": {b"POST": _Route(self._handle_batch, reads_body=True, is_batch=True)},
            b"/version": {b"GET": _Route(self._handle_version, reads_body=False)},
            b"/_sink/stats": {b"GET": _Route(self._handle_stats, reads_body=False)},
            b"/_sink/events": {b"GET": _Route(self._handle_events, reads_body=False)},
            b"/_sink/reset": {b"POST": _Route(self._handle_reset, reads_body=False)},
            b"/_sink/faults": {
                b"GET": _Route(self._handle_get_faults, reads_body=False),
                b"POST": _Route(self._handle_set_faults, reads_body=True),
            },
        }

    def create_connection(self) -> asyncio.Protocol:
        """Return a protocol for one new connection, for ``loop.create_server``."""
        return _Connection(self)

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings. The new script starts with the next batch request."""
        self.injector = FaultInjector(faults)

    def route(self, method: bytes, path: bytes) -> _Route:
        """Return the route for a method and path, or one that responds 404 or 405."""
        methods = self._routes.get(path)
        if methods is None:
            return _Route(_respond_not_found, reads_body=False)
        route = methods.get(method)
        if route is None:
            return _Route(_method_not_allowed(sorted(methods)), reads_body=False)
        return route

    # Connection bookkeeping, for stop().

    def add_connection(self, connection: _Connection) -> None:
        self._connections.add(connection)
        self.store.count_connection()

    def remove_connection(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        if not self._connections and self._connections_closed is not None:
            self._connections_closed.set()

    async def close_connections(self) -> None:
        """Close every connection, dropping the responses that are still waiting."""
        if not self._connections:
            return
        self._connections_closed = asyncio.Event()
        for connection in list(self._connections):
            connection.close()
        try:
            await asyncio.wait_for(self._connections_closed.wait(), CLOSE_TIMEOUT_S)
        except asyncio.TimeoutError:
            logger.warning(
                "aborting %d sink connections that did not close within %.1f s",
                len(self._connections),
                CLOSE_TIMEOUT_S,
            )
            for connection in list(self._connections):
                connection.abort()
        finally:
            self._connections_closed = None

    # Handlers.

    def _handle_batch(self, request: _Request) -> _Response | None:
        store = self.store
        if request.injected_status is not None:
            status = request.injected_status
            store.add_rejected(status, request.body_bytes)
            logger.debug("injected status %d into a batch request", status)
            return _text_response(status, injected_text(status))

        try:
            events, decoded_bytes = self._read_batch(request)
        except RequestRejected as rejection:
            store.add_rejected(rejection.status, request.body_bytes)
            logger.debug(
                "rejected a batch request with %d: %s", rejection.status, rejection.text.strip()
            )
            return _text_response(rejection.status, rejection.text)

        responded = not request.close_after_store
        store.add_accepted(events, request.body_bytes, decoded_bytes, responded)
        if not responded:
            logger.debug(
                "stored %d events and closed the connection without a response", len(events)
            )
            return None
        return _OK_RESPONSE

    def _read_batch(self, request: _Request) -> tuple[list[dict[str, Any]], int]:
        """Return the events of a batch request and the size of its decoded body.

        The checks run in the gateway's order: write key, body, events, then size, so
        that a validation error wins over 413. Raises RequestRejected.
        """
        if request.write_key_rejection is not None:
            raise request.write_key_rejection
        if request.body_over_cap:
            raise RequestRejected(413, REQUEST_TOO_LARGE)
        decoded = decode_body(request.body, request.content_encoding, self.body_cap_bytes)
        events = parse_batch(decoded)
        check_request_size(len(decoded), self.max_request_bytes)
        return events, len(decoded)

    def _handle_version(self, request: _Request) -> _Response:
        return _Response(200, _JSON, _VERSION_BODY)

    def _handle_stats(self, request: _Request) -> _Response:
        # The statuses map has int keys, which JSON writes as strings.
        body = orjson.dumps(self.store.stats(), option=orjson.OPT_NON_STR_KEYS)
        return _Response(200, _JSON, body)

    def _handle_events(self, request: _Request) -> _Response:
        return _Response(200, _JSON, dump_json(self.store.events()))

    def _handle_reset(self, request: _Request) -> _Response:
        self.store.reset()
        logger.info("sink events and counters reset over HTTP")
        return _OK_RESPONSE

    def _handle_get_faults(self, request: _Request) -> _Response:
        return _Response(200, _JSON, orjson.dumps(faults_to_json(self.injector.faults)))

    def _handle_set_faults(self, request: _Request) -> _Response:
        if request.body_over_cap:
            return _text_response(413, REQUEST_TOO_LARGE)
        try:
            faults = faults_from_json(orjson.loads(request.body))
        except orjson.JSONDecodeError:
            return _text_response(400, "invalid json: send a JSON object of Faults fields\n")
        except (TypeError, ValueError) as error:
            return _text_response(400, f"{error}\n")
        self.set_faults(faults)
        logger.info("sink faults set over HTTP: %s", faults)
        return _Response(200, _JSON, orjson.dumps(faults_to_json(faults)))


class _Connection(asyncio.Protocol):
    """One client connection: feeds bytes to httptools and writes responses in request order."""

    def __init__(self, app: SinkApp) -> None:
        self._app = app
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport  # set by connection_made, before any other call
        self._peer = "unknown peer"
        self._closing = False
        # Responses that wait, and the newest of them, which the next one must wait for.
        self._waiting: set[asyncio.Task[None]] = set()
        self._last_waiting: asyncio.Task[None] | None = None
        # The request being parsed.
        self._request = _Request()
        self._url = b""
        self._body_parts: list[bytes] = []
        self._reads_body = False
        self._authorization: bytes | None = None
        self._expects_continue = False

    # asyncio.Protocol callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport implements asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self._peer = f"{peer[0]}:{peer[1]}"
        self._app.add_connection(self)

    def connection_lost(self, exc: Exception | None) -> None:
        # Waiting responses still run, so a batch whose client gave up is still handled.
        self._closing = True
        self._app.remove_connection(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            # The handlers catch their own errors, so this is a bug in the callbacks above.
            logger.exception("sink failed while parsing a request from %s", self._peer)
            self._run_in_order(functools.partial(self._send, _INTERNAL_ERROR, False), 0.0)
            self._closing = True
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as error:
            logger.debug("malformed HTTP request from %s: %r", self._peer, error)
            self._run_in_order(functools.partial(self._send, _BAD_REQUEST, False), 0.0)
            self._closing = True

    # httptools callbacks, in the order the parser calls them.

    def on_message_begin(self) -> None:
        self._request = _Request()
        self._url = b""
        self._body_parts = []
        self._reads_body = False
        self._authorization = None
        self._expects_continue = False

    def on_url(self, url: bytes) -> None:
        # The parser may deliver the request target in pieces.
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # When a header repeats, only its first value counts, as with Go's Header.Get.
        name = name.lower()
        if name == b"authorization":
            if self._authorization is None:
                self._authorization = value.strip()
        elif name == b"content-encoding":
            if self._request.content_encoding is None:
                self._request.content_encoding = value.strip()
        elif name == b"expect":
            self._expects_continue = value.strip().lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        parser = self._parser
        request = self._request
        request.keep_alive = parser.should_keep_alive()
        request.http_version = parser.get_http_version()
        self._route_request(parser.get_method())

        # The body is always read and responded to, so the client may always send it.
        if self._expects_continue and request.http_version == "1.1" and not self._waiting:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _route_request(self, method: bytes) -> None:
        request = self._request
        try:
            path = httptools.parse_url(self._url).path or b"/"
        except httptools.HttpParserInvalidURLError:
            request.handler = _respond_bad_request
            request.keep_alive = False
            return

        route = self._app.route(method, path)
        request.handler = route.handler
        request.is_batch = route.is_batch
        self._reads_body = route.reads_body
        if route.is_batch:
            # The gateway checks the write key before it reads the body.
            try:
                read_write_key(self._authorization, self._app.write_keys)
            except RequestRejected as rejection:
                request.write_key_rejection = rejection
                self._reads_body = False

    def on_body(self, body: bytes) -> None:
        # A body that no handler reads is counted and dropped as it arrives.
        request = self._request
        request.body_bytes += len(body)
        if not self._reads_body:
            return
        if request.body_bytes > self._app.body_cap_bytes:
            request.body_over_cap = True
            self._reads_body = False
            self._body_parts = []
            return
        self._body_parts.append(body)

    def on_message_complete(self) -> None:
        if self._closing:
            return
        request = self._request
        request.body = b"".join(self._body_parts)
        self._body_parts = []

        delay_s = 0.0
        if request.is_batch:
            injector = self._app.injector
            request.injected_status = injector.next_status()
            request.close_after_store = injector.faults.close_after_store
            delay_s = injector.faults.delay_s
        self._run_in_order(functools.partial(self._respond, request), delay_s)

    # Responses.

    def _run_in_order(self, action: Callable[[], None], delay_s: float) -> None:
        """Run ``action`` now, or after ``delay_s`` and after every response still waiting."""
        if delay_s == 0.0 and self._last_waiting is None:
            action()
            return
        task = self._loop.create_task(self._run_later(action, delay_s, self._last_waiting))
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)
        self._last_waiting = task
        self._transport.pause_reading()

    async def _run_later(
        self,
        action: Callable[[], None],
        delay_s: float,
        previous: asyncio.Task[None] | None,
    ) -> None:
        # Waits run side by side, so pipelined requests each wait delay_s from arrival.
        if delay_s > 0.0:
            await asyncio.sleep(delay_s)
        if previous is not None:
            await previous
        action()
        if self._last_waiting is asyncio.current_task():
            self._last_waiting = None
            if not self._closing:
                self._transport.resume_reading()

    def _respond(self, request: _Request) -> None:
        try:
            response = request.handler(request)
        except Exception:
            logger.exception("sink failed to handle a request from %s", self._peer)
            self._send(_INTERNAL_ERROR, keep_alive=False)
            return
        if response is None:
            self.close()
            return
        self._send(response, request.keep_alive, request.http_version)

    def _send(self, response: _Response, keep_alive: bool, http_version: str = "1.1") -> None:
        transport = self._transport
        if transport.is_closing():
            return
        status, content_type, body, headers = response
        head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s" % (
            status,
            _REASONS.get(status, b"Unknown"),
            content_type,
            len(body),
            headers,
        )
        if not keep_alive:
            head += b"Connection: close\r\n"
        elif http_version == "1.0":
            head += b"Connection: keep-alive\r\n"
        transport.write(head + b"\r\n" + body)
        if not keep_alive:
            self.close()

    # Shutdown.

    def close(self) -> None:
        """Close after flushing the responses written so far, and cancel those still waiting."""
        self._closing = True
        current = asyncio.current_task()
        for task in list(self._waiting):
            if task is not current:
                task.cancel()
        self._transport.close()

    def abort(self) -> None:
        """Close at once, dropping unsent data."""
        self._closing = True
        self._transport.abort()
