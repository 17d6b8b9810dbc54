"""An energy community of four virtual homes in simulated time, each with its own home network and
manager, sharing PV surplus through the community network's controller.

Homes A and B have PV and nothing flexible; C has a car plugged in and no PV; D has a battery and a
2 kW water heater (a non-modulable device, switched) and no PV. Without the community, A and B
export their surplus and C and D buy from the grid later. With the controller the surplus flows
into C's car and D's heater and battery: the community's export drops, and nobody's import rises
above what it would have been, nor above its fuse.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from peers_support import Net, WaterHeater, link

from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.peers import (
    Address,
    CommunityController,
    HomeManager,
    HomeSummary,
    PeerDevice,
    PeerDirectory,
    Role,
    share_surplus,
)
from gridedge.home.peers.sharing import HomeNeed
from gridedge.model.scenario import BatteryConfig, EVConfig, PVConfig, Scenario, SiteConfig
from gridedge.sim.build import build_site
from gridedge.sim.devices.direct import direct_adapters
from gridedge.sim.site import Metrology, VirtualSite

START = datetime.fromisoformat("2025-06-21T12:00:00+02:00")
MINUTES = 20
FUSE_W = 9000.0


def scenarios() -> dict[str, Scenario]:
    site = SiteConfig(start=START, seed=3)
    return {
        "home-a": Scenario(
            site=site.model_copy(update={"seed": 4}), pv=(PVConfig(kwp=9.0, inverter_kw=8.0),)
        ),
        "home-b": Scenario(site=site.model_copy(update={"seed": 5}), pv=(PVConfig(kwp=7.0),)),
        "home-c": Scenario(
            site=site.model_copy(update={"seed": 6}),
            ev=(EVConfig(arrival=time(8, 0), departure=time(19, 0), arrival_soc=0.3, target_soc=0.95),),
        ),
        "home-d": Scenario(site=site.model_copy(update={"seed": 7}), battery=(BatteryConfig(soc=0.3),)),
    }


@dataclass
class Home:
    site: VirtualSite
    manager: HomeManager
    heater: WaterHeater | None
    devices: list[PeerDevice]
    net: list[float]


def build(clock: SimClock, bus: InProcessBus, community: Net | None) -> dict[str, Home]:
    homes: dict[str, Home] = {}
    for name, sc in scenarios().items():
        site = build_site(sc, metrology=Metrology.PHASOR)
        adapters = [a for a in direct_adapters(site) if a.info.max_power_w > 0]
        heater = WaterHeater(clock, "heater") if name == "home-d" else None
        members = [("manager", Role.MANAGER, ())] + [(a.info.device_id, Role.DEVICE, ()) for a in adapters]
        if heater is not None:
            members.append(("heater", Role.DEVICE, ()))
        home_net = Net.make(name, members)
        devices = [
            PeerDevice(
                home_net.node(a.info.device_id, link(bus, clock, f"{name}/{a.info.device_id}"), clock), a
            )
            for a in [*adapters, *([heater] if heater else [])]
        ]
        directory = PeerDirectory(home_net.node("manager", link(bus, clock, f"{name}/manager"), clock))
        node = community.node(name, link(bus, clock, f"community/{name}"), clock) if community else None
        manager = HomeManager(directory, node, max_import_w=FUSE_W)
        homes[name] = Home(site, manager, heater, devices, [])
    return homes


def run(with_community: bool) -> tuple[dict[str, Home], CommunityController | None]:
    clock = SimClock(START)
    bus = InProcessBus(clock)
    members = [("controller", Role.CONTROLLER, ())] + [(h, Role.MANAGER, ()) for h in scenarios()]
    community = Net.make("rec-1", members) if with_community else None
    homes = build(clock, bus, community)
    controller = (
        CommunityController(community.node("controller", link(bus, clock, "community/controller"), clock))
        if community
        else None
    )

    async def drain() -> None:
        for _ in range(40):
            await asyncio.sleep(0)

    async def main() -> None:
        for home in homes.values():
            for d in home.devices:
                await d.start()
            await home.manager.start()
        if controller is not None:
            await controller.start()
        await drain()
        for _ in range(MINUTES * 60):
            for home in homes.values():
                sec = home.site.step()
                assert sec.reading is not None and sec.reading.net_power_w is not None
                net = sec.reading.net_power_w + (home.heater.power_w if home.heater else 0.0)
                home.net.append(net)
                home.manager.observe_meter(net)
            await clock.advance(1.0)
            await drain()
        for home in homes.values():
            await home.manager.close()
            for d in home.devices:
                await d.close()
        if controller is not None:
            await controller.close()

    asyncio.run(main())
    return homes, controller


def energy_kwh(values: list[float], sign: int) -> float:
    return sum(max(0.0, sign * v) for v in values) / 3600.0 / 1000.0


def test_the_community_shares_its_pv_surplus_within_every_homes_constraints() -> None:
    alone, _ = run(with_community=False)
    shared, controller = run(with_community=True)
    assert controller is not None

    def community(homes: dict[str, Home]) -> list[float]:
        return [sum(vals) for vals in zip(*(h.net for h in homes.values()), strict=True)]

    settle = 30  # the first seconds: devices announce, the first offers go out
    c_alone, c_shared = community(alone)[settle:], community(shared)[settle:]
    export_alone, export_shared = energy_kwh(c_alone, -1), energy_kwh(c_shared, -1)
    import_alone, import_shared = energy_kwh(c_alone, 1), energy_kwh(c_shared, 1)
    # without sharing, A and B export several kW for the whole run
    assert export_alone > 2.0
    # with sharing, most of it is used inside the community
    assert export_shared < 0.25 * export_alone, (export_alone, export_shared)
    # ... without buying more from the grid: sharing moves surplus, it does not create import
    assert import_shared < import_alone + 0.1 * export_alone, (import_alone, import_shared)
    # the car and the battery charged from the neighbours' PV; the heater ran
    ev_alone = alone["home-c"].site.household.load("ev")
    ev_shared = shared["home-c"].site.household.load("ev")
    assert ev_shared.soc > ev_alone.soc + 0.02  # type: ignore[attr-defined]
    bat = shared["home-d"].site.household.load("battery")
    assert bat.soc > alone["home-d"].site.household.load("battery").soc + 0.02  # type: ignore[attr-defined]
    heater = shared["home-d"].heater
    assert heater is not None and heater.need_wh < 3000.0
    # every home within its fuse, every second
    for home in shared.values():
        assert max(home.net) <= FUSE_W
    # the offers the controller sent add up to no more than the pool it computed
    plan = controller.stats.last_plan
    assert plan is not None and plan.offered_w <= plan.pool_w + 1e-6
    assert plan.offers["home-a"] == 0.0 and plan.offers["home-b"] == 0.0  # nothing to absorb there
    assert shared["home-c"].manager.totals.shared_wh > 100.0


def test_surplus_is_divided_max_min_fair_and_never_beyond_a_homes_capacity() -> None:
    homes = [
        HomeNeed("pv-1", -6000.0, 0.0),
        HomeNeed("pv-2", -2000.0, 0.0),
        HomeNeed("car", 300.0, 11000.0),
        HomeNeed("heater", 200.0, 2000.0),
        HomeNeed("battery", 250.0, 1500.0, shared_w=1000.0),
    ]
    plan = share_surplus(homes, margin_w=100.0)
    # net = -6000 - 2000 + 300 + 200 + 250 = -7250; already shared 1000: pool 8250 - 100 margin
    assert plan.pool_w == 8150.0
    # capacities: car 11000, heater 2000, battery 2500: heater and battery filled, the car gets the rest
    assert plan.offers == pytest.approx({"pv-1": 0, "pv-2": 0, "car": 3650, "heater": 2000, "battery": 2500})
    assert plan.offered_w == pytest.approx(plan.pool_w)
    # a car that needs 4140 W at least: it gets its block, the others share what is left
    lumpy = share_surplus([HomeNeed("pv", -8000, 0), HomeNeed("car", 0, 11000, min_w=4140),
                           HomeNeed("bat", 0, 5000)], margin_w=0)  # fmt: skip
    assert lumpy.offers == pytest.approx({"pv": 0, "car": 4140, "bat": 3860})
    # ... or nothing, when its block does not fit: the share goes to who can use it
    small = share_surplus([HomeNeed("pv", -3000, 0), HomeNeed("car", 0, 11000, min_w=4140),
                           HomeNeed("bat", 0, 5000)], margin_w=0)  # fmt: skip
    assert small.offers == pytest.approx({"pv": 0, "car": 0, "bat": 3000})
    # equal capacity: equal shares; weights split by weight
    even = share_surplus(
        [HomeNeed("x", -3000, 5000), HomeNeed("y", 0, 5000), HomeNeed("z", 0, 5000)], margin_w=0
    )
    assert even.offers == pytest.approx({"x": 1000.0, "y": 1000.0, "z": 1000.0})
    weighted = share_surplus([HomeNeed("x", -3000, 5000, weight=2), HomeNeed("y", 0, 5000)], margin_w=0)
    assert weighted.offers == pytest.approx({"x": 2000.0, "y": 1000.0})
    # no surplus: nothing offered, whatever the capacity
    assert share_surplus([HomeNeed("x", 500, 5000), HomeNeed("y", -300, 5000)]).offered_w == 0.0


def test_a_home_falls_back_to_its_own_surplus_when_the_offer_lapses() -> None:
    clock = SimClock(START)
    bus = InProcessBus(clock)
    net = Net.make("home-x", [("manager", Role.MANAGER, ()), ("heater", Role.DEVICE, ())])
    heater = WaterHeater(clock)
    device = PeerDevice(net.node("heater", link(bus, clock, "heater"), clock), heater)
    manager = HomeManager(PeerDirectory(net.node("manager", link(bus, clock, "manager"), clock)))

    async def main() -> None:
        await device.start()
        await manager.start()
        for _ in range(20):
            await asyncio.sleep(0)
        await clock.advance(1.5)
        manager.observe_meter(300.0)  # importing 300 W, heater off
        manager.offer_w, manager._offer_until = 2500.0, clock.now() + timedelta(seconds=10)
        await manager.cycle()
        assert heater.on  # on the offer
        await clock.advance(11.0)
        manager.observe_meter(2300.0)  # the heater runs on grid power now: the offer lapsed
        await manager.cycle()
        assert not heater.on
        await manager.close()
        await device.close()

    asyncio.run(main())


def test_sharing_leaves_out_homes_that_cannot_use_a_share_and_weights_that_mean_nothing() -> None:
    # a home whose whole capacity is below its smallest block cannot use any share
    plan = share_surplus(
        [HomeNeed("pv", -6100, 0), HomeNeed("a", 0, 2000, min_w=4100), HomeNeed("b", 0, 6000)]
    )
    assert plan.offers == pytest.approx({"pv": 0, "a": 0, "b": 6000})
    # a vanishing or non-finite weight excludes the home instead of breaking the division
    for weight in (1e-320, float("nan"), float("inf"), -1.0):
        odd = share_surplus([HomeNeed("pv", -3100, 0), HomeNeed("a", 0, 5000, weight=weight),
                             HomeNeed("b", 0, 5000)])  # fmt: skip
        assert odd.offers == pytest.approx({"pv": 0, "a": 0, "b": 3000}), weight


def test_the_controller_believes_a_homes_share_claim_only_up_to_what_it_offered() -> None:
    clock = SimClock(START)
    bus = InProcessBus(clock)
    net = Net.make(
        "rec", [("controller", Role.CONTROLLER, ()), ("a", Role.MANAGER, ()), ("b", Role.MANAGER, ())]
    )
    controller = CommunityController(net.node("controller", link(bus, clock, "controller"), clock))
    a, b = (net.node(h, link(bus, clock, h), clock) for h in ("a", "b"))

    async def main() -> None:
        for n in (controller.node, a, b):
            await n.start()
        now = clock.now()
        await a.send(Address.peer("controller"), HomeSummary(now, -2000.0, 0.0))
        await b.send(Address.peer("controller"), HomeSummary(now, 100.0, 5000.0, shared_w=1e6))  # a lie
        for _ in range(20):
            await asyncio.sleep(0)
        plan = await controller.cycle()
        # nothing was offered to b yet: its claim counts as 0, the pool is a's 2 kW less b's 100 W
        assert plan.pool_w == pytest.approx(1800.0) and plan.offers["b"] == pytest.approx(1800.0)
        await b.send(Address.peer("controller"), HomeSummary(clock.now(), 100.0, 5000.0, shared_w=1e6))
        for _ in range(20):
            await asyncio.sleep(0)
        plan = await controller.cycle()
        assert plan.pool_w <= 1800.0 + 1800.0 + 1e-6  # at most what it was offered comes back

    asyncio.run(main())


def test_a_battery_is_not_surplus_and_serves_the_evening_under_its_own_control() -> None:
    """Discharging 3 kW into a 500 W load is no PV surplus, and at night the battery is handed back
    to its own control (which discharges it) rather than held at 0 W."""
    clock = SimClock(START)
    bus = InProcessBus(clock)
    net = Net.make("home-x", [("manager", Role.MANAGER, ()), ("battery", Role.DEVICE, ())])

    class Battery(WaterHeater):
        def __init__(self) -> None:
            super().__init__(clock, "battery")
            self.power = -3000.0

        @property
        def info(self) -> Any:
            from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, Protocol

            return DeviceInfo("battery", DeviceKind.BATTERY, Protocol.SIM, ControlMode.POWER, -5000.0, 5000.0)

        def state(self) -> Any:
            from gridedge.model.devices import DeviceState

            return DeviceState("battery", clock.now(), self.power, soc=0.6)

        async def apply(self, setpoint: Any) -> None:
            self.applied.append(setpoint)

    battery = Battery()
    device = PeerDevice(net.node("battery", link(bus, clock, "battery"), clock), battery)
    manager = HomeManager(PeerDirectory(net.node("manager", link(bus, clock, "manager"), clock)))

    async def main() -> None:
        await device.start()
        await manager.start()
        for _ in range(20):
            await asyncio.sleep(0)
        await clock.advance(1.5)
        manager.observe_meter(-2500.0)  # the battery covers the 500 W load and exports 2.5 kW
        targets, shared, _ = manager.plan()
        assert targets == {"battery": None} and shared == 0.0  # no surplus: own control
        await manager.cycle()
        assert battery.applied and battery.applied[-1].target() is None and battery.applied[-1].max_w is None
        battery.power = -800.0  # real PV surplus of 1.2 kW on top of the 800 W it discharged
        await clock.advance(1.0)  # its next report
        for _ in range(20):
            await asyncio.sleep(0)
        manager.observe_meter(-2000.0)
        targets, _, _ = manager.plan()
        assert targets == {"battery": pytest.approx(1200.0)}
        await manager.close()
        await device.close()

    asyncio.run(main())
