"""Sample-based and phasor metrology agree (issue: within 0.1 % on the same household)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gridedge.model.scenario import S1Config, S1Sampling
from gridedge.sim.metrology import measure_phasors, measure_samples
from gridedge.sim.testing import household, standard_loads
from gridedge.sim.waveform import WaveformSynth


@pytest.mark.parametrize(
    "config",
    [S1Config(), S1Config(sampling=S1Sampling.PER_PERIOD, samples_per_period=80 - 1)],
    ids=["4000Hz", "per-period"],
)
def test_waveform_and_phasor_agree(config: S1Config) -> None:
    hh = household(standard_loads(), seed=5)
    synth = WaveformSynth(config, seed=5)
    e_ph = e_wf = 0.0
    for s in range(15):
        block = hh.step(float(s), float(s + 1))
        ph = measure_phasors(block)
        wf = measure_samples(synth.samples(block))
        e_ph += ph.energy_import_wh
        e_wf += wf.energy_import_wh
        if s in (1, 6, 12):  # steady seconds
            for p in range(3):
                assert math.isclose(wf.voltage_v[p], ph.voltage_v[p], rel_tol=1e-3)
                if ph.current_a[p] > 0.1:
                    assert math.isclose(wf.current_a[p], ph.current_a[p], rel_tol=1e-3)
                    assert math.isclose(wf.power_w[p], ph.power_w[p], rel_tol=1e-3, abs_tol=0.05)
                    q_wf, q_ph = wf.reactive_power_var[p], ph.reactive_power_var[p]
                    assert math.isclose(q_wf, q_ph, rel_tol=2e-3, abs_tol=0.2)
            assert math.isclose(wf.frequency_hz, ph.frequency_hz, rel_tol=1e-5)
    assert math.isclose(e_wf, e_ph, rel_tol=1e-3)


def test_known_sine_values_from_samples() -> None:
    from gridedge.model.scenario import GridConfig
    from gridedge.sim.testing import KETTLE, TimedLoad

    quiet = GridConfig(voltage_spread=0.0, frequency_spread_hz=0.0, impedance_ohm=(0.0, 0.0), voltage_thd=0.0)
    hh = household([TimedLoad("k", KETTLE, [(0.0, 99.0)])], quiet, jitter=0.0)
    synth = WaveformSynth(S1Config(), seed=1, noise_v=0.0, noise_a=0.0)
    hh.step(0.0, 1.0)
    m = measure_samples(synth.samples(hh.step(1.0, 2.0)))
    assert math.isclose(m.voltage_v[0], 230.0, rel_tol=1e-6)
    assert math.isclose(m.current_a[0], 2200 / 230, rel_tol=1e-6)
    assert math.isclose(m.power_w[0], 2200.0, rel_tol=1e-6)
    assert abs(m.reactive_power_var[0]) < 1e-6 * 2200
    assert math.isclose(m.energy_import_wh, 2200 / 3600, rel_tol=1e-6)
    assert math.isclose(m.frequency_hz, 50.0, rel_tol=1e-7)
    assert math.isclose(m.current_max_a[0], 2200 / 230, rel_tol=1e-6)
    assert np.allclose(m.voltage_v[1:], 230.0, rtol=1e-6)
