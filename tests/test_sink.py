"""Tests of the local data plane: a real sink on 127.0.0.1, driven over HTTP with urllib3."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httptools
import orjson
import pytest
import urllib3
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

from rudder_fast.sink import Faults, Sink
from rudder_fast.sink.__main__ import main as sink_main
from rudder_fast.sink._gateway import RequestRejected, decode_body

KEY = "test-write-key"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Generous, because a loaded CI machine may stall a thread for a second or more.
WAIT_S = 10.0


# Helpers.


def basic_auth(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def make_event(number: int = 0, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "event": "Order Completed",
        "userId": f"user-{number}",
        "messageId": f"message-{number}",
        "properties": {"revenue": 12.5},
    }
    event.update(fields)
    return event


def batch_body(events: list[Any], **members: Any) -> bytes:
    return orjson.dumps({"batch": events, "sentAt": "2024-05-01T12:00:00.000000+00:00", **members})


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink(write_keys=[KEY]) as running:
        yield running


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(WAIT_S))
    yield pool
    pool.clear()


def post_batch(
    http: urllib3.PoolManager,
    sink: Sink,
    body: bytes,
    *,
    encoding: str | None = None,
    key: str | None = KEY,
    headers: dict[str, str] | None = None,
) -> urllib3.BaseHTTPResponse:
    """POST ``body`` to the sink's batch endpoint, gzipped first when encoding is gzip."""
    request_headers = {"Content-Type": "application/json"}
    if key is not None:
        request_headers["Authorization"] = basic_auth(key)
    if encoding is not None:
        request_headers["Content-Encoding"] = encoding
        if encoding == "gzip":
            body = gzip.compress(body)
    request_headers.update(headers or {})
    return http.request("POST", sink.url + "/v1/batch", body=body, headers=request_headers)


class _ResponseCollector:
    """httptools callbacks that collect the status and body of each response."""

    def __init__(self, parser_holder: list[httptools.HttpResponseParser]) -> None:
        self._parser_holder = parser_holder
        self.responses: list[tuple[int, bytes]] = []
        self._body = b""

    def on_message_begin(self) -> None:
        self._body = b""

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.responses.append((self._parser_holder[0].get_status_code(), self._body))


def read_responses(connection: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """Read until ``count`` responses are complete or the server closes the connection."""
    holder: list[httptools.HttpResponseParser] = []
    collector = _ResponseCollector(holder)
    holder.append(httptools.HttpResponseParser(collector))
    connection.settimeout(WAIT_S)
    while len(collector.responses) < count:
        data = connection.recv(65536)
        if not data:
            break
        holder[0].feed_data(data)
    return collector.responses


def raw_request(sink: Sink, payload: bytes) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", sink.port), timeout=WAIT_S)
    connection.sendall(payload)
    return connection


def raw_batch_request(sink: Sink, body: bytes, extra_headers: bytes = b"") -> bytes:
    return (
        b"POST /v1/batch HTTP/1.1\r\nHost: sink\r\nAuthorization: "
        + basic_auth(KEY).encode()
        + b"\r\nContent-Length: %d\r\n" % len(body)
        + extra_headers
        + b"\r\n"
        + body
    )


# Accepted requests.


def test_plain_batch_accepted(sink: Sink, http: urllib3.PoolManager) -> None:
    """A plain JSON batch gets 200 ok as text, and its events are stored in order."""
    events = [make_event(1), make_event(2)]

    response = post_batch(http, sink, batch_body(events))

    assert response.status == 200
    assert response.data == b"ok"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert sink.events == events


@pytest.mark.parametrize(
    ("raw_value", "stored"),
    [
        (b"1" + b"0" * 400, 10**400),
        (b"18446744073709551616", 2**64),
        (b'"a\\ud800b"', "a\ud800b"),
    ],
    ids=["int-beyond-double", "int-beyond-64-bits", "lone-surrogate-escape"],
)
def test_values_go_accepts_are_accepted(
    sink: Sink, http: urllib3.PoolManager, raw_value: bytes, stored: Any
) -> None:
    """Values the gateway's Go JSON code accepts, and orjson does not, are stored exactly."""
    body = b'{"batch":[{"userId":"u","type":"track","value":' + raw_value + b"}]}"

    response = post_batch(http, sink, body)

    assert response.status == 200
    assert sink.events[0]["value"] == stored


def test_nan_token_is_invalid_json(sink: Sink, http: urllib3.PoolManager) -> None:
    """A bare NaN is not JSON: the whole request is rejected, as the gateway does."""
    response = post_batch(http, sink, b'{"batch":[{"userId":"u","value":NaN}]}')

    assert response.status == 400
    assert response.data == b"invalid json\n"


def test_gzip_batch_accepted(sink: Sink, http: urllib3.PoolManager) -> None:
    """A body with Content-Encoding gzip is decompressed before it is parsed."""
    events = [make_event(number) for number in range(50)]

    response = post_batch(http, sink, batch_body(events), encoding="gzip")

    assert response.status == 200
    assert sink.events == events


def test_gzip_members_concatenated(sink: Sink, http: urllib3.PoolManager) -> None:
    """Concatenated gzip members decode as one body, as Go's gzip reader reads them."""
    body = batch_body([make_event(1)])
    compressed = gzip.compress(body[:10]) + gzip.compress(body[10:])

    response = post_batch(http, sink, compressed, headers={"Content-Encoding": "gzip"})

    assert response.status == 200
    assert sink.events == [make_event(1)]


def test_top_level_members_ignored(sink: Sink, http: urllib3.PoolManager) -> None:
    """Members beside batch, such as sentAt and context, are not merged into events."""
    body = batch_body([make_event(1)], context={"ip": "10.0.0.1"})

    response = post_batch(http, sink, body)

    assert response.status == 200
    assert sink.events == [make_event(1)]


# Content-Encoding.


@pytest.mark.parametrize("encoding", ["deflate", "x-gzip", "GZIP", "br", "zstd", "gzip, identity"])
def test_other_encodings_read_raw(sink: Sink, http: urllib3.PoolManager, encoding: str) -> None:
    """Only the exact value gzip is decoded, so a gzip body under any other name is invalid json."""
    compressed = gzip.compress(batch_body([make_event(1)]))

    response = post_batch(http, sink, compressed, headers={"Content-Encoding": encoding})

    assert response.status == 400
    assert response.data == b"invalid json\n"
    assert sink.events == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x1f\x8b\x08\x00garbage that is not deflate", id="corrupt"),
        pytest.param(gzip.compress(batch_body([make_event(1)]))[:-6], id="truncated"),
        pytest.param(gzip.compress(batch_body([make_event(1)])) + b"junk", id="trailing-junk"),
        pytest.param(b"", id="empty"),
        pytest.param(batch_body([make_event(1)]), id="not-gzip"),
    ],
)
def test_broken_gzip_is_500(sink: Sink, http: urllib3.PoolManager, body: bytes) -> None:
    """A corrupt, truncated or missing gzip stream is 500 failed to read body from request."""
    response = post_batch(http, sink, body, headers={"Content-Encoding": "gzip"})

    assert response.status == 500
    assert response.data == b"failed to read body from request\n"
    assert sink.events == []


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200))
def test_gzip_decoder_rejects_garbage(body: bytes) -> None:
    """Arbitrary bytes sent as gzip decode or raise only 500 or 413, never another error."""
    status = None
    try:
        decode_body(b"\x1f\x8b\x08\x00" + body, b"gzip", 1000)
    except RequestRejected as rejection:
        status = rejection.status

    assert status in {None, 500, 413}


