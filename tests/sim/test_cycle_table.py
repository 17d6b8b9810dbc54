"""`sim.cycle_table`: exact per-cycle figures from the simulator's phasors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gridedge.model.scenario import load_scenario
from gridedge.sim.cycle_table import cycle_table
from gridedge.sim.electrical import HARMONICS
from gridedge.sim.metrology import measure_phasors
from gridedge.sim.site import Metrology, VirtualSite
from gridedge.sim.testing import standard_loads

FAMILY = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "belgian-family.toml"


def seconds(n: int) -> list:
    sc = load_scenario(FAMILY)
    sc = sc.model_copy(update={"meter": sc.meter.model_copy(update={"s1": None})})
    site = VirtualSite(sc, standard_loads(), metrology=Metrology.PHASOR)
    return site.run(n)


SECONDS = seconds(12)


@pytest.mark.parametrize("k", range(12))
def test_mean_power_per_phase_matches_the_phasor_metrology(k: int) -> None:
    sec = SECONDS[k]
    table = cycle_table(sec.block)
    m = measure_phasors(sec.block)
    assert table.cycles == sec.block.cycles
    np.testing.assert_allclose(table.p_w.mean(axis=0), m.power_w, atol=1e-6)
    np.testing.assert_allclose(table.q1_var.mean(axis=0), m.reactive_power_var, atol=1e-6)
    np.testing.assert_allclose(np.sqrt((table.i_rms**2).mean(axis=0)), m.current_a, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.sqrt((table.v_rms**2).mean(axis=0)), m.voltage_v, rtol=1e-9)


def test_every_cycle_is_consistent_with_its_own_harmonics() -> None:
    table = cycle_table(SECONDS[3].block)  # the kettle switches on: many runs of cycles
    assert SECONDS[3].block.voltage.shape[0] > 1
    rms = np.sqrt((table.i_harmonics**2).sum(axis=2))
    np.testing.assert_allclose(rms, table.i_rms, rtol=1e-12)
    even = np.setdiff1d(np.arange(1, table.i_harmonics.shape[2] + 1), HARMONICS) - 1
    assert not table.i_harmonics[:, :, even].any()
    on = table.i_harmonics[:, :, 0] > 0
    np.testing.assert_allclose(table.pf[on], table.p_w[on] / table.s_va[on])
    assert np.all(np.isnan(table.thd_i[~on]))
    # the LED on L2 carries a strong third harmonic, the kettle on L1 none
    assert np.all(table.i_harmonics[:, 1, 2] / table.i_harmonics[:, 1, 0] > 0.5)
    assert np.allclose(table.i_harmonics[:, 0, 2], 0.0)
    np.testing.assert_allclose(table.v_phase[:, 1], -2 * np.pi / 3, atol=0.05)


def test_sample_positions_follow_the_nominal_rate() -> None:
    table = cycle_table(SECONDS[5].block, rate_hz=4000.0)
    assert np.all(np.abs(table.samples - 80) <= 1)
    np.testing.assert_array_equal(table.start_index, np.round(table.t_start * 4000.0).astype(np.int64))


def test_bad_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        cycle_table(SECONDS[0].block, rate_hz=0.0)
