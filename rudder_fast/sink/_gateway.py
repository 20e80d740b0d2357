"""Rules of rudder-server's gateway (v1.83) for ``POST /v1/batch``: write key, body and batch.

Each check raises ``RequestRejected`` with the status and body the real gateway sends.
The handler runs them in the gateway's order: write key, body decoding, batch validation,
and the size limit last, so that a validation error wins over 413.
"""

from __future__ import annotations

import binascii
import json
import zlib
from base64 import b64decode
from collections.abc import Collection
from typing import Any

import orjson

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "EMPTY_BATCH",
    "INVALID_EVENT",
    "INVALID_JSON",
    "INVALID_WRITE_KEY",
    "MISSING_IDS",
    "MISSING_WRITE_KEY",
    "OK",
    "READ_BODY_FAILED",
    "REQUEST_TOO_LARGE",
    "RequestRejected",
    "check_request_size",
    "decode_body",
    "parse_batch",
    "read_write_key",
]

# The gateway's default Gateway.maxReqSizeInKB is 4000, and the limit applies to the
# decompressed body.
DEFAULT_MAX_REQUEST_BYTES = 4000 * 1024

# Response bodies. Errors end with a newline, as Go's http.Error writes them.
OK = "ok"
INVALID_JSON = "invalid json\n"
INVALID_EVENT = "event is not a valid rudder event\n"
MISSING_IDS = "request neither has anonymousId nor userId\n"
EMPTY_BATCH = "empty batch payload\n"
MISSING_WRITE_KEY = "failed to read writekey from header\n"
INVALID_WRITE_KEY = "invalid write key\n"
REQUEST_TOO_LARGE = "request size exceeds max limit\n"
READ_BODY_FAILED = "failed to read body from request\n"

# Characters that Go's strings.TrimSpace removes: unicode.IsSpace, the Unicode White_Space
# property. Python's str.strip() would also remove U+001C to U+001F, which Go keeps.
_GO_WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

# wbits for zlib.decompressobj: 16 + MAX_WBITS accepts exactly one gzip member, header and
# trailer included.
_GZIP_WBITS = 16 + zlib.MAX_WBITS

_BASIC_PREFIX = b"basic "


class RequestRejected(Exception):
    """Raised by the checks in this module when the gateway would respond with an error.

    ``status`` is the HTTP status and ``text`` the response body, newline included.
    """

    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, text)
        self.status = status
        self.text = text


def read_write_key(authorization: bytes | None, allowed_keys: Collection[bytes] | None) -> bytes:
    """Return the write key of an ``Authorization: Basic`` header value.

    The key is the user name, and the password is ignored, as with Go's
    ``Request.BasicAuth``. A missing, garbled or empty user name raises 401
    ``failed to read writekey from header``. A key outside ``allowed_keys`` raises 401
    ``invalid write key``, and ``allowed_keys=None`` accepts every key.
    """
    if authorization is None or authorization[:6].lower() != _BASIC_PREFIX:
        raise RequestRejected(401, MISSING_WRITE_KEY)
    try:
        credentials = b64decode(authorization[6:], validate=True)
    except binascii.Error:
        raise RequestRejected(401, MISSING_WRITE_KEY) from None

    key, colon, _password = credentials.partition(b":")
    if not colon or not key:
        raise RequestRejected(401, MISSING_WRITE_KEY)
    if allowed_keys is not None and key not in allowed_keys:
        raise RequestRejected(401, INVALID_WRITE_KEY)
    return key


def decode_body(body: bytes, content_encoding: bytes | None, max_decoded_bytes: int) -> bytes:
    """Return the request body, gunzipped when ``Content-Encoding`` is exactly ``gzip``.

    Any other encoding leaves the body as received, so a deflate or zstd body later fails
    as invalid JSON, like on the real gateway. Concatenated gzip members are decoded one
    after the other, as Go's gzip reader does. A corrupt or truncated stream raises 500
    ``failed to read body from request``.

    ``max_decoded_bytes`` bounds the memory one request may take: a body that is, or
    inflates to, more bytes raises 413 before it is validated.
    """
    if content_encoding != b"gzip":
        if len(body) > max_decoded_bytes:
            raise RequestRejected(413, REQUEST_TOO_LARGE)
        return body

    parts: list[bytes] = []
    decoded_bytes = 0
    remaining = body
    while True:
        decompressor = zlib.decompressobj(_GZIP_WBITS)
        try:
            # One byte over the cap is enough to know that the cap is exceeded. The
            # argument is never 0, which zlib would read as "no limit".
            part = decompressor.decompress(remaining, max_decoded_bytes - decoded_bytes + 1)
        except zlib.error:
            raise RequestRejected(500, READ_BODY_FAILED) from None
        decoded_bytes += len(part)
        if decoded_bytes > max_decoded_bytes:
            raise RequestRejected(413, REQUEST_TOO_LARGE)
        if not decompressor.eof:
            # The output cap was not reached, so all input was consumed without reaching
            # the gzip trailer: the stream is truncated.
            raise RequestRejected(500, READ_BODY_FAILED)
        parts.append(part)

        remaining = decompressor.unused_data
        if not remaining:
            return b"".join(parts)


def parse_batch(decoded: bytes) -> list[dict[str, Any]]:
    """Parse a decoded body and return its ``batch`` array after validating every event.

    The first invalid event rejects the whole request with 400. Members other than
    ``batch`` are ignored. An event needs ``anonymousId`` or ``userId``. A null, missing,
    empty or whitespace-only string counts as absent, and any other JSON value counts as
    present, because gjson's ``String()`` turns numbers, booleans, objects and arrays into
    non-empty text.

    orjson parses the common body. It rejects two things the gateway's Go JSON code
    accepts: a lone surrogate escape such as ``"\\ud800"``, and an integer too large for
    a double. So a body orjson rejects is parsed again with the standard library. That
    parser reads both, and integers beyond 64 bits exactly, but not NaN or Infinity.
    """
    try:
        payload = orjson.loads(decoded)
    except orjson.JSONDecodeError:
        payload = _parse_strictly(decoded)
    if not isinstance(payload, dict):
        raise RequestRejected(400, INVALID_JSON)
    batch = payload.get("batch")
    if not isinstance(batch, list):
        raise RequestRejected(400, INVALID_JSON)
    if not batch:
        raise RequestRejected(400, EMPTY_BATCH)

    for event in batch:
        if not isinstance(event, dict):
            raise RequestRejected(400, INVALID_EVENT)
        if _is_absent_id(event.get("anonymousId")) and _is_absent_id(event.get("userId")):
            raise RequestRejected(400, MISSING_IDS)
    return batch


def dump_json(value: Any) -> bytes:
    """Serialize stored events; integers orjson cannot write go through the standard library."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )


def _parse_strictly(decoded: bytes) -> Any:
    try:
        return json.loads(decoded, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise RequestRejected(400, INVALID_JSON) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_request_size(decoded_bytes: int, max_request_bytes: int) -> None:
    """Raise 413 ``request size exceeds max limit`` when the decoded body is too large."""
    if decoded_bytes > max_request_bytes:
        raise RequestRejected(413, REQUEST_TOO_LARGE)


def _is_absent_id(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip(_GO_WHITESPACE)
    return False
