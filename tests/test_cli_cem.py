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

from gridedge.bus.mqtt import MqttTransport
from gridedge.clock import RealClock
from gridedge.model.limits import Heartbeat, LimitState, LpcState, PowerLimit
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
