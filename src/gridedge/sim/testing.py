"""Test helpers for code built on the simulator: a load that switches at set times, sample signatures.

Used by gridedge's own tests and useful to anyone testing a detector or a controller against
the household engine with an exactly known schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gridedge.model.scenario import GridConfig
from gridedge.sim.electrical import NO_CHANGES, OFF, Change, Inrush, Load, LoadKind, Signature, SiteContext
from gridedge.sim.grid import GridSupply
from gridedge.sim.household import Household


class TimedLoad(Load):
    """Draws `sig` during each (on, off) window; optional inrush at every switch-on."""

    def __init__(
        self, name: str, sig: Signature, windows: Sequence[tuple[float, float]], inrush: Inrush | None = None
    ) -> None:
        super().__init__(name)
        self.sig = sig
        self.windows = list(windows)
        self.inrush = inrush

    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        out: list[Change] = []
        for on, off in self.windows:
            if t0 <= on < t1:
                out.append(Change(on, self.sig, self.inrush))
            if t0 <= off < t1:
                out.append(Change(off, OFF))
        if not out:
            return NO_CHANGES
        out.sort(key=lambda c: c.at)
        self.signature = out[-1].signature
        return out


LED = Signature.from_power(
    60, phases=(2,), power_factor=0.95, leading=True,
    harmonics={3: (0.8, 180), 5: (0.6, 0), 7: (0.4, 180), 9: (0.2, 0), 11: (0.1, 0), 13: (0.05, 0)},
)  # fmt: skip
KETTLE = Signature.from_power(2200, phases=(1,), kind=LoadKind.IMPEDANCE)
FRIDGE = Signature.from_power(120, phases=(3,), power_factor=0.7, harmonics={3: (0.1, 0)})


def context() -> SiteContext:
    """A site context at 2025-06-17 00:00 UTC in Brussels, without weather."""
    return SiteContext(datetime(2025, 6, 17, tzinfo=UTC), ZoneInfo("Europe/Brussels"))


def household(
    loads: Sequence[Load], grid: GridConfig | None = None, seed: int = 1, jitter: float = 0.002
) -> Household:
    """A three-phase household of `loads` on a fresh grid supply."""
    return Household(loads, GridSupply(grid or GridConfig(), seed), context(), seed=seed, jitter=jitter)


def standard_loads() -> list[Load]:
    """A kettle on L1 (3.4-9.7 s), LED lighting on L2 (always) and a fridge on L3 (from 2.2 s)."""
    return [
        TimedLoad("kettle", KETTLE, [(3.4, 9.7)], Inrush.resistive(KETTLE)),
        TimedLoad("led", LED, [(0.0, 1e9)], Inrush.capacitive(LED)),
        TimedLoad("fridge", FRIDGE, [(2.2, 1e9)], Inrush.motor(FRIDGE)),
    ]