# Write key.


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer " + KEY, id="other-scheme"),
        pytest.param("Basic not*base64", id="garbled-base64"),
        pytest.param("Basic " + base64.b64encode(KEY.encode()).decode(), id="no-colon"),
        pytest.param(basic_auth(""), id="empty-user"),
        pytest.param("Basic", id="no-credentials"),
    ],
)
def test_unreadable_write_key_is_401(
    sink: Sink, http: urllib3.PoolManager, authorization: str | None
) -> None:
    """Missing or garbled basic auth is 401 failed to read writekey from header."""
    headers = {} if authorization is None else {"Authorization": authorization}

    response = post_batch(http, sink, batch_body([make_event(1)]), key=None, headers=headers)

    assert response.status == 401
    assert response.data == b"failed to read writekey from header\n"
    assert sink.events == []


def test_unknown_write_key_is_401(sink: Sink, http: urllib3.PoolManager) -> None:
    """A readable key outside write_keys is 401 invalid write key."""
    response = post_batch(http, sink, batch_body([make_event(1)]), key="other-key")

    assert response.status == 401
    assert response.data == b"invalid write key\n"


def test_write_key_password_ignored(sink: Sink, http: urllib3.PoolManager) -> None:
    """The password part of basic auth is ignored, and the scheme is case-insensitive."""
    headers = {"Authorization": "basic " + basic_auth(KEY, "secret").split(" ")[1]}

    response = post_batch(http, sink, batch_body([make_event(1)]), key=None, headers=headers)

    assert response.status == 200


def test_write_key_checked_before_body(sink: Sink, http: urllib3.PoolManager) -> None:
    """A bad key wins over a bad body, because the key is checked before the body is read."""
    response = post_batch(http, sink, b"not json", key="other-key")

    assert response.status == 401
    assert response.data == b"invalid write key\n"


def test_any_key_without_write_keys(http: urllib3.PoolManager) -> None:
    """With write_keys=None any non-empty key is accepted, and an empty one still is not."""
    with Sink() as sink:
        accepted = post_batch(http, sink, batch_body([make_event(1)]), key="anything")
        rejected = post_batch(http, sink, batch_body([make_event(1)]), key="")

    assert accepted.status == 200
    assert rejected.status == 401
    assert rejected.data == b"failed to read writekey from header\n"


# Validation.


