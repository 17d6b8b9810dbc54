"""DST days, the fallback planner, and needs met whenever they can be."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest
from planner_support import BRUSSELS, flat_inputs

from gridedge.home.cem.planner import (
    BatteryInputs,
    EVInputs,
    HeatPumpInputs,
    Planner,
    SolverOptions,
    SolveStatus,
    Timeline,
    ev_from_config,
    heat_pump_from_config,
    steps_in_local_day,
)
from gridedge.model.scenario import EVConfig, HeatPumpConfig
from gridedge.physics.hplib import HplibModel


@pytest.mark.parametrize(("day", "steps", "departure_step"), [(30, 92, 26), (26, 100, 34)])
def test_dst_days_plan_in_absolute_time(day: int, steps: int, departure_step: int) -> None:
    month = 3 if day == 30 else 10
    start = datetime(2025, month, day, tzinfo=BRUSSELS)
    n = steps_in_local_day(start)
    assert n == steps
    tl = Timeline(start, 900, n)
    times = tl.times()
    gaps = {(b.astimezone(UTC) - a.astimezone(UTC)).total_seconds() for a, b in itertools.pairwise(times)}
    assert gaps == {900.0}
    assert tl.end == datetime(2025, month, day + 1, tzinfo=BRUSSELS)
    # the car plugged in at midnight leaves at 07:30 local: 6.5 h (spring) or 8.5 h (autumn) later
    ev = ev_from_config(EVConfig(departure=time(7, 30), target_soc=0.8), tl, soc=0.5, plugged_now=True)
    assert ev.deadline == departure_step
    assert tl.label(departure_step) == "07:30"
    cfg = HeatPumpConfig()
    outdoor = 5.0 + 3.0 * np.sin(np.arange(n) / n * 2 * np.pi)
    hp = heat_pump_from_config(cfg, outdoor, HplibModel.load(cfg.model), indoor_c=20.5)
    price = 0.1 + 0.1 * np.cos(np.arange(n) / 8.0)
    inputs = flat_inputs(start, n, import_price=price, outdoor_c=outdoor, evs=(ev,), heat_pumps=(hp,))
    plan = Planner().plan(inputs)
    assert plan.status is SolveStatus.OPTIMAL and plan.feasible
    assert plan.n == n and plan.grid_import_w.shape == (n,)
    assert plan.evs[0].delivered_kwh >= ev.energy_needed_kwh - 1e-6
    assert (plan.evs[0].power_w[departure_step:] == 0).all()


def test_planner_falls_back_to_the_last_plan_shifted_then_to_rules() -> None:
    start = datetime(2025, 10, 6, 12, tzinfo=BRUSSELS)
    n = 16
    bat = BatteryInputs("bat", 10.0, 3000.0, 3000.0, soc=0.5)
    price = np.array([0.3, 0.1] * 8)
    inputs = flat_inputs(start, n, import_price=price, base_load_w=np.full(n, 800.0), batteries=(bat,))
    planner = Planner()
    first = planner.plan(inputs)
    assert first.status is SolveStatus.OPTIMAL and not first.fallback
    later = start + timedelta(minutes=30)
    again = flat_inputs(later, n, import_price=price, base_load_w=np.full(n, 800.0), batteries=(bat,))
    fb = planner.plan(again, SolverOptions(time_limit_s=0.0))  # HiGHS stops before any plan
    assert fb.fallback and fb.status is SolveStatus.OPTIMAL and "solve failed" in fb.message
    assert fb.timeline.start == later and fb.n == n - 2
    assert fb.batteries[0].power_w == pytest.approx(first.batteries[0].power_w[2:])
    assert planner.last is first
    # too late for the old plan: the rule plan stands in
    far = flat_inputs(start + timedelta(hours=6), n, import_price=price, base_load_w=np.full(n, 800.0))
    rules = planner.plan(far, SolverOptions(time_limit_s=0.0))
    assert rules.fallback and rules.status is SolveStatus.RULES and rules.n == n


def test_comfort_and_ev_deadline_met_whenever_feasible() -> None:
    rng = np.random.default_rng(7)
    for _ in range(4):
        n = 48
        start = datetime(2025, 1, 15, 18, tzinfo=BRUSSELS)
        price = rng.uniform(0.05, 0.4, n)
        outdoor = rng.uniform(-3, 8, n)
        lo = np.where(np.arange(n) % 32 < 24, 20.0, 18.5)
        hp = HeatPumpInputs("hp", 180.0, 10.0, 20.3, lo, lo + 2.0, np.full(n, 3.0), np.full(n, 2500.0), 0.3)
        need = float(rng.uniform(5, 25))
        ev = EVInputs("ev", 60.0, np.arange(n) < 40, soc=0.3, energy_needed_kwh=need, phase_switching=True)
        bat = BatteryInputs("bat", 10.0, 5000.0, 5000.0, soc=float(rng.uniform(0.2, 0.8)), terminal_soc=0.5)
        inputs = flat_inputs(
            start,
            n,
            import_price=price,
            export_price=price - 0.1,
            grid_fee=np.full(n, 0.05),
            base_load_w=rng.uniform(200, 900, n),
            outdoor_c=outdoor,
            heat_pumps=(hp,),
            evs=(ev,),
            batteries=(bat,),
        )
        plan = Planner().plan(inputs)
        assert plan.feasible, [r.message for r in plan.relaxations]
        assert (plan.heat_pumps[0].indoor_c >= lo - 1e-6).all()
        assert plan.evs[0].delivered_kwh >= need - 1e-6
        assert plan.batteries[0].soc[-1] >= 0.5 - 1e-6
        on = plan.heat_pumps[0].power_w[plan.heat_pumps[0].power_w > 1e-3]
        assert (on >= 0.3 * 2500.0 - 1e-3).all()  # minimum modulation honoured
        ev_on = plan.evs[0].power_w[plan.evs[0].power_w > 1e-3]
        assert (ev_on >= 230 * 6 - 1e-3).all()
        assert ((plan.evs[0].phases == 0) | (plan.evs[0].phases == 1) | (plan.evs[0].phases == 3)).all()
