"""The EV-peak cuts, the peak bound tightening and the rounded warm start keep the optimum, and
the charger still runs at 0 or at least its minimum current."""

from __future__ import annotations

import importlib
from datetime import datetime

import numpy as np
import pytest
from planner_support import BRUSSELS, flat_inputs

from gridedge.home.cem.planner import (
    BatteryInputs,
    CapacityTariff,
    EVInputs,
    PlanInputs,
    SolverOptions,
    SolveStatus,
    build,
    solve,
)

solve_mod = importlib.import_module("gridedge.home.cem.planner.solve")

START = datetime(2025, 10, 6, 18, 0, tzinfo=BRUSSELS)
N = 12
EXACT = SolverOptions(mip_rel_gap=1e-5, time_limit_s=60.0)
"""Near-exact (gap 1e-5 of ~5-16 EUR), fast enough for the tests on 12 steps."""


def night(*, switching: bool = False, need: float = 9.0, billed_kw: float = 2.5) -> PlanInputs:
    """Three evening hours: 0.6-1.0 kW base load, prices 0.20-0.32 EUR/kWh, a 3-phase car needing
    `need` kWh (minimum 4.14 kW, or 1.38 kW on one phase), a 3 kWh battery and a capacity tariff
    above `billed_kw`: the car's minimum power exceeds the billed peak, the battery cannot cover
    it all, so the plan trades a higher peak against battery discharge."""
    t = np.arange(N)
    price = 0.26 + 0.06 * np.sin(t / 3.0)
    base = 800.0 + 200.0 * np.cos(t / 5.0)
    ev = EVInputs(
        "ev",
        60.0,
        np.ones(N, bool),
        soc=0.3,
        energy_needed_kwh=need,
        departure_step=N,
        phase_switching=switching,
    )
    bat = BatteryInputs("bat", 3.0, 3000.0, 3000.0, soc=0.8, terminal_soc=0.3)
    return flat_inputs(
        START,
        N,
        import_price=price,
        export_price=price - 0.15,
        base_load_w=base,
        evs=(ev,),
        batteries=(bat,),
        capacity=CapacityTariff(4.19, billed_kw),
    )


def objective(plan_inputs: PlanInputs, *, cuts: bool) -> tuple[float, float]:
    model = build(plan_inputs, cuts=cuts)
    h = model.lp.to_highs()
    solve_mod._configure(h, EXACT, EXACT.time_limit_s)
    h.run()
    x = np.array(h.getSolution().col_value)
    return float(h.getInfo().objective_function_value), float(x[model.peak])


@pytest.mark.parametrize("switching", [False, True])
@pytest.mark.parametrize("billed_kw", [0.0, 2.5])
def test_cuts_keep_the_exact_optimum(switching: bool, billed_kw: float) -> None:
    inputs = night(switching=switching, billed_kw=billed_kw)
    with_cuts, peak = objective(inputs, cuts=True)
    without, _ = objective(inputs, cuts=False)
    assert with_cuts == pytest.approx(without, rel=2e-5)
    assert peak > billed_kw + 0.05  # the case really trades the peak against the battery


def test_cuts_tighten_the_relaxation() -> None:
    inputs = night()
    bounds = []
    for cuts in (False, True):
        model = build(inputs, cuts=cuts)
        relax = solve_mod._relaxation(model, model.lp.to_highs(), 1)
        relax.run()
        bounds.append(relax.getInfo().objective_function_value)
    exact, _ = objective(inputs, cuts=False)
    assert bounds[0] < bounds[1] <= exact * (1 + 2e-5)


def test_peak_tightening_keeps_the_optimal_peak() -> None:
    inputs = night()
    z, peak = objective(inputs, cuts=False)
    model = build(inputs)
    h = model.lp.to_highs()
    solve_mod._configure(h, EXACT, EXACT.time_limit_s)
    lo = solve_mod.tighten_peak(model, h, z + 1e-9)
    assert lo is not None and inputs.capacity is not None
    assert inputs.capacity.peak_kw < lo <= peak + 1e-6
    h.run()
    assert h.getInfo().objective_function_value == pytest.approx(z, rel=2e-5)


def test_rounded_start_is_a_feasible_plan_no_better_than_the_optimum() -> None:
    inputs = night()
    z, _ = objective(inputs, cuts=False)
    model = build(inputs)
    h = model.lp.to_highs()
    x0 = solve_mod.rounded_start(model, h)
    assert x0 is not None
    ints = np.concatenate(model.lp.integer)
    assert np.abs(x0[ints] - np.round(x0[ints])).max() < 1e-9
    lp = h.getLp()
    assert (x0 >= np.array(lp.col_lower_) - 1e-7).all() and (x0 <= np.array(lp.col_upper_) + 1e-7).all()
    start = float(np.concatenate(model.lp.cost) @ x0 + model.lp.offset)
    assert start >= z * (1 - 2e-5)
    # the solve that starts from it reaches the same optimum
    p = solve(model, EXACT)
    assert p.status is SolveStatus.OPTIMAL
    z2, _ = objective(inputs, cuts=True)
    assert z2 == pytest.approx(z, rel=2e-5)


@pytest.mark.parametrize("switching", [False, True])
def test_charger_runs_at_zero_or_at_least_its_minimum_current(switching: bool) -> None:
    inputs = night(switching=switching)
    p = solve(build(inputs), SolverOptions())
    assert p.status is SolveStatus.OPTIMAL
    ev = p.evs[0]
    on = ev.power_w > 1e-3
    assert on.any()
    assert (ev.phases[on] >= 1).all() and (ev.phases[~on] == 0).all()
    assert (ev.current_a[on] >= 6.0 - 1e-6).all() and (ev.current_a[on] <= 16.0 + 1e-6).all()
    assert (ev.power_w[on] >= 6.0 * 230.0 * ev.phases[on] - 1e-3).all()
    if not switching:
        assert (ev.phases[on] == 3).all()
    assert ev.delivered_kwh == pytest.approx(9.0, abs=1e-3)
