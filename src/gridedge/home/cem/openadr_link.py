"""The energy service provider's OpenADR 3 signals as inputs of the energy manager.

The VEN (`gridedge.home.ven`) turns the VTN's events into `GridSignals`: a dynamic price series and
import/export capacity limit schedules (OpenADR 3.0.1 payload types PRICE, IMPORT_CAPACITY_LIMIT,
EXPORT_CAPACITY_LIMIT). This adapter holds the latest signals and hands them to the energy manager
in the shapes it already uses for the grid operator's limits:

- prices: a `PriceLoader` for the tariff (they replace the configured price source while the VEN has
  any);
- capacity limits: `ScheduledLimit`s for the planner's per-step ceilings, merged with the LPC/LPP
  limits (the planner takes the lowest overlapping limit per step);
- the capacity limit in force now, for the control cycle's limit guard, merged the same way (the
  lower of the grid operator's and the service provider's limit applies).
"""

from __future__ import annotations

from datetime import datetime

from gridedge.home.cem.notify import ActiveLimits
from gridedge.home.cem.planning import ScheduledLimit
from gridedge.home.ven.signals import GridSignals
from gridedge.model.limits import Direction
from gridedge.model.openadr import CapacityLimitSchedule
from gridedge.model.tariff import PriceSeries

__all__ = ["OpenAdrSignals", "merge_active"]


def _lower(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def merge_active(grid: ActiveLimits, adr: ActiveLimits) -> ActiveLimits:
    """The lower limit per direction; None only where neither source limits."""
    return ActiveLimits(
        _lower(grid.import_w, adr.import_w),
        _lower(grid.export_w, adr.export_w),
        hard_import=grid.hard_import or adr.hard_import,
    )


class OpenAdrSignals:
    """The latest `GridSignals` from the VEN agent (`update` is its `on_signals` handler)."""

    def __init__(self) -> None:
        self.signals: GridSignals | None = None
        self.updates = 0
        self.untrusted: dict[str, str] = {}
        """Events the VEN did not use because their signature did not check out, and why."""

    def update(self, signals: GridSignals, untrusted: dict[str, str] | None = None) -> None:
        self.signals = signals
        self.updates += 1
        self.untrusted = dict(untrusted or {})

    def prices(self) -> PriceSeries | None:
        return None if self.signals is None else self.signals.prices

    def _schedule(self, direction: Direction) -> CapacityLimitSchedule | None:
        if self.signals is None:
            return None
        if direction is Direction.CONSUMPTION:
            return self.signals.import_limits
        return self.signals.export_limits

    def scheduled(self, direction: Direction, now: datetime) -> tuple[ScheduledLimit, ...]:
        """The capacity limits that end after `now`, as the planner's scheduled limits."""
        schedule = self._schedule(direction)
        if schedule is None:
            return ()
        return tuple(
            ScheduledLimit(lim.start, lim.end, lim.watts)
            for lim in schedule.limits
            if lim.end is None or lim.end > now
        )

    def active(self, now: datetime) -> ActiveLimits:
        """The capacity limits in force at `now`."""
        out: list[float | None] = []
        for direction in (Direction.CONSUMPTION, Direction.PRODUCTION):
            schedule = self._schedule(direction)
            lim = None if schedule is None else schedule.limit_at(now)
            out.append(None if lim is None else lim.watts)
        return ActiveLimits(out[0], out[1])
