"""`gridedge peers` (cli_peers): sign and show rosters with clear errors; the community controller
and the watcher as separate processes over Mosquitto, talking with peers in this process."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest

from gridedge.bus.keyfile import write_private_key, write_public_key
from gridedge.bus.rawlink import MqttRawLink
from gridedge.bus.security import Signer
from gridedge.cli_peers import add_peers_parser
from gridedge.clock import RealClock
from gridedge.home.peers import Address, EnergyData, HomeSummary, PeerNode, Received, ShareOffer
from gridedge.home.peers.roster import claimed_network, open_roster, owner_verifier
from gridedge.model.devices import DeviceState

MEMBERS = ("controller", "controller"), ("home-a", "manager"), ("home-b", "manager"), ("watcher", "manager")


def peers(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gridedge")
    add_peers_parser(parser.add_subparsers())
    args = parser.parse_args(["peers", *argv])
    result: int = args.func(args)
    return result


def provision(tmp: Path) -> dict[str, Signer]:
    keys = {"owner": Signer.generate(b"owner-1")}
    for name, _ in MEMBERS:
        keys[name] = Signer.generate()
    for name, key in keys.items():
        write_private_key(tmp / f"{name}.key", key)
        write_public_key(tmp / f"{name}.pub.pem", key.public_key, key.kid)
    tables = "".join(
        f'\n[[member]]\nid = "{n}"\nrole = "{r}"\npublic_key_file = "{n}.pub.pem"\n' for n, r in MEMBERS
    )
    (tmp / "members.toml").write_text(f'network = "rec-9"\nversion = 3\n{tables}')
    return keys


def test_sign_and_show_a_roster_and_refuse_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provision(tmp_path)
    out = tmp_path / "roster.cose"
    assert peers("roster", "sign", "--members", str(tmp_path / "members.toml"),
                 "--owner-key", str(tmp_path / "owner.key"), "--out", str(out)) == 0  # fmt: skip
    assert peers("roster", "show", str(out), "--owner", str(tmp_path / "owner.pub.pem")) == 0
    shown = capsys.readouterr().out
    assert "network rec-9  version 3" in shown and "valid" in shown
    for name, role in MEMBERS:
        assert any(line.split()[:2] == [name, role] for line in shown.splitlines())
    # a flipped byte in the signed roster, another owner's key, a members file with a bad role
    data = bytearray(out.read_bytes())
    data[-5] ^= 0x01
    (tmp_path / "bad.cose").write_bytes(bytes(data))
    assert (
        peers("roster", "show", str(tmp_path / "bad.cose"), "--owner", str(tmp_path / "owner.pub.pem")) == 2
    )
    assert "bad_signature" in capsys.readouterr().err
    assert peers("roster", "show", str(out), "--owner", str(tmp_path / "home-a.pub.pem")) == 2
    assert "unknown_kid" in capsys.readouterr().err
    text = (tmp_path / "members.toml").read_text().replace('role = "manager"', 'role = "boss"', 1)
    (tmp_path / "members.toml").write_text(text)
    assert peers("roster", "sign", "--members", str(tmp_path / "members.toml"),
                 "--owner-key", str(tmp_path / "owner.key"), "--out", str(out)) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "[[member]] #2: role: expected one of device, manager, controller, found 'boss'" in err


def test_the_controller_and_the_watcher_run_as_processes_over_mosquitto(tmp_path: Path) -> None:
    keys = provision(tmp_path)
    roster_file = tmp_path / "roster.cose"
    assert peers("roster", "sign", "--members", str(tmp_path / "members.toml"),
                 "--owner-key", str(tmp_path / "owner.key"), "--out", str(roster_file)) == 0  # fmt: skip
    prefix = f"gridedge-test/{uuid4().hex}"
    common = ["--roster", str(roster_file), "--owner", str(tmp_path / "owner.pub.pem"),
              "--mqtt", "127.0.0.1:1883", "--mqtt-prefix", prefix]  # fmt: skip
    cmd = [sys.executable, "-m", "gridedge", "peers"]
    controller = subprocess.Popen(
        [*cmd, "controller", *common, "--key", str(tmp_path / "controller.key"), "--cycle-s", "0.5",
         "--seconds", "12", "--issuer-key", str(tmp_path / "owner.key")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    watcher = subprocess.Popen(
        [*cmd, "watch", *common, "--key", str(tmp_path / "watcher.key"), "--id", "watcher",
         "--kind", "data", "--json", "--seconds", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    data = roster_file.read_bytes()
    signed = open_roster(data, owner_verifier("rec-9", keys["owner"].public_key, keys["owner"].kid),
                         claimed_network(data), RealClock().now())  # fmt: skip
    clock = RealClock()
    offers: list[ShareOffer] = []

    def home(name: str) -> PeerNode:
        link = MqttRawLink(clock, topic_prefix=prefix, backoff_initial_s=0.05, backoff_max_s=0.3)
        return PeerNode(name, keys[name], signed, keys["owner"], link, clock)

    async def main() -> None:
        a, b = home("home-a"), home("home-b")

        def got(r: Received[ShareOffer]) -> None:
            offers.append(r.message)

        b.on(ShareOffer, got)
        for n in (a, b):
            await n.start()
            await n.link.wait_subscribed(10)  # type: ignore[attr-defined]
        async with asyncio.timeout(20):
            while not offers or offers[-1].absorb_w < 2000:
                # home-a exports 3 kW, home-b could take 5 kW more
                now = clock.now()
                await a.send(Address.peer("controller"), HomeSummary(now, -3000.0, 0.0))
                await b.send(Address.peer("controller"), HomeSummary(now, 200.0, 5000.0))
                await a.send(Address.broadcast(), EnergyData(DeviceState("pv", now, -3000.0)))
                await asyncio.sleep(0.3)
        for n in (a, b):
            await n.close()
            await n.link.close()

    asyncio.run(main())
    # the pool: 3000 exported - 200 imported - 100 margin = 2700 W, all to home-b (within its 5 kW)
    assert offers[-1].absorb_w == pytest.approx(2700.0, abs=1.0)
    out, err = controller.communicate(timeout=30)
    assert controller.returncode == 0, err
    assert "pool 2700 W offers home-b=2700" in out
    assert "controller stopped:" in err and "rejected none" in err
    w_out, w_err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, w_err
    records = [json.loads(line) for line in w_out.splitlines()]
    assert records and all(r["kind"] == "data" and r["sender"] == "home-a" for r in records)
    assert records[0]["body"]["p"] == -3000.0 and records[0]["to"] == "all"