@pytest.mark.parametrize(
    ("body", "expected_text"),
    [
        pytest.param(b"not json", b"invalid json\n", id="not-json"),
        pytest.param(b"", b"invalid json\n", id="empty-body"),
        pytest.param(b"[]", b"invalid json\n", id="array"),
        pytest.param(b'{"sentAt": "x"}', b"invalid json\n", id="no-batch"),
        pytest.param(b'{"batch": {}}', b"invalid json\n", id="batch-object"),
        pytest.param(b'{"batch": null}', b"invalid json\n", id="batch-null"),
        pytest.param(b'{"batch": [{"userId": "u"}', b"invalid json\n", id="cut-json"),
        pytest.param(b'{"batch": []}', b"empty batch payload\n", id="empty-batch"),
        pytest.param(b'{"batch": [5]}', b"event is not a valid rudder event\n", id="number-event"),
        pytest.param(b'{"batch": [null]}', b"event is not a valid rudder event\n", id="null-event"),
        pytest.param(b'{"batch": [[]]}', b"event is not a valid rudder event\n", id="array-event"),
        pytest.param(
            b'{"batch": [{"type": "track"}]}',
            b"request neither has anonymousId nor userId\n",
            id="no-ids",
        ),
    ],
)
def test_invalid_body_is_400(
    sink: Sink, http: urllib3.PoolManager, body: bytes, expected_text: bytes
) -> None:
    """Each kind of invalid body gets 400 with the gateway's text, and nothing is stored."""
    response = post_batch(http, sink, body)

    assert response.status == 400
    assert response.data == expected_text
    assert sink.stats()["events"] == 0


@pytest.mark.parametrize(
    ("user_id", "is_present"),
    [
        pytest.param("user-1", True, id="string"),
        pytest.param("  user-1 ", True, id="padded-string"),
        pytest.param(0, True, id="zero"),
        pytest.param(False, True, id="false"),
        pytest.param({}, True, id="empty-object"),
        pytest.param([], True, id="empty-array"),
        pytest.param(None, False, id="null"),
        pytest.param("", False, id="empty-string"),
        pytest.param(" \t\n", False, id="ascii-whitespace"),
        pytest.param("\u00a0\u3000", False, id="unicode-whitespace"),
        pytest.param("\x1f", True, id="unit-separator"),
    ],
)
def test_id_presence_rules(
    sink: Sink, http: urllib3.PoolManager, user_id: object, is_present: bool
) -> None:
    """An id counts as absent only when null, missing or blank after Go's whitespace trim."""
    event = {"type": "track", "userId": user_id, "anonymousId": None}

    response = post_batch(http, sink, batch_body([event]))

    assert response.status == (200 if is_present else 400)


def test_anonymous_id_alone_suffices(sink: Sink, http: urllib3.PoolManager) -> None:
    """An event with only anonymousId is accepted."""
    event = {"type": "track", "anonymousId": "anonymous-1"}

    response = post_batch(http, sink, batch_body([event]))

    assert response.status == 200


def test_one_invalid_event_rejects_all(sink: Sink, http: urllib3.PoolManager) -> None:
    """A request is all-or-nothing: one event without ids rejects the valid ones too."""
    events = [make_event(1), {"type": "track", "userId": " "}, make_event(2)]

    response = post_batch(http, sink, batch_body(events))

    assert response.status == 400
    assert response.data == b"request neither has anonymousId nor userId\n"
    assert sink.events == []
    assert sink.stats()["unique_message_ids"] == 0


# Size limit.


def test_size_limit_after_decompression(http: urllib3.PoolManager) -> None:
    """A small gzip body that inflates past max_request_bytes is 413."""
    body = batch_body([make_event(1, properties={"padding": "x" * 20_000})])
    compressed = gzip.compress(body)
    assert len(compressed) < 1_000

    with Sink(write_keys=[KEY], max_request_bytes=10_000) as sink:
        response = post_batch(http, sink, compressed, headers={"Content-Encoding": "gzip"})
        events = sink.events

    assert response.status == 413
    assert response.data == b"request size exceeds max limit\n"
    assert events == []


def test_size_limit_boundary(http: urllib3.PoolManager) -> None:
    """A body of exactly max_request_bytes is accepted, and one byte more is 413."""
    base = batch_body([make_event(1)])
    limit = len(base) + 100
    exact = base[:-1] + b" " * (limit - len(base)) + b"}"
    over = exact[:-1] + b" }"
    assert len(exact) == limit

    with Sink(write_keys=[KEY], max_request_bytes=limit) as sink:
        accepted = post_batch(http, sink, exact)
        rejected = post_batch(http, sink, over, encoding="gzip")

    assert accepted.status == 200
    assert rejected.status == 413


def test_validation_wins_over_size_limit(http: urllib3.PoolManager) -> None:
    """A body both too large and invalid gets the validation error, not 413."""
    padding = {"padding": "x" * 20_000}
    body = batch_body([make_event(1, properties=padding), {"type": "track"}])

    with Sink(write_keys=[KEY], max_request_bytes=10_000) as sink:
        response = post_batch(http, sink, body, encoding="gzip")

    assert response.status == 400
    assert response.data == b"request neither has anonymousId nor userId\n"


