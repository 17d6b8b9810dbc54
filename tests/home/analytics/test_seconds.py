"""Per-second aggregation: duration-weighted means, RMS of squares, IEC-style frequency, streaming."""

from __future__ import annotations

import math

import numpy as np
import pytest
from analytics_support import chunks, three_phase

from gridedge.home.analytics import CycleAnalyser, SecondAggregator, concat_cycle_tables, seconds_of

RATE = 4000.0


def test_seconds_of_a_steady_stream() -> None:
    v, i, n = three_phase(RATE, 49.95, 3.5, phi=0.3)
    c = CycleAnalyser().feed(chunks(v, i, n, RATE)[0])
    s = seconds_of(c)
    assert s.t.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert s.cycles[1:3].tolist() == [50, 50]  # 49.95 cycles a second: 49 or 50 start in each
    np.testing.assert_allclose(s.p_w[1:3], 2300 * math.cos(0.3), rtol=1e-4)
    np.testing.assert_allclose(s.q1_var[1:3], 2300 * math.sin(0.3), rtol=1e-4)
    np.testing.assert_allclose(s.v_rms[1:3], 230.0, rtol=1e-4)
    np.testing.assert_allclose(s.pf[1:3], math.cos(0.3), rtol=1e-4)
    np.testing.assert_allclose(s.frequency_hz[1:3], 49.95, atol=1e-4)
    np.testing.assert_allclose(s.duration_s[1:3], 50 / 49.95, rtol=1e-6)


def test_min_max_follow_the_one_cycle_rms() -> None:
    env = lambda t: np.where((t >= 1.2) & (t < 1.24), 0.8, 1.0)  # noqa: E731  (cycles 60, 61 at 80 %)
    v, i, n = three_phase(RATE, 50.0, 2.5, envelope=env)
    s = seconds_of(CycleAnalyser().feed(chunks(v, i, n, RATE)[0]))
    assert s.v_min[1] == pytest.approx([184.0] * 3, rel=1e-3)
    assert s.v_max[1] == pytest.approx([230.0] * 3, rel=1e-3)
    # RMS of squares: 48 cycles at 230 V and 2 at 184 V
    assert s.v_rms[1, 0] == pytest.approx(math.sqrt((48 * 230**2 + 2 * 184**2) / 50), rel=1e-4)


def test_aggregator_streams_the_same_seconds() -> None:
    v, i, n = three_phase(RATE, 50.02, 4.0, harm_i={3: 0.2})
    a = CycleAnalyser(batch_s=0.1)
    agg = SecondAggregator()
    parts = [agg.feed(a.feed(ch)) for ch in chunks(v, i, n, RATE, iter([137] * 1000))]
    last = agg.flush(a.flush())
    got = np.concatenate([p.p_w for p in [*parts, last]])
    want = seconds_of(CycleAnalyser().feed(chunks(v, i, n, RATE)[0]))
    np.testing.assert_allclose(got, want.p_w, rtol=1e-12)
    np.testing.assert_array_equal(np.concatenate([p.cycles for p in [*parts, last]]), want.cycles)


def test_batched_analyser_gives_the_same_cycles() -> None:
    v, i, n = three_phase(RATE, 49.97, 2.0, harm_i={5: 0.1})
    plain = CycleAnalyser()
    batched = CycleAnalyser(batch_s=0.25)
    x = concat_cycle_tables([plain.feed(ch) for ch in chunks(v, i, n, RATE, iter([40] * 1000))])
    y = concat_cycle_tables(
        [batched.feed(ch) for ch in chunks(v, i, n, RATE, iter([40] * 1000))] + [batched.flush()]
    )
    assert x.cycles == y.cycles
    np.testing.assert_allclose(x.i_harmonics, y.i_harmonics, rtol=1e-12, atol=1e-12)
