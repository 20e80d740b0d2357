"""The benchmark's input: SDK calls replayed from an NDJSON file or made by a seeded generator."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

import rudder_fast
from rudder_fast._events_file import EventCall, InvalidEvent, call_from_event

__all__ = ["EventCall", "Workload", "generate", "replay"]


# Choice: distinct generated events, cycled to reach the event count. 200,000 distinct
# events would take about 530 MB in the producer; 4,096 take about 11 MB.
GENERATED_TEMPLATES = 4096

# Choice: sizes of generated events, serialized as the SDK sends them, near those of real
# RudderStack events (a sample of 181 has a median of 862 bytes). A log-normal spread
# around the median and a small share of large events (a cart of products) make the tail.
MEDIAN_EVENT_BYTES = 850
SIZE_SIGMA = 0.35
LARGE_EVENT_SHARE = 0.03
MIN_EVENT_BYTES = 350
MAX_EVENT_BYTES = 8 * 1024

# Bytes that the SDK adds to the arguments: messageId, timestamp, type, channel,
# context.library, the keys themselves and JSON punctuation. Chosen so that rudder_fast's
# serialized messages from seed 0 to 9 have a median of 848 to 865 bytes.
SDK_ADDED_BYTES = 290


@dataclass(frozen=True, slots=True)
class Workload:
    """Distinct SDK calls, cycled to make any number of events, and where they came from."""

    templates: list[EventCall]
    source: str
    lines_read: int
    invalid_lines: dict[str, int]

    def calls(self, count: int) -> list[EventCall]:
        """Return ``count`` calls, cycling through the templates in order."""
        templates = self.templates
        size = len(templates)
        return [templates[i % size] for i in range(count)]

    def kinds(self) -> dict[str, int]:
        """Count the templates by call (``track``, ``identify``, ...)."""
        return dict(Counter(kind for kind, _ in self.templates))


# -- replay ------------------------------------------------------------------------------


class _InvalidEvent(ValueError):
    """A line that cannot be turned into an SDK call; the message is the counted reason."""


def replay(path: Path) -> Workload:
    """Read one RudderStack event per line and map each to the SDK call of its ``type``.

    Blank lines are skipped. A line that is not a JSON object, has an unknown ``type``,
    or is rejected by rudder_fast's own validation (run with ``send=False``) is counted
    as invalid, by reason, and left out. Each replayed copy gets a fresh ``messageId``
    from the SDK, so every event sent is unique.
    """
    templates: list[EventCall] = []
    invalid: Counter[str] = Counter()
    lines_read = 0
    validator = rudder_fast.Client("validation-only", send=False, workers=1)
    try:
        with path.open("rb") as file:
            for line in file:
                if not line.strip():
                    continue
                lines_read += 1
                try:
                    call = _call_from_line(line)
                    _validate(validator, call)
                except _InvalidEvent as error:
                    invalid[str(error)] += 1
                    continue
                templates.append(call)
    finally:
        validator.shutdown(0)
    return Workload(templates, str(path), lines_read, dict(invalid))


def _call_from_line(line: bytes) -> EventCall:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise _InvalidEvent("not valid JSON") from error
    try:
        return call_from_event(event, keep_message_id=False)
    except InvalidEvent as error:
        raise _InvalidEvent(str(error)) from error


def _validate(validator: rudder_fast.Client, call: EventCall) -> None:
    kind, args = call
    try:
        accepted, _ = getattr(validator, kind)(*args)
    except rudder_fast.EventValidationError as error:
        raise _InvalidEvent(f"rejected by the SDK: {error}") from error
    if not accepted:
        raise _InvalidEvent("rejected by the SDK: unserializable or over max_event_bytes")


# -- generator ---------------------------------------------------------------------------

_TRACK_EVENTS = (
    "Product Viewed",
    "Product Added",
    "Cart Viewed",
    "Checkout Started",
    "Order Completed",
    "Coupon Applied",
    "Article Read",
    "Video Played",
    "Search Performed",
    "Signed Up",
    "Button Clicked",
    "Form Submitted",
    "Subscription Renewed",
    "Push Opened",
)
_PAGES = (
    ("Docs", "Getting Started"),
    ("Shop", "Product Detail"),
    ("Shop", "Cart"),
    ("Blog", "Release Notes"),
    ("Account", "Settings"),
    ("Marketing", "Pricing"),
)
_USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
)
_LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "ja-JP", "pt-BR")
_WORDS = (
    "alpha",
    "bravo",
    "cobalt",
    "delta",
    "ember",
    "falcon",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lumen",
    "meridian",
    "nimbus",
    "onyx",
    "prism",
    "quartz",
    "raven",
)
_CURRENCIES = ("USD", "EUR", "GBP", "INR", "JPY")
_CATEGORIES = ("apparel", "books", "electronics", "garden", "grocery", "toys")


def generate(seed: int, count: int) -> Workload:
    """Make ``min(count, GENERATED_TEMPLATES)`` track, identify and page calls from ``seed``.

    About 75 % are track, 15 % identify and 10 % page. Serialized sizes follow a
    log-normal around MEDIAN_EVENT_BYTES, and LARGE_EVENT_SHARE of the events carry a
    list of products that brings them up to MAX_EVENT_BYTES.
    """
    rng = random.Random(seed)
    templates = [_generated_call(rng) for _ in range(min(count, GENERATED_TEMPLATES))]
    return Workload(templates, f"generated (seed={seed})", 0, {})


def _generated_call(rng: random.Random) -> EventCall:
    target = _target_size(rng)
    user_id = None if rng.random() < 0.2 else f"user-{rng.randrange(10**7)}"
    anonymous_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    context = _context(rng)
    draw = rng.random()

    if draw < 0.75:
        event = rng.choice(_TRACK_EVENTS)
        properties: dict[str, Any] = {}
        _fill(rng, properties, target, (event, context, anonymous_id, user_id))
        args: tuple[Any, ...] = (
            user_id,
            event,
            properties,
            context,
            None,
            anonymous_id,
            None,
            None,
        )
        return "track", args

    if draw < 0.90:
        traits: dict[str, Any] = {
            "email": f"user{rng.randrange(10**6)}@example.com",
            "name": f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS).title()}",
            "plan": rng.choice(("free", "team", "enterprise")),
        }
        _fill(rng, traits, target, (context, anonymous_id, user_id))
        return "identify", (user_id, traits, context, None, anonymous_id, None, None)

    category, name = rng.choice(_PAGES)
    path = f"/{category.lower()}/{rng.choice(_WORDS)}-{rng.randrange(1000)}"
    properties = {
        "path": path,
        "url": f"https://www.example.com{path}",
        "title": f"{name} | Example",
        "referrer": "https://www.example.org/",
        "search": "",
    }
    _fill(rng, properties, target, (category, name, context, anonymous_id, user_id))
    args = (user_id, category, name, properties, context, None, anonymous_id, None, None)
    return "page", args


def _target_size(rng: random.Random) -> int:
    if rng.random() < LARGE_EVENT_SHARE:
        return rng.randrange(2048, MAX_EVENT_BYTES + 1)
    size = MEDIAN_EVENT_BYTES * math.exp(rng.gauss(0.0, SIZE_SIGMA))
    return int(min(max(size, MIN_EVENT_BYTES), MAX_EVENT_BYTES))


def _context(rng: random.Random) -> dict[str, Any]:
    context: dict[str, Any] = {
        "ip": f"203.0.113.{rng.randrange(1, 255)}",
        "locale": rng.choice(_LOCALES),
        "userAgent": rng.choice(_USER_AGENTS),
    }
    if rng.random() < 0.5:
        context["app"] = {"name": "Example Shop", "version": f"4.{rng.randrange(20)}.0"}
        context["os"] = {"name": rng.choice(("iOS", "Android", "macOS")), "version": "17.1"}
    return context


def _fill(rng: random.Random, fields: dict[str, Any], target: int, rest: tuple[Any, ...]) -> None:
    """Add fields to ``fields`` until the estimated event reaches ``target`` bytes.

    The last field overshoots the target by its own size, a few dozen bytes.
    """
    base = len(orjson.dumps(rest)) + SDK_ADDED_BYTES

    def size() -> int:
        return base + len(orjson.dumps(fields))

    if target >= 2048:
        fields["products"] = products = []
        while size() < target - 300:
            products.append(_product(rng))
    makers = _property_makers(rng)
    while size() < target:
        key, value = next(makers)
        fields[key] = value


def _property_makers(rng: random.Random) -> Iterator[tuple[str, Any]]:
    """Yield property fields in a random order, then numbered custom attributes."""
    makers: list[Callable[[], tuple[str, Any]]] = [
        lambda: ("product_id", f"prod-{rng.randrange(10**6)}"),
        lambda: ("sku", f"SKU-{rng.randrange(10**5):05d}-{rng.choice(_WORDS).upper()}"),
        lambda: ("price", round(rng.uniform(1, 500), 2)),
        lambda: ("quantity", rng.randint(1, 10)),
        lambda: ("currency", rng.choice(_CURRENCIES)),
        lambda: ("category", rng.choice(_CATEGORIES)),
        lambda: ("session_id", f"{rng.getrandbits(64):016x}"),
        lambda: ("is_logged_in", rng.random() < 0.6),
        lambda: ("experiment", {"name": f"exp-{rng.choice(_WORDS)}", "variant": "B"}),
        lambda: ("tags", rng.sample(_WORDS, rng.randint(1, 5))),
        lambda: (
            "campaign",
            {
                "source": "newsletter",
                "medium": "email",
                "name": f"{rng.choice(_WORDS)}-{rng.randrange(100)}",
            },
        ),
        lambda: ("revenue", round(rng.uniform(0, 2000), 2)),
        lambda: ("description", " ".join(rng.choices(_WORDS, k=rng.randint(4, 12)))),
    ]
    rng.shuffle(makers)
    yield from (make() for make in makers)
    number = 0
    while True:
        number += 1
        yield f"attribute_{number}", " ".join(rng.choices(_WORDS, k=rng.randint(1, 4)))


def _product(rng: random.Random) -> dict[str, Any]:
    word = rng.choice(_WORDS)
    return {
        "product_id": f"prod-{rng.randrange(10**6)}",
        "sku": f"SKU-{rng.randrange(10**5):05d}",
        "name": f"{word.title()} {rng.choice(_CATEGORIES).title()}",
        "price": round(rng.uniform(1, 500), 2),
        "quantity": rng.randint(1, 4),
        "category": rng.choice(_CATEGORIES),
        "url": f"https://www.example.com/p/{word}-{rng.randrange(10**4)}",
    }