def test_gzip_bomb_over_memory_cap_is_413(sink: Sink, http: urllib3.PoolManager) -> None:
    """A gzip body inflating past the 64 MiB memory cap is 413 without being validated."""
    bomb = gzip.compress(b"[" * (65 * 1024 * 1024), compresslevel=1)

    response = post_batch(http, sink, bomb, headers={"Content-Encoding": "gzip"})

    assert response.status == 413
    assert response.data == b"request size exceeds max limit\n"


# Routing and the other endpoints.


@pytest.mark.parametrize(
    ("method", "path", "expected_status"),
    [
        ("GET", "/v1/batch", 405),
        ("PUT", "/v1/batch", 405),
        ("POST", "/version", 405),
        ("POST", "/v1/track", 404),
        ("POST", "/v1/batch/", 404),
        ("GET", "/", 404),
    ],
)
def test_unknown_route_is_404_or_405(
    sink: Sink, http: urllib3.PoolManager, method: str, path: str, expected_status: int
) -> None:
    """An unknown path is 404, and a known path with another method is 405."""
    response = http.request(method, sink.url + path, headers={"Authorization": basic_auth(KEY)})

    assert response.status == expected_status
    assert sink.stats()["requests"] == 0


def test_method_not_allowed_lists_allow(sink: Sink, http: urllib3.PoolManager) -> None:
    """A 405 names the allowed methods in its Allow header."""
    response = http.request("GET", sink.url + "/v1/batch")

    assert response.status == 405
    assert response.headers["Allow"] == "POST"


def test_version_lists_gzip_feature(sink: Sink, http: urllib3.PoolManager) -> None:
    """GET /version returns JSON whose Features list gzip-req-payload."""
    response = http.request("GET", sink.url + "/version")

    assert response.status == 200
    assert orjson.loads(response.data) == {
        "Version": "rudder-fast-sink",
        "Features": ["gzip-req-payload"],
    }


def test_query_string_ignored(sink: Sink, http: urllib3.PoolManager) -> None:
    """A query string does not change the route."""
    response = http.request(
        "POST",
        sink.url + "/v1/batch?source=test",
        body=batch_body([make_event(1)]),
        headers={"Authorization": basic_auth(KEY)},
    )

    assert response.status == 200


def test_control_endpoints(sink: Sink, http: urllib3.PoolManager) -> None:
    """/_sink/stats, /_sink/events and /_sink/reset expose and clear the recording."""
    post_batch(http, sink, batch_body([make_event(1)]))

    stats = orjson.loads(http.request("GET", sink.url + "/_sink/stats").data)
    events = orjson.loads(http.request("GET", sink.url + "/_sink/events").data)
    reset = http.request("POST", sink.url + "/_sink/reset")

    assert stats["events"] == 1
    assert stats["statuses"] == {"200": 1}
    assert events == [make_event(1)]
    assert reset.status == 200
    assert sink.stats()["events"] == 0
    assert sink.events == []


# Connections.


def test_keep_alive_across_statuses(sink: Sink) -> None:
    """One pooled connection carries accepted and rejected requests alike."""
    pool = urllib3.HTTPConnectionPool(
        "127.0.0.1", sink.port, maxsize=1, block=True, retries=False, timeout=WAIT_S
    )
    headers = {"Authorization": basic_auth(KEY)}
    try:
        statuses = [
            pool.request("POST", "/v1/batch", body=batch_body([make_event(1)]), headers=headers),
            pool.request("POST", "/v1/batch", body=b"not json", headers=headers),
            pool.request("POST", "/v1/batch", body=b"{}", headers={}),
            pool.request("GET", "/missing"),
            pool.request("POST", "/v1/batch", body=batch_body([make_event(2)]), headers=headers),
        ]
        opened = pool.num_connections
    finally:
        pool.close()

    assert [response.status for response in statuses] == [200, 400, 401, 404, 200]
    assert opened == 1
    assert sink.stats()["connections"] == 1


def test_connection_close_honoured(sink: Sink) -> None:
    """A request with Connection: close gets a response with Connection: close, then EOF."""
    connection = raw_request(
        sink, raw_batch_request(sink, batch_body([make_event(1)]), b"Connection: close\r\n")
    )
    with connection:
        responses = read_responses(connection, 2)
        trailing = connection.recv(1)

    assert responses == [(200, b"ok")]
    assert trailing == b""


def test_http10_closes_by_default(sink: Sink) -> None:
    """An HTTP/1.0 request without keep-alive gets a response, then the connection closes."""
    connection = raw_request(sink, b"GET /version HTTP/1.0\r\n\r\n")
    with connection:
        responses = read_responses(connection, 2)

    assert len(responses) == 1
    assert responses[0][0] == 200


def test_pipelined_responses_in_order(sink: Sink) -> None:
    """Pipelined requests get responses in request order, even when the first is delayed."""
    sink.set_faults(Faults(delay_s=0.2))
    first = raw_batch_request(sink, batch_body([make_event(1)]))
    second = b"GET /version HTTP/1.1\r\nHost: sink\r\n\r\n"
    third = raw_batch_request(sink, b"not json")

    connection = raw_request(sink, first + second + third)
    with connection:
        responses = read_responses(connection, 3)

    assert [status for status, _ in responses] == [200, 200, 400]
    assert responses[0][1] == b"ok"
    assert responses[2][1] == b"invalid json\n"


