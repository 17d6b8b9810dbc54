"""Feature vectors: rate independence, load classes, on/off symmetry, partial signatures."""

from __future__ import annotations

import numpy as np
import pytest

from gridedge.home.nilm.cycle import CycleError, signature_from_cycle
from gridedge.home.nilm.features import (
    EVENT_NAMES,
    FEATURE_NAMES,
    HARMONIC_NAMES,
    POWER_NAMES,
    extract_features,
)
from gridedge.home.nilm.signature import WAVEFORM_POINTS, EventSignature
from gridedge.home.nilm.synthetic import LoadKind, synthetic_cycle


def feat(kind: LoadKind, points: int, **kw: float) -> np.ndarray:
    v, i = synthetic_cycle(kind, points, power_w=kw.pop("power_w", 500.0), start_deg=kw.pop("start_deg", 0.0))
    return extract_features(signature_from_cycle(v, i, points_per_cycle=points)).values


@pytest.mark.parametrize("kind", list(LoadKind))
@pytest.mark.parametrize("start_deg", [0.0, 37.0, 200.0])
def test_same_vector_at_500_and_52_points_per_cycle(kind: LoadKind, start_deg: float) -> None:
    # a single cycle carries no phase count or transient: only the event columns stay empty
    waveform = np.array([name not in EVENT_NAMES for name in FEATURE_NAMES])
    a = feat(kind, 500, start_deg=start_deg)
    b = feat(kind, 52, start_deg=start_deg)
    assert np.all(np.isfinite(a[waveform])) and np.all(np.isfinite(b[waveform]))
    assert np.all(np.isnan(a[~waveform])) and np.all(np.isnan(b[~waveform]))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_rate_given_in_hz_matches_points_per_cycle() -> None:
    v, i = synthetic_cycle(LoadKind.INDUCTIVE, 52, power_w=200.0)
    a = signature_from_cycle(v, i, rate_hz=2600.0, mains_hz=50.0)
    b = signature_from_cycle(v, i, points_per_cycle=52)
    assert a.current is not None and b.current is not None
    np.testing.assert_allclose(a.current, b.current)


def test_signature_powers_and_alignment() -> None:
    v, i = synthetic_cycle(LoadKind.INDUCTIVE, 80, power_w=300.0, start_deg=123.0)
    sig = signature_from_cycle(v, i, points_per_cycle=80)
    assert sig.delta_p_w == pytest.approx(300.0, rel=1e-9)
    # 60 degrees lag: Q1 = P tan 60 (IEEE 1459 fundamental reactive power, inductive positive)
    assert sig.delta_q_var == pytest.approx(300.0 * np.tan(np.pi / 3), rel=0.01)
    assert sig.voltage is not None and sig.voltage.shape == (WAVEFORM_POINTS,)
    assert np.max(np.abs(sig.voltage)) == pytest.approx(1.0)
    assert abs(sig.voltage[0]) < 1e-9 and sig.voltage[1] > 0  # starts at a rising zero crossing
    assert sig.harmonics is not None and sig.harmonics[0] == pytest.approx(1.0)
    assert sig.harmonics[2] == pytest.approx(0.08, rel=1e-6)


def test_off_event_mirrors_on_event() -> None:
    v, i = synthetic_cycle(LoadKind.RECTIFIER, 500, power_w=60.0)
    on = signature_from_cycle(v, i, points_per_cycle=500, is_on=True)
    off = signature_from_cycle(v, i, points_per_cycle=500, is_on=False)
    flipped = signature_from_cycle(v, -i, points_per_cycle=500, is_on=False)  # stored the other way round
    assert on.delta_p_w > 0 > off.delta_p_w
    assert off.delta_p_w == pytest.approx(-on.delta_p_w)
    assert on.current is not None and off.current is not None
    np.testing.assert_allclose(off.current, -on.current, atol=1e-12)  # after minus before
    fon, foff, fflip = (extract_features(s).values for s in (on, off, flipped))
    assert fon[0] == 1 and foff[0] == -1
    np.testing.assert_allclose(fon[1:], foff[1:], atol=1e-9)
    np.testing.assert_allclose(foff, fflip, atol=1e-9)


