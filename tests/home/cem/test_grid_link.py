"""home.cem.grid_link on its own: JSON messages per use case, rejections, the planner's view."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.cem.grid_link import GridLink, Rejected, limit_configs, topic
from gridedge.model.cem_config import LimitsConfig
from gridedge.model.limits import Direction, LpcState

T0 = datetime(2025, 1, 15, 17, tzinfo=UTC)


def test_json_writes_take_the_topics_direction_and_the_planner_sees_the_expiry() -> None:
    clock = SimClock(T0)
    bus = InProcessBus(clock)
    link = GridLink(
        site_id="home",
        clock=clock,
        transport=bus,
        configs=limit_configs(LimitsConfig(failsafe_production_kw=6.0)),
    )
    link.start()
    rejected: list[Envelope[Rejected]] = []
    bus.subscribe_callback("site/home/+/rejected", rejected.append, Rejected)
    lpp = Direction.PRODUCTION

    async def main() -> None:
        bus.publish(topic("home", lpp, "heartbeat"), {"counter": 1}, source="dso")
        # no "direction" field: on the lpp topic it is a production limit
        bus.publish(
            topic("home", lpp, "limit"), {"value_w": 2000, "active": True, "duration_s": 600}, source="dso"
        )
        await clock.advance(60.0)

    asyncio.run(main())
    assert not rejected, [r.payload for r in rejected]
    report = link.report(lpp)
    assert report is not None and report.state is LpcState.LIMITED and report.effective_limit_w == 2000.0
    assert link.active(clock.monotonic()).export_w == 2000.0
    (sched,) = link.scheduled(lpp, clock.now())
    assert sched.watts == 2000.0 and sched.end == clock.now() + timedelta(seconds=540)
    # a consumption limit named explicitly on the production topic is refused, and said why
    bus.publish(
        topic("home", lpp, "limit"), {"value_w": 1, "active": True, "direction": "consumption"}, source="dso"
    )
    assert len(rejected) == 1 and "consumption limit written to the LPP machine" in rejected[0].payload.reason
    assert link.rejected == 1
