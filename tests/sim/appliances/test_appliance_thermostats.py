"""Oven and water heater: thermostat cycling from first-order heat balances."""

from __future__ import annotations

import itertools

import pytest
from appliance_support import make, run

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances import Oven, WaterHeater
from gridedge.sim.appliances.thermal import relax, time_to


def test_thermal_closed_form() -> None:
    t = time_to(20.0, 420.0, 1000.0, 180.0)
    assert relax(20.0, 420.0, 1000.0, t) == pytest.approx(180.0)
    assert time_to(20.0, 100.0, 1000.0, 150.0) == float("inf")


def test_oven_preheats_then_cycles_around_the_setpoint() -> None:
    oven = make(ApplianceKind.OVEN, uses_per_day=0)
    assert isinstance(oven, Oven)
    oven.command("setpoint", 200.0)
    oven.switch(True, 0.0)
    tr = run(oven, 1)
    while not tr.on_intervals(500.0) or tr.changes[-1].signature.power_w > 500.0:
        tr = run(oven, 1, start=tr.t_end, trace=tr)
    ((a, b),) = tr.on_intervals(500.0)
    assert 6 * 60 < b - a < 20 * 60  # preheat of a 2.4 kW oven
    assert oven.temperature(b) == pytest.approx(205.0, abs=0.01)  # setpoint + hysteresis
    tr = run(oven, 3600 - tr.t_end, start=tr.t_end, trace=tr)
    runs = tr.on_intervals(500.0)
    cycles = runs[1:-1]
    assert len(cycles) > 10
    on = [b - a for a, b in cycles]
    assert all(20.0 < d < 150.0 for d in on)
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(cycles)]
    duty = sum(on) / (sum(on) + sum(gaps))
    # holding power = UA (T - Ta) / P
    expected = oven.ua_w_per_k * (200.0 - oven.ambient_c) / oven.heater_w
    assert duty == pytest.approx(expected, rel=0.05)
    # between element cycles the fan and lamp still draw
    assert 10.0 < tr.power_at(cycles[0][1] + 1.0) < 100.0


def test_oven_setpoint_out_of_range() -> None:
    oven = make(ApplianceKind.OVEN)
    with pytest.raises(ValueError, match=r"oven .*setpoint 400"):
        oven.command("setpoint", 400.0)


def test_water_heater_energy_balance() -> None:
    """Element energy = heat leaving with the water + standing loss + change of stored heat."""
    wh = make(ApplianceKind.WATER_HEATER, uses_per_day=8)
    assert isinstance(wh, WaterHeater)
    day = 86400.0
    tr = run(wh, 1)
    first_c = wh.temperature(0.0)
    tr = run(wh, day - 1, start=1, trace=tr)
    element_j = tr.energy_wh() * 3600.0
    stored_j = wh.capacity_j_per_k * (wh.temperature(day) - first_c)
    assert wh.drawn_l > 20.0 and wh.heatings >= 2
    loss_j = element_j - stored_j - wh.drawn_heat_j
    # the element's 3 % warm-up drift is on top of the rated power: allow for it
    slack = 0.03 * element_j
    ua_day = wh.ua_w_per_k * day
    assert ua_day * (wh.setpoint_c - wh.band_k - 10.0 - wh.ambient_c) - slack < loss_j
    assert loss_j < ua_day * (wh.setpoint_c - wh.ambient_c) + slack
    # a Belgian electric boiler: a few kWh a day
    assert 2.0 < tr.energy_wh() / 1000.0 < 15.0


def test_water_heater_heats_after_a_draw_for_the_physical_time() -> None:
    wh = make(ApplianceKind.WATER_HEATER, uses_per_day=0)
    assert isinstance(wh, WaterHeater)
    tr = run(wh, 10)
    wh.draw(50.0, 10.0)
    tr = run(wh, 1, start=10, trace=tr)
    assert wh.heating
    after_draw_c = wh.temp_c
    assert after_draw_c < wh.setpoint_c - wh.band_k
    tr = run(wh, 4 * 3600, start=11, trace=tr)
    ((a, b),) = tr.on_intervals(1000.0)
    assert a == 10.0
    needed_j = wh.capacity_j_per_k * (wh.setpoint_c - after_draw_c)
    # element power minus the standing loss heats the tank (3 % warm-up drift included)
    assert (b - a) == pytest.approx(needed_j / wh.rated_w, rel=0.06)


def test_water_heater_off_and_power_cut_keep_the_tank_cooling() -> None:
    wh = make(ApplianceKind.WATER_HEATER, uses_per_day=0)
    assert isinstance(wh, WaterHeater)
    run(wh, 1)
    wh.switch(False, 1.0)
    wh.draw(60.0, 1.0)
    tr = run(wh, 3600, start=1)
    assert wh.temperature(3601.0) < wh.setpoint_c - wh.band_k
    assert tr.energy_wh() == 0.0
    wh.switch(True, 3601.0)
    tr = run(wh, 3600, start=3601, unpowered=(3700, 3800))
    runs = tr.on_intervals(1000.0)
    assert runs[0][0] == 3601.0 and runs[0][1] == 3700.0
    assert runs[1][0] == 3800.0  # the thermostat calls again when the power returns
