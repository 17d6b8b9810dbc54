"""Tests for gridedge.bus.mqtt against the real Mosquitto broker on 127.0.0.1:1883.

Every test uses its own topic prefix (a uuid), so tests never see each other's messages, and runs
under `asyncio.timeout`, so a broken broker fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import pytest

from gridedge.bus import Envelope, Transport
from gridedge.bus.codec import DEFAULT_REGISTRY, CodecError
from gridedge.bus.mqtt import MqttTransport
from gridedge.clock import RealClock
from gridedge.model.flex import FlexDirection, FlexDispatch, FlexOffer, FlexRequest, FlexSettlement
from gridedge.model.limits import (
    Direction,
    FailsafeValues,
    Heartbeat,
    LimitState,
    LpcState,
    PowerLimit,
    Rejected,
    Transition,
)
from gridedge.model.overload import OverloadWarning
from gridedge.model.reading import MeterReading
from gridedge.ports.p1 import decode
from gridedge.ports.p1.framer import TelegramFramer

TIMEOUT = 20.0
CAPTURE = Path(__file__).resolve().parents[2] / "examples" / "iskra-am550-p1-capture.txt"
R = TypeVar("R")


def run(main: Callable[[str], Awaitable[R]]) -> R:
    """Run `main(prefix)` with a fresh topic prefix and a hard timeout."""

    async def bounded() -> R:
        async with asyncio.timeout(TIMEOUT):
            return await main(f"gridedge-test/{uuid4().hex}")

    return asyncio.run(bounded())


def transport(prefix: str, **kwargs: Any) -> MqttTransport:
    kwargs.setdefault("backoff_initial_s", 0.05)
    kwargs.setdefault("backoff_max_s", 0.5)
    return MqttTransport(RealClock(), topic_prefix=prefix, **kwargs)


async def take(sub: Any, n: int) -> list[Envelope[Any]]:
    out = []
    async for env in sub:
        out.append(env)
        if len(out) == n:
            break
    return out


def test_is_a_transport() -> None:
    async def main(prefix: str) -> None:
        t: Transport = transport(prefix)
        await t.close()

    run(main)


def test_publish_subscribe_between_two_connections() -> None:
    async def main(prefix: str) -> None:
        async with transport(prefix) as pub, transport(prefix) as sub_side:
            sub = sub_side.subscribe("home/+/limit", PowerLimit)
            await sub_side.wait_subscribed()
            sent = pub.publish("home/cem/limit", PowerLimit(4000.0, True), source="dso")
            [got] = await take(sub, 1)
            assert got == sent
            assert got.payload == PowerLimit(4000.0, True)
            await pub.flush()
            assert pub.stats.sent == 1 and pub.stats.dropped_outgoing == 0
            assert sub_side.stats.received == 1

    run(main)


def test_wildcards_and_prefix_isolation() -> None:
    async def main(prefix: str) -> None:
        other_prefix = f"gridedge-test/{uuid4().hex}"
        async with transport(prefix) as a, transport(prefix) as b, transport(other_prefix) as stranger:
            hash_all = b.subscribe("#")
            plus = b.subscribe("meter/+/reading")
            exact = b.subscribe("meter/1/reading")
            seen: list[str] = []
            b.subscribe_callback("meter/#", lambda env: seen.append(env.topic))
            await b.wait_subscribed()
            stranger.publish("meter/1/reading", "not for you", source="x")
            await stranger.flush()
            for topic in ("meter/1/reading", "meter/2/reading", "meter/1/reading/extra", "meter", "other"):
                a.publish(topic, topic, source="a")
            assert [e.payload for e in await take(hash_all, 5)] == [
                "meter/1/reading",
                "meter/2/reading",
                "meter/1/reading/extra",
                "meter",
                "other",
            ]
            assert [e.payload for e in await take(plus, 2)] == ["meter/1/reading", "meter/2/reading"]
            assert [e.payload for e in await take(exact, 1)] == ["meter/1/reading"]
            assert plus.pending == 0 and exact.pending == 0
            assert seen == ["meter/1/reading", "meter/2/reading", "meter/1/reading/extra", "meter"]
            # overlapping filters: each envelope reached each local subscriber once
            assert b.stats.received == 5

    run(main)


def test_typed_payload_check() -> None:
    async def main(prefix: str) -> None:
        errors: list[Exception] = []
        async with (
            transport(prefix) as pub,
            transport(prefix, on_callback_error=lambda env, exc: errors.append(exc)) as sub_side,
        ):
            sub = sub_side.subscribe("limits", PowerLimit)
            called: list[PowerLimit] = []
            sub_side.subscribe_callback("limits", lambda env: called.append(env.payload), PowerLimit)
            await sub_side.wait_subscribed()
            pub.publish("limits", Heartbeat(1), source="dso")
            pub.publish("limits", PowerLimit(10.0, False), source="dso")
            with pytest.raises(TypeError, match="expects PowerLimit payloads, got Heartbeat"):
                await sub.__anext__()
            assert (await sub.__anext__()).payload == PowerLimit(10.0, False)
            assert called == [PowerLimit(10.0, False)]
            assert len(errors) == 1 and isinstance(errors[0], TypeError)

    run(main)


def test_unregistered_payload_is_refused_by_the_publisher() -> None:
    async def main(prefix: str) -> None:
        async with transport(prefix) as pub:
            with pytest.raises(CodecError):
                pub.publish("x", object(), source="s")
            assert pub.last_sequence("s") == 0  # nothing consumed, nothing queued
            assert pub.pending == 0 and pub.stats.published == 0

    run(main)


def test_order_per_publisher_and_sequences() -> None:
    async def main(prefix: str) -> None:
        async with transport(prefix) as p1, transport(prefix) as p2, transport(prefix) as rx:
            sub = rx.subscribe("n/#", maxsize=5000)
            await rx.wait_subscribed()
            for i in range(500):
                p1.publish("n/one", i, source="one")
                p2.publish("n/two", i, source="two")
            got = await take(sub, 1000)
            for source in ("one", "two"):
                mine = [e for e in got if e.source == source]
                assert [e.payload for e in mine] == list(range(500))
                assert [e.sequence for e in mine] == list(range(1, 501))
            assert sub.dropped == 0

    run(main)


def test_every_registered_type_round_trips_through_the_broker() -> None:
    async def main(prefix: str) -> None:
        async with transport(prefix) as pub, transport(prefix) as rx:
            sub = rx.subscribe("types/#")
            await rx.wait_subscribed()
            payloads = _samples()
            assert {type(p) for p in payloads} >= {
                c.type for c in map(DEFAULT_REGISTRY.codec_for, payloads) if c
            }
            assert len({type(p) for p in payloads}) == len(DEFAULT_REGISTRY.names) + 1
            sent = [pub.publish(f"types/{i}", p, source="t") for i, p in enumerate(payloads)]
            got = await take(sub, len(sent))
            assert got == sent
            assert [type(e.payload) for e in got] == [type(p) for p in payloads]

    run(main)


T_FLEX = datetime(2026, 1, 15, 16, 0, tzinfo=UTC)


def _samples() -> list[object]:
    """One payload of every type in the default registry, and a plain JSON value."""
    limit = PowerLimit(4200.0, True, 900.0)
    failsafe = FailsafeValues(3000.0, 7200.0)
    return [
        limit,
        Heartbeat(3),
        failsafe,
        LimitState(
            Direction.CONSUMPTION, LpcState.LIMITED, 4200.0, limit, True, failsafe, 17250.0, 1.0, 2.0, "ok"
        ),
        Transition(3, Direction.PRODUCTION, LpcState.INIT, LpcState.LIMITED, 1.5, ("LPP-001",), "why"),
        Rejected("site/home/lpc/limit", "dso", "replay: sequence 7"),
        _readings(1)[0],
        FlexRequest("r1", FlexDirection.REDUCE, 3.0, T_FLEX, T_FLEX + timedelta(hours=1), 0.25, T_FLEX, "g"),
        FlexOffer("r1", "home", (1.0, 0.5, 0.5, 0.5), 0.2, T_FLEX),
        FlexDispatch("r1", "home", FlexDirection.REDUCE, T_FLEX, (1.0, 0.5, 0.5, 0.5), 0.2),
        FlexSettlement("r1", "home", 2.0, 1.4, 0.6, 0.6, 0.48, 0.8, 0.12, "10-of-10"),
        OverloadWarning("IT001E1", T_FLEX, 3800.0, 3300.0, 120.0),
        {"plain": [1, 2.5, "x", None, True]},
    ]


def _readings(n: int) -> list[MeterReading]:
    framer = TelegramFramer()
    items = framer.feed(CAPTURE.read_bytes()) + framer.flush()
    return [decode(i) for i in items[:n] if isinstance(i, bytes)]


async def _wait_until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


def test_publisher_reconnects_and_loses_nothing() -> None:
    async def main(prefix: str) -> None:
        readings = _readings(60)
        async with transport(prefix, backoff_initial_s=0.3) as pub, transport(prefix) as rx:
            sub = rx.subscribe("meter/reading", MeterReading, maxsize=1000)
            await rx.wait_subscribed()
            await pub.wait_connected()
            sent = [pub.publish("meter/reading", r, source="p1") for r in readings[:20]]
            assert pub.drop_connection()
            await _wait_until(lambda: not pub.connected)
            # published while the connection is down: queued, sent after the reconnect
            sent += [pub.publish("meter/reading", r, source="p1") for r in readings[20:]]
            assert pub.pending >= 40
            got = await take(sub, len(sent))
            assert [e.message_id for e in got] == [e.message_id for e in sent]
            assert [e.payload for e in got] == readings
            await pub.flush()
            assert pub.stats.connects >= 2 and pub.stats.connection_errors >= 1
            assert pub.stats.dropped_outgoing == 0
            assert sub.dropped == 0

    run(main)


def test_persistent_subscriber_gets_what_was_published_while_it_was_away() -> None:
    async def main(prefix: str) -> None:
        client_id = f"gridedge-test-{uuid4().hex}"
        rx = transport(prefix, client_id=client_id, persistent_session=True, backoff_initial_s=0.5)
        async with transport(prefix) as pub, rx:
            sub = rx.subscribe("hb")
            await rx.wait_subscribed()
            pub.publish("hb", 0, source="eg")
            assert (await sub.__anext__()).payload == 0
            assert rx.drop_connection()
            await _wait_until(lambda: not rx.connected)
            for i in range(1, 51):
                pub.publish("hb", i, source="eg")
            await pub.flush()  # the broker holds them in rx's session
            got = await take(sub, 50)
            assert [e.payload for e in got] == list(range(1, 51))
            assert rx.stats.connects >= 2

    run(main)


def test_outbox_is_bounded_and_counts_drops() -> None:
    async def main(prefix: str) -> None:
        # nothing listens on port 9: the transport keeps retrying, messages wait in the outbox
        t = MqttTransport(
            RealClock(), port=9, topic_prefix=prefix, max_pending=10, max_inflight=2, backoff_initial_s=0.05
        )
        async with t:
            for i in range(25):
                t.publish("x", i, source="s")
            assert t.pending == 10
            assert t.stats.dropped_outgoing == 15
            await _wait_until(lambda: t.stats.connection_errors >= 2)
            assert not t.connected
        assert t.stats.dropped_outgoing == 25  # the 10 still unsent at close are counted too
        with pytest.raises(RuntimeError, match="closed"):
            t.publish("x", 1, source="s")

    run(main)


def test_close_ends_subscriptions_and_flushes() -> None:
    async def main(prefix: str) -> None:
        rx = transport(prefix)
        async with transport(prefix) as pub:
            await rx.start()
            sub = rx.subscribe("a")
            await rx.wait_subscribed()
            for i in range(100):
                pub.publish("a", i, source="s")
        assert pub.stats.sent == 100  # close waited for the PUBACKs
        assert [e.payload for e in await take(sub, 100)] == list(range(100))
        await rx.close()
        assert sub.closed
        assert [e async for e in sub] == []

    run(main)


def test_bad_messages_on_the_topic_are_counted_and_reported() -> None:
    async def main(prefix: str) -> None:
        import aiomqtt

        errors: list[Exception] = []
        async with transport(prefix, on_error=errors.append) as rx:
            sub = rx.subscribe("#")
            await rx.wait_subscribed()
            async with aiomqtt.Client("127.0.0.1", 1883) as raw:
                await raw.publish(f"{prefix}/junk", b"{not json", qos=1)
                await raw.publish(f"{prefix}/other", b'{"topic": "x"}', qos=1)
            await _wait_until(lambda: rx.stats.decode_errors == 2)
            assert all(isinstance(e, CodecError) for e in errors)
            assert "junk" in str(errors[0])
            assert sub.pending == 0

    run(main)
