"""Pure parts of the S2 CEM: which control type is selected, and which operation mode a setpoint picks."""

from __future__ import annotations

import uuid

import pytest
from s2python.common import Commodity, ControlType, Duration, ResourceManagerDetails, Role, RoleType

from gridedge.home.devices.s2.describe import choose_control_type, device_kind
from gridedge.home.devices.s2.instruct import ModeOption, NoInstruction, choose_mode, desired_power
from gridedge.model.devices import DeviceKind, Setpoint

IDLE, CHARGE, DISCHARGE = (
    ModeOption(uuid.uuid4(), 0, 0),
    ModeOption(uuid.uuid4(), 0, 5000),
    ModeOption(uuid.uuid4(), -4000, 0),
)
BATTERY = [CHARGE, DISCHARGE, IDLE]


def _details(name: str, roles: list[tuple[RoleType, Commodity]]) -> ResourceManagerDetails:
    return ResourceManagerDetails(
        message_id=uuid.uuid4(),
        resource_id=uuid.uuid4(),
        name=name,
        roles=[Role(role=r, commodity=c) for r, c in roles],
        manufacturer=None,
        model=None,
        serial_number=None,
        firmware_version=None,
        currency=None,
        instruction_processing_delay=Duration.from_milliseconds(0),
        available_control_types=[ControlType.FILL_RATE_BASED_CONTROL],
        provides_forecast=False,
        provides_power_measurement_types=["ELECTRIC.POWER.L1"],  # type: ignore[list-item]
    )


@pytest.mark.parametrize(
    ("name", "roles", "kind"),
    [
        (
            "Vaillant aroTHERM heat pump",
            [(RoleType.ENERGY_CONSUMER, Commodity.ELECTRICITY)],
            DeviceKind.HEAT_PUMP,
        ),
        (
            "x",
            [(RoleType.ENERGY_CONSUMER, Commodity.ELECTRICITY), (RoleType.ENERGY_PRODUCER, Commodity.HEAT)],
            DeviceKind.HEAT_PUMP,
        ),
        ("x", [(RoleType.ENERGY_STORAGE, Commodity.ELECTRICITY)], DeviceKind.BATTERY),
        ("x", [(RoleType.ENERGY_PRODUCER, Commodity.ELECTRICITY)], DeviceKind.PV_INVERTER),
        ("dishwasher", [(RoleType.ENERGY_CONSUMER, Commodity.ELECTRICITY)], DeviceKind.APPLIANCE),
        ("x", [(RoleType.ENERGY_CONSUMER, Commodity.ELECTRICITY)], DeviceKind.OTHER),
    ],
)
def test_kind_from_name_then_roles(
    name: str, roles: list[tuple[RoleType, Commodity]], kind: DeviceKind
) -> None:
    assert device_kind(_details(name, roles)) is kind


def test_control_type_preference() -> None:
    every = list(ControlType)
    assert choose_control_type(every, DeviceKind.BATTERY) is ControlType.FILL_RATE_BASED_CONTROL
    assert choose_control_type(every, DeviceKind.PV_INVERTER) is ControlType.POWER_ENVELOPE_BASED_CONTROL
    assert choose_control_type(every, DeviceKind.APPLIANCE) is ControlType.POWER_PROFILE_BASED_CONTROL
    assert (
        choose_control_type(
            [ControlType.OPERATION_MODE_BASED_CONTROL, ControlType.POWER_PROFILE_BASED_CONTROL],
            DeviceKind.OTHER,
        )
        is ControlType.OPERATION_MODE_BASED_CONTROL
    )
    assert (
        choose_control_type([ControlType.DEMAND_DRIVEN_BASED_CONTROL], DeviceKind.HEAT_PUMP)
        is ControlType.NOT_CONTROLABLE
    )


@pytest.mark.parametrize(
    ("setpoint", "mode", "factor", "power"),
    [
        (Setpoint("b", power_w=2500), CHARGE, 0.5, 2500),
        (Setpoint("b", power_w=-1000), DISCHARGE, 0.75, -1000),
        (Setpoint("b", power_w=0), IDLE, 0.0, 0),
        (Setpoint("b", power_w=9000), CHARGE, 1.0, 5000),
        (Setpoint("b", power_w=3000, max_w=1000), CHARGE, 0.2, 1000),
        (Setpoint("b", power_w=-3000, min_w=-500), DISCHARGE, 0.875, -500),
    ],
)
def test_battery_mode_and_factor(setpoint: Setpoint, mode: ModeOption, factor: float, power: float) -> None:
    choice = choose_mode(BATTERY, desired_power(setpoint, None), setpoint)
    assert (choice.mode_id, choice.factor, choice.power_w) == (mode.mode_id, pytest.approx(factor), power)


def test_a_limit_below_the_minimum_modulation_switches_off() -> None:
    off, heating = ModeOption(uuid.uuid4(), 10, 10), ModeOption(uuid.uuid4(), 400, 1200)
    sp = Setpoint("hp", max_w=300)
    assert desired_power(sp, 900.0) == 300.0
    assert choose_mode([heating, off], 300.0, sp).mode_id == off.mode_id
    # the device's own choice, within a ceiling that still allows heating
    sp = Setpoint("hp", max_w=700)
    choice = choose_mode([heating, off], desired_power(sp, 900.0), sp)
    assert (choice.mode_id, choice.power_w) == (heating.mode_id, 700.0)
    assert choice.factor == pytest.approx(0.375)


def test_no_modes_is_an_error() -> None:
    with pytest.raises(NoInstruction, match="no operation mode"):
        choose_mode([], 0.0, Setpoint("x"))
