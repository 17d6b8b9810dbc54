"""Fridge: compressor cycles driven by the thermal model, inrush, drift, door openings, power cuts."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from appliance_support import make, run

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances import Fridge
from gridedge.sim.appliances.motor import MIN_OFF_S
from gridedge.sim.control import Switchable

DAY = 86400


def _fridge(**kw: Any) -> Fridge:
    f = make(ApplianceKind.FRIDGE, **kw)
    assert isinstance(f, Fridge)
    return f


def test_duty_cycle_and_cycle_lengths_over_a_day() -> None:
    f = _fridge(seed=7)
    tr = run(f, DAY)
    runs = tr.on_intervals(20.0)
    complete = runs[1:-1]
    assert len(complete) > 15
    on = np.array([b - a for a, b in complete])
    off = np.array([b[0] - a[1] for a, b in itertools.pairwise(complete)])
    assert 12 * 60 < np.median(on) < 28 * 60
    assert 25 * 60 < np.median(off) < 55 * 60
    duty = f.duty_cycle(0.0, DAY)
    assert 0.2 < duty < 0.45
    assert duty == pytest.approx(tr.energy_wh() / (f.rated_w * 24.0), rel=0.1)
    assert 0.4 < tr.energy_wh() / 1000.0 < 1.3  # a fridge-freezer's kWh a day
    assert f.uses > 10  # door openings happened


def test_door_openings_raise_the_duty_cycle() -> None:
    closed = _fridge(seed=3, uses_per_day=0)
    busy = _fridge(seed=3, uses_per_day=80)
    run(closed, DAY)
    run(busy, DAY)
    assert busy.duty_cycle(0, DAY) > closed.duty_cycle(0, DAY) + 0.02


def test_colder_setpoint_runs_longer() -> None:
    warm = _fridge(seed=5, uses_per_day=0)
    cold = _fridge(seed=5, uses_per_day=0)
    cold.command("setpoint", 2.0)
    run(warm, DAY)
    run(cold, DAY)
    assert cold.duty_cycle(0, DAY) > warm.duty_cycle(0, DAY)


def test_compressor_start_inrush_and_running_power() -> None:
    f = _fridge(seed=11)
    tr = run(f, 4 * 3600)
    starts = [c for c in tr.changes if c.inrush is not None]
    assert starts
    for c in starts:
        assert c.inrush is not None
        steady = c.signature.currents[0, 0]
        first = abs(steady + c.inrush.extra.currents[0, 0]) / abs(steady)
        assert 5.0 <= first <= 8.0  # locked-rotor current
        assert c.inrush.cycles() <= 40  # gone within a few cycles (under 1 s)
    powers = [c.signature.power_w for c in tr.changes if c.signature.power_w > 0]
    assert all(80.0 < p < 150.0 for p in powers)
    assert len(set(powers)) > len(starts)  # the running power drifts


def test_no_restart_within_the_pressure_equalisation_delay() -> None:
    f = _fridge(seed=2)
    tr = run(f, 2 * DAY)
    runs = tr.on_intervals(20.0)
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(runs)]
    assert min(gaps) >= MIN_OFF_S


def test_power_cut_stops_and_restarts_the_compressor() -> None:
    f = _fridge(seed=9, uses_per_day=0)
    tr = run(f, 3 * 3600)
    running_at = next(a for a, b in tr.on_intervals(20.0) if b - a > 600)
    cut = int(running_at) + 300
    f2 = _fridge(seed=9, uses_per_day=0)
    tr2 = run(f2, 3 * 3600, unpowered=(cut, cut + 1800))
    offs = [c for c in tr2.changes if c.at == cut]
    assert len(offs) == 1 and offs[0].signature.is_zero
    assert all(not (cut < c.at < cut + 1800) for c in tr2.changes)  # silent while unpowered
    restart = [c for c in tr2.changes if c.at == cut + 1800]
    assert restart and restart[0].inrush is not None and restart[0].signature.power_w > 80.0


def test_fridge_is_not_switchable() -> None:
    f = _fridge()
    assert not isinstance(f, Switchable)
    with pytest.raises(ValueError, match=r"fridge .*'on'"):
        f.command("on")
    with pytest.raises(ValueError, match=r"fridge .*setpoint"):
        f.command("setpoint", None)
