"""Small plans whose optimum is known by hand."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
from planner_support import BRUSSELS, flat_inputs

from gridedge.home.cem.planner import (
    ApplianceInputs,
    BatteryInputs,
    CapacityTariff,
    EVInputs,
    GridLimits,
    HeatPumpInputs,
    PlanInputs,
    PVInputs,
    SolveStatus,
    plan,
    rule_plan,
)

START = datetime(2025, 10, 6, 0, 0, tzinfo=BRUSSELS)


def test_battery_arbitrage_across_two_price_levels() -> None:
    # 2 kW load for 2 h; 0.10 EUR/kWh the first hour, 0.30 the second; battery empty, 90 % each way.
    # Best: store just enough in the cheap hour to carry the dear hour's 2 kWh: 2 / 0.81 kWh AC.
    price = np.array([0.10] * 4 + [0.30] * 4)
    bat = BatteryInputs("bat", 10.0, 4000.0, 4000.0, soc=0.0, charge_efficiency=0.9, discharge_efficiency=0.9)
    p = plan(flat_inputs(START, 8, import_price=price, base_load_w=np.full(8, 2000.0), batteries=(bat,)))
    assert p.status is SolveStatus.OPTIMAL
    assert p.cost.total == pytest.approx(0.10 * 2.0 + 0.10 * 2.0 / 0.81, abs=1e-4)
    power = p.batteries[0].power_w
    assert (power[:4] >= -1e-6).all() and (power[4:] <= 1e-6).all()
    assert p.grid_import_w[4:] == pytest.approx(0.0, abs=1e-3)
    assert p.batteries[0].soc[-1] == pytest.approx(0.0, abs=1e-6)


def test_ev_charges_in_the_cheapest_quarters_before_departure() -> None:
    price = np.array(
        [0.30, 0.12, 0.25, 0.08, 0.20, 0.09, 0.40, 0.22, 0.15, 0.18, 0.26, 0.35, 0.01, 0.01, 0.3, 0.3]
    )
    full_kw = 3 * 230 * 16 / 1000.0
    need = 0.9 * full_kw * 0.25 * 2  # exactly two quarters at full power
    ev = EVInputs("ev", 60.0, np.ones(16, bool), soc=0.3, energy_needed_kwh=need, departure_step=12)
    big = GridLimits(25_000.0, 25_000.0)  # the default 9.2 kW connection would cap the charger
    p = plan(flat_inputs(START, 16, import_price=price, evs=(ev,), limits=big))
    charged = np.flatnonzero(p.evs[0].power_w > 1.0)
    assert charged.tolist() == [3, 5]  # 0.08 and 0.09; the 0.01 quarters are after departure
    assert p.evs[0].power_w[charged] == pytest.approx(full_kw * 1000.0, rel=1e-6)
    assert p.evs[0].current_a[charged] == pytest.approx(16.0, rel=1e-6)
    assert p.evs[0].delivered_kwh == pytest.approx(need, rel=1e-6)
    assert p.cost.total == pytest.approx(full_kw * 0.25 * (0.08 + 0.09), abs=1e-4)
    assert p.feasible


def test_ev_below_minimum_current_is_off_or_at_least_six_amps() -> None:
    # 5 kWh needs less than a full quarter: the charger cannot go below 6 A x 3 phases (4.14 kW).
    price = np.linspace(0.1, 0.2, 8)
    ev = EVInputs("ev", 60.0, np.ones(8, bool), soc=0.3, energy_needed_kwh=1.0)
    p = plan(flat_inputs(START, 8, import_price=price, evs=(ev,)))
    on = p.evs[0].power_w[p.evs[0].power_w > 1e-3]
    assert on.size >= 1 and (on >= 3 * 230 * 6 - 1e-3).all()
    assert p.evs[0].delivered_kwh >= 1.0 - 1e-6


def test_appliance_placed_at_the_cheapest_window() -> None:
    price = np.array([0.3, 0.3, 0.25, 0.2, 0.28, 0.05, 0.06, 0.2, 0.02, 0.4, 0.3, 0.1, 0.1, 0.1, 0.3, 0.3])
    prof = np.array([1000.0, 2000.0, 1000.0])
    ap = ApplianceInputs("dishwasher", 2, 14, prof)
    p = plan(flat_inputs(START, 16, import_price=price, appliances=(ap,)))
    # cost of each start by hand: start s uses prices s, s+1, s+2 with weights 1, 2, 1 (kW x 0.25 h)
    costs = {s: 0.25 * (price[s] + 2 * price[s + 1] + price[s + 2]) for s in range(2, 12)}
    best = min(costs, key=lambda s: costs[s])
    assert best == 5  # 0.05 + 2 x 0.06 + 0.2 = 0.37; next best 11: 0.1 + 2 x 0.1 + 0.1 = 0.40
    assert p.appliances[0].start_step == best
    assert p.appliances[0].start == datetime(2025, 10, 6, 1, 15, tzinfo=BRUSSELS)
    assert p.cost.total == pytest.approx(costs[best], abs=1e-4)


def _house(indoor: float, outdoor: float, p_w: np.ndarray, cop: float, ua: float, c_kwh: float) -> np.ndarray:
    a = math.exp(-ua * 900 / (c_kwh * 3.6e6))
    out = []
    t = indoor
    for p in p_w:
        t = a * t + (1 - a) * (outdoor + cop * p / ua)
        out.append(t)
    return np.array(out)


def test_heat_pump_preheats_before_a_price_spike_within_band() -> None:
    n = 24
    price = np.array([0.10] * 12 + [1.00] * 12)
    hp = HeatPumpInputs(
        "hp",
        ua_w_per_k=200.0,
        capacity_kwh_per_k=20.0,
        indoor_c=20.5,
        comfort_min_c=np.full(n, 20.0),
        comfort_max_c=np.full(n, 21.5),
        cop=np.full(n, 3.0),
        max_electric_w=np.full(n, 3000.0),
    )
    p = plan(flat_inputs(START, n, import_price=price, outdoor_c=np.zeros(n), heat_pumps=(hp,)))
    hpp = p.heat_pumps[0]
    assert hpp.power_w[12:] == pytest.approx(0.0, abs=1e-3)  # nothing in the dear hours
    assert hpp.indoor_c.min() >= 20.0 - 1e-6 and hpp.indoor_c.max() <= 21.5 + 1e-6
    assert hpp.indoor_c[-1] == pytest.approx(20.0, abs=1e-4)  # just enough heat stored
    # the plan matches its own house model (exact discretisation)
    assert _house(20.5, 0.0, hpp.power_w, 3.0, 200.0, 20.0) == pytest.approx(hpp.indoor_c, abs=1e-6)
    # by hand: heat as late as possible in the cheap hours (less time to lose it); find the energy
    # by bisection on a "full power in the last cheap quarters" schedule that ends at 20.0 °C
    lo, hi = 0.0, 12 * 3000.0
    for _ in range(60):
        mid = (lo + hi) / 2
        sched = np.zeros(n)
        left = mid
        for k in range(11, -1, -1):
            sched[k] = min(3000.0, left)
            left -= sched[k]
        lo, hi = (mid, hi) if _house(20.5, 0.0, sched, 3.0, 200.0, 20.0)[-1] < 20.0 else (lo, mid)
    assert p.cost.total == pytest.approx(0.10 * 0.25 * hi / 1000.0, rel=1e-4)
    assert p.cost.total < rule_plan(p_inputs_from(hp, price)).cost.total


def p_inputs_from(hp: HeatPumpInputs, price: np.ndarray) -> PlanInputs:
    return flat_inputs(
        START, price.size, import_price=price, outdoor_c=np.zeros(price.size), heat_pumps=(hp,)
    )


def test_capacity_tariff_makes_peak_shaving_worth_it() -> None:
    n = 8
    base = np.full(n, 1000.0)
    base[4] = 7000.0
    bat = BatteryInputs(
        "bat", 5.0, 5000.0, 5000.0, soc=0.5, charge_efficiency=1.0, discharge_efficiency=1.0, terminal_soc=0.5
    )
    cap = CapacityTariff(eur_per_kw=10.0, peak_kw=2.5)
    args = {"import_price": np.full(n, 0.2), "base_load_w": base, "batteries": (bat,)}
    p = plan(flat_inputs(START, n, capacity=cap, **args))
    assert p.peak_kw == pytest.approx(2.5, abs=1e-6)
    assert p.cost.capacity == pytest.approx(0.0, abs=1e-6)
    assert p.cost.total == pytest.approx(0.2 * 0.25 * (7 * 1.0 + 7.0), abs=1e-4)  # lossless: energy only
    assert p.batteries[0].power_w[4] == pytest.approx(-4500.0, abs=1e-3)
    # the same inputs without the battery pay for the 7 kW quarter: 4.5 kW above the billed peak
    q = plan(flat_inputs(START, n, capacity=cap, import_price=np.full(n, 0.2), base_load_w=base))
    assert q.cost.capacity == pytest.approx(45.0, abs=1e-6)


def test_export_limit_curtails_pv() -> None:
    n = 4
    pv = PVInputs("pv", np.full(n, 6000.0), curtailable=True)
    limits = GridLimits(9200.0, 9200.0, export_max_w=np.array([3000.0, 3000.0, np.nan, np.nan]))
    p = plan(
        flat_inputs(
            START, n, export_price=np.full(n, 0.05), base_load_w=np.full(n, 1000.0), pv=(pv,), limits=limits
        )
    )
    assert p.grid_export_w == pytest.approx([3000.0, 3000.0, 5000.0, 5000.0], abs=1e-3)
    assert p.pv[0].curtailed_w == pytest.approx([2000.0, 2000.0, 0.0, 0.0], abs=1e-3)
    assert p.feasible
    # the same PV without curtailment must break the limit, and says so
    fixed = PVInputs("pv", np.full(n, 6000.0), curtailable=False)
    q = plan(
        flat_inputs(
            START,
            n,
            export_price=np.full(n, 0.05),
            base_load_w=np.full(n, 1000.0),
            pv=(fixed,),
            limits=limits,
        )
    )
    (r,) = q.relaxations
    assert (r.constraint, r.device_id, r.first_step, r.last_step, r.unit) == (
        "grid-export-limit",
        "grid",
        0,
        1,
        "kW",
    )
    assert r.amount == pytest.approx(2.0, abs=1e-3)
    assert "cannot be curtailed" in r.message


def test_no_simultaneous_import_and_export_even_with_inverted_prices() -> None:
    # export pays more than import costs: only the direction binary stops a round trip
    n = 4
    p = plan(
        flat_inputs(
            START,
            n,
            import_price=np.full(n, 0.05),
            export_price=np.full(n, 0.10),
            base_load_w=np.full(n, 500.0),
        )
    )
    assert (np.minimum(p.grid_import_w, p.grid_export_w) == 0).all()
    assert p.grid_import_w == pytest.approx(500.0, abs=1e-6)