def test_expect_continue(sink: Sink) -> None:
    """A request with Expect: 100-continue gets 100 Continue before it sends its body."""
    body = batch_body([make_event(1)])
    head = raw_batch_request(sink, body, b"Expect: 100-continue\r\n")[: -len(body)]

    connection = raw_request(sink, head)
    with connection:
        interim = connection.recv(100)
        connection.sendall(body)
        responses = read_responses(connection, 1)

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert responses == [(200, b"ok")]


def test_malformed_request_is_400(sink: Sink) -> None:
    """Bytes that are not HTTP get 400 Bad Request, and the connection is closed."""
    connection = raw_request(sink, b"NOT HTTP AT ALL\r\n\r\n")
    with connection:
        responses = read_responses(connection, 2)

    assert responses == [(400, b"400 Bad Request")]


def test_chunked_body_accepted(sink: Sink) -> None:
    """A chunked request body is reassembled before it is decoded."""
    body = gzip.compress(batch_body([make_event(1)]))
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
    head = (
        b"POST /v1/batch HTTP/1.1\r\nHost: sink\r\nAuthorization: "
        + basic_auth(KEY).encode()
        + b"\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    connection = raw_request(sink, head + chunked)
    with connection:
        responses = read_responses(connection, 1)

    assert responses == [(200, b"ok")]
    assert sink.events == [make_event(1)]


# Faults.


def test_fault_script_in_order(sink: Sink, http: urllib3.PoolManager) -> None:
    """Script statuses go to the next batch requests in order, then handling is normal."""
    sink.set_faults(Faults(script=(503, 429, 200, 500, 502)))

    responses = [post_batch(http, sink, batch_body([make_event(n)])) for n in range(6)]

    assert [(r.status, r.data) for r in responses] == [
        (503, b"Service Unavailable\n"),
        (429, b"max requests limit reached\n"),
        (200, b"ok"),
        (500, b"failed to read body from request\n"),
        (502, b"Bad Gateway\n"),
        (200, b"ok"),
    ]
    assert sink.events == [make_event(2), make_event(5)]
    assert sink.stats()["rejected_requests"] == 4


def test_fault_script_before_write_key(sink: Sink, http: urllib3.PoolManager) -> None:
    """A scripted status is sent before the write key and body are checked."""
    sink.set_faults(Faults(script=(503,)))

    response = post_batch(http, sink, b"not json", key="other-key")

    assert response.status == 503


def test_fail_rate_follows_seed(sink: Sink, http: urllib3.PoolManager) -> None:
    """fail_rate draws from random.Random(seed), so a seed gives a repeatable sequence."""
    faults = Faults(fail_rate=0.5, fail_status=503, seed=7)
    draws = random.Random(7)
    expected = [503 if draws.random() < 0.5 else 200 for _ in range(20)]

    sink.set_faults(faults)
    first_run = [post_batch(http, sink, batch_body([make_event(n)])).status for n in range(20)]
    sink.set_faults(faults)
    second_run = [post_batch(http, sink, batch_body([make_event(n)])).status for n in range(20)]

    assert first_run == expected
    assert second_run == expected
    assert {200, 503} <= set(expected)
    assert sink.stats()["events"] == 2 * expected.count(200)


def test_fail_rate_one_fails_all(sink: Sink, http: urllib3.PoolManager) -> None:
    """fail_rate=1 sends fail_status to every batch request and stores nothing."""
    sink.set_faults(Faults(fail_rate=1.0, fail_status=429))

    statuses = [post_batch(http, sink, batch_body([make_event(n)])).status for n in range(5)]

    assert statuses == [429] * 5
    assert sink.events == []


def test_delay_does_not_block_others(sink: Sink) -> None:
    """delay_s delays each batch response, while other connections are served meanwhile."""
    delay_s = 0.5
    sink.set_faults(Faults(delay_s=delay_s))

    def send(number: int) -> int:
        pool = urllib3.PoolManager(retries=False, timeout=WAIT_S)
        try:
            return post_batch(pool, sink, batch_body([make_event(number)])).status
        finally:
            pool.clear()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as executor:
        statuses = list(executor.map(send, range(3)))
    elapsed_s = time.monotonic() - started

    assert statuses == [200, 200, 200]
    assert elapsed_s >= delay_s
    # Serial handling would take 3 * delay_s.
    assert elapsed_s < 2 * delay_s


def test_delayed_batch_stored_after_timeout(sink: Sink, http: urllib3.PoolManager) -> None:
    """A client that times out during delay_s gets an error, but its batch is still stored."""
    sink.set_faults(Faults(delay_s=0.3))

    with pytest.raises(ReadTimeoutError):
        http.request(
            "POST",
            sink.url + "/v1/batch",
            body=batch_body([make_event(1)]),
            headers={"Authorization": basic_auth(KEY)},
            timeout=urllib3.Timeout(connect=WAIT_S, read=0.05),
        )

    assert sink.wait_for_events(1, WAIT_S)
    assert sink.events == [make_event(1)]


def test_close_after_store(sink: Sink, http: urllib3.PoolManager) -> None:
    """close_after_store stores the batch, then closes the connection without a response."""
    sink.set_faults(Faults(close_after_store=True))

    with pytest.raises(ProtocolError):
        post_batch(http, sink, batch_body([make_event(1)]))

    assert sink.events == [make_event(1)]
    stats = sink.stats()
    assert stats["accepted_requests"] == 1
    assert stats["closed_without_response"] == 1
    assert stats["statuses"] == {}


def test_close_after_store_rejection_sent(sink: Sink, http: urllib3.PoolManager) -> None:
    """close_after_store applies to accepted batches only, so a rejection is still sent."""
    sink.set_faults(Faults(close_after_store=True))

    response = post_batch(http, sink, b"not json")

    assert response.status == 400


def test_faults_over_http(sink: Sink, http: urllib3.PoolManager) -> None:
    """POST /_sink/faults replaces the faults and returns them, and GET returns them too."""
    response = http.request(
        "POST", sink.url + "/_sink/faults", body=b'{"script": [503], "fail_rate": 0.25}'
    )
    current = http.request("GET", sink.url + "/_sink/faults")

    assert response.status == 200
    expected = {
        "script": [503],
        "fail_rate": 0.25,
        "fail_status": 503,
        "delay_s": 0.0,
        "close_after_store": False,
        "seed": None,
    }
    assert orjson.loads(response.data) == expected
    assert orjson.loads(current.data) == expected
    assert sink.faults == Faults(script=(503,), fail_rate=0.25)


@pytest.mark.parametrize(
    ("body", "expected_text"),
    [
        (b"not json", b"invalid json"),
        (b"[]", b"faults must be a JSON object"),
        (b'{"retries": 3}', b"unknown Faults fields ['retries']"),
        (b'{"fail_rate": 2}', b"Faults.fail_rate must be from 0 to 1, got 2"),
        (b'{"script": ["503"]}', b"Faults.script status must be an integer, got '503'"),
    ],
)
def test_invalid_faults_over_http(
    sink: Sink, http: urllib3.PoolManager, body: bytes, expected_text: bytes
) -> None:
    """An invalid POST /_sink/faults is 400 naming the problem, and the faults stay."""
    response = http.request("POST", sink.url + "/_sink/faults", body=body)

    assert response.status == 400
    assert expected_text in response.data
    assert sink.faults == Faults()


@pytest.mark.parametrize(
    ("fields", "error_type", "message"),
    [
        ({"script": (302,)}, ValueError, "Faults.script statuses must be 200 or from 400 to 599"),
        ({"script": (True,)}, TypeError, "Faults.script status must be an integer, got True"),
        ({"script": 503}, TypeError, "Faults.script must be a tuple of statuses, got int"),
        ({"fail_rate": -0.1}, ValueError, "Faults.fail_rate must be from 0 to 1, got -0.1"),
        ({"fail_rate": float("nan")}, ValueError, "Faults.fail_rate must be from 0 to 1"),
        ({"fail_rate": "0.5"}, TypeError, "Faults.fail_rate must be a number, got '0.5'"),
        ({"fail_status": 200}, ValueError, "Faults.fail_status must be an error status"),
        ({"delay_s": -1}, ValueError, "Faults.delay_s must be a finite number of seconds"),
        ({"delay_s": float("inf")}, ValueError, "Faults.delay_s must be a finite number"),
        ({"close_after_store": 1}, TypeError, "Faults.close_after_store must be True or False"),
        ({"seed": 1.5}, TypeError, "Faults.seed must be an integer, got 1.5"),
    ],
)
def test_faults_validated(
    fields: dict[str, Any], error_type: type[Exception], message: str
) -> None:
    """Faults rejects a bad field with an error naming the field, the rule and the value."""
    with pytest.raises(error_type) as raised:
        Faults(**fields)

    assert message in str(raised.value)


def test_faults_script_list_becomes_tuple() -> None:
    """A script given as a list is stored as a tuple, so Faults stays immutable."""
    faults = Faults(script=[503, 200])  # type: ignore[arg-type]  # JSON decoding gives lists

    assert faults.script == (503, 200)


# Lifecycle.


def test_stop_then_start_same_port(http: urllib3.PoolManager) -> None:
    """After stop() connecting is refused, and start() binds the same port again."""
    sink = Sink(write_keys=[KEY])
    sink.start()
    try:
        port = sink.port
        assert post_batch(http, sink, batch_body([make_event(1)])).status == 200
        sink.stop()

        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=WAIT_S).close()
        with pytest.raises(NewConnectionError):
            post_batch(http, sink, batch_body([make_event(2)]))

        sink.start()
        assert sink.port == port
        assert post_batch(http, sink, batch_body([make_event(3)])).status == 200
    finally:
        sink.stop()

    assert sink.events == [make_event(1), make_event(3)]


