"""Shared helpers for the appliance tests: a site context, a one-second driver and energy sums."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from gridedge.model.scenario import ApplianceConfig, ApplianceKind
from gridedge.sim.appliances import Appliance, appliance_from_config
from gridedge.sim.electrical import NOMINAL_V, Change, Signature, SiteContext

ZONE = ZoneInfo("Europe/Brussels")
START = datetime(2025, 6, 17, 0, 0, tzinfo=ZONE)
CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"


def context() -> SiteContext:
    return SiteContext(start=START, zone=ZONE)


def make(kind: ApplianceKind, *, seed: int = 1, name: str | None = None, **kw: Any) -> Appliance:
    cfg = ApplianceConfig(name=name or kind.value, kind=kind, **kw)
    return appliance_from_config(cfg, seed)


@dataclass
class Trace:
    """Every change an appliance reported, and the driver's view of its supply."""

    changes: list[Change] = field(default_factory=list)
    t_end: float = 0.0

    def power_at(self, t: float) -> float:
        p = 0.0
        for c in self.changes:
            if c.at > t:
                break
            p = c.signature.power_w
        return p

    def energy_wh(self, t0: float = 0.0, t1: float | None = None) -> float:
        """Energy at nominal voltage over [t0, t1) from the piecewise-constant signatures."""
        end = self.t_end if t1 is None else t1
        total = 0.0
        p = 0.0
        last = t0
        for c in self.changes:
            if c.at >= end:
                break
            if c.at > t0:
                total += p * (c.at - last)
                last = c.at
            p = c.signature.power_w
        total += p * (end - last)
        return total / 3600.0

    def on_intervals(self, threshold_w: float) -> list[tuple[float, float]]:
        """(start, end) of stretches with power above `threshold_w`."""
        out: list[tuple[float, float]] = []
        start: float | None = None
        for c in self.changes:
            on = c.signature.power_w > threshold_w
            if on and start is None:
                start = c.at
            elif not on and start is not None:
                out.append((start, c.at))
                start = None
        if start is not None:
            out.append((start, self.t_end))
        return out


def run(
    app: Appliance,
    seconds: float,
    *,
    ctx: SiteContext | None = None,
    trace: Trace | None = None,
    start: float = 0.0,
    unpowered: tuple[float, float] | None = None,
) -> Trace:
    """Advance `app` one second at a time over [start, start + seconds), as the household does.

    `unpowered` = (from, to) opens the relay over that span (the household's gate).
    """
    ctx = ctx or context()
    tr = trace or Trace()
    s = int(start)
    end = int(start + seconds)
    while s < end:
        if unpowered is not None:
            app.relay_closed = not (unpowered[0] <= s < unpowered[1])
        changes = app.advance(float(s), float(s + 1), ctx)
        for c in changes:
            assert s <= c.at < s + 1, f"{app.name}: change at {c.at} outside [{s}, {s + 1})"
            assert not tr.changes or c.at >= tr.changes[-1].at, f"{app.name}: changes out of order"
            tr.changes.append(c)
        s += 1
    tr.t_end = float(end)
    return tr


def thd(sig: Signature, phase: int = 1) -> float:
    row = np.abs(sig.currents[phase - 1])
    return float(np.sqrt(np.sum(row[1:] ** 2)) / row[0])


def ratio(sig: Signature, order: int, phase: int = 1) -> float:
    from gridedge.sim.electrical import HARMONICS

    k = int(np.flatnonzero(order == HARMONICS)[0])
    row = np.abs(sig.currents[phase - 1])
    return float(row[k] / row[0])


def true_pf(sig: Signature) -> float:
    """P / (V I_rms) per phase summed, computed here independently of the catalog helpers."""
    s = NOMINAL_V * float(np.sum(np.sqrt(np.sum(np.abs(sig.currents) ** 2, axis=1))))
    return sig.power_w / s


def displacement_pf(sig: Signature, phase: int = 1) -> float:
    i1 = sig.currents[phase - 1, 0]
    return float(np.cos(np.angle(i1)))
