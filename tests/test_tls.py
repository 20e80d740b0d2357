"""TLS: certificates are verified by default, against the system's or a given CA."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import FAST_RETRY, WRITE_KEY

from rudder_fast import APIError, Client, TransportError
from rudder_fast.sink import Sink


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_sink(authority: trustme.CA) -> Iterator[Sink]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    with Sink(write_keys={WRITE_KEY}, ssl_context=context) as sink:
        yield sink


def test_trusted_certificate_delivers(
    https_sink: Sink, authority: trustme.CA, tmp_path: Path
) -> None:
    """With the CA given in ca_certs, events reach an HTTPS data plane."""
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    client = Client(WRITE_KEY, https_sink.url, workers=1, ca_certs=str(ca_file))
    try:
        client.track("u1", "Over TLS", {})
        assert client.flush(timeout=30) == 0
    finally:
        client.shutdown(timeout=10)
    assert https_sink.url.startswith("https://")
    assert [event["event"] for event in https_sink.events] == ["Over TLS"]


def test_untrusted_certificate_is_rejected(https_sink: Sink) -> None:
    """By default an unknown CA fails verification: nothing is sent, on_error hears of it."""
    errors: list[APIError] = []

    def on_error(error: APIError, events: list[dict[str, Any]]) -> None:
        errors.append(error)

    client = Client(WRITE_KEY, https_sink.url, workers=1, retry_policy=FAST_RETRY,
                    on_error=on_error)  # fmt: skip
    try:
        client.track("u1", "Not Trusted", {})
        assert client.flush(timeout=30) == 0
    finally:
        client.shutdown(timeout=10)
    assert https_sink.stats()["requests"] == 0
    assert len(errors) == 1
    assert isinstance(errors[0], TransportError)
    assert errors[0].code == "tls_error"
    assert "CERTIFICATE_VERIFY_FAILED" in errors[0].message
    assert client.stats().retries == 0


def test_plain_http_to_remote_host_warns(caplog: pytest.LogCaptureFixture) -> None:
    """http:// to a non-loopback host logs one warning at construction; nothing is sent."""
    Client(WRITE_KEY, "http://dataplane.example.com", send=False)
    Client(WRITE_KEY, "http://127.0.0.1:8080", send=False)
    warnings = [r.getMessage() for r in caplog.records if "unencrypted" in r.getMessage()]
    assert len(warnings) == 1
    assert "dataplane.example.com" in warnings[0]