def test_load_classes_are_separated_by_their_features() -> None:
    idx = {n: FEATURE_NAMES.index(n) for n in ("pf", "sin_phi1", "crest", "area_abs", "meanline_curvature")}
    r, ind, rect = (feat(k, 128) for k in (LoadKind.RESISTIVE, LoadKind.INDUCTIVE, LoadKind.RECTIFIER))
    assert r[idx["pf"]] > 0.99 and r[idx["crest"]] == pytest.approx(np.sqrt(2), rel=1e-3)
    assert ind[idx["sin_phi1"]] > 0.8 and ind[idx["area_abs"]] > 10 * max(r[idx["area_abs"]], 1e-6)
    assert rect[idx["crest"]] > 2.5 and rect[idx["pf"]] < 0.8
    assert rect[idx["meanline_curvature"]] > 5 * max(
        r[idx["meanline_curvature"]], ind[idx["meanline_curvature"]]
    )


def test_power_only_signature_gives_a_masked_vector() -> None:
    fv = extract_features(EventSignature(t=0.0, phase=-1, delta_p_w=-1200.0))
    assert fv.mask[: len(POWER_NAMES) - 1].all() and not fv.mask[len(POWER_NAMES) - 1]
    assert not fv.mask[len(POWER_NAMES) :].any() and np.isnan(fv.values[len(POWER_NAMES) :]).all()
    assert fv.values[0] == -1 and fv.values[1] == pytest.approx(np.log10(1201.0))
    assert not fv.has_waveform
    with_q = extract_features(EventSignature(t=0.0, phase=0, delta_p_w=100.0, delta_q_var=50.0))
    assert with_q.values[2] == pytest.approx(0.5)


def test_short_harmonics_leave_the_missing_orders_masked() -> None:
    h = np.array([1.0, 0.1, 0.5, 0.05, 0.3])  # orders 1..5 only
    fv = extract_features(EventSignature(t=0.0, phase=0, delta_p_w=50.0, harmonics=h))
    start = len(POWER_NAMES) + len(EVENT_NAMES)
    assert fv.mask[start : start + 4].all() and not fv.mask[start + 4 : start + len(HARMONIC_NAMES) - 2].any()


@pytest.mark.parametrize(
    ("v", "i", "kw", "message"),
    [
        (np.zeros((2, 50)), np.zeros((2, 50)), {"points_per_cycle": 50}, "1-D"),
        (np.ones(50), np.ones(49), {"points_per_cycle": 50}, "equal lengths"),
        (np.ones(40), np.ones(40), {"points_per_cycle": 50}, "at least one cycle"),
        (np.ones(50), np.ones(50), {}, "exactly one"),
        (np.full(50, np.nan), np.ones(50), {"points_per_cycle": 50}, "finite"),
        (np.zeros(50), np.ones(50), {"points_per_cycle": 50}, "fundamental"),
    ],
)
def test_bad_cycles_are_refused_with_a_clear_error(
    v: np.ndarray, i: np.ndarray, kw: dict[str, float], message: str
) -> None:
    with pytest.raises(CycleError, match=message):
        signature_from_cycle(v, i, **kw)


def test_event_features_tell_a_three_phase_charger_from_a_kettle() -> None:
    names = list(FEATURE_NAMES)
    ev = extract_features(
        EventSignature(t=0.0, phase=1, delta_p_w=7400.0, delta_p_phase_w=(2470.0, 2460.0, 2470.0))
    ).values
    kettle = extract_features(
        EventSignature(
            t=0.0, phase=0, delta_p_w=2200.0, delta_p_phase_w=(2200.0, 0.0, 0.0), transient_ratio=1.15,
            settle_cycles=27,
        )
    ).values  # fmt: skip
    assert ev[names.index("phase_count")] == 3 and kettle[names.index("phase_count")] == 1
    assert ev[names.index("phase_balance")] == pytest.approx(2460.0 / 2470.0)
    assert ev[names.index("log10_max_phase_dp")] == pytest.approx(np.log10(2471.0))
    assert np.isnan(ev[names.index("log_transient_ratio")])  # not measured: masked, not zero
    assert kettle[names.index("log_transient_ratio")] == pytest.approx(np.log(1.15))
    assert kettle[names.index("log_settle_cycles")] == pytest.approx(np.log1p(27))


def test_harmonics_below_one_percent_count_as_absent() -> None:
    """A heating element draws the supply's small distortion; it must not tell two of them apart."""
    names = list(FEATURE_NAMES)
    a = extract_features(EventSignature(t=0.0, phase=0, delta_p_w=2000.0, harmonics=np.array([1, 0, 0.004])))
    b = extract_features(EventSignature(t=0.0, phase=1, delta_p_w=2000.0, harmonics=np.array([1, 0, 0.009])))
    h3 = names.index("h3")
    assert a.values[h3] == b.values[h3] == pytest.approx(-2.0)
