"""The raw-bytes link: against the real Mosquitto on 127.0.0.1:1883 (unique topic prefix per test),
and in-process on the bus in simulated time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import uuid4

import pytest

from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.rawlink import InProcessRawLink, LinkDown, LinkEvent, LinkEventKind, MqttRawLink, RawLink
from gridedge.clock import RealClock, SimClock

R = TypeVar("R")


def run(main: Callable[[str], Awaitable[R]], timeout: float = 20.0) -> R:
    async def bounded() -> R:
        async with asyncio.timeout(timeout):
            return await main(f"gridedge-test/{uuid4().hex}")

    return asyncio.run(bounded())


def link(prefix: str, **kw: object) -> MqttRawLink:
    kw.setdefault("backoff_initial_s", 0.05)
    kw.setdefault("backoff_max_s", 0.3)
    return MqttRawLink(RealClock(), topic_prefix=prefix, **kw)  # type: ignore[arg-type]


async def until(cond: Callable[[], bool]) -> None:
    while not cond():
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("protocol", [5, 4])
def test_publish_returns_after_puback_and_bytes_arrive_unchanged(protocol: int) -> None:
    async def main(prefix: str) -> None:
        async with link(prefix, protocol=protocol) as a, link(prefix) as b:
            assert isinstance(a, RawLink)
            got: list[tuple[str, bytes]] = []
            b.subscribe("meter/+/up", lambda t, d: got.append((t, d)))
            await b.wait_subscribed(5)
            await a.wait_up(5)
            payloads = [bytes([i]) * (i + 1) + b"\x00\xff" for i in range(50)]
            for p in payloads:
                await a.publish("meter/m1/up", p)  # each awaits its PUBACK
            assert a.stats.published == 50
            await until(lambda: len(got) == 50)
            assert got == [("meter/m1/up", p) for p in payloads]  # prefix stripped, order kept

    run(main)


def test_drop_connection_raises_link_down_reports_events_and_reconnects() -> None:
    async def main(prefix: str) -> None:
        events: list[LinkEvent] = []
        async with link(prefix) as a:
            await a.wait_up(5)
            a.add_listener(events.append)
            since = a.since
            assert a.drop_connection() is True
            with pytest.raises(LinkDown):
                for _ in range(100):  # the loss is noticed within a few publishes at most
                    await a.publish("x/y", b"1")
                    await asyncio.sleep(0.01)
            await until(lambda: a.up)
            assert a.since is not None and since is not None and a.since > since
            await a.publish("x/y", b"after")
        kinds = [e.kind for e in events]
        assert kinds[:2] == [LinkEventKind.DISCONNECTED, LinkEventKind.CONNECTED]
        assert a.stats.connects >= 2 and a.stats.disconnects >= 1

    run(main)


def test_broker_side_takeover_is_a_disconnect_and_the_link_comes_back() -> None:
    async def main(prefix: str) -> None:
        cid = f"gridedge-test-{uuid4().hex}"
        async with link(prefix, client_id=cid) as a:
            await a.wait_up(5)
            async with link(prefix, client_id=cid) as intruder:  # same id: the broker drops `a`
                await intruder.wait_up(5)
                await until(lambda: a.stats.disconnects >= 1)
            await until(lambda: a.up)
            await a.publish("x/y", b"ok")

    run(main)


def test_unreachable_broker_counts_failed_attempts_and_publish_fails_fast() -> None:
    async def main(prefix: str) -> None:
        async with link(prefix, port=1, connect_timeout_s=1) as a:
            await until(lambda: a.stats.connect_failures >= 2)
            assert not a.up and a.since is None
            with pytest.raises(LinkDown, match="down"):
                await a.publish("x/y", b"1")

    run(main)


def test_in_process_link_on_the_bus_in_simulated_time() -> None:
    clock = SimClock()
    bus = InProcessBus(clock)
    a = InProcessRawLink(bus, clock, name="a", topic_prefix="p", reconnect_after_s=5)
    b = InProcessRawLink(bus, clock, name="b", topic_prefix="p")
    got: list[tuple[str, bytes]] = []
    events: list[LinkEventKind] = []
    b.subscribe("meter/#", lambda t, d: got.append((t, d)))
    a.subscribe("meter/#", lambda t, d: got.append(("own", d)))  # never sees its own messages
    a.add_listener(lambda e: events.append(e.kind))

    async def main() -> None:
        await a.start()
        await b.start()
        await a.publish("meter/1/up", b"\x01")
        assert a.drop_connection() is True and not a.up
        with pytest.raises(LinkDown):
            await a.publish("meter/1/up", b"\x02")
        await clock.sleep(5)
        assert a.up
        await a.publish("meter/1/up", b"\x03")

    clock.run(main())
    assert got == [("meter/1/up", b"\x01"), ("meter/1/up", b"\x03")]
    assert events == [LinkEventKind.CONNECTED, LinkEventKind.DISCONNECTED, LinkEventKind.CONNECTED]
