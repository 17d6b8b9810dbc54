"""S2 CEM against the virtual S2 resource managers over real loopback WebSockets: registration,
setpoints reaching the simulated battery and heat pump, a ReceptionStatus for every message,
bad frames answered without losing the connection, removal on disconnect."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from s2python.common import ReceptionStatusValues
from s2python.frbc import FRBCInstruction

from gridedge.clock import SimClock
from gridedge.home.devices.adapter import DeviceAdapter, DeviceError
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.devices.s2 import S2Adapter, S2CemServer
from gridedge.model.devices import ControlMode, DeviceKind, Protocol, Setpoint
from gridedge.model.scenario import BatteryConfig, HeatPumpConfig
from gridedge.sim.battery import Battery
from gridedge.sim.devices.s2_battery import S2BatteryRM
from gridedge.sim.devices.s2_heatpump import S2HeatPumpRM
from gridedge.sim.devices.s2_rm import S2ResourceManager
from gridedge.sim.electrical import Load, SiteContext
from gridedge.sim.heatpump import HeatPump

START = datetime.fromisoformat("2025-01-15T06:00:00+01:00")
CTX = SiteContext(START, ZoneInfo("Europe/Brussels"))


async def until(cond: Callable[[], bool], what: str) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.002)

    try:
        await asyncio.wait_for(poll(), 10)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def step(load: Load, rm: S2ResourceManager, t0: int, t1: int) -> None:
    """Advance the simulated device second by second and let its RM publish."""
    for t in range(t0, t1):
        load.advance(float(t), float(t + 1), CTX)
        await rm.publish(float(t + 1))


async def settled(server: S2CemServer, rm: S2ResourceManager) -> None:
    session = server.sessions[0]
    await until(
        lambda: (
            not session.unanswered
            and not rm.unanswered
            and session.received == rm.sent
            and rm.received == session.sent
        ),
        "every message acknowledged",
    )


def adapter(registry: DeviceRegistry, rm: S2ResourceManager) -> S2Adapter:
    a = registry.get(str(rm.resource_id))
    assert isinstance(a, S2Adapter)
    return a


def test_battery_registers_and_a_limit_reaches_the_battery() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        events: list[tuple[str, bool]] = []
        registry.listen(lambda info, added: events.append((info.device_id, added)))
        async with S2CemServer(registry, SimClock(START)) as server:
            battery = Battery(
                BatteryConfig(name="bat", capacity_kwh=10, charge_kw=5, discharge_kw=4.6, soc=0.5)
            )
            battery.set_power(4000.0, 0.0)
            rm = S2BatteryRM(battery, START)
            await rm.connect(server.url)
            await asyncio.wait_for(rm.ready.wait(), 10)
            await until(lambda: str(rm.resource_id) in registry, "registration")
            a = adapter(registry, rm)
            assert isinstance(a, DeviceAdapter)
            info = a.info
            assert (info.kind, info.protocol, info.control) == (
                DeviceKind.BATTERY,
                Protocol.S2,
                ControlMode.POWER,
            )
            assert (info.min_power_w, info.max_power_w) == (-4600.0, 5000.0)
            assert info.phases == (1,)
            assert info.guaranteed_min_w == 4200.0
            assert info.model == "sim battery"

            await step(battery, rm, 0, 10)
            assert battery.power_w == pytest.approx(4000.0)
            await until(lambda: (s := a.state()) is not None and s.power_w == pytest.approx(4000.0), "state")
            state = a.state()
            assert state is not None
            assert state.soc == pytest.approx(battery.soc, abs=1e-4)

            await asyncio.wait_for(a.apply(Setpoint(info.device_id, max_w=1500.0)), 10)
            instr = a.last_instruction
            assert isinstance(instr, FRBCInstruction)
            assert instr.operation_mode == rm.charge_id
            assert instr.operation_mode_factor == pytest.approx(0.3)
            await step(battery, rm, 10, 20)
            assert battery.power_w == pytest.approx(1500.0)

            await asyncio.wait_for(a.apply(Setpoint(info.device_id, power_w=-2000.0)), 10)
            await step(battery, rm, 20, 30)
            assert battery.power_w == pytest.approx(-2000.0)
            await until(lambda: (s := a.state()) is not None and s.power_w == pytest.approx(-2000.0), "state")

            await asyncio.wait_for(a.apply(Setpoint(info.device_id, power_w=0.0)), 10)
            assert isinstance(a.last_instruction, FRBCInstruction)
            assert a.last_instruction.operation_mode == rm.idle_id
            await step(battery, rm, 30, 40)
            assert battery.power_w == 0.0

            await settled(server, rm)
            session = server.sessions[0]
            # every non-status message got exactly one ReceptionStatus, on both sides
            assert session.received == session.statuses_sent == rm.sent == rm.statuses_received
            assert rm.received == rm.statuses_sent == session.sent == session.statuses_received
            assert session.received >= 10 and rm.received >= 5
            assert all(s.status is ReceptionStatusValues.OK for s in session.answers)
            assert all(s.status is ReceptionStatusValues.OK for s in rm.answers)
            assert len(rm.applied) == 3

            await rm.close()
            await until(lambda: str(rm.resource_id) not in registry, "removal")
            assert events == [(info.device_id, True), (info.device_id, False)]
            with pytest.raises(DeviceError, match="closed"):
                await a.apply(Setpoint(info.device_id, power_w=0.0))

    asyncio.run(main())


def test_heat_pump_limit_lowers_its_power_and_a_low_limit_switches_it_off() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        async with S2CemServer(registry, SimClock(START)) as server:
            hp = HeatPump(HeatPumpConfig(name="hp", indoor_c=19.0, setpoint_c=20.5))
            rm = S2HeatPumpRM(hp, START)
            await rm.connect(server.url)
            await until(lambda: str(rm.resource_id) in registry, "registration")
            a = adapter(registry, rm)
            p_min, p_max, _ = rm.heating_range()
            standby = hp.hp.standby_w
            info = a.info
            assert (info.kind, info.control) == (DeviceKind.HEAT_PUMP, ControlMode.POWER)
            assert info.min_power_w == pytest.approx(standby)
            assert info.max_power_w == pytest.approx(standby + p_max)
            assert info.phases == (1, 2, 3)

            await step(hp, rm, 0, 600)
            p0 = hp.power_w
            assert hp.running and p0 > standby + p_min + 100
            await until(lambda: (s := a.state()) is not None and s.power_w == pytest.approx(p0), "state")
            state = a.state()
            assert state is not None and state.temperature_c == pytest.approx(hp.indoor_c, abs=0.01)

            limit = (p0 + standby + p_min) / 2
            await asyncio.wait_for(a.apply(Setpoint(info.device_id, max_w=limit)), 10)
            instr = a.last_instruction
            assert isinstance(instr, FRBCInstruction) and instr.operation_mode == rm.heating_id
            await step(hp, rm, 600, 720)
            assert hp.power_w == pytest.approx(limit, rel=0.02)
            assert hp.power_w < p0

            await asyncio.wait_for(a.apply(Setpoint(info.device_id, max_w=standby + p_min / 2)), 10)
            assert isinstance(a.last_instruction, FRBCInstruction)
            assert a.last_instruction.operation_mode == rm.off_id
            await step(hp, rm, 720, 730)
            assert not hp.running
            assert hp.power_w == pytest.approx(standby)
            assert hp.setpoint_c == 20.5  # the comfort setpoint is back for when heating resumes

            await settled(server, rm)
            session = server.sessions[0]
            assert session.received == session.statuses_sent == rm.sent
            assert rm.received == rm.statuses_sent == session.sent
            await rm.close()
            await until(lambda: len(registry) == 0, "removal")

    asyncio.run(main())


def test_bad_frames_get_a_status_naming_the_problem_and_the_connection_survives() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        async with S2CemServer(registry, SimClock(START)) as server:
            battery = Battery(BatteryConfig(name="bat2"))
            rm = S2BatteryRM(battery, START)
            await rm.connect(server.url)
            await until(lambda: str(rm.resource_id) in registry, "registration")
            session = server.sessions[0]

            def last() -> tuple[ReceptionStatusValues, str, uuid.UUID]:
                s = rm.received_statuses[-1]
                return s.status, s.diagnostic_label or "", s.subject_message_id

            n = rm.statuses_received
            await rm.send_raw("{this is not json")
            await until(lambda: rm.statuses_received == n + 1, "status for bad JSON")
            status, text, subject = last()
            assert status is ReceptionStatusValues.INVALID_DATA and "not JSON" in text
            assert subject == uuid.UUID(int=0)

            bad_id = uuid.uuid4()
            frame = {
                "message_type": "PowerMeasurement",
                "message_id": str(bad_id),
                "measurement_timestamp": START.isoformat(),
            }
            await rm.send_raw(json.dumps(frame))
            await until(lambda: rm.statuses_received == n + 2, "status for an invalid message")
            status, text, subject = last()
            assert status is ReceptionStatusValues.INVALID_DATA and subject == bad_id
            assert "'values'" in text and "PowerMeasurement" in text

            frame = {"message_type": "Teleport", "message_id": str(uuid.uuid4())}
            await rm.send_raw(json.dumps(frame))
            await until(lambda: rm.statuses_received == n + 3, "status for an unknown message")
            status, text, _ = last()
            assert status is ReceptionStatusValues.INVALID_MESSAGE and "Teleport" in text

            frame = {
                "message_type": "FRBC.ActuatorStatus",
                "message_id": str(uuid.uuid4()),
                "actuator_id": str(rm.actuator_id),
                "active_operation_mode_id": str(uuid.uuid4()),
                "operation_mode_factor": 0.0,
            }
            await rm.send_raw(json.dumps(frame))
            await until(lambda: rm.statuses_received == n + 4, "status for an unknown mode")
            status, text, _ = last()
            assert status is ReceptionStatusValues.INVALID_CONTENT and "active_operation_mode_id" in text

            # the connection is still up and still works
            battery.set_power(1000.0, 0.0)
            battery.advance(0.0, 3.0, CTX)
            await rm.publish(3.0)
            await until(lambda: (s := adapter(registry, rm).state()) is not None and s.power_w > 0, "state")
            assert session.received == session.statuses_sent
            assert str(rm.resource_id) in registry
            await rm.close()

    asyncio.run(main())


def test_a_reconnected_device_replaces_the_old_one_and_the_old_session_does_not_remove_it() -> None:
    async def main() -> None:
        registry = DeviceRegistry()
        async with S2CemServer(registry, SimClock(START)) as server:
            battery = Battery(BatteryConfig(name="bat3"))
            first, second = S2BatteryRM(battery, START), S2BatteryRM(battery, START)
            await first.connect(server.url)
            await until(lambda: str(first.resource_id) in registry, "first registration")
            old = registry.get(str(first.resource_id))
            await second.connect(server.url)
            await until(lambda: registry.get(str(first.resource_id)) is not old, "second registration")
            await first.close()
            await until(lambda: len(server.sessions) == 1, "first session closed")
            assert str(first.resource_id) in registry
            await second.close()
            await until(lambda: len(registry) == 0, "removal")

    asyncio.run(main())
