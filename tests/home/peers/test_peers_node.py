"""The peer network on the in-process bus in simulated time: addressing, commands, membership and
every way a message must be refused."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import cbor2
import pytest
from peers_support import Net, WaterHeater, link, sim_links

from gridedge.bus.security import Signer
from gridedge.home.peers import (
    Address,
    Discover,
    EnergyData,
    Member,
    Modulate,
    PeerDevice,
    PeerDirectory,
    PeerNode,
    PeerTimeout,
    Received,
    Role,
    ShareOffer,
    Switch,
)
from gridedge.model.devices import DeviceState

MEMBERS = (
    ("cem", Role.MANAGER, ("managers",)),
    ("heater", Role.DEVICE, ("thermal",)),
    ("boiler", Role.DEVICE, ("thermal",)),
    ("meter", Role.DEVICE, ()),
)


def collect(node: PeerNode, kind: Any) -> list[Received[Any]]:
    got: list[Received[Any]] = []
    node.on(kind, got.append)
    return got


async def settle(clock: Any, seconds: float = 0.1) -> None:
    for _ in range(5):
        await asyncio.sleep(0)
    await clock.advance(seconds)
    for _ in range(5):
        await asyncio.sleep(0)


def test_unicast_multicast_and_broadcast_reach_exactly_their_audience() -> None:
    clock, bus = sim_links()
    net = Net.make("home-1", MEMBERS)
    nodes = {p: net.node(p, link(bus, clock, p), clock) for p, _, _ in MEMBERS}
    got = {p: collect(n, Switch) for p, n in nodes.items()}

    async def main() -> None:
        for n in nodes.values():
            await n.start()
        cem = nodes["cem"]
        await cem.send(Address.peer("heater"), Switch(True, "unicast"))
        await cem.send(Address.group("thermal"), Switch(True, "multicast"))
        await cem.send(Address.broadcast(), Switch(False, "broadcast"))
        await settle(clock)

    asyncio.run(main())
    reasons = {p: [r.message.reason for r in g] for p, g in got.items()}
    assert reasons == {
        "cem": [],  # its own broadcast is not delivered back to it
        "heater": ["unicast", "multicast", "broadcast"],
        "boiler": ["multicast", "broadcast"],
        "meter": ["broadcast"],
    }
    r = got["heater"][0]
    assert (r.sender, r.role, r.to) == ("cem", Role.MANAGER, Address.peer("heater"))
    assert all(n.stats.rejected_total == 0 for n in nodes.values())


def test_a_device_obeys_switch_and_modulate_and_refuses_what_the_user_does_not_need() -> None:
    clock, bus = sim_links()
    net = Net.make("home-1", MEMBERS)
    heater = WaterHeater(clock)
    device = PeerDevice(net.node("heater", link(bus, clock, "heater"), clock), heater)
    cem = net.node("cem", link(bus, clock, "cem"), clock)
    directory = PeerDirectory(cem)

    async def main() -> None:
        await device.start()
        await directory.start()
        await settle(clock, 1.5)
        remote = directory.get("heater")
        assert remote is not None and remote.info.max_power_w == 2000.0
        assert remote.info.steps_w == (0.0, 2000.0) and remote.info.protocol.value == "chain2net"
        reply = await remote.command(Switch(True))
        assert reply.ok and reply.power_w == 2000.0 and heater.on
        await settle(clock, 1.0)
        state = remote.state()
        assert state is not None and state.power_w == 2000.0  # its data reports the new state
        # a modulation between steps lands on the highest step not above it: 1500 W -> off
        reply = await remote.command(Modulate(power_w=1500.0))
        assert reply.ok and reply.power_w == 0.0 and not heater.on
        # the tank gets hot: it no longer wants power, and a command to switch on is refused
        heater.need_wh = 0.0
        with pytest.raises(Exception, match="does not want power"):
            await remote.command(Switch(True))
        assert not heater.on and device.refused == 1
        # switching off is always obeyed
        reply = await remote.command(Switch(False))
        assert reply.ok

    asyncio.run(main())


def test_a_command_to_a_silent_peer_times_out_in_simulated_time() -> None:
    clock, bus = sim_links()
    net = Net.make("home-1", MEMBERS)
    cem = net.node("cem", link(bus, clock, "cem"), clock, request_timeout_s=5.0)

    async def main() -> float:
        await cem.start()
        t0 = clock.monotonic()
        task = asyncio.ensure_future(cem.request("boiler", Switch(True)))
        await settle(clock, 4.9)
        assert not task.done()
        await settle(clock, 0.2)
        with pytest.raises(PeerTimeout):
            await task
        return clock.monotonic() - t0

    assert 5.0 <= asyncio.run(main()) < 5.3


def test_outsiders_forgers_replays_wrong_roles_and_moved_messages_are_refused() -> None:
    clock, bus = sim_links()
    net = Net.make("home-1", MEMBERS)
    heater_node = net.node("heater", link(bus, clock, "heater"), clock)
    switches = collect(heater_node, Switch)
    data = collect(heater_node, EnergyData)
    cem = net.node("cem", link(bus, clock, "cem"), clock)
    meter = net.node("meter", link(bus, clock, "meter"), clock)
    # an outsider with a key of its own, not in the roster, claiming to be the manager
    outsider = PeerNode("cem", Signer.generate(), replace(net.roster, members=()), net.owner,
                        link(bus, clock, "outsider"), clock)  # fmt: skip
    raw = link(bus, clock, "attacker")

    async def main() -> None:
        for n in (heater_node, cem, meter, outsider):
            await n.start()
        await raw.start()
        # 1. forged: signed by a key that is not the manager's
        await outsider.send(Address.peer("heater"), Switch(True, "forged"))
        # 2. a device may report but not command
        await meter.send(Address.peer("heater"), Switch(True, "from a device"))
        # 3. replay: capture a genuine command and publish it again
        topic, frame, _ = cem.seal(Address.peer("heater"), Switch(True, "genuine"))
        await raw.publish(topic, frame)
        await settle(clock)
        await raw.publish(topic, frame)
        # 4. moved: the genuine command for the boiler re-published on the heater's topic
        _, frame2, _ = cem.seal(Address.peer("boiler"), Switch(False, "for the boiler"))
        await raw.publish(topic, frame2)
        # 5. the signed sender differs from the topic's: a frame of the meter under cem's name
        t3, frame3, _ = meter.seal(Address.peer("heater"), EnergyData(DeviceState("m", clock.now(), 1.0)))
        await raw.publish(t3.rsplit("/", 1)[0] + "/cem", frame3)
        # 6. garbage and a malformed body (signed by a member, body not a switch)
        await raw.publish("peers/home-1/peer/heater/switch/cem", b"\x00garbage")
        seal = cem.signer.sign(
            cbor2.dumps([1, "home-1", "switch", "cem", {"on": "yes"}]),
            sequence=10**13, issued_at=clock.now(), audience="peer:heater",
        )  # fmt: skip
        await raw.publish("peers/home-1/peer/heater/switch/cem", seal)
        # 7. too old: a command signed two minutes ago
        t_old, frame_old, _ = cem.seal(Address.peer("heater"), Switch(True, "late"))
        await clock.advance(120.0)
        await raw.publish(t_old, frame_old)
        await settle(clock)

    asyncio.run(main())
    assert [r.message.reason for r in switches] == ["genuine"]
    assert data == []
    rejected = heater_node.stats.rejected
    assert rejected.get("unknown_kid") == 1  # the outsider's key
    assert rejected.get("role") == 1
    assert rejected.get("replay") == 1
    assert rejected.get("wrong_audience") == 1
    assert rejected.get("key_not_for_source") == 1  # meter's key under cem's name
    assert rejected.get("malformed") == 1
    assert rejected.get("malformed_body") == 1
    assert rejected.get("too_old") == 1
    assert heater_node.stats.received == 1


def test_membership_changes_with_signed_rosters_and_an_old_roster_cannot_undo_them() -> None:
    clock, bus = sim_links()
    net = Net.make("community", (("controller", Role.CONTROLLER, ()), ("home-a", Role.MANAGER, ())))
    issuer = net.issuer()
    ctrl = net.node("controller", link(bus, clock, "controller"), clock)
    ctrl.serve_roster(issuer, republish_s=60.0)
    home_a = net.node("home-a", link(bus, clock, "home-a"), clock)
    offers = collect(home_a, ShareOffer)
    newcomer_key = Signer.generate()
    home_b = PeerNode("home-b", newcomer_key, net.roster, net.owner, link(bus, clock, "home-b"), clock)
    summaries_b = collect(home_b, ShareOffer)
    until = clock.now().replace(year=2027)

    async def main() -> None:
        for n in (ctrl, home_a, home_b):
            await n.start()
        await settle(clock)
        old_doc = issuer.sign(net.roster, clock.now())
        # home-b is not a member yet: its messages are refused, offers to it are not heard
        await home_b.send(Address.peer("controller"), Discover())
        await ctrl.send(Address.peer("home-b"), ShareOffer(500.0, until))
        await settle(clock)
        assert summaries_b == [] and ctrl.stats.rejected.get("unknown_kid") == 1
        assert home_b.stats.rejected.get("not_member") == 1
        # the owner adds home-b: v2 reaches every member, home-b included
        v2 = net.roster.with_member(Member.of("home-b", newcomer_key, Role.MANAGER))
        await ctrl.publish_roster(v2)
        await settle(clock)
        assert home_a.roster.version == 2 and home_b.roster.version == 2 and home_b.member
        await ctrl.send(Address.peer("home-b"), ShareOffer(600.0, until))
        await settle(clock)
        assert [o.message.absorb_w for o in summaries_b] == [600.0]
        # the owner removes home-a (v3); a replayed v1 does not bring it back
        await ctrl.publish_roster(ctrl.roster.without("home-a"))
        await settle(clock)
        raw = link(bus, clock, "attacker")
        await raw.start()
        await raw.publish("peers/community/roster", old_doc)
        await settle(clock)
        assert home_b.roster.version == 3 and home_b.roster.member("home-a") is None
        await home_a.send(Address.peer("home-b"), Discover())
        await settle(clock)
        assert home_b.stats.rejected.get("unknown_kid") == 1
        # a roster signed by someone else than the owner is refused
        forged = net.roster.with_member(Member.of("evil", Signer.generate(), Role.CONTROLLER))
        from gridedge.home.peers import RosterIssuer

        await raw.publish("peers/community/roster", RosterIssuer("community", Signer.generate()).sign(
            replace(forged, version=9), clock.now()))  # fmt: skip
        await settle(clock)
        # refused twice: the replayed v1 (owner's sequence replayed) and the forgery (unknown owner key)
        assert home_b.roster.version == 3 and home_b.stats.rejected.get("roster") == 2
        assert len(offers) == 0

    asyncio.run(main())


def test_a_member_that_was_offline_gets_the_new_roster_when_it_reconnects() -> None:
    """It asks for the newest roster on every reconnection; a frame signed with a key it does not
    know yet is refused meanwhile (and would make it ask, too)."""
    clock, bus = sim_links()
    net = Net.make("community", (("controller", Role.CONTROLLER, ()), ("home-a", Role.MANAGER, ())))
    ctrl = net.node("controller", link(bus, clock, "controller"), clock)
    ctrl.serve_roster(net.issuer(), republish_s=3600.0)
    link_a = link(bus, clock, "home-a")
    home_a = net.node("home-a", link_a, clock)
    b_key = Signer.generate()

    async def main() -> None:
        await ctrl.start()
        await home_a.start()
        await settle(clock)
        link_a.set_up(False)  # home-a is offline while home-b joins
        v2 = net.roster.with_member(Member.of("home-b", b_key, Role.MANAGER))
        await ctrl.publish_roster(v2)
        await settle(clock)
        link_a.set_up(True)
        assert home_a.roster.version == 1
        home_b = PeerNode("home-b", b_key, v2, net.owner, link(bus, clock, "home-b"), clock)
        await home_b.start()
        got = collect(home_a, Discover)
        await home_b.send(Address.peer("home-a"), Discover())  # not yet known to home-a: refused
        await settle(clock, 1.0)
        assert home_a.roster.version == 2
        await home_b.send(Address.peer("home-a"), Discover())
        await settle(clock)
        assert len(got) == 1 and home_a.stats.rejected.get("unknown_kid") == 1

    asyncio.run(main())


def test_a_removed_member_is_refused_by_a_device_that_was_offline_when_it_was_removed() -> None:
    """A removal shows in no other way than a new roster: a device asks for it on reconnecting."""
    clock, bus = sim_links()
    members = (("cem", Role.MANAGER, ()), ("old-mgr", Role.MANAGER, ()), ("heater", Role.DEVICE, ()))
    net = Net.make("home-1", members)
    cem = net.node("cem", link(bus, clock, "cem"), clock)
    cem.serve_roster(net.issuer(), republish_s=3600.0)
    heater_link = link(bus, clock, "heater")
    heater = WaterHeater(clock)
    device = PeerDevice(net.node("heater", heater_link, clock), heater)
    old = net.node("old-mgr", link(bus, clock, "old-mgr"), clock)

    async def main() -> None:
        await cem.start()
        await device.start()
        await old.start()
        await settle(clock)
        heater_link.set_up(False)
        await cem.publish_roster(cem.roster.without("old-mgr"))
        await settle(clock)
        heater_link.set_up(True)
        await settle(clock, 1.5)
        assert device.node.roster.version == 2
        attempt = asyncio.ensure_future(old.request("heater", Switch(True, "attacker"), timeout_s=2.0))
        await settle(clock, 2.5)
        with pytest.raises(PeerTimeout):  # never obeyed, never answered
            await attempt
        assert not heater.on and device.node.stats.rejected.get("unknown_kid") == 1
        await device.close()

    asyncio.run(main())


def test_the_newest_roster_survives_a_restart_and_old_or_stale_rosters_do_not_come_back(
    tmp_path: Any,
) -> None:
    clock, bus = sim_links()
    net = Net.make(
        "home-1", (("cem", Role.MANAGER, ()), ("x", Role.MANAGER, ()), ("heater", Role.DEVICE, ()))
    )
    issuer = net.issuer()
    store = tmp_path / "roster.cose"
    v2 = net.roster.without("x")
    v2_doc = issuer.sign(v2, clock.now())

    async def main() -> None:
        node = net.node("heater", link(bus, clock, "heater"), clock, roster_store=store)
        await node.start()
        raw = link(bus, clock, "owner-relay")
        await raw.start()
        await raw.publish("peers/home-1/roster", v2_doc)
        await settle(clock)
        assert node.roster.version == 2 and store.read_bytes() == v2_doc
        await node.close()
        # restarted from the provisioned v1 file: the stored v2 wins
        again = net.node("heater", link(bus, clock, "heater-2"), clock, roster_store=store)
        assert again.roster.version == 2 and again.roster.member("x") is None
        # a v3 signed two days ago is too old to be taken from the network
        await again.start()
        await clock.advance(2 * 86400.0)
        await raw.publish(
            "peers/home-1/roster", issuer.sign(replace(v2, version=3), clock.now() - timedelta(days=2))
        )
        await settle(clock)
        assert again.roster.version == 2 and again.stats.rejected.get("roster") == 1
        await again.close()

    asyncio.run(main())


def test_odd_bodies_and_failing_background_work_are_counted_not_raised() -> None:
    clock, bus = sim_links()
    net = Net.make("home-1", MEMBERS)
    heater = net.node("heater", link(bus, clock, "heater"), clock)
    cem = net.node("cem", link(bus, clock, "cem"), clock)
    raw = link(bus, clock, "attacker")

    async def boom() -> None:
        raise RuntimeError("adapter broke")

    async def main() -> None:
        await heater.start()
        await cem.start()
        await raw.start()
        for n, body in enumerate(({"to": 10**400, "ok": True}, {"to": 5, "ok": True, "p": -(10**500)})):
            frame = cem.signer.sign(cbor2.dumps([1, "home-1", "reply", "cem", body]), sequence=10**12 + n,
                                    issued_at=clock.now(), audience="peer:heater")  # fmt: skip
            await raw.publish("peers/home-1/peer/heater/reply/cem", frame)
        heater.spawn(boom())
        await settle(clock)

    asyncio.run(main())
    assert heater.stats.rejected.get("malformed_body") == 2
    assert heater.stats.task_errors == 1


def test_only_the_owners_key_may_serve_the_roster() -> None:
    clock, bus = sim_links()
    net = Net.make("home-1", MEMBERS)
    cem = net.node("cem", link(bus, clock, "cem"), clock)
    from gridedge.home.peers import RosterIssuer

    with pytest.raises(ValueError, match="not the network owner's"):
        cem.serve_roster(RosterIssuer("home-1", Signer.generate()))
    cem.serve_roster(net.issuer())
