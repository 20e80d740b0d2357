"""Client options: defaults, validation, and the picklable part handed to uploaders."""

from __future__ import annotations

import ipaddress
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import urllib3.util
from urllib3.exceptions import LocationParseError

from ._retry import RetryPolicy
from .errors import APIError, ConfigError

__all__ = [
    "DEFAULT_EXIT_TIMEOUT_S",
    "DEFAULT_GZIP_LEVEL",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_QUEUE_BYTES",
    "DEFAULT_MAX_REQUEST_BYTES",
    "Config",
    "DropCallback",
    "ErrorCallback",
    "UploaderConfig",
    "default_workers",
]

log = logging.getLogger(__name__)

ErrorCallback = Callable[[APIError, list[dict[str, Any]]], object]
"""``on_error(error, events)``: a batch was given up on; ``events`` are its event dicts."""

DropCallback = Callable[[str, list[dict[str, Any]]], object]
"""``on_drop(reason, events)``: events were not queued or not sent, for ``reason``."""

# RudderStack's SDK docs promise that events over 32 KB are dropped by the SDK.
DEFAULT_MAX_EVENT_BYTES = 32 * 1024
# The server's default limit (Gateway.maxReqSizeInKB = 4000) is 4,096,000 bytes after
# decompression; this leaves about 96 KB of headroom for proxies that count differently.
SERVER_MAX_REQUEST_BYTES = 4_096_000
DEFAULT_MAX_REQUEST_BYTES = 4_000_000
# Choice: bounds the parent's memory when the data plane is down, about 120,000 events of
# the benchmark's median size.
DEFAULT_MAX_QUEUE_BYTES = 128 * 1024 * 1024
# Choice: on a 100-event batch of the benchmark's generated events (2-core benchmark
# machine), zlib level 1 compresses 4.4 times at about 150 MB/s and level 6 5.6 times at
# about 63 MB/s. Level 1 leaves more CPU for the rest of the pipeline.
DEFAULT_GZIP_LEVEL = 1
# Choice: a spool larger than this evicts its oldest segments.
DEFAULT_SPOOL_MAX_BYTES = 1024 * 1024 * 1024
# Choice: how long interpreter exit may wait for queued events to be delivered.
DEFAULT_EXIT_TIMEOUT_S = 5.0
# Choice: the official SDK's timeout for blocking when the queue is full does not exist;
# this bounds a producer that chose queue_full="block".
DEFAULT_QUEUE_FULL_TIMEOUT_S = 5.0


