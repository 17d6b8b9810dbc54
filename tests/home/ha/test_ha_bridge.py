"""`HomeAssistantBridge` against the real Mosquitto on 127.0.0.1:1883, with an aiomqtt client
subscribing the way Home Assistant does (`<prefix>/+/+/+/config`, `<prefix>/status` births, the
configs' state and availability topics). Every test has its own topic prefixes, runs under
`asyncio.timeout` and clears the retained messages it left behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import aiomqtt

from gridedge.bus.rawlink import MqttRawLink
from gridedge.clock import RealClock
from gridedge.home.ha import (
    CONTROL_MANAGED,
    CONTROL_POWER_LIMIT,
    HaCommand,
    HaDevice,
    HaMqttLink,
    HaSnapshot,
    HomeAssistantBridge,
)
from gridedge.home.ha.discovery import site_state_document
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol

TIMEOUT = 20.0
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@dataclass
class FakeHomeAssistant:
    """An MQTT client that keeps what Home Assistant would: the latest payload per topic."""

    client: aiomqtt.Client
    seen: dict[str, bytes] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def pump(self) -> None:
        async for msg in self.client.messages:
            topic = msg.topic.value
            payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
            self.seen[topic] = payload
            self.count[topic] = self.count.get(topic, 0) + 1
            self.changed.set()

    async def until(self, check: Callable[[], bool]) -> None:
        while not check():
            self.changed.clear()
            await self.changed.wait()

    def configs(self) -> dict[str, dict[str, Any]]:
        return {t: json.loads(p) for t, p in self.seen.items() if t.endswith("/config") and p}

    def value(self, cfg: dict[str, Any]) -> Any:
        """The entity's state the way Home Assistant renders `{{ value_json.KEY }}`."""
        m = re.fullmatch(r"\{\{ value_json\.(\w+) \}\}", cfg["value_template"])
        assert m, cfg["value_template"]
        return json.loads(self.seen[cfg["state_topic"]])[m.group(1)]


