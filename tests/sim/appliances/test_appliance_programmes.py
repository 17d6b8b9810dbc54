"""Washing machine and dishwasher programmes: phase order, heating physics, rhythm, energy, pauses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from appliance_support import make, run

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances import Dishwasher, WashingMachine
from gridedge.sim.appliances.programme import INLET_C, heating_seconds, phase_sequence
from gridedge.sim.appliances.resistive import WATER_J_PER_KG_K
from gridedge.sim.control import Programmable, Switchable


def _washer(**kw: Any) -> WashingMachine:
    w = make(ApplianceKind.WASHING_MACHINE, uses_per_day=0, **kw)
    assert isinstance(w, WashingMachine)
    return w


def test_washing_phases_in_order_and_energy_at_40c() -> None:
    w = _washer(seed=3)
    assert isinstance(w, Programmable) and isinstance(w, Switchable)
    w.command("setpoint", 40.0)
    w.command("start")
    tr = run(w, 4 * 3600)
    rinse = ["rinse", "drain"]
    expected = ["fill", "heat", "wash", "drain", "spin", *rinse, "spin", *rinse, "final-spin", "end"]
    assert phase_sequence(w.phase_log) == expected
    assert not w.active and tr.changes[-1].signature.is_zero
    kwh = tr.energy_wh() / 1000.0
    assert 0.5 < kwh < 1.5
    assert kwh == pytest.approx(w.programme_energy_wh / 1000.0, rel=1e-6)
    duration = tr.changes[-1].at - tr.changes[0].at
    assert 60 * 60 < duration < 150 * 60


def test_heating_phase_matches_the_heat_balance() -> None:
    w = _washer(seed=8)
    w.command("setpoint", 60.0)
    w.command("start")
    run(w, 4 * 3600)
    starts = dict((name, t) for t, name in reversed(w.phase_log))
    heat_s = starts["wash"] - starts["heat"]
    heater_on = [s for s in w.programme if s.phase == "heat" and s.sig.power_w > 1500.0]
    assert heater_on and all(s.sig.power_w < w.rated_w + 300.0 for s in heater_on)
    # between 12 l of water only and 16 l + 7 kg of cotton + 4 kJ/K of drum, 45 K rise
    lo = heating_seconds(w.rated_w, 60.0 - INLET_C, 12.0, 3.0 * 1340.0 + 4000.0)
    hi = heating_seconds(w.rated_w, 60.0 - INLET_C, 16.0, 7.0 * 1340.0 + 4000.0)
    assert lo - 10.0 <= heat_s <= hi + 10.0
    assert 12.0 * WATER_J_PER_KG_K * 45.0 / w.rated_w < heat_s  # at least the water's heat


def test_drum_reverses_every_ten_to_fifteen_seconds_with_varying_load() -> None:
    w = _washer(seed=1)
    w.command("setpoint", 30.0)
    w.command("start")
    tr = run(w, 2 * 3600)
    starts = dict((name, t) for t, name in reversed(w.phase_log))
    wash = [c for c in tr.changes if starts["wash"] <= c.at < starts["drain"]]
    turns = [c.at for c in wash if c.inrush is not None]  # each turn starts the motor
    periods = np.diff(turns)
    assert 14.0 <= np.median(periods) <= 17.0  # ~12 s turning + ~3 s rest
    motor_w = [c.signature.power_w for c in wash if c.signature.power_w > 50.0]
    assert min(motor_w) > 100.0 and max(motor_w) < 320.0
    assert np.std(motor_w) > 10.0  # the load moves with the laundry
    rests = [c for c in wash if c.signature.power_w < 20.0]
    assert len(rests) >= len(turns) - 1


def test_final_spin_ramps_to_400_to_600_w() -> None:
    w = _washer(seed=6)
    w.command("start")
    tr = run(w, 3 * 3600)
    starts = dict((name, t) for t, name in reversed(w.phase_log))
    spin = [c.signature.power_w for c in tr.changes if starts["final-spin"] <= c.at < starts["end"]]
    assert 380.0 < max(spin) < 650.0
    ramp = spin[:8]
    assert ramp == sorted(ramp)


def test_power_cut_pauses_and_resumes_the_programme() -> None:
    plain = _washer(seed=4)
    cut = _washer(seed=4)
    for w in (plain, cut):
        w.command("setpoint", 40.0)
        w.command("start")
    a = run(plain, 4 * 3600)
    b = run(cut, 4 * 3600, unpowered=(1200, 1800))
    assert b.changes[-1].at == pytest.approx(a.changes[-1].at + 600.0)
    assert b.energy_wh() == pytest.approx(a.energy_wh(), rel=1e-3)
    assert phase_sequence(cut.phase_log) == phase_sequence(plain.phase_log)
    assert next(c for c in b.changes if c.at == 1200.0).signature.is_zero
    assert all(not (1200.0 < c.at < 1800.0) for c in b.changes)


def test_off_aborts_the_programme() -> None:
    w = _washer()
    w.switch(True, 0.0)
    tr = run(w, 600)
    w.switch(False, 600.0)
    tr = run(w, 600, start=600, trace=tr)
    assert tr.changes[-1].at == 600.0 and tr.changes[-1].signature.is_zero
    assert not w.active and tr.energy_wh(600.0) == 0.0


def test_dishwasher_two_heating_phases_and_energy() -> None:
    for temp, lo, hi in ((50.0, 0.6, 1.0), (65.0, 0.75, 1.4)):
        d = make(ApplianceKind.DISHWASHER, uses_per_day=0, seed=2)
        assert isinstance(d, Dishwasher)
        d.command("setpoint", temp)
        d.start_programme(0.0)
        tr = run(d, 4 * 3600)
        heats = tr.on_intervals(1000.0)
        assert len(heats) == 2
        expected = ["prewash", "main-wash", "heat", "main-wash", "rinse"]
        expected += ["final-rinse", "heat", "final-rinse", "dry", "end"]
        assert phase_sequence(d.phase_log) == expected
        assert lo < tr.energy_wh() / 1000.0 < hi
        pump = [c.signature for c in tr.changes if 40.0 < c.signature.power_w < 100.0]
        assert pump and all(s.reactive_power_var > 0 for s in pump)  # induction-motor pump


def test_spontaneous_washes_pick_a_programme_temperature() -> None:
    temps = set()
    for seed in range(8):
        w = make(ApplianceKind.WASHING_MACHINE, uses_per_day=6, seed=seed)
        assert isinstance(w, WashingMachine)
        run(w, 8 * 3600, start=8 * 3600)
        if w.uses:
            temps.add(w.temperature_c)
    assert temps <= {30.0, 40.0, 60.0} and len(temps) >= 2