def test_stop_closes_open_connections(sink: Sink) -> None:
    """stop() closes kept-alive connections, so their clients see the connection end."""
    connection = raw_request(sink, b"GET /version HTTP/1.1\r\nHost: sink\r\n\r\n")
    with connection:
        assert len(read_responses(connection, 1)) == 1
        sink.stop()
        assert connection.recv(1) == b""


def test_start_twice_and_stop_twice(sink: Sink) -> None:
    """start() on a running sink raises, and stop() on a stopped sink does nothing."""
    with pytest.raises(RuntimeError, match="already running"):
        sink.start()

    sink.stop()
    sink.stop()

    assert not sink.is_running


def test_start_on_busy_port_raises() -> None:
    """start() raises OSError when the port is taken, and the sink stays stopped."""
    with Sink() as first:
        second = Sink(port=first.port)
        with pytest.raises(OSError, match="address already in use"):
            second.start()

    assert not second.is_running


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "192.168.1.10", "localhost", "::", "example.com"],  # noqa: S104 - rejected hosts
)
def test_host_must_be_loopback(host: str) -> None:
    """A host that is not a loopback IP address is rejected before anything binds."""
    with pytest.raises(ValueError, match="loopback"):
        Sink(host=host)


def test_ipv6_loopback_url() -> None:
    """::1 is accepted, and the URL puts it in brackets."""
    sink = Sink(host="::1", port=8080)

    assert sink.url == "http://[::1]:8080"


