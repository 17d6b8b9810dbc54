"""`gridedge cem --peers-roster ...` as a user runs it: the virtual meter and the energy manager as
processes, a battery that exists only as a peer on the home's network (over Mosquitto) in this
process. The energy manager finds the battery on the network, binds it to the scenario's battery,
steers it with signed orders, and tells the network what the grid connection draws."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

from gridedge.bus.keyfile import write_private_key, write_public_key
from gridedge.bus.rawlink import MqttRawLink
from gridedge.bus.security import Signer
from gridedge.clock import RealClock
from gridedge.home.peers import (
    EnergyData,
    Member,
    PeerDevice,
    PeerNode,
    Received,
    Role,
    Roster,
    RosterIssuer,
)
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol, Setpoint
from process_support import announced

CONFIG = """
[site]
name = "peers process test"

[[battery]]
name = "battery"
capacity_kwh = 10
soc = 0.5

[tariff]
kind = "fixed"
import_eur_per_kwh = 0.30
export_eur_per_kwh = 0.05

[cem]
site_id = "home"

[cem.meter]
tcp = "{p1}"

[cem.limits]
failsafe_store = "failsafe.json"

[cem.planner]
horizon_h = 4
"""


class PeerBattery:
    """A 5 kW battery whose only interface is the peer network: it records the orders it gets."""

    def __init__(self, clock: RealClock) -> None:
        self.clock = clock
        self.info = DeviceInfo(
            "battery", DeviceKind.BATTERY, Protocol.SIM, ControlMode.POWER, -5000.0, 5000.0, (1,)
        )
        self.power_w = 0.0
        self.orders: list[Setpoint] = []

    def state(self) -> DeviceState:
        return DeviceState("battery", self.clock.now(), self.power_w, soc=0.5)

    async def apply(self, setpoint: Setpoint) -> None:
        self.orders.append(setpoint)
        target = setpoint.target()
        if target is not None:
            self.power_w = target


def test_the_energy_manager_steers_a_battery_it_only_knows_on_the_peer_network(tmp_path: Path) -> None:
    owner, cem_key, bat_key, display_key = (Signer.generate() for _ in range(4))
    members = (
        Member.of("cem", cem_key, Role.MANAGER),
        Member.of("battery", bat_key, Role.DEVICE),
        Member.of("display", display_key, Role.DEVICE),
    )
    roster = Roster("home-net", 1, members)
    (tmp_path / "roster.cose").write_bytes(RosterIssuer("home-net", owner).sign(roster, RealClock().now()))
    write_public_key(tmp_path / "owner.pub.pem", owner.public_key, owner.kid)
    write_private_key(tmp_path / "cem.key", cem_key)
    write_private_key(tmp_path / "owner.key", owner)  # the home owner's energy manager owns the network
    prefix = f"gridedge-test/{uuid.uuid4().hex}"

    meter = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "sim", "meter", "--p1-tcp", "127.0.0.1:0", "--duration", "60"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        where = announced(meter, "P1")
        host, port = re.fullmatch(r"tcp://(.+):(\d+)", where).groups()  # type: ignore[union-attr]
        cfg = tmp_path / "site.toml"
        cfg.write_text(CONFIG.format(p1=f"{host}:{port}"))
        clock = RealClock()
        battery = PeerBattery(clock)

        def link() -> MqttRawLink:
            return MqttRawLink(clock, topic_prefix=prefix, backoff_initial_s=0.05, backoff_max_s=0.3)

        device = PeerDevice(PeerNode("battery", bat_key, roster, owner, link(), clock), battery)
        display = PeerNode("display", display_key, roster, owner, link(), clock)
        grid: list[float] = []

        def heard(r: Received[EnergyData]) -> None:
            if r.sender == "cem":
                grid.append(r.message.state.power_w)

        display.on(EnergyData, heard)

        async def main() -> tuple[str, str, int]:
            await device.node.start()
            await display.start()
            for n in (device.node, display):
                await n.link.wait_subscribed(10)  # type: ignore[attr-defined]
            await device.start()
            cem = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), "--json",
                "--status-every", "1", "--duration", "20", "--peers-roster", str(tmp_path / "roster.cose"),
                "--peers-owner", str(tmp_path / "owner.pub.pem"), "--peers-key", str(tmp_path / "cem.key"),
                "--peers-mqtt", "127.0.0.1:1883", "--peers-prefix", prefix,
                "--peers-issuer-key", str(tmp_path / "owner.key"),
                "--peers-store", str(tmp_path / "kept.cose"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(cem.communicate(), 60)
            await device.close()
            await display.close()
            for n in (device.node, display):
                await n.link.close()
            assert cem.returncode is not None
            return out.decode(), err.decode(), cem.returncode

        out, err, code = asyncio.run(main())
    finally:
        meter.kill()
        meter.wait(10)
    assert code == 0, err
    assert "peer network home-net as cem on 127.0.0.1:1883" in err
    final = json.loads(out.splitlines()[-1])
    assert final["final"] and final["devices"] == {"battery": "battery"}  # bound to the scenario's battery
    assert final["peers"]["devices"] == ["battery"] and final["peers"]["rejected"] == {}
    assert final["setpoints_sent"] > 0 and final["setpoints_failed"] == 0
    assert battery.orders, "no order reached the battery over the network"
    assert device.commands == len(battery.orders)
    # the energy manager served the home's roster (signed with the owner's key) and kept it
    assert (tmp_path / "kept.cose").exists() and device.node.stats.rejected.get("roster") is None
    # the display heard the grid connection's power, and it matched what the manager reported
    assert len(grid) >= 5 and final["peers"]["grid_reports"] >= len(grid)
