"""The narrow control interfaces of simulated devices, one method each (evcc's capability style).

The energy manager's device adapters (S2, OCPP, SunSpec Modbus) put these behind real protocols;
scripted scenario events call them directly. A device implements only what it can do, and a
caller checks with `isinstance` (the protocols are runtime-checkable).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Switchable(Protocol):
    """On/off: kettle, water heater, lighting; `on=False` also stops a running programme."""

    def switch(self, on: bool, t: float) -> None: ...


@runtime_checkable
class Programmable(Protocol):
    """Start a programme (washing machine, dishwasher) at sim time t."""

    def start_programme(self, t: float) -> None: ...


@runtime_checkable
class PowerSettable(Protocol):
    """Active-power setpoint in W at the AC terminals: battery (positive charges, negative
    discharges), PV inverter (a limit on generation, None lifts it)."""

    def set_power(self, power_w: float | None, t: float) -> None: ...


@runtime_checkable
class PowerLimitable(Protocol):
    """A ceiling on consumption in W, None lifts it: a heat pump dimmed under §14a EnWG (its
    controller keeps running, the compressor modulates no higher than the ceiling allows)."""

    def limit_power(self, max_w: float | None, t: float) -> None: ...


@runtime_checkable
class CurrentSettable(Protocol):
    """Charging-current limit in A per phase (IEC 61851 pilot duty cycle); 0 pauses charging."""

    def set_current(self, current_a: float, t: float) -> None: ...


@runtime_checkable
class TemperatureSettable(Protocol):
    """Indoor temperature setpoint in °C (heat pump)."""

    def set_temperature(self, setpoint_c: float, t: float) -> None: ...


@runtime_checkable
class PhaseSwitchable(Protocol):
    """EV charger switching between 1 and 3 phases."""

    def set_phases(self, phases: int, t: float) -> None: ...
