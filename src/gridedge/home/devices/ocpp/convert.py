"""Pure translations between OCPP payloads and gridedge's device terms; no I/O.

* A power setpoint becomes a current limit per phase (OCPP 1.6 §3.13 / 2.0.1 K01: chargingRateUnit
  A), with IEC 61851-1's 6 A floor: less than that is a pause, 0 A.
* MeterValues sampled values (OCPP 1.6 §7.43 SampledValue, 2.0.1 SampledValueType) become one
  `MeterReading`, units and multipliers applied.
* Connector statuses (1.6 §7.7 ChargePointStatus, 2.0.1 ConnectorStatusEnumType) and 2.0.1
  charging states say whether a car is plugged in and whether it wants power.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

CONNECTED_STATUSES: Final = frozenset(
    {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"}
)
"""Statuses with a car plugged in (1.6 Finishing: transaction over, cable still in; 2.0.1 Occupied)."""
CONNECTED_CHARGING_STATES: Final = frozenset({"EVConnected", "Charging", "SuspendedEV", "SuspendedEVSE"})
"""OCPP 2.0.1 TransactionType.chargingState values with a car plugged in (Idle: none)."""
FULL_STATES: Final = frozenset({"SuspendedEV"})
"""The car, not the charger, stopped drawing: it does not want power now."""

_PHASES: Final = ("L1", "L2", "L3")
_UNITS: Final[dict[str, dict[str, float]]] = {
    "Power.Active.Import": {"W": 1.0, "kW": 1000.0},
    "Energy.Active.Import.Register": {"Wh": 1.0, "kWh": 1000.0},
    "Current.Import": {"A": 1.0},
    "SoC": {"Percent": 1.0},
}
"""The measurands gridedge reads, their units (1.6 §7.45 UnitOfMeasure) and the factor to W, Wh, A,
%. The first unit of each is the default when none is given."""
_DEFAULT_MEASURAND: Final = "Energy.Active.Import.Register"


def current_limit_a(power_w: float, phases: int, *, min_a: float, max_a: float, voltage_v: float) -> float:
    """Current per phase that keeps a charger at or below `power_w` on `phases` phases.

    Rounded down to 0.1 A (OCPP 1.6 §7.13: a limit has at most one decimal), capped at `max_a`;
    below `min_a` (IEC 61851-1: 6 A) the answer is 0 A, a pause.
    """
    if not math.isfinite(power_w):
        raise ValueError(f"power_w: expected a finite number, found {power_w}")
    if phases < 1:
        raise ValueError(f"phases: expected >= 1, found {phases}")
    amps = min(power_w / (voltage_v * phases), max_a)
    amps = math.floor(amps * 10.0 + 1e-9) / 10.0
    return amps if amps >= min_a else 0.0


@dataclass(frozen=True, slots=True)
class MeterReading:
    """The latest value of each measurand gridedge uses; None when never reported.

    `power_w`: active import power (per-phase values summed when no total was given),
    `energy_wh`: the import register, `currents_a`: import current on L1, L2, L3,
    `soc`: the car's state of charge as reported, 0..1.
    """

    power_w: float | None = None
    energy_wh: float | None = None
    currents_a: tuple[float | None, float | None, float | None] = (None, None, None)
    soc: float | None = None


def _number(raw: object, where: str) -> float:
    """A sampled value: a decimal string in 1.6, a JSON number in 2.0.1."""
    if isinstance(raw, bool):
        raise ValueError(f"{where}.value: expected a number, found {raw!r}")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{where}.value: expected a decimal number, found {raw!r}") from None
    else:
        raise ValueError(f"{where}.value: expected a number, found {type(raw).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{where}.value: expected a finite number, found {raw!r}")
    return value


def _scaled(sample: Mapping[str, Any], measurand: str, where: str) -> float:
    value = _number(sample.get("value"), where)
    uom = sample.get("unit_of_measure")
    multiplier = 0
    if isinstance(uom, Mapping):  # 2.0.1 UnitOfMeasureType: unit and power-of-ten multiplier
        unit = uom.get("unit")
        multiplier = int(uom.get("multiplier") or 0)
    else:
        unit = sample.get("unit")
    units = _UNITS[measurand]
    scale = units[next(iter(units))] if unit is None else units.get(str(unit))
    if scale is None:
        raise ValueError(f"{where}.unit: {unit!r} is not a unit of {measurand}")
    return value * scale * 10.0**multiplier


def read_meter_values(meter_values: Sequence[Mapping[str, Any]], last: MeterReading) -> MeterReading:
    """Fold a MeterValues list (snake_case keys, as the `ocpp` package delivers them) into `last`.

    MeterValue entries are taken in order, so a later sample of a measurand overrides an earlier
    one. Measurands other than the four gridedge uses are skipped; a malformed value of one of
    those raises ValueError naming the entry.
    """
    reading = last
    for i, mv in enumerate(meter_values):
        total: float | None = None
        per_phase: dict[str, float] = {}
        currents = list(reading.currents_a)
        samples = mv.get("sampled_value")
        if not isinstance(samples, Sequence):
            raise ValueError(f"meter_value[{i}].sampled_value: expected a list, found {samples!r}")
        for j, sample in enumerate(samples):
            where = f"meter_value[{i}].sampled_value[{j}]"
            measurand = sample.get("measurand") or _DEFAULT_MEASURAND
            if measurand not in _UNITS:
                continue
            value = _scaled(sample, measurand, where)
            phase = sample.get("phase")
            if measurand == "Power.Active.Import":
                if phase is None:
                    total = value
                elif phase[:2] in _PHASES:
                    per_phase[phase[:2]] = value
            elif measurand == "Energy.Active.Import.Register":
                if phase is None:
                    reading = replace(reading, energy_wh=value)
            elif measurand == "Current.Import":
                if phase is not None and phase[:2] in _PHASES:
                    currents[_PHASES.index(phase[:2])] = value
            else:  # SoC
                reading = replace(reading, soc=value / 100.0)
        if total is None and per_phase:
            total = sum(per_phase.values())
        reading = replace(
            reading,
            power_w=reading.power_w if total is None else total,
            currents_a=(currents[0], currents[1], currents[2]),
        )
    return reading


def ocpp_time(at: datetime) -> str:
    """An aware datetime as OCPP writes it: RFC 3339 UTC with milliseconds and 'Z'."""
    if at.tzinfo is None:
        raise ValueError(f"at: expected a timezone-aware datetime, found naive {at.isoformat()}")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
