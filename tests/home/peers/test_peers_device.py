"""A device on the network keeps the end user's needs and its own limits whatever it is told, obeys
no order older than one it already obeyed, and a peer never takes a local device's place."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from peers_support import Net, WaterHeater, link, sim_links

from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.peers import Address, Modulate, PeerDevice, PeerDirectory, Role, Switch, operating_point
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, Protocol

MEMBERS = (("cem", Role.MANAGER, ("managers",)), ("heater", Role.DEVICE, ("thermal",)))


async def settle(clock: Any, seconds: float = 0.1) -> None:
    for _ in range(10):
        await asyncio.sleep(0)
    await clock.advance(seconds)
    for _ in range(10):
        await asyncio.sleep(0)


def info(steps: tuple[float, ...] = (), lo: float = 0.0, hi: float = 3000.0, run: float = 0.0) -> DeviceInfo:
    return DeviceInfo("d", DeviceKind.HEAT_PUMP, Protocol.SIM, ControlMode.MODES, lo, hi, steps_w=steps,
                      min_running_w=run)  # fmt: skip


def test_operating_points_never_exceed_the_request_when_the_device_can_be_off() -> None:
    modes = info((1000.0, 2000.0, 3000.0))
    assert operating_point(modes, 2500.0) == 2000.0
    assert operating_point(modes, 999.0) == 0.0  # below its lowest mode: off, not 1000 W
    assert operating_point(modes, 0.0) == 0.0
    assert operating_point(info((1000.0, 2000.0), lo=500.0), 0.0) == 1000.0  # it cannot be off at all
    assert operating_point(info(run=4140.0, hi=11040.0), 4000.0) == 0.0  # a car below 6 A: paused
    assert operating_point(info(run=4140.0, hi=11040.0), 20000.0) == 11040.0


def test_a_floor_is_clipped_and_refused_when_the_user_needs_nothing_and_old_orders_are_not_obeyed() -> None:
    clock, bus = sim_links()
    net = Net.make("home-1", MEMBERS)
    heater = WaterHeater(clock)
    device = PeerDevice(net.node("heater", link(bus, clock, "heater"), clock), heater)
    cem = net.node("cem", link(bus, clock, "cem"), clock)

    async def main() -> None:
        await device.start()
        await cem.start()
        await settle(clock)
        # a floor beyond its 2 kW is clipped to what it can do
        reply = await cem.request("heater", Modulate(min_w=9000.0))
        assert reply.ok and heater.applied[-1].min_w == 2000.0
        # the tank is hot: a floor that makes it draw is refused like a target would be
        heater.need_wh = 0.0
        reply = await cem.request("heater", Modulate(min_w=9000.0))
        assert not reply.ok and "does not want power" in reply.detail
        heater.need_wh = 3000.0
        # an older order that arrives after a newer one is not obeyed: a group order held back
        topic, old_frame, _ = cem.seal(Address.group("thermal"), Switch(True, "old"))
        reply = await cem.request("heater", Switch(False, "new"))
        assert reply.ok and not heater.on
        raw = link(bus, clock, "relay")
        await raw.start()
        await raw.publish(topic, old_frame)
        await settle(clock)
        assert not heater.on and device.refused == 2

    asyncio.run(main())


def test_a_peer_cannot_take_the_place_of_a_local_device_and_leaves_with_the_roster() -> None:
    clock, bus = sim_links()
    members = (("cem", Role.MANAGER, ()), ("heater", Role.DEVICE, ()), ("boiler", Role.DEVICE, ()))
    net = Net.make("home-1", members)
    registry = DeviceRegistry()
    local = WaterHeater(clock, "heater")  # the S2 heater the energy manager steers already
    registry.add(local)
    cem = net.node("cem", link(bus, clock, "cem"), clock)
    cem.serve_roster(net.issuer())
    directory = PeerDirectory(cem, registry)
    impostor = PeerDevice(net.node("heater", link(bus, clock, "heater"), clock), WaterHeater(clock, "heater"))
    boiler = PeerDevice(net.node("boiler", link(bus, clock, "boiler"), clock), WaterHeater(clock, "boiler"))

    async def main() -> None:
        await directory.start()
        await impostor.start()
        await boiler.start()
        await settle(clock, 1.5)
        assert registry.get("heater") is local and directory.collisions == ["heater"]
        assert "boiler" in registry and directory.get("boiler") is not None
        # the owner removes the boiler: it leaves the registry with the new roster, at once
        await cem.publish_roster(cem.roster.without("boiler"))
        await settle(clock)
        assert "boiler" not in registry and directory.get("boiler") is None
        assert registry.get("heater") is local

    asyncio.run(main())


@pytest.mark.parametrize("on", [True, False])
def test_switch_on_a_modulable_device_hands_it_back_to_its_own_control(on: bool) -> None:
    clock, bus = sim_links()
    net = Net.make("home-1", (("cem", Role.MANAGER, ()), ("hp", Role.DEVICE, ())))

    class HeatPump(WaterHeater):
        @property
        def info(self) -> DeviceInfo:
            return DeviceInfo("hp", DeviceKind.HEAT_PUMP, Protocol.SIM, ControlMode.POWER, 0.0, 3000.0)

    hp = HeatPump(clock, "hp")
    device = PeerDevice(net.node("hp", link(bus, clock, "hp"), clock), hp)
    cem = net.node("cem", link(bus, clock, "cem"), clock)

    async def main() -> None:
        await device.start()
        await cem.start()
        await settle(clock)
        reply = await cem.request("hp", Switch(on))
        assert reply.ok
        sent = hp.applied[-1]
        if on:
            assert (sent.power_w, sent.max_w, sent.min_w) == (None, None, None) and reply.power_w is None
        else:
            assert sent.target() == 0.0 and sent.max_w == 0.0

    asyncio.run(main())
