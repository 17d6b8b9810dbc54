"""`gridedge cem --ha-mqtt` as a user runs it: the energy manager reads a real meter capture, a
virtual S2 battery connects, and a client on the real Mosquitto plays Home Assistant: it finds the
site's and the battery's entities by discovery, reads their states, switches the battery's
"Managed by gridedge" off and on again, and sees everything go offline when the process stops."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiomqtt

from gridedge.cli_cem import ManagedDevices
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.ha import HaCommand
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol, Setpoint
from gridedge.model.limits import Direction, LpcState
from gridedge.model.scenario import BatteryConfig
from gridedge.sim.battery import Battery
from gridedge.sim.devices.s2_battery import S2BatteryRM
from process_support import announced

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "examples" / "iskra-am550-p1-capture.txt"

CONFIG = """
[site]
name = "cem ha test"

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
file = "{capture}"

[cem.s2]
host = "127.0.0.1"
port = 0

[cem.limits]
failsafe_store = "failsafe.json"

[cem.planner]
horizon_h = 4
"""


def test_cem_appears_in_home_assistant_and_obeys_its_switch(tmp_path: Path) -> None:
    prefix = f"gridedge-test/{uuid.uuid4().hex}"
    disc, state = f"{prefix}/homeassistant", f"{prefix}/gridedge"
    cfg = tmp_path / "site.toml"
    cfg.write_text(CONFIG.format(capture=CAPTURE.as_posix()))
    cem = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), "--json", "--status-every", "1",
         "--duration", "14", "--ha-mqtt", "127.0.0.1:1883", "--ha-prefix", disc, "--ha-state-prefix", state,
         "--ha-every", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        s2_url = announced(cem, "S2 CEM server")
        seen = asyncio.run(_home_assistant(disc, state, s2_url, cem))
        out, err = cem.communicate(timeout=60)
    finally:
        if cem.poll() is None:
            cem.kill()
            cem.wait()
        asyncio.run(_clear(prefix))
    assert cem.returncode == 0, err
    assert "Traceback" not in err and "ERROR" not in err, err
    last = json.loads(out.splitlines()[-1])
    ha = last["home_assistant"]
    assert ha["commands"] == 2 and ha["refused"] == {} and ha["unmanaged"] == []
    assert ha["configs_published"] >= 13 + 4  # the site (LPC, no LPP): 13; the battery: 4
    assert seen[f"{state}/home/ha/availability"] == b"offline"  # a clean stop says so


async def _home_assistant(disc: str, state: str, s2_url: str, cem: subprocess.Popen[str]) -> dict[str, bytes]:
    seen: dict[str, bytes] = {}
    changed = asyncio.Event()

    async def until(check: Any) -> None:
        while not check():
            changed.clear()
            await changed.wait()

    def doc(topic: str) -> dict[str, Any]:
        return json.loads(seen[topic]) if seen.get(topic) else {}

    async with asyncio.timeout(45), aiomqtt.Client("127.0.0.1", 1883) as client:
        await client.subscribe(f"{disc}/#", qos=1)
        await client.subscribe(f"{state}/#", qos=1)

        async def pump() -> None:
            async for msg in client.messages:
                seen[msg.topic.value] = bytes(msg.payload)  # type: ignore[arg-type]
                changed.set()

        pumping = asyncio.ensure_future(pump())
        rm = S2BatteryRM(Battery(BatteryConfig(name="battery", soc=0.5)), datetime.now(UTC))
        await rm.connect(s2_url)

        async def report() -> None:
            t0 = time.monotonic()
            while True:
                await rm.publish(time.monotonic() - t0)
                await asyncio.sleep(0.25)

        reporting = asyncio.ensure_future(report())
        try:
            site = f"{state}/home/ha/state/site"
            await until(lambda: doc(site).get("grid_power_w") is not None)
            assert doc(site)["energy_import_kwh"] > 3000  # the Iskra's registers, 1-0:1.8.1 + 1.8.2
            assert doc(site)["lpc_state"] == "init"
            switch = None

            def battery_switch() -> bool:
                nonlocal switch
                for topic, payload in seen.items():
                    if topic.startswith(f"{disc}/switch/") and payload:
                        switch = json.loads(payload)
                        return True
                return False

            await until(battery_switch)
            assert switch is not None and switch["device"]["name"] == "battery"
            assert switch["device"]["via_device"] == "gridedge_home"
            battery_state = switch["state_topic"]
            await until(lambda: doc(battery_state).get("managed") == "ON")
            await until(lambda: doc(battery_state).get("soc_pct") is not None)
            await client.publish(switch["command_topic"], b"OFF", qos=1)
            await until(lambda: doc(battery_state).get("managed") == "OFF")
            # still shown, still reporting: parked outside the registry, not gone
            assert any(topic.startswith(f"{disc}/switch/") and p for topic, p in seen.items())
            await client.publish(switch["command_topic"], b"ON", qos=1)
            await until(lambda: doc(battery_state).get("managed") == "ON")
            avail = f"{state}/home/ha/availability"
            await until(lambda: seen.get(avail) == b"offline")  # the process stops after --duration
        finally:
            reporting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporting
            await rm.close()
            pumping.cancel()
    return seen


async def _clear(prefix: str) -> None:
    """Remove the retained messages the process left under `prefix`."""
    async with aiomqtt.Client("127.0.0.1", 1883) as client:
        await client.subscribe(f"{prefix}/#", qos=1)
        topics: set[str] = set()
        with contextlib.suppress(TimeoutError):
            while True:
                async with asyncio.timeout(0.5):
                    msg = await anext(aiter(client.messages))
                if msg.retain and msg.payload:
                    topics.add(msg.topic.value)
        for topic in topics:
            await client.publish(topic, b"", qos=1, retain=True)


class _Adapter:
    def __init__(self, device_id: str) -> None:
        self.info = DeviceInfo(device_id, DeviceKind.BATTERY, Protocol.S2, ControlMode.POWER, -3000, 3000)

    def state(self) -> DeviceState | None:
        return DeviceState(self.info.device_id, datetime.now(UTC), 100.0, soc=0.4)

    async def apply(self, setpoint: Setpoint) -> None:
        pass


def test_managed_switch_parks_and_returns_a_device() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        lpc: dict[str, Any] = {"state": None}

        def report(direction: Direction) -> Any:
            state = lpc["state"] if direction is Direction.CONSUMPTION else None
            return None if state is None else SimpleNamespace(state=state)

        service: Any = SimpleNamespace(
            registry=registry,
            binding=SimpleNamespace(by_id={"bat": "battery"}),
            grid=SimpleNamespace(report=report),
        )
        managed = ManagedDevices(service)
        first = _Adapter("bat")
        registry.add(first)
        assert managed.command(HaCommand("bat", "managed", False)) is None
        assert "bat" not in registry and managed.parked["bat"] == (first, "battery")
        assert managed.command(HaCommand("bat", "managed", False)) is None  # already off: no change
        # the device reconnects (its protocol registers a new adapter): parked again at once
        again = _Adapter("bat")
        registry.add(again)
        await asyncio.sleep(0)
        assert "bat" not in registry and managed.parked["bat"][0] is again
        assert managed.command(HaCommand("bat", "managed", True)) is None
        assert registry.get("bat") is again and not managed.parked
        assert managed.command(HaCommand("nobody", "managed", False)) == "no device 'nobody'"
        assert managed.command(HaCommand("bat", "power_limit_w", 100.0)) is not None
        # a grid operator's limit comes first: no parking while it applies, and parked devices return
        lpc["state"] = LpcState.LIMITED
        refused = managed.command(HaCommand("bat", "managed", False))
        assert refused is not None and "limit applies" in refused and registry.get("bat") is again
        lpc["state"] = LpcState.UNLIMITED_CONTROLLED
        assert managed.command(HaCommand("bat", "managed", False)) is None and "bat" not in registry
        assert managed.restore_under_limit() == []  # no limit: it stays parked
        lpc["state"] = LpcState.FAILSAFE
        assert (
            managed.restore_under_limit() == ["bat"] and registry.get("bat") is again and not managed.parked
        )
        managed.close()

    asyncio.run(main())


def test_bad_home_assistant_flags_are_usage_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(CONFIG.format(capture=CAPTURE.as_posix()))
    for flags, expected in (
        (["--ha-mqtt", "nohostport"], "--ha-mqtt"),
        (["--ha-mqtt", "127.0.0.1:1883", "--ha-prefix", "ha/#"], "--ha-prefix"),
        (["--ha-mqtt", "127.0.0.1:1883", "--ha-every", "0"], "--ha-every"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "gridedge", "cem", "--config", str(cfg), *flags],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 2 and expected in out.stderr, (flags, out.stderr)
