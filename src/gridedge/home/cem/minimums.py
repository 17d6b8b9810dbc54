"""§14a EnWG: the power a grid limit may never take from a controllable consumer.

The DSO may dim a controllable consumption device (SteuVE: heat pump, private EV charger, battery
charging, room cooling, each > 4.2 kW), never switch it off: at least 4.2 kW stays available per
device, and a heat pump or air conditioner above 11 kW keeps 0.4 x its rated power instead
(BNetzA BK6-22-300; notes §1.3). With an energy manager (EMS) the DSO sends one limit for all
SteuVE together, sized number x 4.2 kW x simultaneity factor (GZF).

Adapters put `guaranteed_minimum_w` into the `DeviceInfo` they announce; the control cycle's
limit guard (`home.cem.guard`) then never shares a limit so that a device wanting power gets less.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from gridedge.model.devices import DeviceKind

__all__ = [
    "EVCC_GZF_TABLE",
    "GUARANTEED_MIN_W",
    "HEAT_PUMP_LARGE_FACTOR",
    "HEAT_PUMP_LARGE_W",
    "ems_total_minimum_w",
    "guaranteed_minimum_w",
    "simultaneity_factor",
]

GUARANTEED_MIN_W = 4200.0
"""Minimum power a dimmed SteuVE keeps (BK6-22-300)."""
HEAT_PUMP_LARGE_W = 11000.0
"""Heat pumps and room cooling above this rated power keep a share of it instead of 4.2 kW."""
HEAT_PUMP_LARGE_FACTOR = 0.4
"""That share: 0.4 x rated power (BK6-22-300; Dimplex documentation, notes §1.3)."""

EVCC_GZF_TABLE: Mapping[int, float] = MappingProxyType({1: 1.0, 2: 1.0, 3: 0.9, 4: 0.8})
"""Simultaneity factor (GZF) by number of SteuVE, from the examples in evcc's documentation
(evcc-io/docs: docs/features/14a-enwg-steuve.mdx: 2 -> 8.4 kW, 3 (0.9) -> 11.34 kW,
4 (0.8) -> 13.44 kW). UNVERIFIED against the decision itself (BK6-22-300 Anlage 1); counts above
the table use its last factor. Pass the official table to `simultaneity_factor` once checked."""


def guaranteed_minimum_w(kind: DeviceKind, rated_power_w: float) -> float:
    """The §14a minimum of one device: 4.2 kW, or 0.4 x rated for a heat pump above 11 kW.

    A device rated at or below 4.2 kW is not a SteuVE; its "minimum" is then its rated power,
    i.e. it is never dimmed. `DeviceKind` has no room-cooling kind; cooling devices registered
    as HEAT_PUMP get the heat-pump rule, as the decision treats them alike.
    """
    if isinstance(rated_power_w, bool) or not math.isfinite(rated_power_w) or rated_power_w < 0:
        raise ValueError(f"rated_power_w: expected watts >= 0, found {rated_power_w!r}")
    if kind is DeviceKind.HEAT_PUMP and rated_power_w > HEAT_PUMP_LARGE_W:
        return HEAT_PUMP_LARGE_FACTOR * rated_power_w
    return min(GUARANTEED_MIN_W, rated_power_w)


def simultaneity_factor(count: int, table: Mapping[int, float] = EVCC_GZF_TABLE) -> float:
    """GZF for `count` SteuVE behind one EMS (see `EVCC_GZF_TABLE` for the data's status)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count: expected an integer >= 1, found {count!r}")
    if not table:
        raise ValueError("table: expected at least one entry, found an empty table")
    if count in table:
        return table[count]
    known = [n for n in table if n <= count]
    return table[max(known)] if known else table[min(table)]


def ems_total_minimum_w(minimums_w: Sequence[float], table: Mapping[int, float] = EVCC_GZF_TABLE) -> float:
    """The minimum for all SteuVE behind one EMS: sum of their minimums x GZF(count).

    With n devices at 4.2 kW this is evcc's "Anzahl SteuVE x 4.2 kW x GZF". 0 for no devices.
    """
    if not minimums_w:
        return 0.0
    for i, m in enumerate(minimums_w):
        if not math.isfinite(m) or m < 0:
            raise ValueError(f"minimums_w[{i}]: expected watts >= 0, found {m!r}")
    return math.fsum(minimums_w) * simultaneity_factor(len(minimums_w), table)
