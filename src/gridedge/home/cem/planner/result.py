"""What a solve returns: the plan per step and device, its cost, what gave way, and how the solve went.

Powers are in W at each device's AC terminals, positive when consuming (`gridedge.model.devices`
sign convention); the grid's import and export are both >= 0 and never both > 0 in one step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

import numpy as np

from gridedge.home.cem.planner.inputs import FloatArray, IntArray
from gridedge.home.cem.planner.timeline import Timeline


class SolveStatus(StrEnum):
    OPTIMAL = "optimal"
    """Within the requested MIP gap."""
    TIME_LIMIT = "time-limit"
    """Stopped at the time limit with a feasible plan (see `mip_gap`)."""
    FAILED = "failed"
    """No plan from this solve (solver error, or the time limit before any feasible plan)."""
    RULES = "rules"
    """Made by the rule-based planner, not the MILP."""


@dataclass(frozen=True, slots=True)
class Relaxation:
    """A hard need that gave way: `amount` in `unit`, over steps `first_step..last_step`."""

    constraint: str
    """'grid-import-limit', 'grid-export-limit', 'comfort-min', 'comfort-max', 'ev-energy',
    'appliance-run' or 'battery-terminal-soc'."""
    device_id: str
    amount: float
    unit: str
    first_step: int
    last_step: int
    message: str


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """EUR over the horizon. `total` = energy + fees + capacity + penalties."""

    energy: float
    """Import x import price - export x export price."""
    fees: float
    """Import x grid fee."""
    capacity: float
    """Capacity tariff on the increase of this month's peak."""
    penalties: float
    """Battery wear and the prices of relaxations (not the tie-break)."""

    @property
    def total(self) -> float:
        return self.energy + self.fees + self.capacity + self.penalties


@dataclass(frozen=True, slots=True)
class BatteryPlan:
    device_id: str
    power_w: FloatArray
    """Positive: charging."""
    soc: FloatArray
    """State of charge (0..1) at the end of each step."""


@dataclass(frozen=True, slots=True)
class EVPlan:
    device_id: str
    power_w: FloatArray
    current_a: FloatArray
    """Per-phase current (0 when not charging)."""
    phases: IntArray
    """Phases used (0 when not charging)."""
    soc: FloatArray
    """Car state of charge at the end of each step."""
    delivered_kwh: float
    """Energy into the car's battery by the deadline."""


@dataclass(frozen=True, slots=True)
class HeatPumpPlan:
    device_id: str
    power_w: FloatArray
    indoor_c: FloatArray
    """Indoor temperature at the end of each step."""


@dataclass(frozen=True, slots=True)
class AppliancePlan:
    device_id: str
    start_step: int | None
    """None: the run did not fit (see the relaxations)."""
    start: datetime | None
    power_w: FloatArray


@dataclass(frozen=True, slots=True)
class PVPlan:
    device_id: str
    power_w: FloatArray
    """Production after curtailment (<= 0, device sign convention)."""
    curtailed_w: FloatArray


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan over `timeline`. Per-step arrays have `timeline.n` values."""

    timeline: Timeline
    grid_import_w: FloatArray
    grid_export_w: FloatArray
    base_load_w: FloatArray
    batteries: tuple[BatteryPlan, ...]
    evs: tuple[EVPlan, ...]
    heat_pumps: tuple[HeatPumpPlan, ...]
    appliances: tuple[AppliancePlan, ...]
    pv: tuple[PVPlan, ...]
    cost: CostBreakdown
    relaxations: tuple[Relaxation, ...]
    status: SolveStatus
    mip_gap: float
    solve_time_s: float
    peak_kw: float
    """Highest counted 15-minute import in the horizon (kW)."""
    fallback: bool = False
    """True when this is an earlier plan (shifted) or a rule plan given because a solve failed."""
    message: str = ""

    @property
    def n(self) -> int:
        return self.timeline.n

    @property
    def times(self) -> tuple[datetime, ...]:
        return self.timeline.times()

    @property
    def feasible(self) -> bool:
        """Every hard need met (nothing gave way)."""
        return not self.relaxations

    def shifted(self, start: datetime) -> Plan:
        """The part of this plan from `start` on (a whole number of steps later), flagged fallback.

        Raises ValueError when `start` is not on a step boundary or past the plan's end.
        """
        tl = self.timeline
        k = tl.step_at(start)
        if tl.time(k) != start.astimezone(tl.zone) or k < 0 or k >= tl.n:
            raise ValueError(f"start: expected a step start inside {tl.start}..{tl.end}, found {start}")
        cut = slice(k, None)

        def s(a: np.ndarray) -> np.ndarray:
            return a[cut]

        new_tl = Timeline(tl.time(k), tl.step_s, tl.n - k)
        apps = tuple(
            replace(
                a,
                power_w=s(a.power_w),
                start_step=None if a.start_step is None or a.start_step < k else a.start_step - k,
                start=None if a.start_step is None or a.start_step < k else a.start,
            )
            for a in self.appliances
        )
        return replace(
            self,
            timeline=new_tl,
            grid_import_w=s(self.grid_import_w),
            grid_export_w=s(self.grid_export_w),
            base_load_w=s(self.base_load_w),
            batteries=tuple(replace(b, power_w=s(b.power_w), soc=s(b.soc)) for b in self.batteries),
            evs=tuple(
                replace(e, power_w=s(e.power_w), current_a=s(e.current_a), phases=s(e.phases), soc=s(e.soc))
                for e in self.evs
            ),
            heat_pumps=tuple(
                replace(h, power_w=s(h.power_w), indoor_c=s(h.indoor_c)) for h in self.heat_pumps
            ),
            appliances=apps,
            pv=tuple(replace(p, power_w=s(p.power_w), curtailed_w=s(p.curtailed_w)) for p in self.pv),
            relaxations=tuple(
                replace(r, first_step=max(0, r.first_step - k), last_step=r.last_step - k)
                for r in self.relaxations
                if r.last_step >= k
            ),
            fallback=True,
        )
