"""The DSO service over the real Mosquitto broker on 127.0.0.1:1883 (`MqttTransport`): its
heartbeats and limits reach a site on another connection as typed model objects, and a site
that appears gets heartbeat, failsafe values and limit at once (LPC-913)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

from gridedge.bus.envelope import Envelope
from gridedge.bus.mqtt import MqttTransport
from gridedge.clock import RealClock
from gridedge.grid.dso.config import DsoConfig, SiteConfig
from gridedge.grid.dso.congestion import FeederSite
from gridedge.grid.dso.service import DsoService
from gridedge.grid.dso.site_link import LinkTiming
from gridedge.grid.dso.topics import topic
from gridedge.model.limits import Direction, FailsafeValues, Heartbeat, PowerLimit

LPC = Direction.CONSUMPTION


def _transport(prefix: str) -> MqttTransport:
    return MqttTransport(RealClock(), topic_prefix=prefix, backoff_initial_s=0.05, backoff_max_s=0.5)


async def _next(sub: Any, leaf: str) -> Envelope[Any]:
    async for env in sub:
        if env.topic.endswith("/" + leaf):
            return env  # type: ignore[no-any-return]
    raise AssertionError("subscription closed")


def test_heartbeats_and_a_limit_arrive_over_mosquitto() -> None:
    prefix = f"gridedge-test/{uuid4().hex}"
    cfg = DsoConfig(
        (SiteConfig(FeederSite("home", 2, True), FailsafeValues(7560.0, 7200.0, LPC)),),
        timing=LinkTiming(heartbeat_period_s=0.3, heartbeat_timeout_s=1.0),
    )

    async def main() -> None:
        async with _transport(prefix) as grid, _transport(prefix) as site:
            inbox = site.subscribe(topic("home", LPC, "+"))
            await site.wait_subscribed()
            dso = DsoService(grid, RealClock(), cfg)
            dso.start()
            await grid.wait_subscribed()
            stop = asyncio.Event()
            task = asyncio.ensure_future(dso.run(stop))
            try:
                # periodic heartbeats, counter increasing, timeout stated
                first = await _next(inbox, "heartbeat")
                second = await _next(inbox, "heartbeat")
                assert isinstance(first.payload, Heartbeat) and isinstance(second.payload, Heartbeat)
                assert second.payload.counter > first.payload.counter
                assert first.payload.timeout_s == 1.0 and first.source == "dso"
                # the site speaks: heartbeat, failsafe values and the (deactivated) limit at once
                site.publish(topic("home", LPC, "cs-heartbeat"), Heartbeat(1), source="cem")
                got = [await _next(inbox, "failsafe"), await _next(inbox, "limit")]
                assert got[0].payload == FailsafeValues(7560.0, 7200.0, LPC)
                assert got[1].payload == PowerLimit(0.0, False, None, LPC)
                # an operator's limit with a duration
                dso.issue_limit("home", LPC, 8000.0, duration_s=600.0)
                limit = await _next(inbox, "limit")
                assert isinstance(limit.payload, PowerLimit)
                assert limit.payload.value_w == 8000.0 and limit.payload.active
                assert limit.payload.duration_s is not None and 599.0 < limit.payload.duration_s <= 600.0
                assert dso.status("home").connected
            finally:
                stop.set()
                await task

    async def bounded() -> None:
        async with asyncio.timeout(20.0):
            await main()

    asyncio.run(bounded())
