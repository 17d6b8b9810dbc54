"""In-process publish/subscribe: the embedded default transport, one asyncio loop, no sockets.

Why it looks like this:

* `publish` is synchronous and never blocks or awaits, so the meter reader that publishes a
  telegram every second cannot be held up by a slow dashboard. Each queue subscriber has its own
  bounded queue; when it is full the overflow policy decides (default: drop the oldest envelope
  and count it in `Subscription.dropped`).
* Callback subscribers are called synchronously inside `publish`, for consumers that must react
  within the same loop iteration (near-to-power-limit notification, limit guard). They must be
  quick and must not block; their exceptions are reported, never raised into the publisher.
* Every subscriber sees envelopes in publish order. A publish made from inside a callback is
  queued and dispatched after the current envelope has reached every subscriber.

Everything runs on the loop thread; a blocking reader thread hands data over with
`loop.call_soon_threadsafe(bus.publish, ...)`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from types import TracebackType
from typing import Any, Generic, Literal, Protocol, TypeVar, overload
from uuid import UUID, uuid4

from gridedge.bus.envelope import Envelope, TopicFilter
from gridedge.clock import Clock

__all__ = [
    "CallbackHandle",
    "InProcessBus",
    "OverflowPolicy",
    "QueueSubscription",
    "SubscriptionOverflowError",
]

T = TypeVar("T")

_log = logging.getLogger(__name__)

# Route cache size: topics usually form a small fixed set, but ids in topics could grow it.
_MAX_ROUTES = 4096


class OverflowPolicy(StrEnum):
    """What a full subscription queue does with a new envelope.

    DROP_OLDEST: discard the oldest queued envelope, keep the new one, count one drop.
    ERROR: count one drop and fail the subscription: the consumer receives what was queued,
    then `SubscriptionOverflowError`; nothing more is delivered. The publisher is never affected.
    """

    DROP_OLDEST = "drop_oldest"
    ERROR = "error"


class SubscriptionOverflowError(RuntimeError):
    """Raised to a consumer whose queue overflowed under `OverflowPolicy.ERROR`."""


CallbackErrorHandler = Callable[[Envelope[object], Exception], object]


class QueueSubscription(Generic[T]):
    """A bounded queue of envelopes for one consumer, filled by the bus, read with `async for`.

    Created by `InProcessBus.subscribe`. `close()` (alias `unsubscribe()`) detaches it: queued
    envelopes are discarded, waiting readers are woken and iteration ends.
    """

    def __init__(
        self,
        bus: InProcessBus,
        topic_filter: TopicFilter,
        payload_type: type[T],
        maxsize: int,
        overflow: OverflowPolicy,
    ) -> None:
        self._bus = bus
        self._filter = topic_filter
        self._payload_type = payload_type
        self._maxsize = maxsize
        self._overflow = overflow
        self._queue: deque[Envelope[object]] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._dropped = 0
        self._closed = False
        self._failed = False

    def __repr__(self) -> str:
        state = "failed" if self._failed else "closed" if self._closed else "open"
        return (
            f"<QueueSubscription {self._filter.pattern!r} {state} "
            f"pending={len(self._queue)}/{self._maxsize} dropped={self._dropped}>"
        )

    @property
    def filter(self) -> TopicFilter:
        return self._filter

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @property
    def overflow(self) -> OverflowPolicy:
        return self._overflow

    @property
    def dropped(self) -> int:
        """Envelopes lost because the queue was full (see `OverflowPolicy`)."""
        return self._dropped

    @property
    def pending(self) -> int:
        """Envelopes queued and not yet read."""
        return len(self._queue)

    @property
    def closed(self) -> bool:
        """True once closed by the consumer or the bus, or failed by overflow."""
        return self._closed

    def close(self) -> None:
        """Stop delivery, discard queued envelopes and end iteration. Idempotent."""
        if not self._closed:
            self._closed = True
            self._bus._remove(self)
        if not self._failed:
            self._queue.clear()
        self._wake()

    unsubscribe = close

    def get_nowait(self) -> Envelope[T] | None:
        """Next queued envelope, or None if there is none (raises like `__anext__` on failure)."""
        if self._queue:
            return self._checked(self._queue.popleft())
        if self._failed:
            raise self._overflow_error()
        return None

    def __aiter__(self) -> QueueSubscription[T]:
        return self

    async def __anext__(self) -> Envelope[T]:
        while not self._queue:
            if self._failed:
                raise self._overflow_error()
            if self._closed:
                raise StopAsyncIteration
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        return self._checked(self._queue.popleft())

    async def __aenter__(self) -> QueueSubscription[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- bus side

    def _deliver(self, envelope: Envelope[object]) -> None:
        if self._closed:
            return
        if len(self._queue) >= self._maxsize:
            self._dropped += 1
            if self._overflow is OverflowPolicy.ERROR:
                self._failed = True
                self.close()
                return
            self._queue.popleft()
        self._queue.append(envelope)
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _checked(self, envelope: Envelope[object]) -> Envelope[T]:
        if not isinstance(envelope.payload, self._payload_type):
            raise TypeError(
                f"subscription {self._filter.pattern!r} expects {self._payload_type.__qualname__} payloads, "
                f"got {type(envelope.payload).__qualname__} on topic {envelope.topic!r} "
                f"from {envelope.source!r} #{envelope.sequence}"
            )
        return envelope  # type: ignore[return-value]  # checked just above

    def _overflow_error(self) -> SubscriptionOverflowError:
        return SubscriptionOverflowError(
            f"subscription {self._filter.pattern!r} overflowed its queue of {self._maxsize} "
            f"and was closed ({self._dropped} envelope(s) dropped); read faster or raise maxsize"
        )


class CallbackHandle(Generic[T]):
    """A synchronous subscriber registered with `InProcessBus.subscribe_callback`.

    Usable as a (sync) context manager; `close()` (alias `unsubscribe()`) stops further calls.
    """

    def __init__(
        self,
        bus: InProcessBus,
        topic_filter: TopicFilter,
        callback: Callable[[Envelope[T]], object],
        payload_type: type[T],
    ) -> None:
        self._bus = bus
        self._filter = topic_filter
        self._callback = callback
        self._payload_type = payload_type
        self._closed = False

    def __repr__(self) -> str:
        return f"<CallbackHandle {self._filter.pattern!r} {'closed' if self._closed else 'open'}>"

    @property
    def filter(self) -> TopicFilter:
        return self._filter

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bus._remove(self)

    unsubscribe = close

    def __enter__(self) -> CallbackHandle[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _deliver(self, envelope: Envelope[object]) -> None:
        if self._closed:
            return
        try:
            if not isinstance(envelope.payload, self._payload_type):
                raise TypeError(
                    f"callback subscription {self._filter.pattern!r} expects "
                    f"{self._payload_type.__qualname__} payloads, got {type(envelope.payload).__qualname__} "
                    f"on topic {envelope.topic!r} from {envelope.source!r} #{envelope.sequence}"
                )
            self._callback(envelope)  # type: ignore[arg-type]  # payload type checked above
        except Exception as exc:
            self._bus._report_callback_error(envelope, exc)


class _Subscriber(Protocol):
    @property
    def filter(self) -> TopicFilter: ...

    def close(self) -> None: ...

    def _deliver(self, envelope: Envelope[object]) -> None: ...


class InProcessBus:
    """Publish/subscribe between the components of one process, with MQTT topic semantics.

    `clock` stamps envelopes; `id_factory` makes message ids (inject a deterministic one in
    tests); `on_callback_error(envelope, exc)` receives exceptions from callback subscribers
    (default: log them). Implements `gridedge.bus.Transport`.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        id_factory: Callable[[], UUID] = uuid4,
        on_callback_error: CallbackErrorHandler | None = None,
    ) -> None:
        self._clock = clock
        self._id_factory = id_factory
        self._on_callback_error = on_callback_error
        self._subscribers: list[_Subscriber] = []
        self._routes: dict[str, tuple[_Subscriber, ...]] = {}
        self._sequences: dict[str, int] = {}
        self._backlog: deque[Envelope[object]] = deque()
        self._dispatching = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<InProcessBus subscribers={len(self._subscribers)} closed={self._closed}>"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def subscriber_count(self) -> int:
        """Open queue and callback subscriptions."""
        return len(self._subscribers)

    def last_sequence(self, source: str) -> int:
        """Sequence number of the last envelope published by `source` (0 if none yet)."""
        return self._sequences.get(source, 0)

    def publish(self, topic: str, payload: T, *, source: str) -> Envelope[T]:
        """Stamp `payload` into an envelope and deliver it to every matching subscriber.

        Never blocks. Raises ValueError for an invalid topic (e.g. one containing a wildcard) or an
        empty source, without consuming a sequence number; RuntimeError once the bus is closed.
        """
        if self._closed:
            raise RuntimeError(f"publish on {topic!r}: the bus is closed")
        sequence = self._sequences.get(source, 0) + 1
        envelope = Envelope(topic, payload, source, sequence, self._clock.now(), self._id_factory())
        self._sequences[source] = sequence
        self._backlog.append(envelope)
        if not self._dispatching:
            self._dispatch()
        return envelope

    @overload
    def subscribe(
        self,
        pattern: str,
        *,
        maxsize: int = ...,
        overflow: OverflowPolicy | Literal["drop_oldest", "error"] = ...,
    ) -> QueueSubscription[object]: ...

    @overload
    def subscribe(
        self,
        pattern: str,
        payload_type: type[T],
        *,
        maxsize: int = ...,
        overflow: OverflowPolicy | Literal["drop_oldest", "error"] = ...,
    ) -> QueueSubscription[T]: ...

    def subscribe(
        self,
        pattern: str,
        payload_type: type[Any] = object,
        *,
        maxsize: int = 1024,
        overflow: OverflowPolicy | Literal["drop_oldest", "error"] = OverflowPolicy.DROP_OLDEST,
    ) -> QueueSubscription[Any]:
        """Queue envelopes whose topic matches MQTT filter `pattern` for an `async for` consumer.

        Only envelopes published after this call are delivered. `payload_type` (a class) is what
        the consumer expects; a payload of another type makes iteration raise TypeError for that
        envelope. Raises ValueError for an invalid pattern or `maxsize < 1`.
        """
        topic_filter = TopicFilter.parse(pattern)
        if maxsize < 1:
            raise ValueError(f"subscription maxsize must be >= 1, got {maxsize}")
        sub = QueueSubscription(self, topic_filter, payload_type, maxsize, OverflowPolicy(overflow))
        self._add(sub)
        return sub

    @overload
    def subscribe_callback(
        self, pattern: str, callback: Callable[[Envelope[object]], object]
    ) -> CallbackHandle[object]: ...

    @overload
    def subscribe_callback(
        self, pattern: str, callback: Callable[[Envelope[T]], object], payload_type: type[T]
    ) -> CallbackHandle[T]: ...

    def subscribe_callback(
        self,
        pattern: str,
        callback: Callable[[Envelope[Any]], object],
        payload_type: type[Any] = object,
    ) -> CallbackHandle[Any]:
        """Call `callback(envelope)` synchronously inside `publish` for every matching envelope.

        Exceptions from the callback (and payloads that are not `payload_type`, as TypeError) go
        to the bus's `on_callback_error`, never to the publisher. Raises ValueError for an
        invalid pattern.
        """
        handle = CallbackHandle(self, TopicFilter.parse(pattern), callback, payload_type)
        self._add(handle)
        return handle

    async def close(self) -> None:
        """Close every subscription (ending their iteration) and refuse further publishes."""
        self.close_nowait()

    def close_nowait(self) -> None:
        """Synchronous `close()`, for shutdown paths outside a coroutine."""
        self._closed = True
        for sub in list(self._subscribers):
            sub.close()
        self._backlog.clear()

    # ---- internals

    def _add(self, sub: _Subscriber) -> None:
        if self._closed:
            raise RuntimeError(f"subscribe to {sub.filter.pattern!r}: the bus is closed")
        self._subscribers.append(sub)
        self._routes.clear()

    def _remove(self, sub: _Subscriber) -> None:
        try:
            self._subscribers.remove(sub)
        except ValueError:
            return
        self._routes.clear()

    def _route(self, topic: str) -> tuple[_Subscriber, ...]:
        route = self._routes.get(topic)
        if route is None:
            route = tuple(s for s in self._subscribers if s.filter.matches(topic))
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            self._routes[topic] = route
        return route

    def _dispatch(self) -> None:
        # Breadth-first: envelopes published by callbacks wait in the backlog until the current
        # envelope has reached every subscriber, so all subscribers see one global order.
        self._dispatching = True
        try:
            while self._backlog:
                envelope = self._backlog.popleft()
                for sub in self._route(envelope.topic):
                    sub._deliver(envelope)
        finally:
            self._dispatching = False

    def _report_callback_error(self, envelope: Envelope[object], exc: Exception) -> None:
        if self._on_callback_error is not None:
            self._on_callback_error(envelope, exc)
        else:
            _log.error(
                "bus callback subscriber raised %s on topic %r (%s #%d)",
                type(exc).__name__,
                envelope.topic,
                envelope.source,
                envelope.sequence,
                exc_info=exc,
            )
