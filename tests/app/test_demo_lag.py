"""`DemoStatus.lag_s`: how far simulated time is behind the requested speed, as the world's pacing
loop measures it (`DemoWorld.lag_s`); 0 while the machine keeps up, and in the status's JSON."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from pydantic import TypeAdapter

from gridedge.app.demo.config import DemoConfig
from gridedge.app.demo.world import DemoWorld
from gridedge.app.views import DemoStatus


def test_a_status_without_lag_defaults_to_zero() -> None:
    status = DemoStatus(datetime(2026, 4, 15, 6, 30, tzinfo=UTC), 60.0, (), ("home-01",))
    assert status.lag_s == 0.0
    assert TypeAdapter(DemoStatus).dump_python(status, mode="json")["lag_s"] == 0.0


def test_the_status_reports_the_lag_of_a_paced_world(tmp_path: Path) -> None:
    world = DemoWorld(DemoConfig(tmp_path, homes=1, speed=1.0))
    seen: dict[str, float] = {}

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(world.run(stop))
        try:
            await asyncio.wait_for(world.ready.wait(), 120)
            await asyncio.sleep(1.5)  # 1x: one step a second, easily kept up
            seen["slow"] = world.status().lag_s
            world.set_speed(1e6)  # a million x: no machine keeps up
            await asyncio.sleep(1.0)
            status = world.status()
            seen["fast"] = status.lag_s
            seen["world"] = world.lag_s
            seen["json"] = TypeAdapter(DemoStatus).dump_python(status, mode="json")["lag_s"]
        finally:
            stop.set()
            await task

    asyncio.run(main())
    assert 0.0 <= seen["slow"] < 1.0
    assert seen["fast"] > 1000.0  # simulated seconds behind, after a wall second
    assert seen["world"] >= seen["fast"]  # the status copies the world's figure as it stands
    assert seen["json"] == seen["fast"]


def test_simulated_time_is_paced_against_the_injected_wall_clock(tmp_path: Path) -> None:
    """At speed 5, two wall seconds on a SimClock make exactly ten simulated seconds, and no more
    happen while the wall clock stands still; a new speed counts from when it was set."""
    from gridedge.clock import SimClock

    wall = SimClock(datetime(2026, 12, 6, tzinfo=UTC))
    world = DemoWorld(DemoConfig(tmp_path, homes=1, speed=5.0, storyline=False), wall=wall)

    async def settle(expected: int) -> None:
        for _ in range(3000):  # real time only waits for the steps' own work
            if world.seconds >= expected:
                break
            await asyncio.sleep(0.01)
        for _ in range(20):
            await asyncio.sleep(0.01)

    async def main() -> list[int]:
        stop = asyncio.Event()
        task = asyncio.ensure_future(world.run(stop))
        await world.ready.wait()
        await settle(0)
        seen = [world.seconds]
        await wall.advance(2.0)
        await settle(seen[0] + 10)
        seen.append(world.seconds)
        world.set_speed(50.0)
        await wall.advance(0.1)
        await settle(seen[1] + 5)
        seen.append(world.seconds)
        stop.set()
        await asyncio.wait_for(task, 30)
        return seen

    first, after_two, after_speed = asyncio.run(main())
    assert after_two - first == 10
    assert after_speed - after_two == 5
