"""Neutral supervision: earth leakage, floating neutral (shifted star point), missing IN."""

from __future__ import annotations

import numpy as np
import pytest
from analytics_support import chunks, three_phase

from gridedge.home.analytics import CycleAnalyser, NeutralCheck, NeutralIssue

RATE = 2600.0


def warnings(v, i, n, check: NeutralCheck | None = None):
    a = CycleAnalyser()
    check = check or NeutralCheck()
    out = []
    for ch in chunks(v, i, n, RATE, iter([260] * 1000)):
        out.extend(check.feed(a.feed(ch)))
    return out


def test_leakage_of_40_ma_is_reported_after_one_second() -> None:
    v, i, n = three_phase(RATE, 50.0, 3.0, leakage_a=0.040)
    w = warnings(v, i, n)
    assert len(w) == 1
    assert w[0].issue is NeutralIssue.LEAKAGE and w[0].criterion == "residual-current"
    assert w[0].value == pytest.approx(0.040, rel=1e-2)
    assert w[0].t_raised - w[0].t_start == pytest.approx(1.0, abs=0.021)


def test_leakage_below_threshold_or_too_short_is_not_reported() -> None:
    v, i, n = three_phase(RATE, 50.0, 3.0, leakage_a=0.020)
    assert warnings(v, i, n) == []
    v, i, n = three_phase(RATE, 50.0, 0.9, leakage_a=0.100)
    assert warnings(v, i, n) == []


def test_floating_neutral_by_shifted_star_point() -> None:
    # a broken neutral with unbalanced loads: L1 at 70 %, L2 and L3 at 125 %
    v, i, n = three_phase(RATE, 50.0, 2.5, envelope=lambda t: np.array([[0.7], [1.25], [1.25]]))
    w = warnings(v, i, n)
    assert [x.criterion for x in w] == ["zero-sequence-voltage"]
    assert w[0].issue is NeutralIssue.FLOATING_NEUTRAL
    assert w[0].value == pytest.approx(0.55 / 3 / 1.0667, rel=0.02)  # |U0| / |U1| of (0.7, 1.25, 1.25)


def test_floating_neutral_by_missing_neutral_current() -> None:
    v, i, _ = three_phase(RATE, 50.0, 2.5)
    i[0] *= 2.0  # unbalanced: calculated IN = 10 A
    w = warnings(v, i, np.zeros(v.shape[1]), NeutralCheck(leakage_a=1e3))
    assert [x.criterion for x in w] == ["neutral-current-missing"]
    assert w[0].value == pytest.approx(10.0, rel=1e-3)
