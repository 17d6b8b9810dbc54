"""The peer network over a real Mosquitto broker on loopback: the same nodes as on the in-process
bus, with their own MQTT connections, signed frames through the broker, commands answered."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from peers_support import Net, WaterHeater

from gridedge.bus.rawlink import MqttRawLink
from gridedge.clock import RealClock
from gridedge.home.peers import Address, Discover, PeerDevice, PeerDirectory, Role, Switch


def test_a_manager_discovers_and_commands_devices_through_mosquitto() -> None:
    clock = RealClock()
    prefix = f"gridedge-test/{uuid4().hex}"
    members = [("cem", Role.MANAGER, ())] + [(f"heater-{n}", Role.DEVICE, ("thermal",)) for n in range(3)]
    net = Net.make("home-mqtt", members)

    def link() -> MqttRawLink:
        return MqttRawLink(clock, topic_prefix=prefix, backoff_initial_s=0.05, backoff_max_s=0.3)

    heaters = [WaterHeater(clock, f"heater-{n}") for n in range(3)]
    devices = [
        PeerDevice(net.node(f"heater-{n}", link(), clock), h, report_every_s=0.2)
        for n, h in enumerate(heaters)
    ]
    directory = PeerDirectory(net.node("cem", link(), clock, request_timeout_s=5.0))
    outsider = Net.make("home-mqtt", [("cem", Role.MANAGER, ())]).node("cem", link(), clock)

    async def main() -> None:
        for d in devices:
            await d.node.start()
            await d.node.link.wait_subscribed(10)  # type: ignore[attr-defined]
        await directory.node.start()
        await directory.node.link.wait_subscribed(10)  # type: ignore[attr-defined]
        await outsider.start()
        await outsider.link.wait_up(10)
        await directory.start()
        for d in devices:
            await d.start()
        async with asyncio.timeout(10):
            while len(directory) < 3 or any(r.state() is None for r in directory):
                await asyncio.sleep(0.02)
        # unicast command and reply through the broker
        remote = directory.get("heater-1")
        assert remote is not None
        reply = await remote.command(Switch(True))
        assert reply.ok and heaters[1].on and not heaters[0].on
        # multicast to the group: every heater switches on
        await directory.node.send(Address.group("thermal"), Switch(True, "group"))
        async with asyncio.timeout(5):
            while not all(h.on for h in heaters):
                await asyncio.sleep(0.02)
        # the data then says so
        async with asyncio.timeout(5):
            while any((s := r.state()) is None or s.power_w != 2000.0 for r in directory):
                await asyncio.sleep(0.02)
        # a forger with another key under the manager's name is refused by every device
        await outsider.send(Address.broadcast(), Switch(False, "forged"))
        await outsider.send(Address.broadcast(), Discover())
        await asyncio.sleep(0.5)
        assert all(h.on for h in heaters)
        assert all(d.node.stats.rejected.get("unknown_kid", 0) >= 1 for d in devices)
        for d in devices:
            await d.close()
        await directory.node.close()
        await outsider.close()
        for lk in (directory.node.link, outsider.link, *(d.node.link for d in devices)):
            await lk.close()

    asyncio.run(asyncio.wait_for(main(), 40))
