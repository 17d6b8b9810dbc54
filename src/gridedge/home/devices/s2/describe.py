"""What an S2 resource manager announces, as gridedge's `DeviceInfo`: kind, control type, power range.

`ResourceManagerDetails` (EN 50491-12-2, common messages) carries roles, names and the control
types the RM offers, but no powers: those come with the first system description of the control
type the CEM selects (FRBC.SystemDescription operation modes, OMBC.SystemDescription operation
modes, PEBC.PowerConstraints allowed limit ranges, PPBC.PowerProfileDefinition sequences).

Powers: electric `PowerRange`s of the per-phase quantities (ELECTRIC.POWER.L1..L3) are added up;
ELECTRIC.POWER.3_PHASE_SYMMETRIC is read as the device's total power (gridedge's convention on
both sides of its links; the S2 schema text does not say whether it is per phase or total).
Consumption positive, production negative, as in S2 and in `gridedge.model.devices`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from s2python.common import (
    Commodity,
    CommodityQuantity,
    ControlType,
    PowerRange,
    PowerValue,
    ResourceManagerDetails,
    RoleType,
)
from s2python.frbc import FRBCSystemDescription
from s2python.ombc import OMBCSystemDescription
from s2python.pebc import PEBCPowerConstraints, PEBCPowerEnvelopeLimitType
from s2python.ppbc import PPBCPowerProfileDefinition

from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, Protocol

ELECTRIC: Final = frozenset({
    CommodityQuantity.ELECTRIC_POWER_L1,
    CommodityQuantity.ELECTRIC_POWER_L2,
    CommodityQuantity.ELECTRIC_POWER_L3,
    CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC,
})
SUPPORTED: Final = (
    ControlType.FILL_RATE_BASED_CONTROL,
    ControlType.POWER_ENVELOPE_BASED_CONTROL,
    ControlType.OPERATION_MODE_BASED_CONTROL,
    ControlType.POWER_PROFILE_BASED_CONTROL,
)
"""Control types this CEM can steer (DDBC is not implemented)."""

PREFERENCE: Final[dict[DeviceKind, tuple[ControlType, ...]]] = {
    # storage-like: the fill level lets the planner shift energy (S2 wiki, Control_Types: FRBC)
    DeviceKind.BATTERY: SUPPORTED,
    DeviceKind.HEAT_PUMP: SUPPORTED,
    DeviceKind.EV_CHARGER: SUPPORTED,
    # a producer that can only be limited: an envelope (PEBC), else its modes
    DeviceKind.PV_INVERTER: (
        ControlType.POWER_ENVELOPE_BASED_CONTROL,
        ControlType.OPERATION_MODE_BASED_CONTROL,
        ControlType.FILL_RATE_BASED_CONTROL,
        ControlType.POWER_PROFILE_BASED_CONTROL,
    ),
    # a shiftable programme: its profile (PPBC), else its modes
    DeviceKind.APPLIANCE: (
        ControlType.POWER_PROFILE_BASED_CONTROL,
        ControlType.OPERATION_MODE_BASED_CONTROL,
        ControlType.POWER_ENVELOPE_BASED_CONTROL,
        ControlType.FILL_RATE_BASED_CONTROL,
    ),
    DeviceKind.OTHER: (
        ControlType.POWER_ENVELOPE_BASED_CONTROL,
        ControlType.OPERATION_MODE_BASED_CONTROL,
        ControlType.FILL_RATE_BASED_CONTROL,
        ControlType.POWER_PROFILE_BASED_CONTROL,
    ),
}
"""Which offered control type the CEM selects, first match wins, per device kind:
FRBC for storage-like devices (battery, heat pump, EV), PEBC for producers and unknown devices
(an envelope is the least the CEM must know), OMBC for mode devices (used when a device offers
modes and none of the above), PPBC first for appliances with a programme."""

CONTROL_MODE: Final = {
    ControlType.FILL_RATE_BASED_CONTROL: ControlMode.POWER,
    ControlType.POWER_ENVELOPE_BASED_CONTROL: ControlMode.POWER,
    ControlType.OPERATION_MODE_BASED_CONTROL: ControlMode.MODES,
    ControlType.POWER_PROFILE_BASED_CONTROL: ControlMode.PROFILE,
}

_NAME_HINTS: Final = (
    (("heat pump", "heatpump", "heat-pump", "wärmepumpe", "warmtepomp"), DeviceKind.HEAT_PUMP),
    (("battery", "batterie", "accu", "storage"), DeviceKind.BATTERY),
    (("wallbox", "charger", "charging", "evse", "ev "), DeviceKind.EV_CHARGER),
    (("pv", "solar", "photovoltaic", "inverter"), DeviceKind.PV_INVERTER),
    (("wash", "dishwasher", "dryer", "boiler", "water heater", "appliance"), DeviceKind.APPLIANCE),
)

SECTION_14A_MIN_W: Final = 4200.0
"""§14a EnWG: a controllable consumer keeps at least 4.2 kW (BNetzA BK6-22-300)."""
SECTION_14A_LARGE_HP_W: Final = 11000.0
SECTION_14A_LARGE_HP_SHARE: Final = 0.4


def device_kind(details: ResourceManagerDetails) -> DeviceKind:
    """Kind from the RM's name/model words first, then its roles (S2 `Role`: role x commodity)."""
    text = " ".join(x for x in (details.name, details.model, details.manufacturer) if x).lower() + " "
    for words, kind in _NAME_HINTS:
        if any(w in text for w in words):
            return kind
    roles = {(r.role, r.commodity) for r in details.roles}
    if (RoleType.ENERGY_PRODUCER, Commodity.HEAT) in roles and (
        RoleType.ENERGY_CONSUMER, Commodity.ELECTRICITY
    ) in roles:
        return DeviceKind.HEAT_PUMP
    if (RoleType.ENERGY_STORAGE, Commodity.ELECTRICITY) in roles:
        return DeviceKind.BATTERY
    if roles == {(RoleType.ENERGY_PRODUCER, Commodity.ELECTRICITY)}:
        return DeviceKind.PV_INVERTER
    return DeviceKind.OTHER


