"""Dips, swells and interruptions on scripted voltage envelopes: kind, exact start and end cycle, extreme."""

from __future__ import annotations

import numpy as np
import pytest
from analytics_support import chunks, three_phase

from gridedge.home.analytics import CycleAnalyser, EventKind, VoltageEventDetector
from gridedge.home.analytics.quality import EventBatch

RATE = 4000.0
F = 50.0  # 80 samples per cycle; cycle k starts at t = k / 50


def run(envelope, seconds: float = 2.0, chunk: int = 333) -> tuple[list[EventBatch], VoltageEventDetector]:
    v, i, n = three_phase(RATE, F, seconds, envelope=envelope)
    a = CycleAnalyser()
    det = VoltageEventDetector(230.0)
    sizes = iter([chunk] * 10_000)
    return [det.feed(a.feed(ch)) for ch in chunks(v, i, n, RATE, sizes)], det


def per_phase(levels: tuple[float, float, float], t0: float, t1: float):
    lv = np.array(levels)[:, None]
    return lambda t: np.where((t >= t0) & (t < t1), lv, 1.0)


def test_dip_on_one_phase_has_exact_start_end_and_residual() -> None:
    batches, det = run(per_phase((1.0, 0.6, 1.0), 0.5, 0.7))  # cycles 25..34 at 60 %
    ended = [e for b in batches for e in b.ended]
    started = [s for b in batches for s in b.started]
    assert [e.kind for e in ended] == [EventKind.DIP]
    e = ended[0]
    assert e.t_start == pytest.approx(0.5, abs=1e-6) and e.t_end == pytest.approx(0.7, abs=1e-6)
    assert e.cycles == 10 and e.duration_s == pytest.approx(0.2, abs=1e-6)
    assert e.phases == (1,) and e.extreme_phase == 1
    assert e.extreme_v == pytest.approx(0.6 * 230, rel=1e-3) and e.extreme_pu == pytest.approx(0.6, rel=1e-3)
    assert [s.kind for s in started] == [EventKind.DIP] and started[0].start_index == 2000
    assert det.ongoing == ()


def test_swell_and_hysteresis_end() -> None:
    # 115 % for cycles 10..14, then 109 %: above the 108 % end threshold, the swell goes on until cycle 20
    def env(t: np.ndarray) -> np.ndarray:
        return np.where((t >= 0.2) & (t < 0.3), 1.15, np.where((t >= 0.3) & (t < 0.4), 1.09, 1.0))

    batches, _ = run(env, seconds=1.0)
    ended = [e for b in batches for e in b.ended]
    assert [e.kind for e in ended] == [EventKind.SWELL]
    assert ended[0].t_start == pytest.approx(0.2, abs=1e-6) and ended[0].t_end == pytest.approx(0.4, abs=1e-6)
    assert ended[0].phases == (0, 1, 2) and ended[0].extreme_v == pytest.approx(1.15 * 230, rel=1e-3)


def test_interruption_is_also_a_dip() -> None:
    batches, _ = run(per_phase((0.0, 0.0, 0.0), 0.5, 0.9))
    ended = {e.kind: e for b in batches for e in b.ended}
    assert set(ended) == {EventKind.DIP, EventKind.INTERRUPTION}
    intr = ended[EventKind.INTERRUPTION]
    assert intr.t_start == pytest.approx(0.5, abs=1e-6) and intr.t_end == pytest.approx(0.9, abs=2e-3)
    assert intr.extreme_v < 1.0
    assert ended[EventKind.DIP].t_start == pytest.approx(0.5, abs=1e-6)


def test_poly_phase_dip_ends_when_all_phases_recover() -> None:
    def env(t: np.ndarray) -> np.ndarray:
        a = np.where((t >= 0.2) & (t < 0.4), 0.5, 1.0)  # L1: cycles 10..19
        b = np.where((t >= 0.3) & (t < 0.6), 0.8, 1.0)  # L2: cycles 15..29
        return np.stack([a, b, np.ones_like(t)])

    batches, _ = run(env, seconds=1.0)
    ended = [e for b in batches for e in b.ended]
    assert len(ended) == 1
    assert ended[0].t_start == pytest.approx(0.2, abs=1e-6) and ended[0].t_end == pytest.approx(0.6, abs=1e-6)
    assert ended[0].phases == (0, 1) and ended[0].extreme_phase == 0


def test_steady_supply_has_no_events_and_bad_thresholds_are_refused() -> None:
    batches, _ = run(lambda t: np.ones_like(t), seconds=1.0)
    assert all(not b.started and not b.ended for b in batches)
    with pytest.raises(ValueError, match="thresholds"):
        VoltageEventDetector(230.0, dip=1.2)
