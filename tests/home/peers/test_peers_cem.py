"""gridedge's energy manager steering devices it only knows through the home's peer network, in
simulated time: the car, battery and heat pump of a virtual household are peers (`PeerDevice`), the
energy manager hears them through `CemPeerLink` (its registry fills with `RemoteDevice`s), and a grid
operator's LPC limit is then held at the connection by `Modulate` orders over signed frames."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from pathlib import Path

from peers_support import Net, link

from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.cem.grid_link import topic
from gridedge.home.cem.service import CemService, meter_topic
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.peers import EnergyData, PeerDevice, Received, Role
from gridedge.home.peers.cem_link import GRID_DEVICE_ID, CemPeerLink
from gridedge.model.cem_config import CemConfig, LimitsConfig, PlannerConfig, TariffConfig, TariffKind
from gridedge.model.devices import Protocol
from gridedge.model.limits import Direction, Heartbeat, PowerLimit
from gridedge.model.scenario import BatteryConfig, EVConfig, HeatPumpConfig, Scenario, SiteConfig
from gridedge.physics.hplib import HplibModel
from gridedge.sim.build import build_site
from gridedge.sim.devices.direct import direct_adapters
from gridedge.sim.site import Metrology

START = datetime.fromisoformat("2025-01-15T17:55:00+01:00")
LIMIT_W = 3000.0


def test_the_energy_manager_holds_a_grid_limit_through_peer_devices(tmp_path: Path) -> None:
    sc = Scenario(
        site=SiteConfig(start=START, seed=11),
        ev=(EVConfig(arrival=time(17, 51), departure=time(21, 0), arrival_soc=0.3, target_soc=0.9),),
        heat_pump=(HeatPumpConfig(indoor_c=20.4),),
        battery=(BatteryConfig(soc=0.6),),
        tariff=TariffConfig(kind=TariffKind.FIXED, import_eur_per_kwh=0.30, export_eur_per_kwh=0.05),
        cem=CemConfig(
            limits=LimitsConfig(failsafe_store=str(tmp_path / "failsafe.json"), failsafe_consumption_kw=6.0),
            planner=PlannerConfig(horizon_h=4, time_limit_s=20),
        ),
    )
    site = build_site(sc, metrology=Metrology.PHASOR)
    clock = SimClock(START.astimezone(UTC))
    bus = InProcessBus(clock)
    adapters = direct_adapters(site)
    members = [("cem", Role.MANAGER, ()), ("display", Role.DEVICE, ())]
    members += [(a.info.device_id, Role.DEVICE, ()) for a in adapters]
    home = Net.make("home-42", members)
    devices = [
        PeerDevice(home.node(a.info.device_id, link(bus, clock, a.info.device_id), clock), a)
        for a in adapters
    ]
    registry = DeviceRegistry()
    service = CemService(sc, clock=clock, transport=bus, registry=registry, base_dir=tmp_path,
                         cop_model=lambda hp: HplibModel.load(hp.model))  # fmt: skip
    cem_link = CemPeerLink(
        home.node("cem", link(bus, clock, "cem"), clock), registry, lambda: service.loop.reading
    )
    display = home.node("display", link(bus, clock, "display"), clock)
    grid_seen: list[float] = []

    def on_data(r: Received[EnergyData]) -> None:
        if r.sender == "cem" and r.message.state.device_id == GRID_DEVICE_ID:
            grid_seen.append(r.message.state.power_w)

    display.on(EnergyData, on_data)

    async def main() -> None:
        for d in devices:
            await d.start()
        await display.start()
        await cem_link.start()
        for _ in range(40):
            await asyncio.sleep(0)
        await clock.advance(1.5)
        for _ in range(40):
            await asyncio.sleep(0)
        # every controllable device of the house is now in the energy manager's registry, via peers
        known = {a.info.device_id: a.info.protocol for a in registry}
        assert known == {a.info.device_id: Protocol.CHAIN2NET for a in adapters}, known
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        for _ in range(3000):
            if service.plans_made:
                break
            await asyncio.sleep(0.01)
        net: list[tuple[float, float]] = []
        limited_at = 0.0
        for second in range(8 * 60):
            sec = site.step()
            assert sec.reading is not None and sec.reading.net_power_w is not None
            net.append((clock.monotonic(), sec.reading.net_power_w))
            bus.publish(meter_topic("home"), sec.reading, source="meter")
            if second % 30 == 0:
                bus.publish(
                    topic("home", Direction.CONSUMPTION, "heartbeat"), Heartbeat(second + 1), source="dso"
                )
            if second == 60:
                limited_at = clock.monotonic()
                limit = PowerLimit(LIMIT_W, True, 3600.0)
                bus.publish(topic("home", Direction.CONSUMPTION, "limit"), limit, source="dso")
            await clock.advance(1.0)
            await service.loop.drain()
            for _ in range(40):
                await asyncio.sleep(0)
            while service.replanning:
                await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(task, 30)
        for d in devices:
            await d.close()
        await cem_link.close()
        await display.close()
        before = [w for t, w in net if t < limited_at]
        assert max(before) > LIMIT_W + 1000.0  # the car charged hard before the limit
        after = [w for t, w in net if t >= limited_at + 10.0]
        over = [w for w in after if w > LIMIT_W + 150.0]
        assert len(after) > 300 and len(over) <= 0.02 * len(after), over
        # the orders went over the network and the devices obeyed them
        ev = next(d for d in devices if d.info.device_id.startswith("ev"))
        assert ev.commands > 0 and ev.refused == 0
        # the display heard the grid connection's power from the energy manager, as the meter said
        assert len(grid_seen) > 300
        assert min(abs(w - m) for w in grid_seen[-5:] for _, m in net[-10:]) < 1.0

    asyncio.run(main())
