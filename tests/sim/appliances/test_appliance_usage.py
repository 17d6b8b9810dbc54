"""Spontaneous use: seeded non-homogeneous Poisson starts with a time-of-day profile per kind."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
from appliance_support import ZONE, context, make, run

from gridedge.model.scenario import ApplianceKind
from gridedge.physics.seeding import rng_for
from gridedge.sim.appliances.usage import PROFILES, UsageProcess
from gridedge.sim.electrical import SiteContext


def _starts(kind: ApplianceKind, per_day: float, days: int, ctx: SiteContext | None = None) -> list[float]:
    ctx = ctx or context()
    proc = UsageProcess(kind, per_day, rng_for(42, kind.value))
    out: list[float] = []
    t = 0.0
    while True:
        t = proc.next_after(t, ctx)
        if t >= days * 86400.0:
            return out
        out.append(t)


@pytest.mark.parametrize(
    ("kind", "per_day"), [(ApplianceKind.KETTLE, 4.0), (ApplianceKind.WASHING_MACHINE, 0.6)]
)
def test_counts_match_uses_per_day(kind: ApplianceKind, per_day: float) -> None:
    days = 400
    n = len(_starts(kind, per_day, days))
    mean = per_day * days
    assert abs(n - mean) < 4 * math.sqrt(mean)  # Poisson: variance = mean


def test_daily_counts_are_poisson() -> None:
    starts = np.array(_starts(ApplianceKind.KETTLE, 5.0, 300))
    per_day = np.bincount((starts // 86400).astype(int), minlength=300)
    assert per_day.var() / per_day.mean() == pytest.approx(1.0, abs=0.25)


def test_time_of_day_profiles() -> None:
    ctx = context()

    def hours(kind: ApplianceKind) -> np.ndarray:
        return np.array([ctx.local(t).hour for t in _starts(kind, 6.0, 200)])

    kettle = np.bincount(hours(ApplianceKind.KETTLE), minlength=24)
    assert kettle[7] > 3 * kettle[3] and kettle[20] > 3 * kettle[3]  # mornings and evenings
    tv = np.bincount(hours(ApplianceKind.TV), minlength=24)
    assert tv[19:23].sum() > 0.5 * tv.sum()
    wm = np.bincount(hours(ApplianceKind.WASHING_MACHINE), minlength=24)
    assert wm[8:17].sum() > 0.6 * wm.sum()
    assert wm[0:5].sum() == 0
    # observed share per hour follows the profile
    expected = np.array(PROFILES[ApplianceKind.KETTLE]) / 24.0
    assert np.abs(kettle / kettle.sum() - expected).max() < 0.02


def test_local_time_follows_daylight_saving() -> None:
    """Across the autumn change the washing machine still never starts at local 01:00-04:59."""
    ctx = SiteContext(start=datetime(2025, 10, 20, tzinfo=ZONE), zone=ZONE)
    hours = [ctx.local(t).hour for t in _starts(ApplianceKind.WASHING_MACHINE, 8.0, 20, ctx)]
    assert hours and all(not 0 <= h < 5 for h in hours)


def test_lighting_waits_for_dark_when_the_weather_says_so() -> None:
    class Sunny:
        def temperature_c(self, t: float) -> float:
            return 20.0

        def irradiance(self, t: float) -> tuple[float, float, float]:
            hour = (t / 3600.0) % 24
            ghi = 800.0 if 8 <= hour < 20 else 0.0
            return ghi, 0.0, 0.0

    ctx = SiteContext(start=datetime(2025, 6, 17, tzinfo=ZONE), zone=ZONE, weather=Sunny())
    starts = _starts(ApplianceKind.LED_LIGHTING, 4.0, 200, ctx)
    bright = sum(1 for t in starts if 8 <= (t / 3600.0) % 24 < 20)
    assert bright < 0.15 * len(starts)


def test_zero_uses_means_only_scripted_events() -> None:
    proc = UsageProcess(ApplianceKind.KETTLE, 0.0, rng_for(1, "k"))
    assert proc.next_after(0.0, context()) == math.inf
    k = make(ApplianceKind.KETTLE, uses_per_day=0)
    tr = run(k, 3 * 86400)
    assert not tr.changes and k.uses == 0


def test_appliance_uses_over_simulated_days() -> None:
    kettle = make(ApplianceKind.KETTLE, uses_per_day=6, seed=9)
    tr = run(kettle, 5 * 86400)
    mean = 30.0
    assert abs(kettle.uses - mean) < 4 * math.sqrt(mean)
    boils = tr.on_intervals(1000.0)
    assert len(boils) == kettle.uses
    assert all(20.0 < b - a < 420.0 for a, b in boils)  # up to a full 1.7 l kettle
