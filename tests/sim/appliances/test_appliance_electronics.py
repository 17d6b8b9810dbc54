"""TV, laptop, LED lighting, microwave and induction hob: signatures, cycling, pulsing, wiring."""

from __future__ import annotations

import numpy as np
import pytest
from appliance_support import make, ratio, run, thd, true_pf

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances import InductionHob, Laptop, LedLighting, Microwave, Television
from gridedge.sim.appliances.induction import PULSE_PERIOD_S
from gridedge.sim.electrical import LoadKind


def test_tv_power_factor_correction_above_75_w() -> None:
    big = make(ApplianceKind.TV, power_w=120.0)
    small = make(ApplianceKind.TV, power_w=60.0)
    assert isinstance(big, Television) and isinstance(small, Television)
    assert big.has_pfc and not small.has_pfc
    assert true_pf(big.sig) > 0.9 and thd(big.sig) < 0.15
    assert 0.5 < true_pf(small.sig) < 0.75 and ratio(small.sig, 3) > 0.7
    assert big.sig.kind is LoadKind.POWER


def test_tv_evening_session_with_picture_dependent_power() -> None:
    tv = make(ApplianceKind.TV, uses_per_day=0, power_w=100.0)
    tv.command("on")
    tr = run(tv, 1800)
    first = tr.changes[0]
    assert first.inrush is not None  # bulk capacitor charging
    assert first.inrush.cycles() <= 6
    powers = np.array([c.signature.power_w for c in tr.changes])
    assert 60 < len(powers) < 600  # changes every 5-20 s, not every cycle
    assert 0.03 < powers.std() / powers.mean() < 0.15
    assert tv.active  # a commanded TV stays on until switched off
    tv.command("off")
    tr = run(tv, 10, start=1800, trace=tr)
    assert tr.changes[-1].signature.is_zero and tr.changes[-1].at == 1800.0


def test_led_lighting_lamps_and_return_after_a_power_cut() -> None:
    led = make(ApplianceKind.LED_LIGHTING, uses_per_day=0, power_w=36.0)
    assert isinstance(led, LedLighting)
    led.switch(True, 0.0)
    tr = run(led, 600, unpowered=(100, 160))
    assert tr.power_at(50.0) == pytest.approx(36.0, rel=0.02)
    assert tr.power_at(130.0) == 0.0
    back = [c for c in tr.changes if c.at == 160.0]
    assert back and back[0].signature.power_w == pytest.approx(36.0, rel=0.02)
    assert back[0].inrush is not None
    sig = back[0].signature
    assert 0.5 < true_pf(sig) < 0.7 and 0.7 < ratio(sig, 3) < 0.9


def test_laptop_charges_then_runs_on_use_power_and_survives_a_cut() -> None:
    lap = make(ApplianceKind.LAPTOP, uses_per_day=0)
    assert isinstance(lap, Laptop)
    lap.command("on")
    tr = run(lap, 3 * 3600, unpowered=(600, 700))
    early = np.mean([c.signature.power_w for c in tr.changes if c.at < 600])
    late = np.mean([c.signature.power_w for c in tr.changes if c.at > 2.5 * 3600])
    assert late < 0.7 * early  # battery full: the charger only feeds the laptop
    assert any(c.at == 700.0 and c.signature.power_w > 0 for c in tr.changes)
    assert 0.5 < true_pf(lap.sig) < 0.7


def test_microwave_level_cycles_the_magnetron() -> None:
    mw = make(ApplianceKind.MICROWAVE, uses_per_day=0, power_w=1300.0)
    assert isinstance(mw, Microwave)
    mw.command("setpoint", 3)
    mw.command("on")
    tr = run(mw, 900)
    ons = tr.on_intervals(500.0)
    assert len(ons) >= 5
    on_s = [b - a for a, b in ons[:-1]]
    assert all(d == pytest.approx(9.0) for d in on_s)  # 3/10 of a 30 s period
    starts = [a for a, _ in ons]
    assert np.allclose(np.diff(starts), 30.0)
    idle = tr.power_at(ons[0][1] + 1.0)
    assert 20.0 < idle < 60.0  # fan, lamp, turntable
    full = max(c.signature.power_w for c in tr.changes)
    assert full == pytest.approx(1300.0, rel=0.05)
    assert not mw.active and tr.changes[-1].signature.is_zero


def test_microwave_full_power_is_continuous() -> None:
    mw = make(ApplianceKind.MICROWAVE, uses_per_day=0)
    mw.command("setpoint", 10)
    mw.command("on")
    tr = run(mw, 900)
    assert len(tr.on_intervals(500.0)) == 1


def test_induction_low_levels_pulse_at_half_a_hertz() -> None:
    hob = make(ApplianceKind.INDUCTION_HOB, uses_per_day=0)
    assert isinstance(hob, InductionHob)
    hob.command("setpoint", 2)  # also switches zone 1 on
    tr = run(hob, 60)
    ons = tr.on_intervals(100.0)
    assert len(ons) >= 25
    assert np.allclose(np.diff([a for a, _ in ons]), PULSE_PERIOD_S)
    duty = sum(b - a for a, b in ons[:-1]) / (ons[-1][0] - ons[0][0])
    assert duty == pytest.approx(0.09 / 0.30, rel=0.02)
    hob.command("setpoint", 8)
    tr = run(hob, 60, start=60, trace=tr)
    assert tr.on_intervals(100.0)[-1] == (60.0, 120.0)  # level 8: continuous
    assert tr.power_at(100.0) == pytest.approx(0.78 * hob.zone_w, rel=0.05)
    hob.command("setpoint", 0)
    tr = run(hob, 5, start=120, trace=tr)
    assert tr.changes[-1].signature.is_zero and not hob.active


def test_large_hob_spreads_zones_over_two_phases() -> None:
    hob = make(ApplianceKind.INDUCTION_HOB, uses_per_day=0, phase=3, power_w=7200.0)
    assert isinstance(hob, InductionHob)
    assert hob.zone_phase == [3, 3, 1, 1]
    hob.set_level(0, 9, 0.0)
    hob.set_level(2, 9, 0.0)
    tr = run(hob, 2)
    sig = tr.changes[-1].signature
    per_phase = 230.0 * sig.currents[:, 0].real
    assert per_phase[0] == pytest.approx(1800.0, rel=0.02)
    assert per_phase[2] == pytest.approx(1800.0, rel=0.02)
    assert per_phase[1] == 0.0
    assert true_pf(sig) > 0.95


def test_induction_cooking_session() -> None:
    hob = make(ApplianceKind.INDUCTION_HOB, seed=5, uses_per_day=0)
    assert isinstance(hob, InductionHob)
    hob.switch(True, 0.0)  # a commanded start: zone 1 at level 7 until switched off
    tr = run(hob, 120)
    assert tr.power_at(60.0) == pytest.approx(0.62 * 1800.0, rel=0.05)
    assert hob.active
    cook = make(ApplianceKind.INDUCTION_HOB, seed=5, uses_per_day=6)
    tr = run(cook, 6 * 3600, start=16 * 3600)  # the dinner peak
    assert cook.uses >= 1
    peak = max(c.signature.power_w for c in tr.changes)
    assert peak >= 1700.0  # boiling at level 9
    per_use = tr.energy_wh() / 1000.0 / cook.uses
    assert 0.1 < per_use < 2.0
