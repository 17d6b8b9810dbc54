"""The household engine: changes land on the right cycle, currents add as phasors, energy adds up."""

from __future__ import annotations

import math

import numpy as np

from gridedge.model.scenario import GridConfig
from gridedge.sim.electrical import HARMONICS, Inrush, LoadKind, Signature
from gridedge.sim.metrology import measure_phasors
from gridedge.sim.testing import FRIDGE, KETTLE, LED, TimedLoad, household, standard_loads

QUIET = GridConfig(voltage_spread=0.0, frequency_spread_hz=0.0, impedance_ohm=(0.0, 0.0), voltage_thd=0.0)


def test_switch_lands_on_first_cycle_after_the_event() -> None:
    hh = household([TimedLoad("k", KETTLE, [(0.4321, 10.0)])], QUIET, jitter=0.0)
    block = hh.step(0.0, 1.0)
    assert block.cycles == 50
    currents = np.abs(block.per_cycle()[1][:, 0, 0])
    first_on = int(np.flatnonzero(currents > 0)[0])
    assert block.starts[first_on] >= 0.4321
    assert block.starts[first_on] - 0.4321 < 1 / 50
    assert math.isclose(currents[-1], 2200 / 230, rel_tol=1e-9)


def test_steady_second_is_one_run_and_changes_split_it() -> None:
    hh = household([TimedLoad("k", KETTLE, [(0.5, 10.0)])], QUIET, jitter=0.0)
    assert hh.step(0.0, 1.0).repeat.tolist() == [25, 25]
    assert hh.step(1.0, 2.0).repeat.tolist() == [50]


def test_resistive_current_follows_voltage_and_power_load_inverts() -> None:
    sag = GridConfig(voltage_v=207.0, voltage_spread=0.0, frequency_spread_hz=0.0, impedance_ohm=(0.0, 0.0),
                     voltage_thd=0.0)  # fmt: skip
    z = Signature.from_power(2300, phases=(1,), kind=LoadKind.IMPEDANCE)
    p = Signature.from_power(2300, phases=(2,), kind=LoadKind.POWER)
    hh = household([TimedLoad("z", z, [(0.0, 9.0)]), TimedLoad("p", p, [(0.0, 9.0)])], sag, jitter=0.0)
    m = measure_phasors(hh.step(0.0, 1.0))
    assert math.isclose(m.power_w[0], 2300 * (207 / 230) ** 2, rel_tol=1e-9)
    assert math.isclose(m.power_w[1], 2300, rel_tol=1e-9)


def test_triplen_harmonics_add_in_the_neutral() -> None:
    three = [
        TimedLoad(f"led{p}", Signature.from_power(60, phases=(p,), harmonics={3: (0.8, 0)}), [(0.0, 9.0)])
        for p in (1, 2, 3)
    ]
    hh = household(three, QUIET, jitter=0.0)
    block = hh.step(0.0, 1.0)
    neutral = block.current.sum(axis=1)[0]
    k3 = int(np.flatnonzero(HARMONICS == 3)[0])
    i3 = abs(block.current[0, 0, k3])
    assert math.isclose(abs(neutral[k3]), 3 * i3, rel_tol=1e-9)  # in phase: they add
    assert abs(neutral[0]) < 1e-9  # balanced fundamentals cancel


def test_inrush_decays_over_the_following_cycles() -> None:
    inrush = Inrush.motor(FRIDGE, peak=6.0, tau_cycles=5.0)
    hh = household([TimedLoad("f", FRIDGE, [(0.1, 99.0)], inrush)], QUIET, jitter=0.0)
    block = hh.step(0.0, 1.0)
    amps = np.abs(block.per_cycle()[1][:, 2, 0])
    on = int(np.flatnonzero(amps > 0)[0])
    steady = abs(FRIDGE.currents[2, 0])
    assert amps[on] > 4 * steady
    assert np.all(np.diff(amps[on : on + 20]) < 0)
    assert math.isclose(amps[-1], steady, rel_tol=0.01)


def test_voltage_dips_when_the_kettle_switches_on() -> None:
    cfg = GridConfig(voltage_spread=0.0, frequency_spread_hz=0.0, voltage_thd=0.0, impedance_ohm=(0.3, 0.1))
    hh = household([TimedLoad("k", KETTLE, [(0.5, 10.0)])], cfg, jitter=0.0)
    m0 = measure_phasors(hh.step(0.0, 1.0))
    m1 = measure_phasors(hh.step(1.0, 2.0))
    drop = m0.voltage_max_v[0] - m1.voltage_v[0]
    assert 2.0 < drop < 3.5  # about 9.4 A x 0.3 ohm
    assert m1.voltage_v[1] == m0.voltage_max_v[1]


def test_ground_truth_energy_per_load() -> None:
    hh = household(standard_loads(), QUIET, jitter=0.0)
    for s in range(12):
        hh.step(float(s), float(s + 1))
    hh.settle(12.0)
    energies = {ld.name: ld.energy_wh for ld in hh.loads}
    assert math.isclose(energies["kettle"], 2200 * (9.7 - 3.4) / 3600, rel_tol=1e-9)
    assert math.isclose(energies["led"], LED.power_w * 12 / 3600, rel_tol=1e-9)
    assert math.isclose(energies["fridge"], 120 * (12 - 2.2) / 3600, rel_tol=1e-9)


def test_breaker_open_cuts_every_load() -> None:
    hh = household(standard_loads(), QUIET, jitter=0.0)
    for s in range(5):
        hh.step(float(s), float(s + 1))
    hh.connected = False
    block = hh.step(5.0, 6.0)
    assert not block.current.any()
    assert all(not ld.relay_closed for ld in hh.loads)
    hh.connected = True
    block = hh.step(6.0, 7.0)
    assert abs(block.current[0, 2, 0]) > 0


def test_same_seed_same_output() -> None:
    def run(seed: int) -> bytes:
        hh = household(standard_loads(), seed=seed)
        return b"".join(hh.step(float(s), float(s + 1)).current.tobytes() for s in range(8))

    assert run(3) == run(3)
    assert run(3) != run(4)
