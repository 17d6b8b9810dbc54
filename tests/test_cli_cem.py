"""`gridedge cem` as a user runs it: the virtual meter in one process, the energy manager in another,
P1 over loopback TCP; a virtual S2 battery connects to the service's S2 server and is steered."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridedge.bus.command_security import CommandSecurity, dso_command_security, site_source
from gridedge.bus.keyfile import write_private_key, write_public_key
from gridedge.bus.mqtt import MqttTransport
from gridedge.bus.security import KeyRing, Signer, Verifier
from gridedge.clock import RealClock
from gridedge.model.limits import Heartbeat, LimitState, LpcState, PowerLimit, Rejected
from gridedge.model.scenario import BatteryConfig
from gridedge.sim.battery import Battery
from gridedge.sim.devices.s2_battery import S2BatteryRM
from process_support import announced

ROOT = Path(__file__).resolve().parents[1]


CONFIG = """
[site]
name = "cem process test"

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

[cem.s2]
host = "127.0.0.1"
port = 0

[cem.limits]
failsafe_store = "failsafe.json"

[cem.planner]
horizon_h = 6
"""


def test_cem_reads_the_meter_plans_and_reports(tmp_path: Path) -> None:
    meter = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "sim", "meter", "--p1-tcp", "127.0.0.1:0", "--duration", "60"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        where = announced(meter, "P1")
        host, port = re.fullmatch(r"tcp://(.+):(\d+)", where).groups()  # type: ignore[union-attr]
        cfg = tmp_path / "site.toml"
        cfg.write_text(CONFIG.format(p1=f"{host}:{port}"))
        cem = subprocess.Popen(
            [sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), "--json", "--status-every", "1",
             "--duration", "8"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        s2_url = announced(cem, "S2 CEM server")
        assert s2_url.startswith("ws://127.0.0.1:")
        rm = S2BatteryRM(Battery(BatteryConfig(name="battery", soc=0.5)), datetime.now(UTC))
        received = asyncio.run(_s2_battery(rm, s2_url, seconds=5.0))
        out, err = cem.communicate(timeout=60)
    finally:
        meter.kill()
        meter.wait()
    assert cem.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) >= 5 and lines[-1]["final"] is True
    last = lines[-1]
    assert last["readings"] >= 5, "one telegram a second from the virtual meter"
    assert last["cycles"] >= 6 and last["grid_w"] is not None
    # no heartbeat from a grid operator yet: init, with the failsafe limit applied (LPC-901)
    assert last["lpc"] == {"state": "init", "limit_w": 4200.0}
    assert last["plan"] is not None and last["plan"]["status"] in ("optimal", "time-limit")
    assert last["urls"]["s2"] == s2_url
    assert (tmp_path / "failsafe.json").exists() is False  # nothing written by the grid operator yet
    # the S2 battery registered, was bound to the scenario's "battery" and received instructions
    bound = [line["devices"] for line in lines if line["devices"]]
    assert bound and list(bound[0].values()) == ["battery"], bound
    assert max(line["setpoints_sent"] for line in lines) >= 1
    assert received >= 3  # handshake answer, control type selection, at least one instruction


async def _s2_battery(rm: S2BatteryRM, url: str, *, seconds: float) -> int:
    """The virtual battery on the service's S2 server for a few seconds: it reports, the CEM steers."""
    await rm.connect(url)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            await rm.publish(time.monotonic() - t0)
            await asyncio.sleep(0.25)
    finally:
        await rm.close()
    return rm.received


