"""Real Belgian 15-minute day-ahead prices (2025-10, corpus) and the MILP against rules."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from planner_support import BRUSSELS, be_prices, flat_inputs

from gridedge.home.cem.planner import (
    ApplianceInputs,
    BatteryInputs,
    CapacityTariff,
    EVInputs,
    HeatPumpInputs,
    PVInputs,
    plan,
    rule_plan,
)


def test_real_quarter_hour_prices_vary_within_the_hour() -> None:
    dam = be_prices(datetime(2025, 10, 7, tzinfo=BRUSSELS), 96)
    hourly = dam.reshape(24, 4)
    assert (hourly.max(axis=1) - hourly.min(axis=1) > 1e-6).sum() > 12  # true 15-min products
    assert 0.0 < dam.mean() < 0.3


def test_milp_cost_never_above_the_rule_plan_on_real_prices() -> None:
    rng = np.random.default_rng(11)
    for day in (2, 7, 13, 19):
        start = datetime(2025, 10, day, 12, tzinfo=BRUSSELS)
        n = 96
        dam = be_prices(start, n)
        hour = (np.arange(n) / 4 + 12) % 24
        pv = np.clip(np.sin((hour - 7) / 12 * np.pi), 0, None) * 4000.0 * rng.uniform(0.4, 1.0)
        base = 300.0 + 400.0 * ((hour > 17) & (hour < 22)) + rng.uniform(0, 150, n)
        lo = np.where((hour >= 6) & (hour < 23), 20.0, 18.0)
        outdoor = 10.0 + 4.0 * np.sin((hour - 9) / 24 * 2 * np.pi)
        hp = HeatPumpInputs("hp", 160.0, 12.0, 20.4, lo, lo + 2.5, 3.0 + 0.08 * outdoor, np.full(n, 2200.0))
        plugged = (np.arange(n) >= 24) & (np.arange(n) < 78)  # 18:00 -> 07:30
        ev = EVInputs("ev", 60.0, plugged, soc=0.35, energy_needed_kwh=18.0)
        bat = BatteryInputs("bat", 10.0, 5000.0, 5000.0, soc=0.5, terminal_soc=0.5, wear_eur_per_kwh=0.02)
        washer = ApplianceInputs("washer", 80, 96, np.array([2000.0, 2000.0, 300, 300, 300, 800, 800]))
        inputs = flat_inputs(
            start,
            n,
            import_price=dam + 0.12,
            export_price=dam - 0.015,
            grid_fee=np.full(n, 0.05),
            base_load_w=base,
            outdoor_c=outdoor,
            pv=(PVInputs("pv", pv),),
            heat_pumps=(hp,),
            evs=(ev,),
            batteries=(bat,),
            appliances=(washer,),
            capacity=CapacityTariff(50.24 / 12, 2.5),
        )
        milp = plan(inputs)
        rules = rule_plan(inputs)
        assert milp.feasible
        assert milp.cost.total <= rules.cost.total + 1e-6, (day, milp.cost, rules.cost)
        # the EV's energy comes at no more than the mean price of its session
        p = milp.evs[0].power_w
        paid = float((p * (dam + 0.12)).sum() / p.sum())
        assert paid <= float((dam + 0.12)[plugged].mean())
        assert (np.minimum(milp.grid_import_w, milp.grid_export_w) == 0).all()
