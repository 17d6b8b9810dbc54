"""The virtual S2 resource managers without a network: descriptions valid for s2-python's parser,
instructions mapped onto the simulated battery's and heat pump's own control interfaces."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from s2python.frbc import FRBCInstruction, FRBCSystemDescription
from s2python.s2_parser import S2Parser

from gridedge.model.scenario import BatteryConfig, HeatPumpConfig
from gridedge.sim.battery import Battery
from gridedge.sim.devices.s2_battery import S2BatteryRM
from gridedge.sim.devices.s2_heatpump import S2HeatPumpRM
from gridedge.sim.devices.s2_rm import InstructionRefused
from gridedge.sim.electrical import SiteContext
from gridedge.sim.heatpump import HeatPump

START = datetime.fromisoformat("2025-01-15T06:00:00+01:00")
CTX = SiteContext(START, ZoneInfo("Europe/Brussels"))


def _instruction(actuator: uuid.UUID, mode: uuid.UUID, factor: float) -> FRBCInstruction:
    return FRBCInstruction(
        message_id=uuid.uuid4(),
        id=uuid.uuid4(),
        actuator_id=actuator,
        operation_mode=mode,
        operation_mode_factor=factor,
        execution_time=START,
        abnormal_condition=False,
    )


def test_descriptions_round_trip_through_the_s2python_parser() -> None:
    for rm in (S2BatteryRM(Battery(BatteryConfig()), START), S2HeatPumpRM(HeatPump(HeatPumpConfig()), START)):
        desc = rm.system_description(0.0)
        parsed = S2Parser.parse_as_any_message(desc.to_json())
        assert isinstance(parsed, FRBCSystemDescription) and parsed == desc
        for msg in [rm.details(), *rm.reports(0.0, force=True)]:
            assert S2Parser.parse_as_any_message(msg.to_json()) == msg
        assert rm.reports(0.0, force=False) == []  # nothing changed


def test_battery_instruction_becomes_a_power_setpoint_and_bad_ones_name_the_field() -> None:
    battery = Battery(BatteryConfig(charge_kw=5, discharge_kw=4))
    rm = S2BatteryRM(battery, START)
    rm.apply(_instruction(rm.actuator_id, rm.discharge_id, 0.25), 0.0)
    assert (battery.mode, battery.setpoint_w) == ("setpoint", -3000.0)
    with pytest.raises(InstructionRefused, match="field 'operation_mode'"):
        rm.apply(_instruction(rm.actuator_id, uuid.uuid4(), 0.5), 0.0)
    with pytest.raises(InstructionRefused, match="field 'actuator_id'"):
        rm.apply(_instruction(uuid.uuid4(), rm.charge_id, 0.5), 0.0)


def test_heat_pump_heating_factor_steers_its_controller_to_the_instructed_power() -> None:
    hp = HeatPump(HeatPumpConfig(indoor_c=19.0))
    rm = S2HeatPumpRM(hp, START)
    for t in range(300):
        hp.advance(t, t + 1, CTX)
    p_min, p_max, _ = rm.heating_range()
    rm.apply(_instruction(rm.actuator_id, rm.heating_id, 0.5), 300.0)
    target = p_min + 0.5 * (p_max - p_min)
    assert rm.target_w == pytest.approx(target)
    for t in range(300, 1200):
        rm.on_tick(float(t))
        hp.advance(t, t + 1, CTX)
    assert hp.power_w - hp.hp.standby_w == pytest.approx(target, rel=0.01)
    rm.apply(_instruction(rm.actuator_id, rm.off_id, 0.0), 1200.0)
    hp.advance(1200, 1201, CTX)
    assert not hp.running and hp.setpoint_c == HeatPumpConfig().setpoint_c
