"""Kettle: boil time and energy from water heating physics, commands and power cuts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from appliance_support import make, run

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances import Kettle
from gridedge.sim.appliances.resistive import WATER_J_PER_KG_K
from gridedge.sim.control import Programmable, Switchable
from gridedge.sim.electrical import NOMINAL_V, OFF


def _kettle(**kw: Any) -> Kettle:
    k = make(ApplianceKind.KETTLE, uses_per_day=0, **kw)
    assert isinstance(k, Kettle)
    return k


def test_boil_energy_is_water_heating_plus_losses() -> None:
    k = _kettle(power_w=2200.0)
    assert isinstance(k, Switchable) and not isinstance(k, Programmable)
    k.switch(True, 5.0)
    tr = run(k, 600)
    assert k.last_boil is not None
    volume, start_c, target_c, on_s = k.last_boil
    ((a, b),) = tr.on_intervals(100.0)
    assert a == 5.0
    assert b - a == pytest.approx(on_s, abs=1e-6)
    water_wh = volume * WATER_J_PER_KG_K * (target_c - start_c) / 3600.0
    drawn = tr.energy_wh()
    # the element heats water, kettle body and air (efficiency 0.85-0.92) and boils ~12-25 s more
    assert water_wh / 0.92 < drawn < water_wh / 0.85 + 2200.0 * 25.0 / 3600.0
    assert not k.active and tr.changes[-1].signature is OFF


def test_boil_time_for_one_litre_is_two_to_four_minutes() -> None:
    durations = []
    for seed in range(40):
        k = _kettle(seed=seed, power_w=2200.0)
        k.switch(True, 0.0)
        run(k, 2)
        assert k.last_boil is not None
        volume, _, _, on_s = k.last_boil
        durations.append(on_s / volume)  # seconds per litre
    assert 120.0 < float(np.median(durations)) < 240.0


def test_switch_on_draws_rated_power_with_a_small_cold_inrush() -> None:
    k = _kettle(power_w=3000.0)
    k.switch(True, 0.25)
    tr = run(k, 1)
    first = tr.changes[0]
    assert first.at == 0.25  # sub-second: the command's own time
    assert first.signature.power_w == pytest.approx(3000.0)
    assert first.inrush is not None
    extra = abs(first.inrush.extra.currents[0, 0]) / abs(first.signature.currents[0, 0])
    assert 0.0 < extra < 0.1
    assert abs(first.signature.currents[0, 0]) == pytest.approx(3000.0 / NOMINAL_V)


def test_lower_setpoint_boils_shorter() -> None:
    a = _kettle(seed=4)
    b = _kettle(seed=4)
    b.command("setpoint", 70.0)
    a.switch(True, 1.0)
    b.switch(True, 1.0)
    run(a, 3)
    run(b, 3)
    assert a.last_boil is not None and b.last_boil is not None
    assert a.last_boil[:2] == b.last_boil[:2]  # same water
    assert b.last_boil[3] < 0.75 * a.last_boil[3]


def test_off_stops_the_boil() -> None:
    k = _kettle()
    k.command("on")
    tr = run(k, 30)
    k.command("off")
    tr = run(k, 30, start=30, trace=tr)
    assert tr.changes[-1].signature is OFF and tr.changes[-1].at == 30.0
    assert not k.active


def test_power_cut_ends_the_boil_for_good() -> None:
    k = _kettle()
    k.switch(True, 0.0)
    tr = run(k, 400, unpowered=(60, 90))
    offs = [c for c in tr.changes if c.signature.is_zero]
    assert offs[0].at == 60.0
    assert len(offs) == 1  # OFF once, and nothing after the power returns
    assert tr.energy_wh(90.0) == 0.0
