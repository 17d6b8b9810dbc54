"""The capacity tariff's quarter hour, second by second: how much import is still allowed, and
what to shed when a load the plan did not foresee would raise the month's peak.

Flanders bills each month's highest quarter-hour mean import (Fluvius capacity tariff since
2023, at least 2.5 kW). The plan keeps the peak down on forecasts; in the quarter hour itself a
kettle or an oven the forecast did not know can still set a new peak. What matters is the
quarter's *mean*: after 10 minutes at 2 kW under a 3 kW cap, the last 5 minutes may draw 5 kW.
`quarter_allowance_w` turns the cap and the energy already imported into the power allowed for
the rest of the quarter; `shed` takes an excess off flexible loads in order (the battery first
discharges further, then the car, then the heat pump down to what comfort needs). Pure
functions: the control cycle's `PeakController` and `bench/cem_year.py` share them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PeakWatch", "Sheddable", "quarter_allowance_w", "shed"]

QUARTER_S = 900.0


@dataclass(frozen=True, slots=True)
class PeakWatch:
    """The quarter hour in progress: `elapsed_s` into it, `imported_wh` imported so far, and the
    mean import `cap_w` it should not exceed (the month's billed peak so far, the plan's import
    for the step if higher)."""

    cap_w: float
    elapsed_s: float
    imported_wh: float

    def __post_init__(self) -> None:
        for name in ("cap_w", "elapsed_s", "imported_wh"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"PeakWatch.{name}: expected a finite value >= 0, found {v!r}")


def quarter_allowance_w(watch: PeakWatch, quarter_s: float = QUARTER_S) -> float:
    """Mean import power allowed for the rest of the quarter so that its mean stays <= the cap
    (negative: the cap is already lost, any import raises the peak further)."""
    remaining = max(quarter_s - watch.elapsed_s, 1.0)
    budget_wh = watch.cap_w * quarter_s / 3600.0 - watch.imported_wh
    return budget_wh * 3600.0 / remaining


@dataclass(frozen=True, slots=True)
class Sheddable:
    """A load that may be lowered: from `power_w` down to `floor_w`; one with a running minimum
    (`running_w`, a car at 6 A) goes to 0 when it would fall below it, or to that minimum when its
    floor is above 0."""

    power_w: float
    floor_w: float = 0.0
    running_w: float = 0.0


def shed(excess_w: float, loads: Sequence[Sheddable]) -> list[float]:
    """New powers of `loads`, lowered in order until `excess_w` is taken off (or nothing is left
    to lower). A load below its running minimum stops: it may give more than asked."""
    out = [ld.power_w for ld in loads]
    left = excess_w
    for i, ld in enumerate(loads):
        if left <= 0:
            break
        room = ld.power_w - max(ld.floor_w, 0.0)
        if room <= 0:
            continue
        new = ld.power_w - min(room, left)
        if 0 < new < ld.running_w:  # cannot run that low: stop, or run at its lowest
            new = 0.0 if ld.floor_w <= 0 else min(ld.power_w, ld.running_w)
        left -= ld.power_w - new
        out[i] = new
    return out