def test_cem_config_errors_are_clear(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text("[cem]\nsite_id = 'home'\n")
    out = subprocess.run(
        [sys.executable, "-m", "gridedge", "cem", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "no meter port" in out.stderr
    cfg.write_text("[cem.meter]\ntcp = 'nohostport'\n")
    out = subprocess.run(
        [sys.executable, "-m", "gridedge", "cem", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "cem.meter.tcp" in out.stderr


def test_cem_on_a_capture_file_stops_at_its_end(tmp_path: Path) -> None:
    capture = (ROOT / "examples" / "iskra-am550-p1-capture.txt").read_bytes()
    three = b"/".join(capture.split(b"/")[:4])  # the first three telegrams (one a second)
    (tmp_path / "three.txt").write_bytes(three)
    cfg = tmp_path / "site.toml"
    cfg.write_text(
        '[meter]\nprofile = "nl"\n[tariff]\nkind = "fixed"\n[cem.meter]\nfile = "three.txt"\n'
        '[cem.limits]\nfailsafe_store = "fs.json"\n[cem.planner]\nhorizon_h = 2\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), "--json", "--status-every", "60"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    last = json.loads(out.stdout.splitlines()[-1])
    assert last["final"] is True and last["readings"] == 3


async def _dso(prefix: str, limit_w: float, seconds: float) -> list[LimitState]:
    """A grid operator on the broker: heartbeat and a limit to site 'home', the states it reports."""
    states: list[LimitState] = []
    async with MqttTransport(RealClock(), topic_prefix=prefix) as dso:
        dso.subscribe_callback("site/home/lpc/state", lambda env: states.append(env.payload), LimitState)
        await dso.wait_subscribed(10.0)
        t0 = time.monotonic()
        sent = False
        while time.monotonic() - t0 < seconds:
            dso.publish("site/home/lpc/heartbeat", Heartbeat(int(time.monotonic() - t0)), source="dso")
            if not sent:
                dso.publish("site/home/lpc/limit", PowerLimit(limit_w, True), source="dso")
                dso.publish("site/home/lpc/limit", {"value_w": -5, "active": True}, source="dso")
                sent = True
            await asyncio.sleep(1.0)
    return states


def test_cem_takes_grid_limits_over_mqtt(tmp_path: Path) -> None:
    """`--mqtt`: the grid operator's heartbeat and limit reach the service's LPC machine through
    Mosquitto, and the limit state comes back; a negative limit is rejected, never applied."""
    meter = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "sim", "meter", "--p1-tcp", "127.0.0.1:0", "--duration", "60"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    prefix = f"test-{uuid.uuid4().hex}"
    try:
        where = announced(meter, "P1")
        host, port = re.fullmatch(r"tcp://(.+):(\d+)", where).groups()  # type: ignore[union-attr]
        cfg = tmp_path / "site.toml"
        cfg.write_text(
            CONFIG.format(p1=f"{host}:{port}").replace('[cem.s2]\nhost = "127.0.0.1"\nport = 0\n', "")
        )
        cem = subprocess.Popen(
            [sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), "--json", "--status-every", "1",
             "--duration", "12", "--mqtt", "127.0.0.1:1883", "--mqtt-prefix", prefix],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        announced(cem, "MQTT bridge")
        states = asyncio.run(_dso(prefix, 5000.0, 6.0))
        out, err = cem.communicate(timeout=60)
    finally:
        meter.kill()
        meter.wait()
    assert cem.returncode == 0, err
    assert any(s.state is LpcState.LIMITED and s.effective_limit_w == 5000.0 for s in states), states
    last = json.loads(out.splitlines()[-1])
    assert last["lpc"] == {"state": "limited", "limit_w": 5000.0}
    assert last["rejected_grid_messages"] == 1


async def _signing_dso(
    prefix: str, dso: Signer, forger: Signer, site_ring: KeyRing, seconds: float
) -> tuple[list[LimitState], list[Rejected], CommandSecurity]:
    """A grid operator that signs (heartbeats and a 5 kW limit) and verifies what the site reports,
    and a forger on the same broker who signs a 3 kW limit with a key of its own under the DSO's kid."""
    states: list[LimitState] = []
    rejected: list[Rejected] = []
    security = dso_command_security(dso, Verifier(site_ring))
    async with (
        MqttTransport(RealClock(), topic_prefix=prefix, security=security) as bus,
        MqttTransport(RealClock(), topic_prefix=prefix, security=dso_command_security(forger, None)) as bad,
    ):
        bus.subscribe_callback("site/home/lpc/state", lambda env: states.append(env.payload), LimitState)
        bus.subscribe_callback("site/home/lpc/rejected", lambda env: rejected.append(env.payload), Rejected)
        await bus.wait_subscribed(10.0)
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < seconds:
            bus.publish("site/home/lpc/heartbeat", Heartbeat(n), source="dso")
            if n == 0:
                bus.publish("site/home/lpc/limit", PowerLimit(5000.0, True), source="dso")
            if n == 2:
                bad.publish("site/home/lpc/limit", PowerLimit(3000.0, True), source="dso")
            n += 1
            await asyncio.sleep(1.0)
    return states, rejected, security


def test_cem_acts_only_on_signed_grid_commands(tmp_path: Path) -> None:
    """`--grid-keys`: the signed limit applies; a forged one is rejected, shows in the status and
    on the rejected topic, and the site stays at the signed limit. `--site-key`: the grid
    operator verifies the site's state reports."""
    dso, site = Signer.generate(b"dso-test"), Signer.generate(b"home-test")
    forger = Signer(Ed25519PrivateKey.generate(), dso.kid)
    write_public_key(tmp_path / "dso.pub.pem", dso.public_key, dso.kid)
    (tmp_path / "grid-keys.toml").write_text('[[key]]\nsource = "dso"\npublic_key_file = "dso.pub.pem"\n')
    write_private_key(tmp_path / "site.key", site)
    site_ring = KeyRing()
    site_ring.provision(site.public_key, kid=site.kid, sources=[site_source("home")])
    meter = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "sim", "meter", "--p1-tcp", "127.0.0.1:0", "--duration", "60"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    prefix = f"test-{uuid.uuid4().hex}"
    try:
        where = announced(meter, "P1")
        host, port = re.fullmatch(r"tcp://(.+):(\d+)", where).groups()  # type: ignore[union-attr]
        cfg = tmp_path / "site.toml"
        cfg.write_text(
            CONFIG.format(p1=f"{host}:{port}").replace('[cem.s2]\nhost = "127.0.0.1"\nport = 0\n', "")
        )
        cem = subprocess.Popen(
            [sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), "--json", "--status-every", "1",
             "--duration", "12", "--mqtt", "127.0.0.1:1883", "--mqtt-prefix", prefix,
             "--grid-keys", str(tmp_path / "grid-keys.toml"), "--site-key", str(tmp_path / "site.key")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        announced(cem, "MQTT bridge (commands verified, reports signed)")
        states, rejected, security = asyncio.run(_signing_dso(prefix, dso, forger, site_ring, 6.0))
        out, err = cem.communicate(timeout=60)
    finally:
        meter.kill()
        meter.wait()
    assert cem.returncode == 0, err
    assert any(s.state is LpcState.LIMITED and s.effective_limit_w == 5000.0 for s in states), states
    assert not any(s.effective_limit_w == 3000.0 for s in states), states
    assert [(r.topic, r.reason.split(":")[0]) for r in rejected] == [("site/home/lpc/limit", "bad_signature")]
    # everything the site said was signed by its key and verified by the grid operator
    assert security.stats.verified >= len(states) + 1 and security.stats.rejected_total == 0
    last = json.loads(out.splitlines()[-1])
    assert last["lpc"] == {"state": "limited", "limit_w": 5000.0}
    assert last["rejected_grid_messages"] == 1
    commands = last["grid_commands"]
    assert commands["authenticated"] is True and commands["signing"] is True
    assert commands["rejected"] == {"bad_signature": 1} and commands["verified"] >= 6


def test_cem_key_flags_are_checked_before_starting(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text("[cem]\nsite_id = 'home'\n[cem.meter]\ntcp = '127.0.0.1:1'\n")
    (tmp_path / "ring.toml").write_text("[[key]]\nsource = 'dso'\n")
    cases = [
        (["--grid-keys", str(tmp_path / "ring.toml")], "need --mqtt"),
        (
            ["--mqtt", "127.0.0.1:1883", "--grid-keys", str(tmp_path / "ring.toml")],
            "key #1, line 1: public_key",
        ),
        (["--mqtt", "127.0.0.1:1883", "--site-key", str(tmp_path / "nope.key")], "nope.key: cannot read"),
    ]
    for flags, message in cases:
        out = subprocess.run(
            [sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), *flags],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2 and message in out.stderr, (flags, out.stderr)
