"""The simulated home battery as an S2 FRBC resource manager (EN 50491-12-2, fill-rate based control).

Storage: fill level = state of charge in %, range soc_min..soc_max. One actuator, the inverter,
with three operation modes (power ranges at the AC terminals, positive charging):

- idle: 0 W;
- charge: 0 .. charge_kw (factor 0 = 0 W, factor 1 = full charge);
- discharge: -discharge_kw .. 0 (factor 0 = full discharge, factor 1 = 0 W; S2 ranges run
  from start to end, start <= end).

Fill rates follow from the one-way efficiency: charging stores eta x P, discharging takes P / eta
(`gridedge.sim.battery`), in % of capacity per second. An instruction becomes
`Battery.set_power(...)`; the battery's own ramp and SoC limits still apply.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from s2python.common import (
    Commodity,
    ControlType,
    Duration,
    NumberRange,
    PowerRange,
    ResourceManagerDetails,
    Role,
    RoleType,
)
from s2python.frbc import (
    FRBCActuatorDescription,
    FRBCInstruction,
    FRBCOperationMode,
    FRBCOperationModeElement,
    FRBCStorageDescription,
    FRBCSystemDescription,
)
from s2python.message import S2Message

from gridedge.sim.battery import Battery
from gridedge.sim.devices.s2_rm import (
    FrbcReporter,
    InstructionRefused,
    S2ResourceManager,
    all_transitions,
    phase_quantity,
)

SOC_STEP_PCT = 0.01
"""Smallest state-of-charge change worth a StorageStatus."""


class S2BatteryRM(S2ResourceManager):
    """S2 RM for a `gridedge.sim.battery.Battery`."""

    control_types = (ControlType.FILL_RATE_BASED_CONTROL,)

    def __init__(self, battery: Battery, start: datetime, *, resource_id: uuid.UUID | None = None) -> None:
        super().__init__(battery.name, start, resource_id=resource_id)
        self.battery = battery
        ns = self.resource_id
        self.actuator_id = uuid.uuid5(ns, "inverter")
        self.idle_id = uuid.uuid5(ns, "idle")
        self.charge_id = uuid.uuid5(ns, "charge")
        self.discharge_id = uuid.uuid5(ns, "discharge")
        self.quantity = phase_quantity(battery.cfg.phases)
        self._reporter = FrbcReporter(self.actuator_id, self.quantity, SOC_STEP_PCT, factor_counts=True)

    def details(self) -> ResourceManagerDetails:
        return ResourceManagerDetails(
            message_id=uuid.uuid4(),
            resource_id=self.resource_id,
            name=f"battery {self.name}",
            roles=[Role(role=RoleType.ENERGY_STORAGE, commodity=Commodity.ELECTRICITY)],
            manufacturer="gridedge",
            model="sim battery",
            serial_number=None,
            firmware_version=None,
            currency=None,
            instruction_processing_delay=Duration.from_milliseconds(1000),
            available_control_types=list(self.control_types),
            provides_forecast=False,
            provides_power_measurement_types=[self.quantity],
        )

    def _mode(self, mode_id: uuid.UUID, label: str, power: tuple[float, float], rate: tuple[float, float],
              fill: NumberRange) -> FRBCOperationMode:
        return FRBCOperationMode(
            id=mode_id,
            diagnostic_label=label,
            elements=[FRBCOperationModeElement(
                fill_level_range=fill,
                fill_rate=NumberRange(start_of_range=rate[0], end_of_range=rate[1]),
                power_ranges=[PowerRange(start_of_range=power[0], end_of_range=power[1],
                                         commodity_quantity=self.quantity)],
            )],
            abnormal_condition_only=False,
        )

    def system_description(self, t: float) -> S2Message:
        b = self.battery
        cfg = b.cfg
        fill = NumberRange(start_of_range=cfg.soc_min * 100.0, end_of_range=cfg.soc_max * 100.0)
        pct_per_ws = 100.0 / (b.capacity_kwh * 3.6e6)
        modes = [
            self._mode(self.idle_id, "idle", (0.0, 0.0), (0.0, 0.0), fill),
            self._mode(self.charge_id, "charge", (0.0, b.charge_w),
                       (0.0, b.charge_w * b.efficiency * pct_per_ws), fill),
            self._mode(self.discharge_id, "discharge", (-b.discharge_w, 0.0),
                       (-b.discharge_w / b.efficiency * pct_per_ws, 0.0), fill),
        ]
        ids = [self.idle_id, self.charge_id, self.discharge_id]
        return FRBCSystemDescription(
            message_id=uuid.uuid4(),
            valid_from=self.at(t),
            actuators=[FRBCActuatorDescription(
                id=self.actuator_id,
                diagnostic_label="inverter",
                supported_commodities=[Commodity.ELECTRICITY],
                operation_modes=modes,
                transitions=all_transitions(ids, self.resource_id),
                timers=[],
            )],
            storage=FRBCStorageDescription(
                diagnostic_label="battery",
                fill_level_label="%",
                provides_leakage_behaviour=False,
                provides_fill_level_target_profile=False,
                provides_usage_forecast=False,
                fill_level_range=fill,
            ),
        )

    def _actual_mode(self) -> tuple[uuid.UUID, float]:
        b = self.battery
        p = b.setpoint_w if b.mode == "setpoint" else b.power_w
        if b.mode == "idle" or p == 0.0:
            return self.idle_id, 0.0
        if p > 0:
            return self.charge_id, min(1.0, p / b.charge_w)
        return self.discharge_id, max(0.0, 1.0 + p / b.discharge_w)

    def reports(self, t: float, *, force: bool) -> list[S2Message]:
        power, fill = self.battery.power_w, self.battery.soc * 100.0
        return self._reporter.reports(self.at(t), power, fill, self._actual_mode(), force=force)

    def apply(self, instruction: S2Message, t: float) -> None:
        if not isinstance(instruction, FRBCInstruction):
            raise InstructionRefused(f"expected an FRBC.Instruction, found {instruction.message_type}")
        if instruction.actuator_id != self.actuator_id:
            raise InstructionRefused(f"field 'actuator_id': {instruction.actuator_id} is not the inverter "
                                     f"{self.actuator_id}")
        f = instruction.operation_mode_factor
        if not 0.0 <= f <= 1.0:
            raise InstructionRefused(f"field 'operation_mode_factor': expected 0..1, found {f}")
        b = self.battery
        if instruction.operation_mode == self.idle_id:
            b.set_power(0.0, t)
        elif instruction.operation_mode == self.charge_id:
            b.set_power(f * b.charge_w, t)
        elif instruction.operation_mode == self.discharge_id:
            b.set_power(-(1.0 - f) * b.discharge_w, t)
        else:
            raise InstructionRefused(f"field 'operation_mode': {instruction.operation_mode} is not an "
                                     "operation mode of the inverter")
