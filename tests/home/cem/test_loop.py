"""The control loop on the SimClock: readings in, near-limit notices at once, setpoints out only
when they change, a failing device retried, a lifted limit released."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.cem.cycle import CycleDecision
from gridedge.home.cem.loop import ControlLoop, cycle_topic
from gridedge.home.cem.notify import ActiveLimits, NearLimit, NearLimitLevel, NearLimitNotifier
from gridedge.home.devices.adapter import DeviceError
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.devices import Setpoint
from gridedge.model.scenario import EVConfig, HeatPumpConfig, Scenario, SiteConfig
from gridedge.sim.build import build_site
from gridedge.sim.devices.direct import DirectAdapter, direct_adapters
from gridedge.sim.site import Metrology, VirtualSite


def _site() -> VirtualSite:
    scenario = Scenario(
        site=SiteConfig(start=datetime.fromisoformat("2025-01-15T17:59:30+01:00"), seed=5),
        ev=(EVConfig(arrival_soc=0.3),),
        heat_pump=(HeatPumpConfig(indoor_c=19.6),),
    )
    return build_site(scenario, metrology=Metrology.PHASOR)


class _Flaky(DirectAdapter):
    """Refuses its first two orders, as a device that is still booting would."""

    def __init__(self, inner: DirectAdapter) -> None:
        super().__init__(inner.site, inner.load)
        self.refused = 0

    async def apply(self, setpoint: Setpoint) -> None:
        if self.refused < 2:
            self.refused += 1
            raise DeviceError(self.info.device_id, "Rejected")
        await super().apply(setpoint)


def _limits(t: float) -> ActiveLimits:
    return ActiveLimits(import_w=7_000.0 if 120 <= t < 400 else None)


def test_loop_runs_the_household_under_a_limit_on_the_sim_clock() -> None:
    site = _site()
    clock = SimClock(datetime(2025, 1, 15, 16, 59, 30, tzinfo=UTC))
    bus = InProcessBus(clock)
    registry = DeviceRegistry()
    adapters = direct_adapters(site)
    flaky_ev = _Flaky(next(a for a in adapters if a.info.device_id == "ev"))
    for a in adapters:
        registry.add(flaky_ev if a.info.device_id == "ev" else a)
    notes: list[Envelope[NearLimit]] = []
    bus.subscribe_callback("site/home/cem/near-limit", notes.append, NearLimit)
    decisions: list[Envelope[CycleDecision]] = []
    bus.subscribe_callback(cycle_topic("home"), decisions.append, CycleDecision)
    loop = ControlLoop(
        clock=clock,
        registry=registry,
        site_id="home",
        transport=bus,
        notifier=NearLimitNotifier("home", transport=bus),
        limits=_limits,
    )
    nets: list[tuple[float, float]] = []

    async def meter(stop: asyncio.Event) -> None:
        for _ in range(600):
            sec = site.step()
            assert sec.reading is not None and sec.reading.net_power_w is not None
            nets.append((clock.monotonic(), sec.reading.net_power_w))
            loop.on_reading(sec.reading)
            await clock.sleep(1.0)
        stop.set()

    async def main() -> None:
        stop = asyncio.Event()
        await asyncio.gather(meter(stop), loop.run(stop))

    clock.run(main())

    assert loop.stats.cycles >= 599
    # the car's first two orders were refused and retried, not lost
    assert flaky_ev.refused == 2 and loop.stats.failed == 2
    assert any("ev: Rejected" in e for e in loop.stats.errors)
    # the limit holds: apart from the second it started and single fridge-start seconds
    over = [t for t, net in nets if 122 <= t < 400 and net > 7_050]
    assert len(over) <= 3, over
    # near-limit notices: raised while the limit was active, with the margin left
    near = [e.payload for e in notes if e.payload.level is not NearLimitLevel.CLEAR]
    assert near and all(n.limit == 7_000.0 and n.margin == pytest.approx(7_000.0 - n.measured) for n in near)
    assert notes[-1].payload.level is NearLimitLevel.CLEAR  # and cleared when it was lifted
    # a lifted limit released the car: it charges at full power again
    assert max(net for t, net in nets if t >= 420) > 11_000
    hp = registry.get("heat-pump")
    assert isinstance(hp, DirectAdapter)
    assert [sp.reason for sp in hp.applied][-1] == "released", "the heat pump's ceiling was never lifted"
    # orders go out when they change, not every second for every device
    assert loop.stats.sent < 0.5 * loop.stats.cycles * len(registry)
    assert len(decisions) == loop.stats.cycles


def test_a_stale_reading_counts_as_no_reading() -> None:
    clock = SimClock()
    loop = ControlLoop(clock=clock, registry=DeviceRegistry(), site_id="home", max_reading_age_s=5.0)
    site = _site()
    sec = site.step()
    assert sec.reading is not None
    loop.on_reading(sec.reading)
    assert loop.snapshot().grid is not None
    asyncio.run(clock.advance(6.0))
    assert loop.snapshot().grid is None
