"""Controllable devices as the energy manager sees them, whatever protocol they speak.

The hybrid control model of the DREAM survey: a device *announces* what it can do
(`DeviceInfo`: kind, power range, how it can be steered, its §14a status), *reports* what it is
doing (`DeviceState`), and *receives* one kind of order, a `Setpoint`, which its protocol adapter
(S2, OCPP, SunSpec Modbus, the simulator) translates into the protocol's own terms: an S2 power
envelope or operation mode, an OCPP charging profile in amperes, a SunSpec `WMaxLimPct`.

Sign convention everywhere: power at the device's AC terminals, positive when it consumes,
negative when it produces (a PV inverter is always <= 0, a battery either way). The same as the
grid connection point: import positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class DeviceKind(StrEnum):
    """What the device is; the planner models each kind differently."""

    EV_CHARGER = "ev-charger"
    HEAT_PUMP = "heat-pump"
    BATTERY = "battery"
    PV_INVERTER = "pv-inverter"
    APPLIANCE = "appliance"
    """A shiftable or switchable appliance (washing machine, dishwasher, water heater)."""
    OTHER = "other"


class Protocol(StrEnum):
    """How gridedge reaches the device."""

    S2 = "s2"
    OCPP16 = "ocpp1.6"
    OCPP201 = "ocpp2.0.1"
    SUNSPEC = "sunspec"
    CHAIN2NET = "chain2net"
    """A device on a gridedge peer network (`gridedge.home.peers`, after Meters and More Chain2Net)."""
    SIM = "sim"
    """Direct calls into the virtual household (tests and `gridedge demo` without protocols)."""


class ControlMode(StrEnum):
    """How a setpoint is honoured (S2 control types, EN 50491-12-2 §6, and their analogues)."""

    POWER = "power"
    """Continuous power setpoint or limit (OCPP profile, SunSpec, S2 PEBC/FRBC)."""
    MODES = "modes"
    """A choice among discrete operation modes (S2 OMBC, on/off devices)."""
    PROFILE = "profile"
    """A fixed power sequence that can be shifted in time (S2 PPBC: washing machine)."""
    NONE = "none"
    """Measured only."""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a device announces once, at registration (S2 ResourceManagerDetails, OCPP
    BootNotification, the SunSpec common and nameplate models).

    `min_power_w`/`max_power_w` bound the power it can draw (negative: produce). `steps_w`, when
    not empty, are the only powers it can run at (operation modes; an EV at 6..16 A in 1 A steps
    has many). `guaranteed_min_w` is the §14a EnWG minimum a grid limit may not push it below
    while it wants power (4.2 kW; 0.4 x rated for heat pumps above 11 kW, BK6-22-300); None when
    the device is not a controllable consumer under §14a.
    """

    device_id: str
    kind: DeviceKind
    protocol: Protocol
    control: ControlMode
    min_power_w: float
    max_power_w: float
    phases: tuple[int, ...] = (1, 2, 3)
    steps_w: tuple[float, ...] = ()
    guaranteed_min_w: float | None = None
    vendor: str = ""
    model: str = ""
    min_running_w: float = 0.0
    """Lowest power while running (a car at 6 A on its phases, IEC 61851; a heat pump's lowest
    modulation): between 0 and this the device can only be off."""

    def __post_init__(self) -> None:
        if not self.device_id:
            raise ValueError("device_id is empty")
        if self.min_power_w > self.max_power_w:
            raise ValueError(
                f"{self.device_id}: min_power_w {self.min_power_w} > max_power_w {self.max_power_w}"
            )
        if not 0 <= self.min_running_w <= max(self.max_power_w, 0):
            raise ValueError(
                f"{self.device_id}: min_running_w {self.min_running_w} outside 0..{self.max_power_w}"
            )
        if self.guaranteed_min_w is not None and self.guaranteed_min_w < 0:
            raise ValueError(f"{self.device_id}: guaranteed_min_w {self.guaranteed_min_w} < 0")


@dataclass(frozen=True, slots=True)
class DeviceState:
    """What a device last reported. `at` is when the adapter received it (clock time, UTC).

    `soc` is 0..1 for batteries and cars, `temperature_c` the controlled temperature (indoor
    for a heat pump), `connected` whether a car is plugged in, `wants_power` whether it would
    draw power if allowed (a car that is full, a heat pump inside its band: False).
    """

    device_id: str
    at: datetime
    power_w: float
    online: bool = True
    soc: float | None = None
    temperature_c: float | None = None
    connected: bool | None = None
    wants_power: bool = True
    energy_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class Setpoint:
    """The one order the control cycle gives a device each cycle.

    `power_w`: the power it should run at (None: its own choice, e.g. a heat pump's thermostat or
    a battery's self-consumption mode). `max_w`: a ceiling on consumption from the limit guard
    (None: no ceiling). `min_w`: a floor (negative: a ceiling on production, for PV curtailment
    and battery discharge; None: no floor). The adapter honours the bounds first: when
    `power_w` lies outside [min_w, max_w] it is clipped.
    """

    device_id: str
    power_w: float | None = None
    max_w: float | None = None
    min_w: float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.max_w is not None and self.min_w is not None and self.min_w > self.max_w:
            raise ValueError(f"{self.device_id}: min_w {self.min_w} > max_w {self.max_w}")

    def target(self) -> float | None:
        """`power_w` clipped to the bounds, or the ceiling/floor alone when no power is given."""
        p = self.power_w
        if p is None:
            return None
        if self.max_w is not None:
            p = min(p, self.max_w)
        if self.min_w is not None:
            p = max(p, self.min_w)
        return p
