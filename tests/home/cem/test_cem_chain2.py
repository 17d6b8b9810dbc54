"""The energy manager behind an Italian meter, in simulated time, over a real WebSocket on loopback.

The virtual household draws through a 2G meter with a 3 kW contract (3.3 kW available); the
meter's Chain2Gate serves its frames on 127.0.0.1; the energy manager reads them with the
Chain2Gate reader (`gridedge cem --chain2gate` does the same through `feed_chain2`). When the car
starts charging, the import goes far above the available power, the meter sends CF22 with two
minutes left (above 4/3 of the contractual power: the 2003 e-distribuzione agreement, see
`sim.meter.italy`), and the energy manager must bring the import down before the countdown ends.
The same household without the energy manager trips the meter: the test would fail if the
reaction broke."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from pathlib import Path

from gridedge.bus.inprocess import InProcessBus
from gridedge.cli_cem import FeedStats, feed_chain2
from gridedge.clock import SimClock
from gridedge.home.cem.overload import overload_topic
from gridedge.home.cem.service import CemService, meter_topic
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.cem_config import CemConfig, LimitsConfig, PlannerConfig, TariffConfig, TariffKind
from gridedge.model.overload import OverloadWarning
from gridedge.model.reading import BreakerState, MeterReading, P1Variant
from gridedge.model.scenario import EVConfig, HeatPumpConfig, Scenario, SiteConfig
from gridedge.physics.hplib import HplibModel
from gridedge.ports.chain2.reader import Chain2GateReader
from gridedge.sim.build import build_site
from gridedge.sim.devices.direct import direct_adapters
from gridedge.sim.meter import BreakerCause, BreakerChange
from gridedge.sim.meter.chain2_servers import Chain2GateServer, ItalianMeterPorts
from gridedge.sim.meter.italy import ItalianMeter, ItalyConfig
from gridedge.sim.site import Metrology

START = datetime.fromisoformat("2025-01-15T17:50:00+01:00")  # a Wednesday evening, band F1
AVAILABLE_W = 3300.0  # ARERA: 3 kW contractual power + 10 %
SHORT_W = 4000.0  # above 4 kW on a 3 kW contract: two minutes (2003 agreement)
SECONDS = 20 * 60


def scenario(tmp: Path) -> Scenario:
    return Scenario(
        site=SiteConfig(start=START, seed=11),
        ev=(EVConfig(arrival=time(17, 51), departure=time(21, 0), arrival_soc=0.3, target_soc=0.9),),
        heat_pump=(HeatPumpConfig(indoor_c=20.4),),
        tariff=TariffConfig(kind=TariffKind.FIXED, import_eur_per_kwh=0.30, export_eur_per_kwh=0.05),
        cem=CemConfig(
            limits=LimitsConfig(failsafe_store=str(tmp / "failsafe.json"), failsafe_consumption_kw=6.0),
            planner=PlannerConfig(horizon_h=4, time_limit_s=20),
        ),
    )


def longest_run_above(powers: list[float], threshold: float) -> int:
    """The most consecutive seconds above `threshold`."""
    best = run = 0
    for p in powers:
        run = run + 1 if p > threshold else 0
        best = max(best, run)
    return best


def test_without_an_energy_manager_the_car_trips_the_meter(tmp_path: Path) -> None:
    """The control case: the same evening with nobody steering the car."""
    sc = scenario(tmp_path)
    site = build_site(sc, metrology=Metrology.PHASOR, p1=False)
    meter = ItalianMeter(ItalyConfig(contract_kw=3.0), sc.site.start_aware)
    ports = ItalianMeterPorts(meter, trip=site.meter.trip)
    net = []
    for _ in range(SECONDS):
        sec = site.step()
        net.append(sec.measurement.net_power_w)
        ports.on_second(sec.measurement)
    assert longest_run_above(net, SHORT_W) >= 120
    assert meter.trips >= 1 and meter.overload_frames >= 1
    trips = [
        e for e in site.meter.events if isinstance(e, BreakerChange) and e.cause is BreakerCause.OVERLOAD
    ]
    assert trips and trips[0].state is BreakerState.READY_FOR_RECONNECTION
    assert site.meter.breaker_state is BreakerState.READY_FOR_RECONNECTION  # nobody pressed the button


def test_the_energy_manager_sheds_the_car_before_the_italian_meter_trips(tmp_path: Path) -> None:
    sc = scenario(tmp_path)
    site = build_site(sc, metrology=Metrology.PHASOR, p1=False)
    clock = SimClock(START.astimezone(UTC))
    bus = InProcessBus(clock)
    registry = DeviceRegistry()
    for a in direct_adapters(site):
        registry.add(a)
    service = CemService(sc, clock=clock, transport=bus, registry=registry, base_dir=tmp_path,
                         cop_model=lambda hp: HplibModel.load(hp.model))  # fmt: skip
    meter = ItalianMeter(ItalyConfig(contract_kw=3.0), sc.site.start_aware)
    seen: list[OverloadWarning] = []
    bus.subscribe_callback(overload_topic("home"), lambda env: seen.append(env.payload), OverloadWarning)

    async def main() -> tuple[list[float], FeedStats, int]:
        stop = asyncio.Event()
        async with Chain2GateServer() as c2g:
            ports = ItalianMeterPorts(meter, trip=site.meter.trip, chain2gate=c2g)
            reader = Chain2GateReader(c2g.url, clock)
            stats = FeedStats()
            feed = asyncio.ensure_future(
                feed_chain2(bus, "home", clock, reader.readings(stop), stop, stats=stats)
            )
            task = asyncio.ensure_future(service.run(stop))
            async with asyncio.timeout(30):
                while c2g.clients == 0 or not service.plans_made:
                    await asyncio.sleep(0.01)
            net: list[float] = []
            for _ in range(SECONDS):
                sec = site.step()
                net.append(sec.measurement.net_power_w)
                ports.on_second(sec.measurement)
                async with asyncio.timeout(10):  # every frame through the socket before time moves on
                    while stats.readings + stats.warnings < c2g.published:
                        await asyncio.sleep(0.001)
                await clock.advance(1.0)
                await service.loop.drain()
                while service.replanning:
                    await asyncio.sleep(0.005)
            stop.set()
            await asyncio.wait_for(task, 30)
            await asyncio.wait_for(feed, 10)
            return net, stats, c2g.published

    net, stats, published = asyncio.run(main())
    # the meter warned, over the socket, and the warning reached the energy manager
    assert meter.overload_frames >= 1 and seen, "the car never drew more than the available power"
    assert service.overload.warnings == len(seen) == stats.warnings == meter.overload_frames
    # the car alone pushes the import above 4 kW: the two-minute countdown, not the three-hour one
    assert seen[0].available_power_w == AVAILABLE_W and seen[0].seconds_left <= 120
    assert seen[0].instant_power_w > SHORT_W
    assert stats.readings + stats.warnings == published
    # the meter never tripped: the import never stayed above 4 kW for two minutes
    assert meter.trips == 0 and site.meter.breaker_state is BreakerState.CONNECTED
    assert not [e for e in site.meter.events if isinstance(e, BreakerChange)]
    assert longest_run_above(net, SHORT_W) < 120
    # ... and from a minute after the first warning on, the import stays under the available power
    # (on average each minute, and every second but the household's own short spikes)
    first = int((seen[0].time - START).total_seconds())
    after = net[first + 60 :]
    assert len(after) > 600
    minutes = [sum(after[i : i + 60]) / 60 for i in range(0, len(after) - 59, 60)]
    assert max(minutes) <= AVAILABLE_W, minutes
    assert sum(1 for w in after if w > AVAILABLE_W) <= 0.05 * len(after)
    # the cycle read the Chain 2 readings (CF21 steps completed with the last CF1's registers)
    assert service.readings >= SECONDS - 5  # the last reading is held every second between steps
    assert stats.held > stats.readings
    assert service.loop.stats.cycles >= SECONDS - 5
    assert service.last_summary is not None
    assert max(net[: first + 1]) > SHORT_W  # the car really did draw enough to trip the meter


def test_feed_holds_the_last_reading_and_passes_warnings_on() -> None:
    """Between two Chain 2 frames the last reading is repeated once a second on the clock; warnings
    go to the overload topic at once; the feed ends with its source."""
    clock = SimClock(datetime(2026, 1, 15, 18, tzinfo=UTC))
    bus = InProcessBus(clock)
    readings: list[MeterReading] = []
    warnings: list[OverloadWarning] = []
    bus.subscribe_callback(meter_topic("home"), lambda env: readings.append(env.payload), MeterReading)
    bus.subscribe_callback(overload_topic("home"), lambda env: warnings.append(env.payload), OverloadWarning)
    reading = MeterReading(P1Variant.CHAIN2, "chain2:test", power_import_w=3800.0)
    warning = OverloadWarning("IT001", clock.now(), 3800.0, 3300.0, 120.0)
    gate = asyncio.Event()

    async def source():  # type: ignore[no-untyped-def]
        yield reading
        yield warning
        await gate.wait()

    async def main() -> FeedStats:
        stop = asyncio.Event()
        feed = asyncio.ensure_future(feed_chain2(bus, "home", clock, source(), stop))
        await asyncio.sleep(0)
        for _ in range(5):
            await asyncio.sleep(0.01)
            await clock.advance(1.0)
        await asyncio.sleep(0.01)
        gate.set()
        return await asyncio.wait_for(feed, 5)

    stats = asyncio.run(main())
    assert warnings == [warning] and stats.warnings == 1
    assert stats.readings == 1 and 4 <= stats.held <= 5
    assert readings == [reading] * (1 + stats.held)