async def with_ha(
    main: Callable[[str, str, FakeHomeAssistant], Awaitable[None]],
) -> None:
    disc = f"gridedge-test/{uuid4().hex}/homeassistant"
    state = disc.rsplit("/", 1)[0] + "/gridedge"
    async with asyncio.timeout(TIMEOUT):
        async with aiomqtt.Client("127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5) as client:
            ha = FakeHomeAssistant(client)
            await client.subscribe(f"{disc}/#", qos=1)
            await client.subscribe(f"{state}/#", qos=1)
            pump = asyncio.ensure_future(ha.pump())
            try:
                await main(disc, state, ha)
            finally:
                for topic, payload in list(ha.seen.items()):  # leave no retained messages behind
                    if payload and not topic.endswith(("/set", "/status")):
                        await client.publish(topic, b"", qos=1, retain=True)
                pump.cancel()


async def retained(topic_filter: str, quiet_s: float = 0.5) -> dict[str, bytes]:
    """The retained messages a new subscriber gets (collected until `quiet_s` of silence)."""
    out: dict[str, bytes] = {}
    async with aiomqtt.Client("127.0.0.1", 1883) as late:
        await late.subscribe(topic_filter, qos=1)
        with contextlib.suppress(TimeoutError):
            while True:
                async with asyncio.timeout(quiet_s):
                    msg = await anext(aiter(late.messages))
                if msg.retain:
                    out[msg.topic.value] = bytes(msg.payload)  # type: ignore[arg-type]
    return out


async def settled(bridge: HomeAssistantBridge, ha: FakeHomeAssistant) -> None:
    """Wait until a full update went out (states follow the configs) and Home Assistant has every
    config the bridge sent."""

    def done() -> bool:
        sent = {t for t in bridge._published if t.endswith("/config")}
        return bridge.stats.states_published > 0 and bool(sent) and sent <= ha.configs().keys()

    await ha.until(done)


def link(**kw: Any) -> MqttRawLink:
    return MqttRawLink(RealClock(), client_id=f"ha-test-{uuid4().hex[:8]}", backoff_initial_s=0.05,
                       backoff_max_s=0.2, **kw)  # fmt: skip


def battery(power: float = -1500.0) -> HaDevice:
    info = DeviceInfo("bat-1", DeviceKind.BATTERY, Protocol.S2, ControlMode.POWER, -5000, 5000)
    return HaDevice(info, DeviceState("bat-1", NOW, power, soc=0.5), name="battery")


def charger() -> HaDevice:
    info = DeviceInfo("cp1", DeviceKind.EV_CHARGER, Protocol.OCPP201, ControlMode.POWER, 0, 11000)
    return HaDevice(info, DeviceState("cp1", NOW, 7200.0, connected=True), name="car")


def snapshot(*devices: HaDevice, grid_w: float = 1234.5) -> HaSnapshot:
    status = {"grid_w": grid_w, "lpc": {"state": "limited", "limit_w": 4200.0}, "month_peak_kw": 2.5}
    site = site_state_document(status, energy_import_kwh=100.5, energy_export_kwh=20.25, now=NOW)
    return HaSnapshot(site, devices)


def test_configs_and_states_arrive_as_home_assistant_sees_them() -> None:
    async def main(disc: str, state: str, ha: FakeHomeAssistant) -> None:
        bridge = HomeAssistantBridge(link(), RealClock(), "home", disc, state)
        await bridge.start()
        try:
            await bridge.link.wait_up(5.0)
            await bridge.update(snapshot(battery(), charger()))
            n = bridge.stats.configs_published
            assert n == len(bridge._published) - 3  # + the site's and two devices' state documents
            await ha.until(lambda: len(ha.configs()) == n)
            configs = ha.configs()
            kept = await retained(f"{disc}/#")  # what Home Assistant finds when it starts later
            assert {t: json.loads(p) for t, p in kept.items() if t.endswith("/config")} == configs
            avail = next(iter(configs.values()))["availability"][0]["topic"]
            await ha.until(lambda: ha.seen.get(avail) == b"online")
            by_uid = {c["unique_id"]: c for c in configs.values()}
            await ha.until(lambda: all(c["state_topic"] in ha.seen for c in configs.values()))
            assert ha.value(by_uid["gridedge_home_site_grid_power_w"]) == 1234.5
            assert ha.value(by_uid["gridedge_home_site_energy_import_kwh"]) == 100.5
            assert ha.value(by_uid["gridedge_home_site_lpc_state"]) == "limited"
            assert ha.value(by_uid["gridedge_home_site_failsafe"]) == "OFF"
            bat = {k.split("_dev_bat_1_", 1)[1][7:]: c for k, c in by_uid.items() if "_dev_bat_1_" in k}
            assert ha.value(bat["power_w"]) == -1500.0 and ha.value(bat["soc_pct"]) == 50.0
            car = {k.removeprefix("gridedge_home_dev_cp1_"): c for k, c in by_uid.items() if "_dev_cp1_" in k}
            assert ha.value(car["plugged"]) == "ON" and ha.value(car["managed"]) == "ON"
            # a second update with new values: states again, configs unchanged (not re-sent)
            await bridge.update(snapshot(battery(-200.0), charger(), grid_w=-300.0))
            assert bridge.stats.configs_published == n
            await ha.until(lambda: ha.value(by_uid["gridedge_home_site_grid_power_w"]) == -300.0)
        finally:
            await bridge.close()
            await bridge.link.close()
        assert ha.seen[avail] == b"offline"

    asyncio.run(with_ha(main))


def test_a_removed_device_is_deleted_and_a_new_one_announced() -> None:
    async def main(disc: str, state: str, ha: FakeHomeAssistant) -> None:
        bridge = HomeAssistantBridge(link(), RealClock(), "home", disc, state)
        await bridge.start()
        try:
            await bridge.link.wait_up(5.0)
            await bridge.update(snapshot(battery(), charger()))
            car_topics = [t for t in bridge._published if "dev_cp1" in t]
            assert len(car_topics) == 5  # power, online, plugged, managed + its state document
            await ha.until(lambda: all(ha.seen.get(t) for t in car_topics))
            await bridge.update(snapshot(battery()))
            await ha.until(lambda: all(ha.seen.get(t) == b"" for t in car_topics))
            assert bridge.stats.configs_deleted == 4
            assert not any("cp1" in c["unique_id"] for c in ha.configs().values())
            # the broker dropped the retained configs: Home Assistant restarting finds none of them
            found = await retained(f"{disc}/#")
            assert found and not any("cp1" in t for t in found)
            await bridge.update(snapshot(battery(), charger()))
            await ha.until(lambda: all(ha.seen.get(t) for t in car_topics))
        finally:
            await bridge.close()
            await bridge.link.close()

    asyncio.run(with_ha(main))


def test_home_assistant_birth_message_re_sends_every_config() -> None:
    async def main(disc: str, state: str, ha: FakeHomeAssistant) -> None:
        bridge = HomeAssistantBridge(link(), RealClock(), "home", disc, state)
        stop = asyncio.Event()
        runner = asyncio.ensure_future(bridge.run(lambda: snapshot(battery()), stop, every_s=30.0))
        try:
            await settled(bridge, ha)
            await bridge.link.wait_subscribed(5.0)  # type: ignore[attr-defined]
            n = bridge.stats.configs_published
            before = {t: ha.count[t] for t in ha.configs()}
            await ha.client.publish(f"{disc}/status", b"online", qos=1)
            await ha.until(lambda: all(ha.count[t] == before[t] + 1 for t in before))
            await ha.until(lambda: bridge.stats.states_published >= 4)  # the states follow the configs
            assert bridge.stats.births == 1 and bridge.stats.configs_published == 2 * n
            await ha.client.publish(f"{disc}/status", b"offline", qos=1)  # HA going away: nothing
            await asyncio.sleep(0.3)
            assert bridge.stats.births == 1 and bridge.stats.configs_published == 2 * n
        finally:
            stop.set()
            await runner
            await bridge.link.close()

    asyncio.run(with_ha(main))


def test_commands_are_validated_refused_and_counted() -> None:
    async def main(disc: str, state: str, ha: FakeHomeAssistant) -> None:
        got: list[HaCommand] = []

        def handler(cmd: HaCommand) -> str | None:
            if cmd.control == CONTROL_POWER_LIMIT and cmd.value == 4321.0:
                return "not now"
            got.append(cmd)
            return None

        bridge = HomeAssistantBridge(link(), RealClock(), "home", disc, state, on_command=handler,
                                     controls=(CONTROL_MANAGED, CONTROL_POWER_LIMIT))  # fmt: skip
        stop = asyncio.Event()
        runner = asyncio.ensure_future(bridge.run(lambda: snapshot(charger()), stop, every_s=30.0))
        try:
            await settled(bridge, ha)
            await bridge.link.wait_subscribed(5.0)  # type: ignore[attr-defined]
            cmds = {c["unique_id"].rsplit("_", 1)[-1]: c["command_topic"] for c in ha.configs().values()
                    if "command_topic" in c}  # fmt: skip
            managed, limit = cmds["managed"], cmds["w"]
            bad = [
                (managed, b"on"), (managed, b"ON "), (managed, b"TOGGLE"), (managed, b""),
                (limit, b"abc"), (limit, b"nan"), (limit, b"inf"), (limit, b"-1"), (limit, b"11000.5"),
                (limit, b"\xff\xfe"), (limit, b"1" * 100), (limit, b"4321"),
                (managed.replace("dev_cp1", "dev_nobody"), b"ON"),
            ]  # fmt: skip
            for topic, payload in bad:
                await ha.client.publish(topic, payload, qos=1)
            await ha.client.publish(managed, b"OFF", qos=1)
            await ha.client.publish(limit, b"7400", qos=1)
            await ha.until(lambda: len(got) == 2)
            assert got == [HaCommand("cp1", "managed", False), HaCommand("cp1", "power_limit_w", 7400.0)]
            assert bridge.stats.commands == 2
            assert bridge.stats.refused == {
                "bad-payload": 4, "not-a-number": 4, "out-of-range": 2, "too-long": 1, "declined": 1,
                "unknown-topic": 1,
            }  # fmt: skip
            # the count reaches Home Assistant too: the site's "Refused Home Assistant commands"
            refused_cfg = next(
                c for c in ha.configs().values() if c["unique_id"].endswith("commands_refused")
            )
            await ha.until(lambda: ha.value(refused_cfg) == 13)
        finally:
            stop.set()
            await runner
            await bridge.link.close()

    asyncio.run(with_ha(main))


def test_last_will_marks_everything_unavailable_until_reconnected() -> None:
    async def main(disc: str, state: str, ha: FakeHomeAssistant) -> None:
        bridge = HomeAssistantBridge(link(), RealClock(), "home", disc, state)
        will = HaMqttLink(RealClock(), will_topic=bridge.topics.availability,
                          client_id=f"ha-test-{uuid4().hex[:8]}", backoff_initial_s=0.05,
                          backoff_max_s=0.2)  # fmt: skip
        bridge.link = will
        stop = asyncio.Event()
        runner = asyncio.ensure_future(bridge.run(lambda: snapshot(battery()), stop, every_s=30.0))
        avail = bridge.topics.availability
        try:
            await ha.until(lambda: ha.seen.get(avail) == b"online")
            await settled(bridge, ha)
            sent = bridge.stats.configs_published
            assert will.drop_connection()
            await ha.until(lambda: ha.seen.get(avail) == b"offline")  # the broker's last will
            await ha.until(lambda: ha.seen.get(avail) == b"online")  # reconnected: online again
            await ha.until(lambda: bridge.stats.configs_published == 2 * sent)  # and configs re-sent
        finally:
            stop.set()
            await runner
            await will.close()
        assert ha.seen[avail] == b"offline"

    asyncio.run(with_ha(main))
