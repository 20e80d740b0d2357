"""HTTP to the data plane: the request body, a pooled urllib3 connection, and responses.

This is the one place where urllib3 and OS errors become rudder_fast's error fields.
"""

from __future__ import annotations

import base64
import logging
import zlib
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError, TimeoutError

from ._version import VERSION
from .config import UploaderConfig

__all__ = ["BATCH_ENVELOPE_BYTES", "AttemptResult", "BatchBody", "Transport"]

log = logging.getLogger(__name__)

_PREFIX = b'{"batch":['
_SENT_AT_OPEN = b'],"sentAt":"'
_SENT_AT_CLOSE = b'"}'
# sentAt is always "YYYY-MM-DDTHH:MM:SS.ffffff+00:00", 32 characters.
_TAIL_BYTES = len(_SENT_AT_OPEN) + 32 + len(_SENT_AT_CLOSE)
# Bytes a body adds around its events: the prefix, the sentAt member with a 32-character
# timestamp, and the closing brace; rounded up.
BATCH_ENVELOPE_BYTES = 64

# Server responses are short fixed texts, so anything longer is cut in reports and logs.
_MAX_RESPONSE_TEXT = 200

# Status codes and the short reason put in APIError.code for them.
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_too_large",
    429: "rate_limited",
}


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """The outcome of one HTTP attempt; ``status`` is None when no response arrived."""

    status: int | None
    code: str
    message: str
    retry_after: str | None = None


class BatchBody:
    """The JSON body of one batch, with a fresh ``sentAt`` per attempt.

    The events are already serialized JSON objects and are joined, never re-encoded.
    Each attempt compresses its whole body. Retries are rare, and copying a zlib
    compressor's state to reuse the events' part costs about as much as compressing them.
    """

    __slots__ = ("_events", "_gzip", "_level", "raw_bytes")

    def __init__(self, events: list[bytes], gzip: bool, level: int) -> None:
        self._events = b",".join(events)
        self._gzip = gzip
        self._level = level
        self.raw_bytes = len(_PREFIX) + len(self._events) + _TAIL_BYTES

    def render(self, sent_at: str) -> bytes:
        """Return the bytes to send for one attempt."""
        body = b"".join((_PREFIX, self._events, _SENT_AT_OPEN, sent_at.encode(), _SENT_AT_CLOSE))
        if not self._gzip:
            return body
        # wbits=31 selects the gzip container, which is what Content-Encoding: gzip means.
        compressor = zlib.compressobj(self._level, zlib.DEFLATED, 31)
        return compressor.compress(body) + compressor.flush()


class Transport:
    """One uploader's HTTP client for ``POST /v1/batch``, over one pooled connection."""

    def __init__(self, config: UploaderConfig) -> None:
        self._url = config.url
        self._gzip = config.gzip
        token = base64.b64encode(config.write_key.encode() + b":").decode()
        self._headers = {
            "Content-Type": "application/json",
            "Authorization": "Basic " + token,
            "User-Agent": f"rudder-fast/{VERSION}",
        }
        if config.gzip:
            self._headers["Content-Encoding"] = "gzip"
        timeout = urllib3.Timeout(connect=config.connect_timeout_s, read=config.read_timeout_s)
        # One uploader sends one request at a time, so one kept-alive connection suffices.
        # Certificates are verified; ca_certs replaces the system's trust store.
        self._pool: urllib3.PoolManager
        if config.proxy_url:
            self._pool = urllib3.ProxyManager(
                config.proxy_url, num_pools=1, maxsize=1, timeout=timeout, retries=False,
                cert_reqs="CERT_REQUIRED", ca_certs=config.ca_certs,
            )  # fmt: skip
        else:
            self._pool = urllib3.PoolManager(
                num_pools=1, maxsize=1, timeout=timeout, retries=False,
                cert_reqs="CERT_REQUIRED", ca_certs=config.ca_certs,
            )  # fmt: skip

    @property
    def origin(self) -> str:
        """The data plane's scheme, host and port, for log lines."""
        parsed = urllib3.util.parse_url(self._url)
        return f"{parsed.scheme}://{parsed.netloc}"

    def __repr__(self) -> str:
        return f"<Transport {self._url} gzip={self._gzip}>"

    def post(self, body: bytes) -> AttemptResult:
        """Send one attempt and return its result; network and TLS errors become results too."""
        try:
            response = self._pool.request(
                "POST",
                self._url,
                body=body,
                headers=self._headers,
                redirect=False,
                preload_content=True,
            )
        except SSLError as error:
            # A certificate the trust store rejects fails the same way on every attempt.
            return AttemptResult(None, "tls_error", _describe(error))
        except NewConnectionError as error:
            # Checked first: urllib3 2.x derives it from ConnectTimeoutError.
            return AttemptResult(None, "connection_error", _describe(error))
        except TimeoutError as error:
            return AttemptResult(None, "timeout", _describe(error))
        except (HTTPError, OSError) as error:
            return AttemptResult(None, "connection_error", _describe(error))
        status = response.status
        text = response.data.decode("utf-8", "replace").strip()[:_MAX_RESPONSE_TEXT]
        if 200 <= status < 300:
            return AttemptResult(status, "ok", text)
        code = _STATUS_CODES.get(status, "server_error" if status >= 500 else f"http_{status}")
        return AttemptResult(
            status, code, text or f"HTTP {status}", response.headers.get("Retry-After")
        )

    def close(self) -> None:
        self._pool.clear()


def _describe(error: BaseException) -> str:
    # urllib3's messages name the host and the cause; the write key is only ever in a
    # header, which these messages never include.
    text = f"{type(error).__name__}: {error}"
    return text[:_MAX_RESPONSE_TEXT]
