"""Helpers for the virtual meter tests: synthetic metrology seconds, a meter factory, a runner."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from gridedge.model.reading import MeterReading
from gridedge.model.scenario import MeterConfig, SiteConfig
from gridedge.sim.measurement import SecondMeasurement
from gridedge.sim.meter import VirtualMeter

BRUSSELS = ZoneInfo("Europe/Brussels")


def _three(x: float | Sequence[float]) -> list[float]:
    if isinstance(x, int | float):
        return [float(x)] * 3
    return [*(float(v) for v in x), 0.0, 0.0, 0.0][:3]


def second(
    t: float,
    power_w: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    voltage_v: float | Sequence[float] = 230.0,
    power_factor: float = 1.0,
    duration_s: float = 1.0,
    vmin: Sequence[float] | None = None,
    vmax: Sequence[float] | None = None,
    current_a: Sequence[float] | None = None,
    energy_import_wh: float | None = None,
) -> SecondMeasurement:
    """One steady second: per-phase active power (import positive) at a voltage and power factor.

    Currents follow from P = V I pf; reactive power is inductive, Q = |P| tan(acos pf). A phase
    at 0 V carries no current or power (outage). Energy is netted over the phases, as the
    metrology does.
    """
    p = np.array(_three(power_w), dtype=np.float64)
    v = np.array(_three(voltage_v), dtype=np.float64)
    p[v < 1.0] = 0.0
    if current_a is not None:
        cur = np.array(_three(current_a), dtype=np.float64)
    else:
        cur = np.where(v > 1.0, np.abs(p) / np.maximum(v, 1.0) / power_factor, 0.0)
    q = np.abs(p) * math.tan(math.acos(power_factor))
    net = float(p.sum())
    live = bool((v > 1.0).any())
    dur = duration_s if live else 0.0
    return SecondMeasurement(
        t=float(t),
        duration_s=dur,
        frequency_hz=50.0 if live else 0.0,
        voltage_v=v,
        current_a=cur,
        power_w=p,
        reactive_power_var=q,
        energy_import_wh=max(net, 0.0) * dur / 3600.0 if energy_import_wh is None else energy_import_wh,
        energy_export_wh=max(-net, 0.0) * dur / 3600.0,
        reactive_import_varh=float(q.sum()) * dur / 3600.0,
        reactive_export_varh=0.0,
        voltage_min_v=np.array(_three(vmin) if vmin is not None else v, dtype=np.float64),
        voltage_max_v=np.array(_three(vmax) if vmax is not None else v, dtype=np.float64),
        current_max_a=cur.copy(),
        neutral_current_a=0.0,
    )


def meter(
    start: str = "2025-06-17T00:00:00",
    tz: str = "Europe/Brussels",
    *,
    nominal_v: float = 230.0,
    **config: Any,
) -> VirtualMeter:
    """A meter whose simulation starts at local time `start` in `tz`, with `MeterConfig(**config)`."""
    site = SiteConfig(start=datetime.fromisoformat(start), timezone=tz)
    return VirtualMeter(MeterConfig.model_validate(config), site, nominal_v=nominal_v)


def run(
    m: VirtualMeter, start: int, stop: int, power_w: Sequence[float] = (0.0, 0.0, 0.0), **kw: Any
) -> list[MeterReading | None]:
    """Feed seconds start..stop-1 of a steady load; the readings (None while unpowered)."""
    return [m.update(second(t, power_w, **kw)) for t in range(start, stop)]


def powered(readings: Sequence[MeterReading | None]) -> list[MeterReading]:
    """The readings, asserting none is missing."""
    out = [r for r in readings if r is not None]
    assert len(out) == len(readings), "the meter went silent"
    return out


def local(text: str) -> datetime:
    """An ISO local time in Brussels as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=BRUSSELS)
