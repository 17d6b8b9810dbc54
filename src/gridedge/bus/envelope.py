"""The bus message envelope, MQTT topic rules, and the contract every transport implements.

Topics follow MQTT 3.1.1/5 so that the in-process bus and the MQTT transport route identically:
levels are separated by `/`, a subscription filter may use `+` for exactly one level and `#`
(last, alone in its level) for any number of levels including none, and filters starting with a
wildcard do not match topics starting with `$` (broker-internal topics such as `$SYS/...`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, TypeVar, overload
from uuid import UUID

__all__ = [
    "CallbackSubscription",
    "Envelope",
    "Subscription",
    "TopicFilter",
    "Transport",
    "topic_matches",
    "validate_topic",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# MQTT encodes topic strings with a 16-bit length prefix.
MAX_TOPIC_BYTES = 65_535


@dataclass(frozen=True, slots=True)
class Envelope(Generic[T_co]):
    """One message on the bus: a typed payload plus where, who, which and when.

    `sequence` counts per `source`, starting at 1, so a receiver can spot gaps and replays.
    `timestamp` comes from the publisher's injected clock (UTC). `message_id` is unique per
    message, across restarts too (sequence numbers restart with the process).
    """

    topic: str
    payload: T_co
    source: str
    sequence: int
    timestamp: datetime
    message_id: UUID

    def __post_init__(self) -> None:
        validate_topic(self.topic)
        if not self.source:
            raise ValueError("envelope source must be a non-empty string")
        if self.sequence < 1:
            raise ValueError(f"envelope sequence must be >= 1, got {self.sequence}")
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError(f"envelope timestamp must be timezone-aware, got {self.timestamp.isoformat()}")


@functools.lru_cache(maxsize=4096)
def validate_topic(topic: str) -> None:
    """Raise ValueError unless `topic` is a valid MQTT topic name to publish on.

    A name is non-empty, at most 65535 UTF-8 bytes, without NUL and without the wildcards
    `+` and `#`. Empty levels (`a//b`) are allowed, as in MQTT. Valid names are cached.
    """
    _check_common(topic, "topic")
    for ch in ("+", "#"):
        if ch in topic:
            raise ValueError(
                f"topic {topic!r}: wildcard {ch!r} at index {topic.index(ch)} is only allowed "
                "in subscription filters, not in a topic to publish on"
            )


def _check_common(text: str, what: str) -> None:
    if not text:
        raise ValueError(f"{what} must not be empty")
    if "\x00" in text:
        raise ValueError(f"{what} {text!r}: NUL character at index {text.index(chr(0))}")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_TOPIC_BYTES:
        raise ValueError(f"{what} is {size} bytes in UTF-8; MQTT allows at most {MAX_TOPIC_BYTES}")


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """A validated subscription pattern, split into levels once so matching is cheap."""

    pattern: str
    levels: tuple[str, ...]

    @classmethod
    def parse(cls, pattern: str) -> TopicFilter:
        """Validate an MQTT subscription filter; raise ValueError saying what is wrong and where."""
        _check_common(pattern, "topic filter")
        levels = tuple(pattern.split("/"))
        for i, level in enumerate(levels):
            if level in ("+", "#"):
                if level == "#" and i != len(levels) - 1:
                    raise ValueError(
                        f"topic filter {pattern!r}: '#' must be the last level "
                        f"(found at level {i} of {len(levels)})"
                    )
                continue
            for ch in ("+", "#"):
                if ch in level:
                    raise ValueError(
                        f"topic filter {pattern!r}: wildcard {ch!r} must occupy a whole level, "
                        f"found in level {i} {level!r}"
                    )
        return cls(pattern, levels)

    def matches(self, topic: str) -> bool:
        """True if the topic name `topic` (assumed valid) is selected by this filter."""
        names = topic.split("/")
        if names[0].startswith("$") and self.levels[0] in ("+", "#"):
            return False
        for i, level in enumerate(self.levels):
            if level == "#":
                return True  # also matches the parent: 'a/#' selects 'a'
            if i >= len(names) or (level != "+" and level != names[i]):
                return False
        return len(names) == len(self.levels)

    def __str__(self) -> str:
        return self.pattern


def topic_matches(pattern: str, topic: str) -> bool:
    """True if MQTT filter `pattern` selects topic name `topic`; raises ValueError if either is invalid."""
    validate_topic(topic)
    return TopicFilter.parse(pattern).matches(topic)


class Subscription(Protocol[T_co]):
    """A queue of envelopes for one consumer: iterate with `async for`, close when done.

    Use as `async with transport.subscribe(...) as sub:` so it is closed on exit. After `close()`
    no further envelopes are delivered and iteration ends.
    """

    @property
    def filter(self) -> TopicFilter: ...

    @property
    def dropped(self) -> int:
        """Envelopes lost because this subscription's queue was full."""
        ...

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[Envelope[T_co]]: ...

    async def __anext__(self) -> Envelope[T_co]: ...

    async def __aenter__(self) -> Subscription[T_co]: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class CallbackSubscription(Protocol):
    """Handle of a synchronous callback subscriber; `close()` stops further calls."""

    @property
    def filter(self) -> TopicFilter: ...

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """What every bus transport offers (in-process now, MQTT later).

    `publish` never blocks: it stamps the envelope (source sequence, clock time, id), hands it
    over and returns it. Delivery order is publish order for every subscriber. `payload_type`
    states what a subscriber expects; an envelope whose payload is not an instance is reported
    to that subscriber as a TypeError instead of being passed on.
    """

    def publish(self, topic: str, payload: T, *, source: str) -> Envelope[T]: ...

    @overload
    def subscribe(self, pattern: str, *, maxsize: int = ...) -> Subscription[object]: ...

    @overload
    def subscribe(self, pattern: str, payload_type: type[T], *, maxsize: int = ...) -> Subscription[T]: ...

    @overload
    def subscribe_callback(
        self, pattern: str, callback: Callable[[Envelope[object]], object]
    ) -> CallbackSubscription: ...

    @overload
    def subscribe_callback(
        self, pattern: str, callback: Callable[[Envelope[T]], object], payload_type: type[T]
    ) -> CallbackSubscription: ...

    async def close(self) -> None:
        """Close the transport and every subscription on it; later publishes raise RuntimeError."""
        ...