def choose_control_type(available: Sequence[ControlType], kind: DeviceKind) -> ControlType:
    """The control type to select from what the RM offers (see `PREFERENCE`); NOT_CONTROLABLE when
    it offers nothing this CEM can steer, which still lets it report measurements."""
    for ct in PREFERENCE[kind]:
        if ct in available:
            return ct
    return ControlType.NOT_CONTROLABLE


def electric_power(ranges: Iterable[PowerRange]) -> tuple[float, float]:
    """Total electric power range of one operation mode (per-phase ranges added up)."""
    lo = hi = 0.0
    for r in ranges:
        if r.commodity_quantity in ELECTRIC:
            lo += r.start_of_range
            hi += r.end_of_range
    return lo, hi


def electric_power_values(values: Iterable[PowerValue]) -> float:
    """Total electric power of a PowerMeasurement (per-phase values added up)."""
    return sum(v.value for v in values if v.commodity_quantity in ELECTRIC)


def _span(ranges: Sequence[tuple[float, float]]) -> tuple[float, float, tuple[float, ...]]:
    if not ranges:
        return 0.0, 0.0, ()
    lo = min(r[0] for r in ranges)
    hi = max(r[1] for r in ranges)
    steps = tuple(sorted({r[0] for r in ranges})) if all(r[0] == r[1] for r in ranges) else ()
    return lo, hi, steps


def frbc_power(desc: FRBCSystemDescription) -> tuple[float, float, tuple[float, ...]]:
    """Power range over every normal operation mode of every actuator, at any fill level."""
    ranges = [
        electric_power(el.power_ranges)
        for act in desc.actuators
        for mode in act.operation_modes
        if not mode.abnormal_condition_only
        for el in mode.elements
    ]
    return _span(ranges)


def ombc_power(desc: OMBCSystemDescription) -> tuple[float, float, tuple[float, ...]]:
    modes = desc.operation_modes
    return _span([electric_power(m.power_ranges) for m in modes if not m.abnormal_condition_only])


def pebc_power(constraints: PEBCPowerConstraints) -> tuple[float, float, tuple[float, ...]]:
    """From the allowed limit ranges: the lowest lower limit to the highest upper limit, per
    quantity, added up over the electric quantities."""
    lo: dict[CommodityQuantity, float] = {}
    hi: dict[CommodityQuantity, float] = {}
    for r in constraints.allowed_limit_ranges:
        if r.commodity_quantity not in ELECTRIC or r.abnormal_condition_only:
            continue
        q = r.commodity_quantity
        if r.limit_type is PEBCPowerEnvelopeLimitType.LOWER_LIMIT:
            lo[q] = min(lo.get(q, r.range_boundary.start_of_range), r.range_boundary.start_of_range)
        else:
            hi[q] = max(hi.get(q, r.range_boundary.end_of_range), r.range_boundary.end_of_range)
    return sum(lo.values()), sum(hi.values()), ()


def ppbc_power(definition: PPBCPowerProfileDefinition) -> tuple[float, float, tuple[float, ...]]:
    """From 0 (not running) to the highest expected power of any sequence element."""
    values = [0.0]
    for container in definition.power_sequences_containers:
        for seq in container.power_sequences:
            for el in seq.elements:
                electric = (v.value_expected for v in el.power_values if v.commodity_quantity in ELECTRIC)
                values.append(sum(electric))
    return min(values), max(values), ()


def guaranteed_min(kind: DeviceKind, max_power_w: float) -> float | None:
    """§14a EnWG minimum for heat pumps, EV chargers and batteries (charging) above 4.2 kW; a heat
    pump above 11 kW keeps 0.4 x its rated power instead (BK6-22-300)."""
    if kind not in (DeviceKind.HEAT_PUMP, DeviceKind.EV_CHARGER, DeviceKind.BATTERY):
        return None
    if max_power_w <= SECTION_14A_MIN_W:
        return None
    if kind is DeviceKind.HEAT_PUMP and max_power_w > SECTION_14A_LARGE_HP_W:
        return SECTION_14A_LARGE_HP_SHARE * max_power_w
    return SECTION_14A_MIN_W


def phases(details: ResourceManagerDetails) -> tuple[int, ...]:
    """Phases from the measurement quantities the RM provides (all three when unknown)."""
    per_phase = {
        CommodityQuantity.ELECTRIC_POWER_L1: 1,
        CommodityQuantity.ELECTRIC_POWER_L2: 2,
        CommodityQuantity.ELECTRIC_POWER_L3: 3,
    }
    found = sorted({per_phase[q] for q in details.provides_power_measurement_types if q in per_phase})
    return tuple(found) if found else (1, 2, 3)


def device_info(
    details: ResourceManagerDetails,
    control_type: ControlType,
    power: tuple[float, float, tuple[float, ...]],
) -> DeviceInfo:
    """The gridedge `DeviceInfo` for an RM whose control type and power range are known."""
    kind = device_kind(details)
    lo, hi, steps = power
    return DeviceInfo(
        device_id=str(details.resource_id),
        kind=kind,
        protocol=Protocol.S2,
        control=CONTROL_MODE.get(control_type, ControlMode.NONE),
        min_power_w=lo,
        max_power_w=hi,
        phases=phases(details),
        steps_w=steps,
        guaranteed_min_w=guaranteed_min(kind, hi),
        vendor=details.manufacturer or "",
        model=details.model or details.name or "",
    )
