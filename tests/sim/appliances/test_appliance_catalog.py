"""Signature physics of every kind against its cited ranges, the corpus and IEC 61000-3-2."""

from __future__ import annotations

import math

import numpy as np
import pytest
from appliance_support import CORPUS, displacement_pf, ratio, thd, true_pf

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances import catalog
from gridedge.sim.appliances.catalog import (
    CATALOG,
    COMPRESSOR,
    HEATING_ELEMENT,
    INDUCTION_ZONE,
    LAPTOP_SUPPLY,
    LED_LAMPS,
    MAGNETRON,
    PFC_TV_SUPPLY,
    PLAID_CFL_SPECTRUM,
    SMALL_TV_SUPPLY,
    SOURCES,
    UNIVERSAL_MOTOR,
    WASHER_MOTOR,
    rectifier_spectrum,
    to_sine_angle,
)
from gridedge.sim.electrical import HARMONICS, NOMINAL_V, PHASE_ANGLE, Signature

PLAID = CORPUS / "nilm" / "plaid_awrg_subset"


def _plaid_class(label: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-event (ratios, sine-convention angles in degrees) of one PLAID class."""
    assert PLAID.is_dir(), f"corpus missing: {PLAID}"
    current = np.load(PLAID / "current.npy")
    voltage = np.load(PLAID / "voltage.npy")
    labels = np.load(PLAID / "labels.npy")
    ratios, angles = [], []
    for i in np.flatnonzero(labels == label):
        fv = np.fft.rfft(voltage[i])
        fc = np.fft.rfft(current[i])
        ph = fc[HARMONICS] * np.exp(-1j * HARMONICS * np.angle(fv[1]))
        ratios.append(np.abs(ph) / abs(ph[0]))
        angles.append([to_sine_angle(int(h), float(a)) for h, a in zip(HARMONICS, np.angle(ph), strict=True)])
    return np.array(ratios), np.array(angles)


def test_led_spectrum_is_the_plaid_cfl_median() -> None:
    ratios, angles = _plaid_class(1)
    med = np.median(ratios, axis=0)
    circ = np.degrees(np.angle(np.mean(np.exp(1j * np.radians(angles)), axis=0)))
    for k, order in enumerate(HARMONICS[1:], start=1):
        r, a = PLAID_CFL_SPECTRUM[int(order)]
        assert r == pytest.approx(med[k], abs=0.002)
        assert (a - circ[k] + 180) % 360 - 180 == pytest.approx(0.0, abs=1.0)
    assert np.degrees(np.angle(np.mean(np.exp(1j * np.radians(angles[:, 0]))))) == pytest.approx(
        catalog.PLAID_CFL_LEAD_DEG, abs=1.0
    )


def test_rectifier_model_reproduces_the_measured_pulse() -> None:
    """A cos² pulse of 90° centred 28° before the peak lands on the PLAID CFL's 3rd and 5th."""
    model = rectifier_spectrum(90.0, 28.0)
    for order in (3, 5):
        r, a = PLAID_CFL_SPECTRUM[order]
        assert model[order][0] == pytest.approx(r, abs=0.06)
        assert (model[order][1] - a + 180) % 360 - 180 == pytest.approx(0.0, abs=10.0)
    # a narrow pulse at the voltage peak: 3rd and 7th at 180° in the sine convention
    peak = rectifier_spectrum(40.0, 0.0)
    assert abs(peak[3][1]) == pytest.approx(180.0, abs=1e-6)
    assert peak[5][1] == pytest.approx(0.0, abs=1e-6)
    assert abs(peak[7][1]) == pytest.approx(180.0, abs=1e-6)


def test_universal_motor_matches_plaid_vacuum_class() -> None:
    ratios, _ = _plaid_class(11)
    assert np.median(ratios[:, 1]) == pytest.approx(UNIVERSAL_MOTOR.harmonics[3][0], abs=0.01)


def _sig(component: catalog.Component, power: float | None = None) -> Signature:
    return component.signature(power)


def test_resistive_elements_unity_and_clean() -> None:
    s = _sig(HEATING_ELEMENT, 2200.0)
    assert s.power_w == pytest.approx(2200.0)
    assert true_pf(s) == pytest.approx(1.0, abs=1e-9)
    assert abs(s.reactive_power_var) < 1e-9
    assert thd(s) < 0.01


def test_compressor_lagging_low_distortion() -> None:
    s = _sig(COMPRESSOR)
    assert 80.0 <= s.power_w <= 150.0
    assert 0.6 <= displacement_pf(s) <= 0.8
    assert s.reactive_power_var > 0  # inductive
    assert thd(s) < 0.1


def test_vacuum_motor_measured_range() -> None:
    s = _sig(UNIVERSAL_MOTOR)
    assert s.power_w < 900.0  # ecodesign cap
    assert true_pf(s) >= 0.95  # kk-lab 0.98, PLAID 0.95
    assert 0.13 <= ratio(s, 3) <= 0.18


@pytest.mark.parametrize("component", [LED_LAMPS, LAPTOP_SUPPLY, SMALL_TV_SUPPLY])
def test_smps_without_pfc(component: catalog.Component) -> None:
    s = _sig(component)
    assert 0.5 <= true_pf(s) <= 0.7
    assert 0.7 <= ratio(s, 3) <= 0.9
    assert ratio(s, 5) > 0.3 and ratio(s, 7) > 0.15
    assert s.reactive_power_var < 0  # displacement slightly leading
    assert displacement_pf(s) > 0.75
    assert thd(s) > 0.8


def test_led_lamp_within_lighting_limits() -> None:
    """IEC 61000-3-2, lighting up to 25 W: 3rd at most 86 %, 5th at most 61 % of the fundamental."""
    lamp = _sig(LED_LAMPS, 10.0)
    assert ratio(lamp, 3) <= 0.86
    assert ratio(lamp, 5) <= 0.61


def test_large_tv_meets_class_d_with_pfc() -> None:
    s = _sig(PFC_TV_SUPPLY, 100.0)
    assert true_pf(s) > 0.95
    limits_ma_per_w = {3: 3.4, 5: 1.9, 7: 1.0, 9: 0.5}
    i1 = abs(s.currents[0, 0])
    for order, limit in limits_ma_per_w.items():
        assert ratio(s, order) * i1 <= limit * 1e-3 * s.power_w


def test_class_a_appliances_within_limits_at_full_power() -> None:
    """Class A (household) limits in amperes at the largest single-phase draw of each part."""
    limits = {3: 2.30, 5: 1.14, 7: 0.77, 9: 0.40, 11: 0.33, 13: 0.21}
    for component, watts in ((INDUCTION_ZONE, 3600.0), (MAGNETRON, 1500.0), (WASHER_MOTOR, 600.0)):
        s = component.signature(watts)
        i1 = abs(s.currents[0, 0])
        for order, amps in limits.items():
            assert ratio(s, order) * i1 <= amps, (component, order)


def test_microwave_near_unity_at_full_power() -> None:
    s = _sig(MAGNETRON)
    assert 0.9 <= true_pf(s) <= 0.97
    assert s.reactive_power_var > 0


def test_triplen_harmonics_add_in_the_neutral() -> None:
    """The same LED signature on L1, L2, L3: fundamentals cancel, 3rd harmonics add (absolute frame)."""
    lamps = [LED_LAMPS.signature(40.0, (p,)) for p in (1, 2, 3)]
    total = sum(s.currents for s in lamps) * np.exp(1j * np.outer(PHASE_ANGLE, HARMONICS))
    neutral = total.sum(axis=0)
    single = lamps[0].currents[0]
    assert abs(neutral[0]) < 1e-9
    assert abs(neutral[1]) == pytest.approx(3 * abs(single[1]))
    assert abs(neutral[2]) < 1e-9  # 5th: negative sequence, cancels
    assert abs(neutral[4]) == pytest.approx(3 * abs(single[4]))  # 9th: triplen


def test_every_kind_has_a_sourced_entry() -> None:
    for kind in ApplianceKind:
        spec = CATALOG[kind]
        assert spec.power_w > 0 and spec.uses_per_day >= 0
        assert spec.sources and all(s in SOURCES for s in spec.sources)
        assert all(s in SOURCES for s in spec.main.sources)


def test_true_power_factor_helper_agrees() -> None:
    s = _sig(LAPTOP_SUPPLY)
    irms = math.sqrt(float(np.sum(np.abs(s.currents[0]) ** 2)))
    assert catalog.true_power_factor(s) == pytest.approx(s.power_w / (NOMINAL_V * irms))
    assert catalog.current_thd(s, 1) == pytest.approx(thd(s))
