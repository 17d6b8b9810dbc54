"""Per-cycle analysis against closed-form signals: accuracy, frequency, streaming, gaps, flywheel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from analytics_support import chunks, three_phase

from gridedge.home.analytics import CycleAnalyser, concat_cycle_tables
from gridedge.model.waveform import WaveformChunk

HV = {3: 0.03, 5: 0.02, 7: 0.01}
HI = {3: 0.30, 5: 0.15, 7: 0.08, 11: 0.04}
CASES = [(2600.0, 49.9), (2600.0, 50.1), (4000.0, 49.93), (4000.0, 50.07)]


def rel(a: np.ndarray, b: float) -> float:
    return float(np.max(np.abs(a / b - 1)))


@pytest.mark.parametrize(("rate", "f"), CASES)
def test_figures_of_distorted_three_phase_signal_within_0_1_percent(rate: float, f: float) -> None:
    phi = 0.5
    v, i, n = three_phase(rate, f, 1.0, phi=phi, harm_v=HV, harm_i=HI)
    c = CycleAnalyser().feed(chunks(v, i, n, rate)[0])
    assert c.cycles >= 48
    vr = 230 * math.sqrt(1 + sum(a * a for a in HV.values()))
    ir = 10 * math.sqrt(1 + sum(a * a for a in HI.values()))
    # P = sum over orders of Vh Ih cos(angle between them); current h lags its voltage by h*phi - 0.3
    p = 230 * 10 * (math.cos(phi) + sum(HV[h] * HI[h] * math.cos(h * phi - 0.3) for h in HV))
    q1 = 230 * 10 * math.sin(phi)
    assert rel(c.v_rms, vr) < 1e-3
    assert rel(c.i_rms, ir) < 1e-3
    assert rel(c.p_w, p) < 1e-3
    assert rel(c.q1_var, q1) < 1e-3
    assert rel(c.s_va, vr * ir) < 1e-3
    assert rel(c.pf, p / (vr * ir)) < 1e-3
    assert rel(c.displacement, math.cos(phi)) < 1e-3
    assert rel(c.thd_v, math.sqrt(sum(a * a for a in HV.values()))) < 1e-3
    assert rel(c.thd_i, math.sqrt(sum(a * a for a in HI.values()))) < 1e-3
    orders = [3, 5, 7] if rate < 3000 else [3, 5, 7, 11]
    for h in orders:
        assert rel(c.i_harmonics[:, :, h - 1], 10 * HI[h]) < 1e-3, h
    for h in (3, 5, 7):
        assert rel(c.v_harmonics[:, :, h - 1], 230 * HV[h]) < 1e-3, h
    assert rel(c.v_harmonics[:, :, 0], 230) < 1e-3
    assert np.allclose(c.v_phase[:, 1], -2 * math.pi / 3, atol=1e-3)
    assert np.allclose(c.v_phase[:, 2], 2 * math.pi / 3, atol=1e-3)
    assert np.allclose(c.i_harmonic_phase[:, 0, 0], -phi, atol=1e-3)
    # harmonic 3 of the current: sin(3 theta - 3 phi + 0.3) -> phase -3 phi + 0.3 on L1
    assert np.allclose(c.i_harmonic_phase[:, 0, 2], -3 * phi + 0.3, atol=1e-3)
    # orders that do not fit in a cycle's samples are NaN, the others not
    k_ok = (int(c.samples.min()) - 1) // 2
    assert np.isfinite(c.v_harmonics[:, :, :k_ok]).all()
    assert np.isnan(c.v_harmonics[:, :, (int(c.samples.max()) + 1) // 2 :]).all()
    assert np.allclose(c.in_rms, c.in_calc_rms) and np.all(c.residual_rms < 1e-9)
    assert np.all(c.v_unbalance_neg < 1e-4) and np.all(c.v_unbalance_zero < 1e-4)


@pytest.mark.parametrize(("rate", "f"), [*CASES, (4000.0, 49.9), (2600.0, 50.0)])
def test_frequency_of_pure_sine_within_1_mhz(rate: float, f: float) -> None:
    v, i, n = three_phase(rate, f, 2.0)
    c = CycleAnalyser().feed(chunks(v, i, n, rate)[0])
    assert np.all(np.abs(c.frequency_hz - f) < 1e-3)
    assert np.all(c.locked)
    # cycle starts are the rising zero crossings of V1: t = k / f
    k = np.round(c.t_start * f)
    assert np.allclose(c.t_start, k / f, atol=1e-6)


def test_streaming_gives_the_same_cycles_as_one_chunk() -> None:
    rate = 4000.0
    v, i, n = three_phase(rate, 49.95, 3.0, harm_v=HV, harm_i=HI)
    rng = np.random.default_rng(3)
    v = v + 0.05 * rng.standard_normal(v.shape)
    one = CycleAnalyser().feed(chunks(v, i, n, rate)[0])
    a = CycleAnalyser()
    sizes = iter(rng.integers(1, 700, size=10_000).tolist())
    many = concat_cycle_tables([a.feed(ch) for ch in chunks(v, i, n, rate, sizes)])
    assert many.cycles == one.cycles
    np.testing.assert_array_equal(many.start_index, one.start_index)
    for name in ("t_start", "v_rms", "p_w", "i_harmonics", "thd_i"):
        np.testing.assert_allclose(getattr(many, name), getattr(one, name), rtol=1e-12, atol=1e-12)


def test_gap_drops_the_partial_cycle_and_restarts() -> None:
    rate = 4000.0
    f = 50.0
    v, i, n = three_phase(rate, f, 1.0)
    a = CycleAnalyser()
    first = a.feed(chunks(v[:, :2030], i[:, :2030], n[:2030], rate)[0])  # 25 whole cycles and a bit
    # the rest arrives after 77 lost samples: the samples 2030..2106 are missing
    start = 2107
    v2, i2, n2 = three_phase(rate, f, 0.5, start=start)
    ch = chunks(v2, i2, n2, rate, start=start)[0]
    second = a.feed(WaveformChunk(ch.sample_index, ch.t0, rate, ch.voltage_v, ch.current_a, ch.neutral_a,
                                  ch.network_hz, continuous=False))  # fmt: skip
    both = concat_cycle_tables([first, second])
    starts = both.t_start * f
    assert np.allclose(starts, np.round(starts), atol=1e-5)
    ks = np.round(starts).astype(int)
    # cycle 25 (2000..2080) was cut by the gap: dropped; the next starts at the first crossing after it
    assert 25 not in ks
    assert ks[ks > 25].min() == 27  # 2107 is inside cycle 26 (2080..2160): it is partial too
    assert np.all(np.abs(both.frequency_hz - f) < 1e-3)


def test_continuous_chunk_with_wrong_index_is_refused() -> None:
    v, i, n = three_phase(4000.0, 50.0, 0.1)
    a = CycleAnalyser()
    a.feed(chunks(v, i, n, 4000.0)[0])
    with pytest.raises(ValueError, match="expected 400"):
        a.feed(chunks(v, i, n, 4000.0, start=500)[0])


def test_bad_shape_and_non_finite_samples_are_refused() -> None:
    v, i, n = three_phase(4000.0, 50.0, 0.1)
    with pytest.raises(ValueError, match=r"shape \(3, n\)"):
        CycleAnalyser().feed(WaveformChunk(0, 0.0, 4000.0, v[:2], i, n, np.zeros(400)))
    v[1, 17] = np.nan
    with pytest.raises(ValueError, match="non-finite sample at offset 17"):
        CycleAnalyser().feed(WaveformChunk(0, 0.0, 4000.0, v, i, n, np.zeros(400)))


def test_noise_near_zero_makes_no_false_crossings() -> None:
    rate = 4000.0
    v, i, n = three_phase(rate, 50.0, 1.0)
    # +-1 V of fast noise: near zero the signal crosses several times per cycle
    v = v + np.where(np.arange(v.shape[1]) % 2 == 0, 1.0, -1.0)
    c = CycleAnalyser().feed(chunks(v, i, n, rate)[0])
    assert c.cycles == 48  # crossings at samples 80 .. 3920 (the one at sample 0 is not armed)
    assert np.all(np.abs(c.frequency_hz - 50.0) < 0.05)


def test_single_phase_stream_fills_l2_l3_with_nan() -> None:
    rate = 2600.0
    v, i, _ = three_phase(rate, 50.0, 0.5)
    v[1:] = 0.0
    i[1:] = 0.0
    c = CycleAnalyser().feed(chunks(v, i, None, rate, phases=1)[0])
    assert c.cycles > 20
    assert rel(c.v_rms[:, 0], 230.0) < 1e-3
    assert (
        np.isnan(c.v_rms[:, 1:]).all()
        and np.isnan(c.p_w[:, 1:]).all()
        and np.isnan(c.i_harmonics[:, 1:]).all()
    )
    assert np.isnan(c.in_rms).all() and np.isnan(c.residual_rms).all() and np.isnan(c.v_unbalance_zero).all()
    assert rel(c.in_calc_rms, 10.0) < 1e-3


def test_interruption_keeps_flywheel_cycles_of_nominal_length() -> None:
    rate = 4000.0
    env = lambda t: np.where((t >= 0.4) & (t < 0.6), 0.0, 1.0)  # noqa: E731
    v, i, n = three_phase(rate, 50.0, 1.0, envelope=env)
    c = CycleAnalyser().feed(chunks(v, i, n, rate)[0])
    assert c.cycles == 48  # crossings at samples 80 .. 3920 (the one at sample 0 is not armed)
    assert np.isnan(c.frequency_hz[~c.locked]).all()
    assert (~c.locked).sum() >= 9
    lost = c.v_rms[~c.locked][:, 0]
    assert np.all(lost[1:-1] < 1.0)
    np.testing.assert_allclose(c.duration_s[~c.locked][:-1], 0.02)
