"""Tests for gridedge.bus.inprocess: delivery, order, overflow, unsubscribe, sequence numbers."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from gridedge.bus import (
    Envelope,
    InProcessBus,
    OverflowPolicy,
    SubscriptionOverflowError,
    Transport,
)
from gridedge.clock import SimClock

START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Reading:
    watts: int


def make_bus(clock: SimClock | None = None) -> InProcessBus:
    counter = itertools.count(1)
    return InProcessBus(clock or SimClock(), id_factory=lambda: UUID(int=next(counter)))


def drain(sub: object) -> list[object]:
    """Payloads queued on a subscription, without waiting."""
    out: list[object] = []
    get = sub.get_nowait  # type: ignore[attr-defined]
    while (env := get()) is not None:
        out.append(env.payload)
    return out


def test_in_process_bus_is_a_transport() -> None:
    transport: Transport = make_bus()  # checked by mypy; the line below by pytest
    assert hasattr(transport, "publish") and hasattr(transport, "subscribe_callback")


def test_publish_stamps_envelope_from_clock_and_factory() -> None:
    clock = SimClock()
    bus = make_bus(clock)

    async def main() -> tuple[Envelope[Reading], Envelope[Reading]]:
        first = bus.publish("meter/p1/power", Reading(100), source="p1")
        await clock.advance(1.5)
        second = bus.publish("meter/p1/power", Reading(200), source="p1")
        return first, second

    first, second = asyncio.run(main())
    assert first.timestamp == START
    assert second.timestamp == START + timedelta(seconds=1.5)
    assert (first.message_id, second.message_id) == (UUID(int=1), UUID(int=2))
    assert first.payload == Reading(100) and first.topic == "meter/p1/power" and first.source == "p1"


def test_sequence_numbers_are_per_source() -> None:
    bus = make_bus()
    seqs = [
        (env.source, env.sequence)
        for env in (
            bus.publish("a", 1, source="p1"),
            bus.publish("b", 2, source="p1"),
            bus.publish("a", 3, source="hes"),
            bus.publish("c", 4, source="p1"),
            bus.publish("a", 5, source="hes"),
        )
    ]
    assert seqs == [("p1", 1), ("p1", 2), ("hes", 1), ("p1", 3), ("hes", 2)]
    assert bus.last_sequence("p1") == 3
    assert bus.last_sequence("nobody") == 0


def test_rejected_publish_does_not_consume_a_sequence_number() -> None:
    bus = make_bus()
    bus.publish("a", 1, source="p1")
    with pytest.raises(ValueError, match="wildcard"):
        bus.publish("a/+", 2, source="p1")
    with pytest.raises(ValueError, match="source"):
        bus.publish("a", 2, source="")
    assert bus.publish("a", 3, source="p1").sequence == 2


def test_routing_by_wildcards() -> None:
    bus = make_bus()
    everything = bus.subscribe("#")
    meter = bus.subscribe("meter/+/power")
    p1 = bus.subscribe("meter/p1/#")
    for i, topic in enumerate(["meter/p1/power", "meter/s1/power", "meter/p1/gas", "meter/p1", "hes/nrtd"]):
        bus.publish(topic, i, source="t")
    assert drain(everything) == [0, 1, 2, 3, 4]
    assert drain(meter) == [0, 1]
    assert drain(p1) == [0, 2, 3]


def test_subscribe_rejects_invalid_pattern_and_size() -> None:
    bus = make_bus()
    with pytest.raises(ValueError, match="'#' must be the last level"):
        bus.subscribe("a/#/b")
    with pytest.raises(ValueError, match="whole level"):
        bus.subscribe_callback("a+", lambda env: None)
    with pytest.raises(ValueError, match="maxsize"):
        bus.subscribe("a", maxsize=0)
    assert bus.subscriber_count == 0


def test_delivery_order_through_async_iteration() -> None:
    clock = SimClock()
    bus = make_bus(clock)
    received: dict[str, list[int]] = {"x": [], "y": []}

    async def consumer(name: str, ready: asyncio.Event) -> None:
        async with bus.subscribe("data/#", int) as sub:
            ready.set()
            async for env in sub:
                received[name].append(env.payload)
                if env.payload == 199:
                    return

    async def producer() -> None:
        for i in range(200):
            bus.publish(f"data/{i % 3}", i, source="gen")
            if i % 10 == 0:
                await clock.sleep(1)

    async def main() -> None:
        events = [asyncio.Event(), asyncio.Event()]
        consumers = [asyncio.create_task(consumer(n, e)) for n, e in zip("xy", events, strict=True)]
        await asyncio.gather(*(e.wait() for e in events))
        await producer()
        await asyncio.gather(*consumers)

    clock.run(main())
    assert received["x"] == list(range(200))
    assert received["y"] == list(range(200))
    assert bus.subscriber_count == 0  # both closed by their context managers


def test_waiting_consumer_is_woken_by_publish() -> None:
    bus = make_bus()

    async def main() -> object:
        sub = bus.subscribe("t")
        task = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
        assert not task.done()
        bus.publish("t", "hello", source="s")
        env = await asyncio.wait_for(task, timeout=1)
        return env.payload

    assert asyncio.run(main()) == "hello"


def test_publish_from_callback_keeps_one_global_order() -> None:
    # Subscriber "first" reacts to "in" by publishing "out"; "last" must still see in before out.
    bus = make_bus()
    seen: list[tuple[str, str]] = []
    bus.subscribe_callback("in", lambda env: bus.publish("out", "reply", source="cb"))
    bus.subscribe_callback("#", lambda env: seen.append(("cb", env.topic)))
    last = bus.subscribe("#")
    bus.publish("in", "request", source="s")
    assert seen == [("cb", "in"), ("cb", "out")]
    assert drain(last) == ["request", "reply"]


def test_drop_oldest_overflow_is_counted() -> None:
    bus = make_bus()
    slow = bus.subscribe("t", maxsize=3)
    fast = bus.subscribe("t", maxsize=100)
    assert slow.overflow is OverflowPolicy.DROP_OLDEST
    for i in range(1, 8):
        bus.publish("t", i, source="s")  # never blocks, never raises
    assert slow.dropped == 4
    assert slow.pending == 3
    assert drain(slow) == [5, 6, 7]
    assert fast.dropped == 0
    assert drain(fast) == [1, 2, 3, 4, 5, 6, 7]
    bus.publish("t", 8, source="s")
    assert drain(slow) == [8]
    assert slow.dropped == 4


def test_error_overflow_fails_the_subscriber_not_the_publisher() -> None:
    bus = make_bus()
    strict = bus.subscribe("t", maxsize=2, overflow="error")
    other = bus.subscribe("t")
    for i in range(1, 5):
        bus.publish("t", i, source="s")
    assert strict.overflow is OverflowPolicy.ERROR
    assert strict.closed and strict.dropped == 1
    assert drain(other) == [1, 2, 3, 4]

    async def main() -> list[object]:
        got: list[object] = []
        with pytest.raises(SubscriptionOverflowError, match="overflowed its queue of 2"):
            async for env in strict:
                got.append(env.payload)
        return got

    assert asyncio.run(main()) == [1, 2]  # what was queued before the overflow is not lost
    with pytest.raises(SubscriptionOverflowError):
        strict.get_nowait()


def test_unsubscribe_stops_delivery_and_ends_iteration() -> None:
    bus = make_bus()
    sub = bus.subscribe("t")
    calls: list[object] = []
    handle = bus.subscribe_callback("t", lambda env: calls.append(env.payload))
    bus.publish("t", 1, source="s")
    assert bus.subscriber_count == 2
    sub.unsubscribe()
    handle.unsubscribe()
    assert sub.closed and handle.closed
    assert bus.subscriber_count == 0
    bus.publish("t", 2, source="s")
    assert calls == [1]
    assert sub.get_nowait() is None  # queued envelope discarded on close

    async def main() -> list[object]:
        return [env async for env in sub]

    assert asyncio.run(main()) == []
    sub.close()  # idempotent


def test_close_wakes_a_waiting_consumer() -> None:
    bus = make_bus()

    async def main() -> list[object]:
        sub = bus.subscribe("t")
        task = asyncio.create_task(_collect(sub))
        await asyncio.sleep(0)
        bus.publish("t", 1, source="s")
        await asyncio.sleep(0)
        sub.close()
        return await asyncio.wait_for(task, timeout=1)

    assert asyncio.run(main()) == [1]


async def _collect(sub: object) -> list[object]:
    return [env.payload async for env in sub]  # type: ignore[attr-defined]


def test_callback_context_manager_unsubscribes() -> None:
    bus = make_bus()
    calls: list[object] = []
    with bus.subscribe_callback("t", lambda env: calls.append(env.payload)):
        bus.publish("t", 1, source="s")
    bus.publish("t", 2, source="s")
    assert calls == [1]


def test_unsubscribe_during_dispatch_skips_the_closed_subscriber() -> None:
    bus = make_bus()
    order: list[str] = []

    def killer(env: Envelope[object]) -> None:
        order.append("killer")
        victim.close()
        late.close()

    bus.subscribe_callback("t", killer)
    victim = bus.subscribe_callback("t", lambda env: order.append("victim"))
    late = bus.subscribe("t")
    bus.publish("t", 1, source="s")
    assert order == ["killer"]
    assert drain(late) == []
    assert bus.subscriber_count == 1


def test_callback_errors_are_reported_not_raised() -> None:
    errors: list[tuple[str, str]] = []
    bus = InProcessBus(SimClock(), on_callback_error=lambda env, exc: errors.append((env.topic, repr(exc))))
    after: list[object] = []

    def broken(env: Envelope[object]) -> None:
        raise ZeroDivisionError("bad consumer")

    bus.subscribe_callback("t", broken)
    bus.subscribe_callback("t", lambda env: after.append(env.payload))
    env = bus.publish("t", 1, source="s")  # does not raise
    assert env.sequence == 1
    assert errors == [("t", "ZeroDivisionError('bad consumer')")]
    assert after == [1]


def test_callback_errors_are_logged_by_default(caplog: pytest.LogCaptureFixture) -> None:
    bus = make_bus()
    bus.subscribe_callback("t", lambda env: 1 / 0)
    bus.publish("t", 1, source="s")
    assert "ZeroDivisionError" in caplog.text and "'t'" in caplog.text


def test_typed_subscriptions_report_wrong_payload_types() -> None:
    errors: list[BaseException] = []
    bus = InProcessBus(SimClock(), on_callback_error=lambda env, exc: errors.append(exc))
    sub = bus.subscribe("power", Reading)
    got: list[int] = []
    bus.subscribe_callback("power", lambda env: got.append(env.payload.watts), Reading)
    bus.publish("power", Reading(10), source="s")
    bus.publish("power", {"watts": 20}, source="s")  # a dict where a Reading is expected
    bus.publish("power", Reading(30), source="s")
    assert got == [10, 30]
    assert len(errors) == 1 and isinstance(errors[0], TypeError)
    assert "expects Reading payloads, got dict" in str(errors[0])

    env = sub.get_nowait()
    assert env is not None and env.payload.watts == 10
    with pytest.raises(TypeError, match=r"expects Reading payloads, got dict on topic 'power' from 's' #2"):
        sub.get_nowait()
    env = sub.get_nowait()
    assert env is not None and env.payload == Reading(30)


def test_subscription_only_sees_later_publishes() -> None:
    bus = make_bus()
    bus.publish("t", 1, source="s")
    sub = bus.subscribe("t")
    bus.publish("t", 2, source="s")
    assert drain(sub) == [2]


def test_routes_follow_subscription_changes() -> None:
    bus = make_bus()
    a = bus.subscribe("x/+")
    bus.publish("x/1", 1, source="s")  # fills the route cache for x/1
    b = bus.subscribe("x/1")
    bus.publish("x/1", 2, source="s")
    a.close()
    bus.publish("x/1", 3, source="s")
    assert drain(a) == []
    assert drain(b) == [2, 3]


def test_closed_bus_ends_subscriptions_and_refuses_publish() -> None:
    bus = make_bus()

    async def main() -> list[object]:
        sub = bus.subscribe("t")
        task = asyncio.create_task(_collect(sub))
        await asyncio.sleep(0)
        await bus.close()
        return await asyncio.wait_for(task, timeout=1)

    assert asyncio.run(main()) == []
    assert bus.closed and bus.subscriber_count == 0
    with pytest.raises(RuntimeError, match="closed"):
        bus.publish("t", 1, source="s")
    with pytest.raises(RuntimeError, match="closed"):
        bus.subscribe("t")
