"""End to end on real protocols: the control loop limits the virtual household through the OCPP
wallbox (CSMS on loopback WebSockets) and the S2 heat pump (CEM WebSocket server), in simulated
time, the meter readings coming from the virtual meter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gridedge.clock import SimClock
from gridedge.home.cem.loop import ControlLoop
from gridedge.home.cem.notify import ActiveLimits
from gridedge.home.devices.ocpp import OcppCsms
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.devices.s2.server import S2CemServer
from gridedge.model.devices import DeviceKind, Protocol
from gridedge.model.scenario import EVConfig, HeatPumpConfig, Scenario, SiteConfig
from gridedge.sim.build import build_site
from gridedge.sim.devices.ocpp_charger import VirtualChargePoint
from gridedge.sim.devices.s2_heatpump import S2HeatPumpRM
from gridedge.sim.ev import EVCharger
from gridedge.sim.heatpump import HeatPump
from gridedge.sim.site import Metrology

LIMIT_W = 8_000.0


def test_limit_enforced_through_ocpp_and_s2_virtual_devices() -> None:
    start = datetime.fromisoformat("2025-01-15T17:59:30+01:00")
    site = build_site(
        Scenario(
            site=SiteConfig(start=start, seed=3),
            ev=(EVConfig(arrival_soc=0.3),),
            heat_pump=(HeatPumpConfig(indoor_c=19.6),),
        ),
        metrology=Metrology.PHASOR,
    )
    ev, hp = site.load("ev"), site.load("heat-pump")
    assert isinstance(ev, EVCharger) and isinstance(hp, HeatPump)
    clock = SimClock(start.astimezone(UTC))
    nets: list[float] = []

    async def main() -> None:
        registry = DeviceRegistry()
        csms = OcppCsms(registry, clock, port=0)
        s2 = S2CemServer(registry, clock, port=0)
        await asyncio.wait_for(csms.start(), 10)
        await asyncio.wait_for(s2.start(), 10)
        vcp = VirtualChargePoint(ev, clock, charge_point_id="wallbox", version="2.0.1", meter_interval_s=1.0)
        rm = S2HeatPumpRM(hp, clock.now())
        loop = ControlLoop(
            clock=clock,
            registry=registry,
            site_id="home",
            limits=lambda t: ActiveLimits(import_w=LIMIT_W if t >= 120 else None),
        )
        try:
            await asyncio.wait_for(vcp.connect(csms.url), 10)
            await asyncio.wait_for(rm.connect(s2.url), 10)
            for _ in range(200):
                if len(registry) == 2:
                    break
                await asyncio.sleep(0.01)
            kinds = {a.info.kind: a.info.protocol for a in registry}
            assert kinds == {DeviceKind.EV_CHARGER: Protocol.OCPP201, DeviceKind.HEAT_PUMP: Protocol.S2}
            for s in range(400):
                rm.on_tick(float(s))
                sec = site.step()
                assert sec.reading is not None and sec.reading.net_power_w is not None
                nets.append(sec.reading.net_power_w)
                await asyncio.wait_for(vcp.publish(float(s + 1)), 10)
                await asyncio.wait_for(rm.publish(float(s + 1)), 10)
                loop.on_reading(sec.reading)
                loop.step()
                await asyncio.wait_for(loop.drain(), 10)
                await clock.advance(1.0)
        finally:
            await rm.close()
            await vcp.close()
            await s2.close()
            await csms.stop()
        assert loop.stats.failed == 0, loop.stats.errors

    asyncio.run(main())
    assert max(nets[60:120]) > 11_000, "the car charges at full power before the limit"
    over = [s for s in range(125, 400) if nets[s] > LIMIT_W + 50]
    assert len(over) <= 5, f"over the {LIMIT_W:.0f} W limit at seconds {over}"
    assert sum(nets[125:]) / len(nets[125:]) > 0.7 * LIMIT_W, "the budget is used"