@pytest.mark.parametrize(
    ("arguments", "error_type"),
    [
        ({"port": 70000}, ValueError),
        ({"port": "80"}, TypeError),
        ({"max_request_bytes": 0}, ValueError),
        ({"write_keys": KEY}, TypeError),
        ({"write_keys": ["a:b"]}, ValueError),
        ({"write_keys": [""]}, ValueError),
        ({"faults": {"fail_rate": 1}}, TypeError),
    ],
)
def test_sink_arguments_validated(arguments: dict[str, Any], error_type: type[Exception]) -> None:
    """Sink rejects invalid arguments at construction."""
    with pytest.raises(error_type):
        Sink(**arguments)


def test_port_unknown_before_start() -> None:
    """With port 0, the port and URL are unknown until start() binds."""
    sink = Sink()

    with pytest.raises(RuntimeError, match="start"):
        _ = sink.url


# Recording and counters.


def test_counters_and_duplicates(sink: Sink, http: urllib3.PoolManager) -> None:
    """Counters track requests, statuses, bytes and repeated messageIds."""
    first = batch_body([make_event(1), make_event(2)])
    second = batch_body([make_event(2), make_event(3), make_event(3)])
    without_ids = batch_body([make_event(4, messageId=None), make_event(5, messageId=7)])

    post_batch(http, sink, first)
    post_batch(http, sink, second, encoding="gzip")
    post_batch(http, sink, without_ids)
    post_batch(http, sink, b"not json")
    post_batch(http, sink, first, key="other-key")

    stats = sink.stats()
    assert stats["requests"] == 5
    assert stats["accepted_requests"] == 3
    assert stats["rejected_requests"] == 2
    assert stats["events"] == 7
    assert stats["unique_message_ids"] == 3
    assert stats["duplicates"] == 2
    assert stats["events_without_message_id"] == 2
    assert stats["statuses"] == {200: 3, 400: 1, 401: 1}
    assert stats["bytes_decompressed"] == len(first) + len(second) + len(without_ids)
    assert stats["bytes_received"] == (
        len(first) + len(gzip.compress(second)) + len(without_ids) + len(b"not json") + len(first)
    )


def test_duplicates_survive_across_requests(sink: Sink, http: urllib3.PoolManager) -> None:
    """A resent batch counts every event as a duplicate, and both copies are kept."""
    body = batch_body([make_event(1), make_event(2)])

    post_batch(http, sink, body)
    post_batch(http, sink, body)

    stats = sink.stats()
    assert stats["duplicates"] == 2
    assert stats["unique_message_ids"] == 2
    assert len(sink.events) == 4


def test_reset_clears_everything(sink: Sink, http: urllib3.PoolManager) -> None:
    """reset() clears events, counters and seen message ids, so a resend is not a duplicate."""
    body = batch_body([make_event(1)])
    post_batch(http, sink, body)

    sink.reset()
    post_batch(http, sink, body)

    stats = sink.stats()
    assert stats["events"] == 1
    assert stats["duplicates"] == 0
    assert sink.events == [make_event(1)]


def test_keep_events_false_keeps_counters(http: urllib3.PoolManager) -> None:
    """With keep_events=False no event is kept, but the counters still count them."""
    with Sink(keep_events=False) as sink:
        post_batch(http, sink, batch_body([make_event(1), make_event(1)]))
        events = sink.events
        stats = sink.stats()

    assert events == []
    assert stats["events"] == 2
    assert stats["duplicates"] == 1


