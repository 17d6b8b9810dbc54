"""Over-constrained inputs still give a plan, and the plan says what gave way and why."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from planner_support import BRUSSELS, flat_inputs

from gridedge.home.cem.planner import (
    ApplianceInputs,
    BatteryInputs,
    EVInputs,
    GridLimits,
    HeatPumpInputs,
    SolveStatus,
    plan,
)

NIGHT = datetime(2025, 10, 6, 23, 30, tzinfo=BRUSSELS)


def test_ev_needing_more_than_the_grid_limit_allows_names_ev_and_amount() -> None:
    n = 32  # 23:30 -> 07:30
    ev = EVInputs("ev", 77.0, np.ones(n, bool), soc=0.2, energy_needed_kwh=36.0)
    limits = GridLimits(9200.0, 9200.0, import_max_w=np.full(n, 5000.0))
    p = plan(
        flat_inputs(
            NIGHT, n, import_price=np.full(n, 0.2), base_load_w=np.full(n, 500.0), evs=(ev,), limits=limits
        )
    )
    assert p.status is SolveStatus.OPTIMAL
    (r,) = p.relaxations
    assert (r.constraint, r.device_id, r.unit) == ("ev-energy", "ev", "kWh")
    # 4.5 kW free under the limit for 8 h at 90 %: 32.4 kWh, 3.6 kWh short
    assert r.amount == pytest.approx(36.0 - 0.9 * 4.5 * 8, abs=0.01)
    assert (r.first_step, r.last_step) == (0, n - 1)
    assert "36.0 kWh needed by" in r.message and "07:30" in r.message and "grid limit of 5.0 kW" in r.message
    assert p.grid_import_w.max() <= 5000.0 + 1e-3  # the grid limit ranks above the EV
    assert p.evs[0].delivered_kwh == pytest.approx(32.4, abs=0.01)


def test_ev_with_too_little_time_says_so() -> None:
    n = 8
    plugged = np.zeros(n, bool)
    plugged[:4] = True
    ev = EVInputs("car", 60.0, plugged, soc=0.1, energy_needed_kwh=20.0)
    p = plan(
        flat_inputs(NIGHT, n, import_price=np.full(n, 0.2), evs=(ev,), limits=GridLimits(25_000.0, 25_000.0))
    )
    (r,) = p.relaxations
    assert r.device_id == "car" and r.amount == pytest.approx(20.0 - 0.9 * 11.04, abs=0.01)
    assert "1.00 h plugged in" in r.message and "00:30" in r.message


def test_comfort_band_out_of_reach_is_reported_with_when_and_how_much() -> None:
    n = 16
    hp = HeatPumpInputs(
        "hp",
        ua_w_per_k=250.0,
        capacity_kwh_per_k=5.0,
        indoor_c=18.0,
        comfort_min_c=np.full(n, 20.0),
        comfort_max_c=np.full(n, 23.0),
        cop=np.full(n, 3.0),
        max_electric_w=np.full(n, 2000.0),
    )
    p = plan(
        flat_inputs(NIGHT, n, import_price=np.full(n, 0.2), outdoor_c=np.full(n, -5.0), heat_pumps=(hp,))
    )
    (r,) = p.relaxations
    assert (r.constraint, r.device_id, r.unit, r.first_step) == ("comfort-min", "hp", "K", 0)
    assert r.amount == pytest.approx(20.0 - p.heat_pumps[0].indoor_c[0], abs=1e-3)
    assert p.heat_pumps[0].power_w == pytest.approx(2000.0, abs=1e-3)  # full power all the way
    assert "below the 20.0 °C comfort minimum" in r.message and "starts at 18.0 °C" in r.message


def test_appliance_that_cannot_fit_and_battery_end_target() -> None:
    n = 8
    ap = ApplianceInputs("washer", 6, 8, np.full(4, 2000.0))  # 1 h programme in a 30 min window
    bat = BatteryInputs("bat", 10.0, 1000.0, 1000.0, soc=0.1, terminal_soc=0.9)  # 8 kWh in 2 h at 1 kW: no
    p = plan(flat_inputs(NIGHT, n, import_price=np.full(n, 0.2), appliances=(ap,), batteries=(bat,)))
    by = {r.constraint: r for r in p.relaxations}
    assert set(by) == {"appliance-run", "battery-terminal-soc"}
    assert by["appliance-run"].device_id == "washer" and "does not fit" in by["appliance-run"].message
    assert by["battery-terminal-soc"].amount == pytest.approx(8.0 - 0.95 * 2.0, abs=0.01)
    assert p.appliances[0].start_step is None
    assert p.batteries[0].power_w == pytest.approx(1000.0, abs=0.01)  # charges all it can


def test_base_load_above_the_import_limit_gives_way_on_the_grid_limit() -> None:
    n = 4
    limits = GridLimits(9200.0, 9200.0, import_max_w=np.array([np.nan, 2000.0, 2000.0, np.nan]))
    p = plan(
        flat_inputs(NIGHT, n, import_price=np.full(n, 0.2), base_load_w=np.full(n, 3000.0), limits=limits)
    )
    (r,) = p.relaxations
    assert (r.constraint, r.first_step, r.last_step) == ("grid-import-limit", 1, 2)
    assert r.amount == pytest.approx(1.0, abs=1e-6)
    assert "base load alone exceeds it" in r.message


def test_relaxed_plan_is_still_economic_in_stage_two() -> None:
    # the EV cannot be fully served; what it does get must still come in the cheapest quarters
    n = 8
    price = np.array([0.5, 0.1, 0.5, 0.1, 0.5, 0.1, 0.5, 0.1])
    plugged = np.ones(n, bool)
    ev = EVInputs("ev", 60.0, plugged, soc=0.1, energy_needed_kwh=30.0)
    limits = GridLimits(9200.0, 9200.0, import_max_w=np.where(np.arange(n) % 2 == 1, 4200.0, 9200.0))
    p = plan(flat_inputs(NIGHT, n, import_price=price, evs=(ev,), limits=limits))
    assert p.relaxations and p.relaxations[0].constraint == "ev-energy"
    assert p.evs[0].power_w == pytest.approx(np.where(np.arange(n) % 2 == 1, 4200.0, 9200.0), abs=1e-3)
