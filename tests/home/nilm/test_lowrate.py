"""1 Hz P1 events (`home.nilm.lowrate`): from the virtual meter's readings, per phase and total."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gridedge.home.nilm.events import DetectedEvent
from gridedge.home.nilm.lowrate import LowRateDetector, PowerSample, sample_from_reading
from gridedge.model.scenario import load_scenario
from gridedge.sim.electrical import Inrush, Load
from gridedge.sim.site import Metrology, VirtualSite
from gridedge.sim.testing import FRIDGE, KETTLE, LED, TimedLoad

FAMILY = Path(__file__).resolve().parents[3] / "examples" / "scenarios" / "belgian-family.toml"
LOADS: list[Load] = [
    TimedLoad("kettle", KETTLE, [(10.3, 40.6)], Inrush.resistive(KETTLE)),
    TimedLoad("led", LED, [(0.0, 1e9)]),
    TimedLoad("fridge", FRIDGE, [(20.8, 50.1)], Inrush.motor(FRIDGE)),
]
TRUTH = [(10.3, 2200.0, 0), (20.8, 120.0, 2), (40.6, -2200.0, 0), (50.1, -120.0, 2)]


def readings(total_only: bool) -> list[DetectedEvent]:
    sc = load_scenario(FAMILY)
    sc = sc.model_copy(update={"meter": sc.meter.model_copy(update={"s1": None})})
    site = VirtualSite(sc, LOADS, metrology=Metrology.PHASOR)
    det = LowRateDetector()
    out: list[DetectedEvent] = []
    for _ in range(60):
        sec = site.step()
        assert sec.reading is not None
        reading = replace(sec.reading, phases=()) if total_only else sec.reading
        sample = sample_from_reading(reading, sec.t)
        assert sample is not None
        out.extend(det.feed(sample))
    first = {}
    for e in out:
        first.setdefault(e.event_id, e)
    assert all(e.latency_s <= 3.0 for e in first.values())  # two readings at the new level
    return [e for e in out if e.final]


@pytest.mark.parametrize("total_only", [False, True])
def test_p1_events_from_readings(total_only: bool) -> None:
    got = readings(total_only)
    assert len(got) == len(TRUTH), [(e.signature.t, e.signature.delta_p_w) for e in got]
    for e, (t, dp, phase) in zip(got, TRUTH, strict=True):
        sig = e.signature
        assert abs(sig.t - t) < 0.25  # placed inside the second by the partial reading
        assert sig.delta_p_w == pytest.approx(dp, rel=0.08)
        assert sig.phase == (-1 if total_only else phase)
        assert sig.harmonics is None and sig.voltage is None


def test_three_phase_step_is_one_event() -> None:
    det = LowRateDetector()
    out: list[DetectedEvent] = []
    for i in range(20):
        p = 2466.0 if i >= 8 else 0.0
        out.extend(det.feed(PowerSample(float(i), (300.0 + p, 100.0 + p, 50.0 + p))))
    (ev,) = out
    assert ev.phases == (0, 1, 2)
    assert ev.signature.delta_p_w == pytest.approx(7398.0)
    np.testing.assert_allclose(ev.delta_p_phase_w, 2466.0)


def test_noise_gives_no_event() -> None:
    rng = np.random.default_rng(5)
    det = LowRateDetector()
    for i in range(600):
        assert det.feed(PowerSample(float(i), tuple((500.0 + rng.normal(0, 3, 3)).tolist()))) == []


def test_bad_samples_are_refused() -> None:
    det = LowRateDetector()
    with pytest.raises(ValueError, match="1 \\(total\\) or 3"):
        det.feed(PowerSample(0.0, (1.0, 2.0)))
    with pytest.raises(ValueError, match="finite"):
        det.feed(PowerSample(0.0, (float("nan"),)))