def test_record_ndjson(tmp_path: Path, http: urllib3.PoolManager) -> None:
    """record_path gets one JSON line per accepted event, appended across restarts."""
    record = tmp_path / "events.ndjson"
    sink = Sink(record_path=record, keep_events=False)
    with sink:
        post_batch(http, sink, batch_body([make_event(1), make_event(2)]), encoding="gzip")
        post_batch(http, sink, b"not json")
    with sink:
        post_batch(http, sink, batch_body([make_event(3)]))

    lines = record.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == [make_event(1), make_event(2), make_event(3)]


def test_wait_for_events(sink: Sink, http: urllib3.PoolManager) -> None:
    """wait_for_events returns False on timeout and True once enough events arrived."""
    assert not sink.wait_for_events(1, 0.05)

    sender = threading.Thread(
        target=post_batch, args=(http, sink, batch_body([make_event(1), make_event(2)]))
    )
    sender.start()
    try:
        assert sink.wait_for_events(2, WAIT_S)
    finally:
        sender.join()


def test_logs_leave_out_secrets(
    sink: Sink, http: urllib3.PoolManager, caplog: pytest.LogCaptureFixture
) -> None:
    """No log line contains a write key, the Authorization header or event contents."""
    caplog.set_level(logging.DEBUG, logger="rudder_fast.sink")
    marker = "secret-property-value"
    sink.set_faults(Faults(script=(503,)))

    post_batch(http, sink, batch_body([make_event(1, secret=marker)]))
    post_batch(http, sink, batch_body([make_event(2, secret=marker)]))
    post_batch(http, sink, batch_body([make_event(3, secret=marker)]), key="wrong-" + KEY)
    post_batch(http, sink, batch_body([{"secret": marker}]))
    sink.stop()

    assert caplog.records
    assert KEY not in caplog.text
    assert basic_auth(KEY) not in caplog.text
    assert marker not in caplog.text


# Command line.


def read_line(stream: Any, timeout_s: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout_s)
    assert ready, f"no output within {timeout_s} s"
    line: str = stream.readline()
    return line


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signal(
    tmp_path: Path, http: urllib3.PoolManager, stop_signal: signal.Signals
) -> None:
    """The CLI prints its URL, serves batches, and exits 0 on SIGTERM or SIGINT."""
    record = tmp_path / "events.ndjson"
    command = [
        sys.executable,
        "-m",
        "rudder_fast.sink",
        "--port",
        "0",
        "--write-key",
        KEY,
        "--keep-events",
        "--record",
        str(record),
        "--script",
        "503",
    ]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    ) as process:
        try:
            line = read_line(process.stdout, WAIT_S)
            url = line.removeprefix("listening on ").strip()
            headers = {"Authorization": basic_auth(KEY)}
            body = batch_body([make_event(1)])

            scripted = http.request("POST", url + "/v1/batch", body=body, headers=headers)
            accepted = http.request("POST", url + "/v1/batch", body=body, headers=headers)
            events = orjson.loads(http.request("GET", url + "/_sink/events").data)
            http.clear()
            process.send_signal(stop_signal)
            return_code = process.wait(WAIT_S)
        finally:
            if process.poll() is None:
                process.kill()
        remaining_output = process.stdout.read() if process.stdout else ""
        errors = process.stderr.read() if process.stderr else ""

    assert line.startswith("listening on http://127.0.0.1:")
    assert scripted.status == 503
    assert accepted.status == 200
    assert events == [make_event(1)]
    assert return_code == 0, errors
    assert remaining_output == ""
    assert KEY not in errors
    assert [orjson.loads(line) for line in record.read_bytes().splitlines()] == [make_event(1)]


def test_cli_help_names_units(capsys: pytest.CaptureFixture[str]) -> None:
    """--help documents every option, with seconds, bytes and probability as units."""
    with pytest.raises(SystemExit) as exited:
        sink_main(["--help"])

    output = capsys.readouterr().out
    assert exited.value.code == 0
    for option in ["--host", "--port", "--write-key", "--record", "--keep-events"]:
        assert option in output
    for option in ["--max-request-bytes", "--fail-rate", "--fail-status", "--delay"]:
        assert option in output
    for option in ["--script", "--close-after-store", "--seed"]:
        assert option in output
    assert "seconds" in output
    assert "bytes" in output
    assert "probability" in output


def test_cli_rejects_invalid_fault(capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid fault option exits 2 with a message naming the field."""
    with pytest.raises(SystemExit) as exited:
        sink_main(["--port", "0", "--fail-rate", "2"])

    assert exited.value.code == 2
    assert "Faults.fail_rate must be from 0 to 1, got 2.0" in capsys.readouterr().err


def test_huge_integers_are_recorded_exactly(tmp_path: Path, http: urllib3.PoolManager) -> None:
    """Events with integers orjson cannot write are still recorded and listed."""
    record = tmp_path / "events.ndjson"
    with Sink(record_path=record) as sink:
        body = b'{"batch":[{"userId":"u","n":1' + b"0" * 400 + b"}]}"
        assert post_batch(http, sink, body).status == 200
        listed = http.request("GET", sink.url + "/_sink/events")
    assert listed.status == 200
    assert json.loads(listed.data)[0]["n"] == 10**400
    assert json.loads(record.read_text())["n"] == 10**400
