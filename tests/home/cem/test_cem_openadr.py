"""The energy manager under the service provider's OpenADR 3 signals, in simulated time: an import
capacity limit from the VEN caps the plan and the live site, the lower of it and the grid operator's
LPC limit applies, and the VEN's prices replace the configured ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np

from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.cem.grid_link import topic
from gridedge.home.cem.notify import ActiveLimits
from gridedge.home.cem.openadr_link import OpenAdrSignals, merge_active
from gridedge.home.cem.overload import overload_topic
from gridedge.home.cem.service import CemService, meter_topic
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.ven.signals import GridSignals
from gridedge.model.cem_config import CemConfig, LimitsConfig, PlannerConfig, TariffConfig, TariffKind
from gridedge.model.limits import Direction, Heartbeat, PowerLimit
from gridedge.model.openadr import CapacityLimit, CapacityLimitSchedule
from gridedge.model.overload import OverloadWarning
from gridedge.model.scenario import BatteryConfig, EVConfig, HeatPumpConfig, Scenario, SiteConfig
from gridedge.model.tariff import PriceSeries
from gridedge.physics.hplib import HplibModel
from gridedge.sim.build import build_site
from gridedge.sim.devices.direct import direct_adapters
from gridedge.sim.site import Metrology

START = datetime.fromisoformat("2025-01-15T17:50:00+01:00")
WINDOW = (START + timedelta(minutes=10), START + timedelta(hours=2))  # 18:00-19:50 local


def scenario(tmp: Path) -> Scenario:
    return Scenario(
        site=SiteConfig(start=START, seed=11),
        ev=(EVConfig(arrival=time(17, 51), departure=time(21, 0), arrival_soc=0.3, target_soc=0.9),),
        heat_pump=(HeatPumpConfig(indoor_c=20.4),),
        battery=(BatteryConfig(soc=0.6),),
        tariff=TariffConfig(kind=TariffKind.FIXED, import_eur_per_kwh=0.30, export_eur_per_kwh=0.05),
        cem=CemConfig(
            limits=LimitsConfig(failsafe_store=str(tmp / "failsafe.json"), failsafe_consumption_kw=6.0),
            planner=PlannerConfig(horizon_h=4, time_limit_s=20),
        ),
    )


def test_merge_takes_the_lower_limit_per_direction() -> None:
    merged = merge_active(ActiveLimits(5000.0, None), ActiveLimits(4200.0, 3000.0))
    assert merged == ActiveLimits(4200.0, 3000.0)
    assert merge_active(ActiveLimits(None, None), ActiveLimits(None, None)) == ActiveLimits(None, None)
    lower = merge_active(ActiveLimits(3000.0, 800.0), ActiveLimits(4200.0, None))
    assert lower == ActiveLimits(3000.0, 800.0)


def test_an_openadr_capacity_limit_caps_the_plan_and_the_site(tmp_path: Path) -> None:
    sc = scenario(tmp_path)
    site = build_site(sc, metrology=Metrology.PHASOR)
    clock = SimClock(START.astimezone(UTC))
    bus = InProcessBus(clock)
    registry = DeviceRegistry()
    for a in direct_adapters(site):
        registry.add(a)
    signals = OpenAdrSignals()
    schedule = CapacityLimitSchedule(
        Direction.CONSUMPTION, (CapacityLimit(WINDOW[0], WINDOW[1], 4200.0),), source="esp"
    )
    # the service provider's prices: cheap now, dear from 18:00 (the configured tariff is flat)
    steps = 4 * 6
    values = np.array([0.05] * 1 + [0.60] * (steps - 1))
    prices = PriceSeries(START.replace(minute=45).astimezone(UTC), 900, values, source="openadr")
    signals.update(GridSignals(prices, schedule, None, ("ev-1",)))
    service = CemService(
        sc, clock=clock, transport=bus, registry=registry, base_dir=tmp_path, openadr=signals,
        cop_model=lambda hp: HplibModel.load(hp.model),
    )  # fmt: skip

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        for _ in range(3000):
            if service.plans_made:
                break
            await asyncio.sleep(0.01)
        assert service.plan is not None, service.plan_errors
        net: list[tuple[datetime, float]] = []
        for _ in range(30 * 60):  # half an hour: 17:50-18:20
            sec = site.step()
            assert sec.reading is not None and sec.reading.net_power_w is not None
            net.append((clock.now(), sec.reading.net_power_w))
            bus.publish(meter_topic("home"), sec.reading, source="meter")
            await clock.advance(1.0)
            await service.loop.drain()
            while service.replanning:  # a solve runs in a thread: let it land at its time
                await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(task, 30)
        # the live limit from 18:00 is the service provider's 4.2 kW
        # (as for LPC limits: household spikes the cycle cannot foresee, at most 1 % of seconds)
        inside = [w for t, w in net if t >= WINDOW[0] + timedelta(seconds=5)]
        over = [w for w in inside if w > 4200.0 + 150.0]
        assert len(inside) > 1000 and len(over) <= 0.01 * len(inside), over
        assert max(inside) > 3500.0  # the budget is used
        before = [w for t, w in net if t < WINDOW[0]]
        assert max(before) > 4300.0  # the car charged harder before the window: the limit made the difference
        assert service._limits_now(clock.monotonic()).import_w == 4200.0
        # the plan used the VEN's prices, not the configured flat 0.30
        assert service._tariff is not None and service._adr_prices is prices

    asyncio.run(main())


def test_the_grid_operators_lower_limit_still_wins(tmp_path: Path) -> None:
    sc = scenario(tmp_path)
    clock = SimClock(START.astimezone(UTC))
    bus = InProcessBus(clock)
    signals = OpenAdrSignals()
    always = (CapacityLimit(START - timedelta(hours=1), None, 4200.0),)
    signals.update(GridSignals(None, CapacityLimitSchedule(Direction.CONSUMPTION, always), None, ()))
    service = CemService(sc, clock=clock, transport=bus, base_dir=tmp_path, openadr=signals)

    async def main() -> None:
        service.grid.start()
        bus.publish(topic("home", Direction.CONSUMPTION, "heartbeat"), Heartbeat(1), source="dso")
        limit = PowerLimit(3000.0, True, 3600.0)
        bus.publish(topic("home", Direction.CONSUMPTION, "limit"), limit, source="dso")
        await clock.advance(1.0)
        assert service._limits_now(clock.monotonic()).import_w == 3000.0
        assert [s.watts for s in service._scheduled(Direction.CONSUMPTION, clock.now())] == [3000.0, 4200.0]

    asyncio.run(main())


def test_the_meters_overload_countdown_sheds_load_before_it_trips(tmp_path: Path) -> None:
    """Chain 2 CF22: 3.8 kW drawn, 3.3 kW available, 120 s before the meter disconnects. The cycle
    brings the import under the available power within seconds and keeps it there."""
    sc = scenario(tmp_path)
    site = build_site(sc, metrology=Metrology.PHASOR)
    clock = SimClock(START.astimezone(UTC))
    bus = InProcessBus(clock)
    registry = DeviceRegistry()
    for a in direct_adapters(site):
        registry.add(a)
    service = CemService(sc, clock=clock, transport=bus, registry=registry, base_dir=tmp_path,
                         cop_model=lambda hp: HplibModel.load(hp.model))  # fmt: skip

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        for _ in range(3000):
            if service.plans_made:
                break
            await asyncio.sleep(0.01)
        net: list[tuple[float, float]] = []
        warned_at: float | None = None
        for second in range(20 * 60):
            sec = site.step()
            assert sec.reading is not None and sec.reading.net_power_w is not None
            net.append((clock.monotonic(), sec.reading.net_power_w))
            bus.publish(meter_topic("home"), sec.reading, source="meter")
            if warned_at is None and second > 60 and sec.reading.net_power_w > 3800:
                warned_at = clock.monotonic()
                warning = OverloadWarning("home", clock.now(), sec.reading.net_power_w, 3300.0, 120.0)
                bus.publish(overload_topic("home"), warning, source="meter")
            await clock.advance(1.0)
            await service.loop.drain()
            while service.replanning:
                await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(task, 30)
        assert warned_at is not None, "the car never drew more than 3.8 kW"
        assert service.overload.warnings == 1
        # before the announced trip, the import is under the available power: every minute on
        # average, and every second but the household's own short spikes (a kettle the cycle
        # cannot switch), as the LPC tests hold it
        after = [w for t, w in net if warned_at + 10 <= t <= warned_at + 120]
        assert after and sum(after[-60:]) / 60 <= 3300.0 and sum(after[:60]) / 60 <= 3300.0, after
        spikes = [w for w in after if w > 3300.0]
        assert len(spikes) <= 0.05 * len(after), spikes
        held = [w for t, w in net if warned_at + 120 < t <= warned_at + 400]
        over = [w for w in held if w > 3300.0 * 0.95 + 150.0]
        assert len(over) <= 0.01 * len(held), over

    asyncio.run(main())
