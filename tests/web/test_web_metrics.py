"""The Prometheus endpoint: scraped while the energy manager runs a virtual household in simulated
time under a grid limit, every figure equals what the service holds at that moment."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.cem.grid_link import topic
from gridedge.home.cem.service import CemService, meter_topic
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.cem_config import CemConfig, LimitsConfig, PlannerConfig
from gridedge.model.limits import Direction, Heartbeat, PowerLimit
from gridedge.model.scenario import BatteryConfig, EVConfig, Scenario, SiteConfig
from gridedge.sim.build import build_site
from gridedge.sim.devices.direct import direct_adapters
from gridedge.sim.site import Metrology
from gridedge.web.metrics import metrics_app

START = datetime.fromisoformat("2025-01-15T17:55:00+01:00")


def test_metrics_equal_the_energy_managers_state(tmp_path: Path) -> None:
    sc = Scenario(
        site=SiteConfig(start=START, seed=5),
        ev=(EVConfig(arrival=time(17, 0), departure=time(21, 0), arrival_soc=0.3, target_soc=0.9),),
        battery=(BatteryConfig(soc=0.6),),
        cem=CemConfig(
            limits=LimitsConfig(failsafe_store=str(tmp_path / "failsafe.json")),
            planner=PlannerConfig(horizon_h=2, time_limit_s=20),
        ),
    )
    site = build_site(sc, metrology=Metrology.PHASOR)
    clock = SimClock(START.astimezone(UTC))
    bus = InProcessBus(clock)
    registry = DeviceRegistry()
    for a in direct_adapters(site):
        registry.add(a)
    service = CemService(sc, clock=clock, transport=bus, registry=registry, base_dir=tmp_path)
    web = FastAPI()
    web.mount("/metrics", metrics_app(service))

    async def main() -> str:
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        await asyncio.sleep(0)
        bus.publish(topic("home", Direction.CONSUMPTION, "heartbeat"), Heartbeat(1), source="dso")
        bus.publish(
            topic("home", Direction.CONSUMPTION, "limit"), PowerLimit(4000.0, True, 600.0), source="dso"
        )
        for _ in range(60):
            sec = site.step()
            assert sec.reading is not None
            bus.publish(meter_topic("home"), sec.reading, source="meter")
            await clock.advance(1.0)
            await service.loop.drain()
            while service.replanning:
                await asyncio.sleep(0.005)
        text = TestClient(web).get("/metrics/").text
        stop.set()
        await asyncio.wait_for(task, 30)
        return text

    text = asyncio.run(main())
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"site": "home", **labels}.items())))]

    grid = service.loop.snapshot().grid
    assert grid is not None and value("gridedge_grid_power_watts") == grid.net_power_w
    assert value("gridedge_meter_readings_total") == service.readings >= 59  # the last may still be queued
    assert value("gridedge_grid_limit_watts", direction="lpc") == 4000.0
    assert value("gridedge_grid_limit_state", direction="lpc", state="limited") == 1.0
    assert value("gridedge_grid_limit_state", direction="lpc", state="init") == 0.0
    assert value("gridedge_control_cycles_total") == service.loop.stats.cycles > 0
    assert value("gridedge_setpoints_sent_total") == service.loop.stats.sent
    for adapter in registry:
        state = adapter.state()
        assert state is not None
        assert value("gridedge_device_power_watts", device=adapter.info.device_id,
                     kind=adapter.info.kind.value) == state.power_w  # fmt: skip
        assert value("gridedge_device_online", device=adapter.info.device_id) == 1.0
        if state.soc is not None:
            assert value("gridedge_device_soc_ratio", device=adapter.info.device_id) == state.soc
