"""The simulated heat pump as an S2 FRBC resource manager (EN 50491-12-2, fill-rate based control).

Storage: the house's thermal mass, fill level = indoor temperature in °C, range = the comfort
setpoint +- max(band, 1 K). One actuator, the compressor, with two operation modes (electric
power including the controller's standby draw, at the operating point when the control type is
selected):

- off: standby only;
- heating: standby + min_modulation x P_max .. standby + P_max, P_max = hplib thermal capacity /
  COP (an on/off unit has one point). Fill rate = COP x P / C in K/s; the mode also states its
  HEAT.THERMAL_POWER range (COP x P), as FRBC requires a range per supported commodity.

`gridedge.sim.heatpump.HeatPump` takes a temperature setpoint and on/off, not a power, so the RM
maps an instruction onto that interface, as a real heat pump's S2 gateway drives its controller:
`off` switches heating off; `heating` with factor f switches it on and, every second
(`on_tick`), sets the indoor setpoint at which the heat pump's own weather-compensated
proportional controller asks for the instructed power:

    UA (s - T_out) + C / tau (s - T_in) = COP x P_target
    ->  s = (COP P_target + UA T_out + C/tau T_in) / (UA + C/tau)

clamped to the heat pump's 5..30 °C. Its anti-short-cycle timers, soft start and minimum
modulation still apply. `off` restores the comfort setpoint for when heating is switched on again.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from s2python.common import (
    Commodity,
    CommodityQuantity,
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

from gridedge.sim.devices.s2_rm import (
    FrbcReporter,
    InstructionRefused,
    S2ResourceManager,
    all_transitions,
    phase_quantity,
)
from gridedge.sim.heatpump import CONTROL_TAU_S, HeatPump

TEMPERATURE_STEP_K = 0.01
DEFAULT_OUTDOOR_C = 7.0
"""Outdoor temperature for the description before the heat pump has run a step (its own default)."""


class S2HeatPumpRM(S2ResourceManager):
    """S2 RM for a `gridedge.sim.heatpump.HeatPump`."""

    control_types = (ControlType.FILL_RATE_BASED_CONTROL,)

    def __init__(self, heat_pump: HeatPump, start: datetime, *, resource_id: uuid.UUID | None = None) -> None:
        super().__init__(heat_pump.name, start, resource_id=resource_id)
        self.hp = heat_pump
        ns = self.resource_id
        self.actuator_id = uuid.uuid5(ns, "compressor")
        self.off_id = uuid.uuid5(ns, "off")
        self.heating_id = uuid.uuid5(ns, "heating")
        self.quantity = phase_quantity(heat_pump.cfg.phases)
        self.comfort_c = heat_pump.setpoint_c
        self.target_w: float | None = None
        """Instructed electric power in the heating mode (None: the heat pump's own thermostat)."""
        step = TEMPERATURE_STEP_K
        self._reporter = FrbcReporter(self.actuator_id, self.quantity, step, factor_counts=False)

    # ---- operating point ------------------------------------------------------------------------

    def _outdoor(self) -> float:
        return self.hp.outdoor_c if math.isfinite(self.hp.outdoor_c) else DEFAULT_OUTDOOR_C

    def heating_range(self) -> tuple[float, float, float]:
        """(min, max) electric power of the heating mode without standby, and the COP."""
        model = self.hp.hp
        out = self._outdoor()
        cop = model.cop(out, self.hp.flow_c)
        p_max = model.capacity_w(out, self.hp.flow_c) / cop
        p_min = self.hp.cfg.min_modulation * p_max if model.regulated else p_max
        return p_min, p_max, cop

    def details(self) -> ResourceManagerDetails:
        return ResourceManagerDetails(
            message_id=uuid.uuid4(),
            resource_id=self.resource_id,
            name=f"heat pump {self.name}",
            roles=[Role(role=RoleType.ENERGY_CONSUMER, commodity=Commodity.ELECTRICITY),
                   Role(role=RoleType.ENERGY_PRODUCER, commodity=Commodity.HEAT)],
            manufacturer=self.hp.hp.manufacturer,
            model=self.hp.hp.model,
            serial_number=None,
            firmware_version=None,
            currency=None,
            instruction_processing_delay=Duration.from_milliseconds(1000),
            available_control_types=list(self.control_types),
            provides_forecast=False,
            provides_power_measurement_types=[self.quantity],
        )

    def fill_range(self) -> NumberRange:
        half = max(self.hp.band_k, 1.0)
        return NumberRange(start_of_range=self.comfort_c - half, end_of_range=self.comfort_c + half)

    def system_description(self, t: float) -> S2Message:
        p_min, p_max, cop = self.heating_range()
        standby = self.hp.hp.standby_w
        c = self.hp.capacity_j_per_k
        fill = self.fill_range()

        def mode(
            mode_id: uuid.UUID, label: str, lo: float, hi: float,
            rate: tuple[float, float], heat: tuple[float, float],
        ) -> FRBCOperationMode:
            return FRBCOperationMode(
                id=mode_id, diagnostic_label=label, abnormal_condition_only=False,
                elements=[FRBCOperationModeElement(
                    fill_level_range=fill,
                    fill_rate=NumberRange(start_of_range=rate[0], end_of_range=rate[1]),
                    power_ranges=[
                        PowerRange(start_of_range=lo, end_of_range=hi, commodity_quantity=self.quantity),
                        PowerRange(start_of_range=heat[0], end_of_range=heat[1],
                                   commodity_quantity=CommodityQuantity.HEAT_THERMAL_POWER),
                    ],
                    running_costs=None,
                )],
            )

        modes = [
            mode(self.off_id, "off", standby, standby, (0.0, 0.0), (0.0, 0.0)),
            mode(self.heating_id, "heating", standby + p_min, standby + p_max,
                 (cop * p_min / c, cop * p_max / c), (cop * p_min, cop * p_max)),
        ]
        return FRBCSystemDescription(
            message_id=uuid.uuid4(),
            valid_from=self.at(t),
            actuators=[FRBCActuatorDescription(
                id=self.actuator_id, diagnostic_label="compressor",
                supported_commodities=[Commodity.ELECTRICITY, Commodity.HEAT],
                operation_modes=modes,
                transitions=all_transitions([self.off_id, self.heating_id], self.resource_id),
                timers=[],
            )],
            storage=FRBCStorageDescription(
                diagnostic_label="house", fill_level_label="°C",
                provides_leakage_behaviour=False, provides_fill_level_target_profile=False,
                provides_usage_forecast=False, fill_level_range=fill,
            ),
        )

    # ---- reports --------------------------------------------------------------------------------

    def _actual_mode(self) -> tuple[uuid.UUID, float]:
        if not self.hp.running:
            return self.off_id, 0.0
        p_min, p_max, _ = self.heating_range()
        p = self.hp.power_w - self.hp.hp.standby_w
        f = (p - p_min) / (p_max - p_min) if p_max > p_min else 0.0
        return self.heating_id, round(min(1.0, max(0.0, f)), 3)

    def reports(self, t: float, *, force: bool) -> list[S2Message]:
        power, fill = self.hp.power_w, self.hp.indoor_c
        return self._reporter.reports(self.at(t), power, fill, self._actual_mode(), force=force)

    # ---- control --------------------------------------------------------------------------------

    def apply(self, instruction: S2Message, t: float) -> None:
        if not isinstance(instruction, FRBCInstruction):
            raise InstructionRefused(f"expected an FRBC.Instruction, found {instruction.message_type}")
        if instruction.actuator_id != self.actuator_id:
            raise InstructionRefused(f"field 'actuator_id': {instruction.actuator_id} is not the compressor "
                                     f"{self.actuator_id}")
        f = instruction.operation_mode_factor
        if not 0.0 <= f <= 1.0:
            raise InstructionRefused(f"field 'operation_mode_factor': expected 0..1, found {f}")
        if instruction.operation_mode == self.off_id:
            self.target_w = None
            self.hp.switch(False, t)
            self.hp.set_temperature(self.comfort_c, t)
        elif instruction.operation_mode == self.heating_id:
            p_min, p_max, _ = self.heating_range()
            self.target_w = p_min + f * (p_max - p_min)
            self.hp.switch(True, t)
            self.on_tick(t)
        else:
            raise InstructionRefused(f"field 'operation_mode': {instruction.operation_mode} is not an "
                                     "operation mode of the compressor")

    def on_tick(self, t: float) -> None:
        """Keep the heat pump's controller asking for the instructed power (see the module docstring)."""
        if self.target_w is None:
            return
        hp = self.hp
        _, _, cop = self.heating_range()
        k = hp.capacity_j_per_k / CONTROL_TAU_S
        s = (cop * self.target_w + hp.ua_w_per_k * self._outdoor() + k * hp.indoor_c) / (hp.ua_w_per_k + k)
        hp.set_temperature(min(30.0, max(5.0, s)), t)