def default_workers() -> int:
    """Return the default uploader count: one per usable core, between 2 and 8.

    Each uploader has one request in flight, so while one waits for the data plane
    another compresses the next batch. On the 2-core benchmark machine, 2 uploaders
    delivered 47 % more events per second than 1 at upload_size 500 (bench/RESULTS.md).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return min(8, max(2, cores))


@dataclass(frozen=True, slots=True)
class UploaderConfig:
    """The options an uploader process needs; picklable, without callbacks."""

    url: str
    write_key: str = field(repr=False)
    gzip: bool
    gzip_level: int
    connect_timeout_s: float
    read_timeout_s: float
    proxy_url: str | None = field(repr=False)  # may carry the proxy's password
    upload_size: int
    upload_interval_s: float
    max_request_bytes: int
    retry: RetryPolicy
    ca_certs: str | None
    debug: bool


@dataclass(frozen=True, slots=True)
class Config:
    """Every option of a ``Client``, validated once at construction."""

    write_key: str = field(repr=False)
    data_plane_url: str
    debug: bool = False
    max_queue_size: int = 10000
    send: bool = True
    on_error: ErrorCallback | None = None
    gzip: bool = True
    sync_mode: bool = False
    connect_timeout_s: float = 15.0
    read_timeout_s: float = 15.0
    proxy_url: str | None = field(default=None, repr=False)  # may carry a password
    workers: int = 1
    upload_size: int = 100
    upload_interval_s: float = 0.5
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
    gzip_level: int = DEFAULT_GZIP_LEVEL
    queue_full: Literal["drop", "block"] = "drop"
    queue_full_timeout_s: float = DEFAULT_QUEUE_FULL_TIMEOUT_S
    exit_timeout_s: float = DEFAULT_EXIT_TIMEOUT_S
    on_drop: DropCallback | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    ca_certs: str | None = None
    handle_sigterm: bool = True
    spool_dir: str | None = None
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES

    def uploader_config(self) -> UploaderConfig:
        return UploaderConfig(
            url=self.data_plane_url + "/v1/batch",
            write_key=self.write_key,
            gzip=self.gzip,
            gzip_level=self.gzip_level,
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            proxy_url=self.proxy_url,
            upload_size=self.upload_size,
            upload_interval_s=self.upload_interval_s,
            max_request_bytes=self.max_request_bytes,
            retry=self.retry,
            ca_certs=self.ca_certs,
            debug=self.debug,
        )


def build_config(
    write_key: Any,
    data_plane_url: Any,
    debug: Any,
    max_queue_size: Any,
    send: Any,
    on_error: Any,
    gzip: Any,
    max_retries: Any,
    sync_mode: Any,
    timeout: Any,
    proxies: Any,
    workers: Any,
    upload_size: Any,
    upload_interval: Any,
    *,
    max_event_bytes: Any = DEFAULT_MAX_EVENT_BYTES,
    max_request_bytes: Any = DEFAULT_MAX_REQUEST_BYTES,
    max_queue_bytes: Any = DEFAULT_MAX_QUEUE_BYTES,
    gzip_level: Any = DEFAULT_GZIP_LEVEL,
    queue_full: Any = "drop",
    queue_full_timeout: Any = DEFAULT_QUEUE_FULL_TIMEOUT_S,
    exit_timeout: Any = DEFAULT_EXIT_TIMEOUT_S,
    on_drop: Any = None,
    retry_policy: Any = None,
    ca_certs: Any = None,
    handle_sigterm: Any = True,
    spool_dir: Any = None,
    spool_max_bytes: Any = None,
) -> Config:
    """Validate the options as users pass them and return a ``Config``.

    Raises ``ConfigError`` naming the option, the rule and the value received (never the
    write key's value).
    """
    send = _require_bool("send", send)
    if not isinstance(write_key, str) or not write_key.strip():
        raise ConfigError(
            f"write_key must be a non-empty string (your source's write key), "
            f"got {type(write_key).__name__}"
        )
    if retry_policy is None:
        retry_policy = RetryPolicy()
    if not isinstance(retry_policy, RetryPolicy):
        raise ConfigError(
            f"retry_policy must be a rudder_fast.RetryPolicy, got {type(retry_policy).__name__}"
        )
    if max_retries is not None:
        # max_retries is the official SDK's option; it overrides the policy's count.
        max_retries = _require_int("max_retries", max_retries, minimum=0)
        retry_policy = replace(retry_policy, max_retries=max_retries)

    connect_timeout_s, read_timeout_s = _timeouts(timeout)
    url = _data_plane_url(data_plane_url, required=send)
    max_event_bytes = _require_int("max_event_bytes", max_event_bytes, minimum=256)
    max_request_bytes = _require_int("max_request_bytes", max_request_bytes, minimum=1)
    if max_request_bytes < max_event_bytes + 1024:
        raise ConfigError(
            f"max_request_bytes ({max_request_bytes}) must be at least max_event_bytes + 1024 "
            f"({max_event_bytes + 1024}), so the largest event and the batch envelope fit "
            "in one request; raise max_request_bytes or lower max_event_bytes"
        )
    if max_request_bytes > SERVER_MAX_REQUEST_BYTES:
        log.warning(
            "max_request_bytes=%d is above the data plane's default limit of %d bytes; "
            "requests over the server's limit get 413 and are split",
            max_request_bytes,
            SERVER_MAX_REQUEST_BYTES,
        )
    if queue_full not in ("drop", "block"):
        raise ConfigError(f'queue_full must be "drop" or "block", got {queue_full!r}')
    return Config(
        write_key=write_key,
        data_plane_url=url,
        debug=_require_bool("debug", debug),
        max_queue_size=_require_int("max_queue_size", max_queue_size, minimum=1),
        send=send,
        on_error=_require_callable("on_error", on_error),
        gzip=_require_bool("gzip", gzip),
        sync_mode=_require_bool("sync_mode", sync_mode),
        connect_timeout_s=connect_timeout_s,
        read_timeout_s=read_timeout_s,
        proxy_url=_proxy_url(proxies, url),
        workers=default_workers() if workers is None else _workers(workers),
        upload_size=_require_int("upload_size", upload_size, minimum=1),
        upload_interval_s=_require_seconds("upload_interval", upload_interval),
        max_event_bytes=max_event_bytes,
        max_request_bytes=max_request_bytes,
        max_queue_bytes=_require_int("max_queue_bytes", max_queue_bytes, minimum=max_event_bytes),
        gzip_level=_gzip_level(gzip_level),
        queue_full=queue_full,
        queue_full_timeout_s=_require_seconds("queue_full_timeout", queue_full_timeout, True),
        exit_timeout_s=_require_seconds("exit_timeout", exit_timeout, allow_zero=True),
        on_drop=_require_callable("on_drop", on_drop),
        retry=retry_policy,
        ca_certs=_ca_certs(ca_certs),
        handle_sigterm=_require_bool("handle_sigterm", handle_sigterm),
        spool_dir=_spool_dir(spool_dir),
        spool_max_bytes=(
            DEFAULT_SPOOL_MAX_BYTES
            if spool_max_bytes is None
            else _require_int("spool_max_bytes", spool_max_bytes, minimum=1024 * 1024)
        ),
    )


def _require_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})"
        )
    return value


# Choice: more uploaders than this only add processes contending for the same cores.
MAX_WORKERS = 64


def _workers(value: Any) -> int:
    workers = _require_int("thread", value, minimum=1)
    if workers > MAX_WORKERS:
        raise ConfigError(f"thread (workers) must be at most {MAX_WORKERS}, got {workers}")
    return workers


def _require_bool(name: str, value: Any) -> bool:
    """Accept a bool, 0 or 1, or None (False), as code written for the official SDK passes."""
    if value is None or value is True or value is False or value in (0, 1):
        return bool(value)
    raise ConfigError(
        f"{name} must be True or False, got {value!r} ({type(value).__name__}); a string "
        "such as 'false' would count as true"
    )


def _require_seconds(name: str, value: Any, allow_zero: bool = False) -> float:
    valid = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not valid:
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(
            f"{name} must be a finite number of seconds {bound}, "
            f"got {value!r} ({type(value).__name__})"
        )
    return float(value)


def _require_callable(name: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise ConfigError(f"{name} must be a callable or None, got {type(value).__name__}")
    return value


def _timeouts(timeout: Any) -> tuple[float, float]:
    """Accept seconds, or a ``(connect, read)`` pair as requests does."""
    if isinstance(timeout, tuple | list) and len(timeout) == 2:
        return (
            _require_seconds("timeout[0] (connect)", timeout[0]),
            _require_seconds("timeout[1] (read)", timeout[1]),
        )
    seconds = _require_seconds("timeout", timeout)
    return seconds, seconds


def _gzip_level(level: Any) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
        raise ConfigError(f"gzip_level must be an integer from 0 to 9, got {level!r}")
    return level


def _data_plane_url(url: Any, required: bool) -> str:
    if url is None or url == "":
        if required:
            raise ConfigError(
                "dataPlaneUrl is not set: pass your data plane's URL, for example "
                "'https://your-dataplane.example.com', or send=False to only validate"
            )
        return ""
    if not isinstance(url, str):
        raise ConfigError(f"dataPlaneUrl must be a string URL, got {type(url).__name__}")
    try:
        parsed = urllib3.util.parse_url(url.strip())
    except LocationParseError as error:
        raise ConfigError(f"dataPlaneUrl {url!r} is not a valid URL: {error}") from error
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(
            f"dataPlaneUrl {url!r} must be an absolute http:// or https:// URL "
            "with a host, for example 'https://your-dataplane.example.com'"
        )
    if parsed.path and parsed.path.rstrip("/").endswith("/v1/batch"):
        raise ConfigError(
            f"dataPlaneUrl {_without_auth(parsed)!r} must be the data plane's base URL, "
            "without /v1/batch: the SDK adds that path"
        )
    if parsed.query or parsed.fragment or parsed.auth:
        raise ConfigError(
            f"dataPlaneUrl {_without_auth(parsed)!r} must not contain credentials, "
            "a query or a fragment; the write key is sent by basic auth"
        )
    normalized = parsed.url.rstrip("/")
    if parsed.scheme == "http" and not _is_loopback(parsed.host):
        log.warning(
            "dataPlaneUrl uses plain http:// to %s: the write key and events cross the "
            "network unencrypted; use https://",
            parsed.host,
        )
    return normalized


def _without_auth(parsed: urllib3.util.Url) -> str:
    return parsed._replace(auth=None).url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _proxy_url(proxies: Any, data_plane_url: str) -> str | None:
    """Pick the proxy for the data plane's scheme from a requests-style option.

    Accepts ``None``, a ``"host:port"`` or URL string, or a mapping with ``"http"`` and
    ``"https"`` keys (as the official SDK and requests take).
    """
    if proxies is None or proxies in ({}, ""):
        return None
    if isinstance(proxies, str):
        proxy = proxies
    elif isinstance(proxies, Mapping):
        for key, value in proxies.items():
            if not isinstance(value, str):
                raise ConfigError(
                    f"proxies[{key!r}] must be a string URL, got {type(value).__name__}"
                )
        scheme = data_plane_url.split("://", 1)[0] if data_plane_url else "https"
        chosen = proxies.get(scheme) or proxies.get("all")
        if chosen is None:
            return None
        proxy = chosen
    else:
        raise ConfigError(
            "proxies must be a 'host:port' string or a mapping like "
            f"{{'https': 'http://proxy:3128'}}, got {type(proxies).__name__}"
        )
    if "://" not in proxy:
        proxy = "http://" + proxy
    try:
        parsed = urllib3.util.parse_url(proxy)
    except LocationParseError as error:
        raise ConfigError(f"proxy URL is not valid: {error}") from error
    if not parsed.host:
        raise ConfigError("proxy URL has no host: pass 'host:port' or 'http://host:port'")
    return proxy


def _spool_dir(path: Any) -> str | None:
    if path is None:
        return None
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise ConfigError(f"spool_dir must be a directory path, got {path!r}")
    directory: str = os.path.abspath(os.fspath(path))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ConfigError(f"spool_dir {directory!r} exists and is not a directory")
    return directory


def _ca_certs(path: Any) -> str | None:
    if path is None:
        return None
    if not isinstance(path, str | os.PathLike) or not os.path.isfile(path):
        raise ConfigError(f"ca_certs must be the path of a PEM file, got {path!r}")
    return os.fspath(path)
