"""Event detection on the cycle stream (`home.nilm.events`), on simulated households with a known schedule."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gridedge.home.analytics.cycles import CycleAnalyser
from gridedge.home.nilm.events import CycleEventDetector, DetectedEvent, StepConfig
from gridedge.home.nilm.signature import WAVEFORM_POINTS
from gridedge.model.scenario import S1Config, load_scenario
from gridedge.sim.cycle_table import cycle_table, waveform_chunk
from gridedge.sim.electrical import Inrush, Load, Signature
from gridedge.sim.site import Metrology, VirtualSite
from gridedge.sim.testing import FRIDGE, KETTLE, LED, TimedLoad, household
from gridedge.sim.waveform import WaveformSynth

FAMILY = Path(__file__).resolve().parents[3] / "examples" / "scenarios" / "belgian-family.toml"
EV = Signature.from_power(7400, phases=(1, 2, 3), power_factor=0.99)
MOTOR = Signature.from_power(850, phases=(3,), power_factor=0.98)


def site(loads: list[Load], seed: int = 7) -> VirtualSite:
    sc = load_scenario(FAMILY)
    sc = sc.model_copy(
        update={
            "meter": sc.meter.model_copy(update={"s1": None}),
            "site": sc.site.model_copy(update={"seed": seed}),
        }
    )
    return VirtualSite(sc, loads, metrology=Metrology.PHASOR)


def detect(loads: list[Load], seconds: int, seed: int = 7) -> list[DetectedEvent]:
    s = site(loads, seed)
    det = CycleEventDetector()
    out: list[DetectedEvent] = []
    for _ in range(seconds):
        out.extend(det.feed(cycle_table(s.step().block)))
    return out


def firsts(events: list[DetectedEvent]) -> list[DetectedEvent]:
    seen: dict[int, DetectedEvent] = {}
    for e in events:
        seen.setdefault(e.event_id, e)
    return sorted(seen.values(), key=lambda e: e.signature.t)


def finals(events: list[DetectedEvent]) -> dict[int, DetectedEvent]:
    return {e.event_id: e for e in events}


# (time, delta P nominal, phase) of every switch in the schedule below
SCHEDULE = [
    TimedLoad("kettle", KETTLE, [(3.4, 9.7)], Inrush.resistive(KETTLE)),
    TimedLoad("led", LED, [(5.03, 7.51)], Inrush.capacitive(LED)),
    TimedLoad("fridge", FRIDGE, [(2.2, 14.0)], Inrush.motor(FRIDGE)),
    TimedLoad("vacuum", MOTOR, [(11.3, 16.77)], Inrush.motor(MOTOR, peak=3.0)),
    TimedLoad("ev", EV, [(18.21, 22.6)]),
]
TRUTH = [
    (2.2, 120.0, 2), (3.4, 2200.0, 0), (5.03, 60.0, 1), (7.51, -60.0, 1), (9.7, -2200.0, 0),
    (11.3, 850.0, 2), (14.0, -120.0, 2), (16.77, -850.0, 2), (18.21, 7400.0, -1), (22.6, -7400.0, -1),
]  # fmt: skip


@pytest.fixture(scope="module")
def scheduled() -> list[DetectedEvent]:
    return detect(SCHEDULE, 25)


def test_every_switch_is_found_once_within_200_ms(scheduled: list[DetectedEvent]) -> None:
    got = firsts(scheduled)
    assert len(got) == len(TRUTH), [(round(e.signature.t, 2), round(e.signature.delta_p_w)) for e in got]
    for e, (t, dp, _) in zip(got, TRUTH, strict=True):
        assert 0.0 <= e.signature.t - t < 0.02 + 1e-9  # the first cycle that starts after the switch
        assert np.sign(e.signature.delta_p_w) == np.sign(dp)
        assert e.latency_s <= 0.2 + 1e-9


def test_final_steps_measure_the_appliance(scheduled: list[DetectedEvent]) -> None:
    final = finals(scheduled)
    got = sorted(final.values(), key=lambda e: e.signature.t)
    for e, (_, dp, phase) in zip(got, TRUTH, strict=True):
        assert e.final
        assert e.signature.delta_p_w == pytest.approx(dp, rel=0.08)
        if phase >= 0:
            assert e.phases == (phase,)
            assert e.signature.phase == phase
        else:
            assert e.phases == (0, 1, 2)  # the three-phase charger is one event
            np.testing.assert_allclose(e.delta_p_phase_w, dp / 3, rtol=0.08)


def test_signature_carries_harmonics_and_transient(scheduled: list[DetectedEvent]) -> None:
    by_t = {round(e.signature.t, 1): e.signature for e in finals(scheduled).values()}
    led = by_t[5.0]
    assert led.harmonics is not None and led.harmonics[0] == pytest.approx(1.0)
    assert led.harmonics[2] == pytest.approx(0.8, rel=0.1)  # LED third harmonic (sim.testing.LED)
    kettle = by_t[3.4]
    assert kettle.harmonics is not None and kettle.harmonics[2] < 0.02
    fridge = by_t[2.2]
    assert fridge.transient_ratio is not None and fridge.transient_ratio > 2.0  # motor start
    assert fridge.delta_q_var == pytest.approx(FRIDGE.reactive_power_var, rel=0.15)
    assert led.voltage is None and led.current is None  # no raw samples from the simulator tables


def test_inrush_gives_no_second_event(scheduled: list[DetectedEvent]) -> None:
    ids_by_switch = {}
    for e in scheduled:
        ids_by_switch.setdefault(round(e.signature.t, 1), set()).add(e.event_id)
    assert all(len(ids) == 1 for ids in ids_by_switch.values())
    provisional = [e for e in scheduled if not e.final]
    assert provisional, "the decaying inrushes are reported before they settle"
    for p in provisional:
        assert any(f.final and f.event_id == p.event_id for f in scheduled)


def test_steady_noise_gives_no_event() -> None:
    loads: list[Load] = [
        TimedLoad("heater", KETTLE, [(0.0, 1e9)]),
        TimedLoad("led", LED, [(0.0, 1e9)]),
        TimedLoad("fridge", FRIDGE, [(0.0, 1e9)]),
    ]
    assert detect(loads, 60, seed=3) == []


def test_overlapping_events_on_different_phases() -> None:
    loads: list[Load] = [
        TimedLoad("kettle", KETTLE, [(2.0, 6.0)], Inrush.resistive(KETTLE)),
        TimedLoad("led", LED, [(2.1, 6.05)], Inrush.capacitive(LED)),
        TimedLoad("fridge", FRIDGE, [(2.3, 8.0)], Inrush.motor(FRIDGE)),
    ]
    got = firsts(detect(loads, 10))
    truth = [
        (2.0, 0, True),
        (2.1, 1, True),
        (2.3, 2, True),
        (6.0, 0, False),
        (6.05, 1, False),
        (8.0, 2, False),
    ]
    assert len(got) == len(truth)
    for e, (t, phase, on) in zip(got, truth, strict=True):
        assert 0.0 <= e.signature.t - t < 0.02 + 1e-9
        assert (e.phases, e.signature.is_on) == ((phase,), on)


def test_change_during_an_inrush_on_the_same_phase_is_a_new_event() -> None:
    loads: list[Load] = [
        TimedLoad("kettle", KETTLE, [(2.0, 8.0)], Inrush.resistive(KETTLE)),
        TimedLoad("toaster", KETTLE.scaled(0.4), [(2.6, 7.0)]),
    ]
    got = sorted(finals(detect(loads, 10)).values(), key=lambda e: e.signature.t)
    assert [round(e.signature.t, 1) for e in got] == [2.0, 2.6, 7.0, 8.0]
    assert got[1].signature.delta_p_w == pytest.approx(880.0, rel=0.1)


def test_bad_input_is_refused() -> None:
    table = cycle_table(site([TimedLoad("led", LED, [(0.0, 1e9)])]).step().block)
    bad = replace(table, p_w=table.p_w[:, :2])
    with pytest.raises(ValueError, match="p_w"):
        CycleEventDetector().feed(bad)
    with pytest.raises(ValueError, match="budget"):
        StepConfig(settle=5, budget=3)


def test_vi_cycle_is_cut_from_raw_samples() -> None:
    """Through the whole S1 path: 4 kHz samples -> `CycleAnalyser` -> detector with the chunks."""
    hh = household([TimedLoad("kettle", KETTLE, [(2.3, 5.6)]), TimedLoad("led", LED, [(3.5, 1e9)])])
    synth = WaveformSynth(S1Config(), seed=1)
    analyser = CycleAnalyser()
    det = CycleEventDetector()
    index = 0
    got: list[DetectedEvent] = []
    for s in range(7):
        smp = synth.samples(hh.step(float(s), s + 1.0))
        chunk = waveform_chunk(smp, index)
        index += smp.count
        det.feed_chunk(chunk)
        got.extend(det.feed(analyser.feed(chunk)))
    assert [(round(e.signature.t, 1), e.phases) for e in got] == [(2.3, (0,)), (3.5, (1,)), (5.6, (0,))]
    for e in got:
        sig = e.signature
        assert sig.voltage is not None and sig.current is not None
        assert sig.voltage.shape == sig.current.shape == (WAVEFORM_POINTS,)
        assert np.max(np.abs(sig.voltage)) == pytest.approx(1.0, abs=0.02)
        # the event current's RMS is what its power says (LED: distorted, so more than P / V)
        irms = float(np.sqrt(np.mean(sig.current**2)))
        v1 = 230.0
        if 0 in e.phases:
            assert irms == pytest.approx(abs(sig.delta_p_w) / v1, rel=0.03)
        else:
            assert irms > 1.3 * abs(sig.delta_p_w) / v1
