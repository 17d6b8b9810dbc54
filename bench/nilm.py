"""NILM evaluation: event detection, identification and disaggregation, NILMTK / NILMBench metrics.

Run: .venv/bin/python bench/nilm.py [--minutes 60] [--houses 3] [--skip-speed]

(c) Virtual households: a dozen appliances with exact ground truth (every `Change` each load
    returns, recorded by a wrapping `Load`), switched on random overlapping schedules on three
    phases, with inrushes, a three-phase EV and a multi-state washing machine. The library learns
    online on a training house (the "user" labels each detected event with the true name), then
    three other houses are scored without labels. Open set: each appliance in turn is left
    out of the library, and its test-house events should come out "unknown". Cycle tables
    come from `sim.cycle_table` (exact, from the phasors); the same houses' P1 readings feed
    the 1 Hz path.
(b) The kk_lab 1 Hz recordings (../shared/corpus/nilm/kk_lab_1hz): train on train_data, test on
    test_data, ground truth from the per-appliance files.
Speed: NILM cost per second of a three-phase stream (cycle tables at 50 cycles/s; the 4 kHz
    figure runs the analytics' `CycleAnalyser` on synthesised 4 kHz samples first and times
    only the NILM engine on its tables and chunks).

Metrics (see `gridedge.home.nilm.metrics`): event P/R/F1 within +-0.5 s and +-1 cycle (20 ms),
identification per-class and macro-F1 over matched events, per-appliance MAE and on/off F1 at
an on-threshold of max(10 W, 10 % of the appliance's median on-power), and the fraction of
energy assigned correctly (Kolter & Johnson 2011).
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from gridedge.home.nilm.classifier import UNKNOWN, ApplianceClassifier
from gridedge.home.nilm.engine import ApplianceEvent, NilmEngine
from gridedge.home.nilm.features import feature_matrix
from gridedge.home.nilm.library import ApplianceLibrary
from gridedge.home.nilm.lowrate import PowerSample
from gridedge.home.nilm.metrics import LabelledEvent, disaggregation, event_score, identification_scores
from gridedge.home.nilm.signature import EventSignature
from gridedge.model.scenario import Scenario, load_scenario
from gridedge.sim.appliances import catalog as cat
from gridedge.sim.cycle_table import cycle_table, waveform_chunk
from gridedge.sim.electrical import NO_CHANGES, OFF, Change, Inrush, Load, Signature, SiteContext
from gridedge.sim.site import Metrology, SiteSecond, VirtualSite
from gridedge.sim.testing import TimedLoad

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "nilm" / "kk_lab_1hz"
FAMILY = ROOT / "examples" / "scenarios" / "belgian-family.toml"
CYCLE = 0.02


# ---------------------------------------------------------------- ground truth


@dataclass(slots=True)
class TruthLog:
    """Every signature change of every load: (time, load name, power before, power after)."""

    changes: list[tuple[float, str, float, float]] = field(default_factory=list)


class Recorded(Load):
    """Delegates to `inner` and records each change it returns (the simulator is not touched)."""

    def __init__(self, inner: Load, log: TruthLog) -> None:
        super().__init__(inner.name)
        self.inner = inner
        self.log = log
        self._power = 0.0

    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        out = self.inner.advance(t0, t1, ctx)
        for ch in out:
            p = ch.signature.power_w
            self.log.changes.append((ch.at, self.name, self._power, p))
            self._power = p
        self.signature = self.inner.signature
        return out


class Staged(Load):
    """Switches through (time, signature) states: a multi-state appliance on a fixed timetable."""

    def __init__(self, name: str, states: Sequence[tuple[float, Signature, Inrush | None]]) -> None:
        super().__init__(name)
        self.states = sorted(states, key=lambda s: s[0])

    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        out = [Change(t, sig, inrush) for t, sig, inrush in self.states if t0 <= t < t1]
        if not out:
            return NO_CHANGES
        self.signature = out[-1].signature
        return out


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    sig: Signature
    inrush: Inrush | None
    duration_s: tuple[float, float]
    gap_s: tuple[float, float]


def kinds() -> list[Kind]:
    """The appliances of a virtual household (components from `sim.appliances.catalog`)."""
    heat = cat.HEATING_ELEMENT
    kettle = heat.signature(2200, (1,))
    heater = heat.signature(1500, (2,))
    fridge = cat.COMPRESSOR.signature(None, (2,))
    vacuum = cat.UNIVERSAL_MOTOR.signature(None, (3,))
    micro = cat.MAGNETRON.signature(None, (1,))
    lights = cat.LED_LAMPS.signature(None, (2,))
    tv = cat.PFC_TV_SUPPLY.signature(None, (3,))
    laptop = cat.LAPTOP_SUPPLY.signature(None, (1,))
    pump = cat.PUMP.signature(None, (3,))
    hob = cat.INDUCTION_ZONE.signature(None, (3,))
    ev = Signature.from_power(7400, phases=(1, 2, 3), power_factor=0.99)
    return [
        Kind("kettle", kettle, Inrush.resistive(kettle), (60, 200), (300, 1200)),
        Kind("heater", heater, Inrush.resistive(heater), (120, 900), (300, 1500)),
        Kind("fridge", fridge, Inrush.motor(fridge), (300, 900), (300, 1200)),
        Kind("vacuum", vacuum, Inrush.motor(vacuum, peak=3.0), (60, 400), (400, 1500)),
        Kind("microwave", micro, Inrush.capacitive(micro, peak=2.0), (30, 240), (300, 1200)),
        Kind("lights", lights, Inrush.capacitive(lights), (120, 1200), (120, 900)),
        Kind("tv", tv, Inrush.capacitive(tv), (300, 1800), (300, 1200)),
        Kind("laptop", laptop, Inrush.capacitive(laptop), (300, 1800), (300, 1200)),
        Kind("pump", pump, Inrush.motor(pump), (60, 300), (200, 900)),
        Kind("hob", hob, None, (120, 900), (600, 1800)),
        Kind("ev", ev, None, (600, 1800), (900, 2400)),
    ]


def schedule(rng: np.random.Generator, k: Kind, duration_s: float) -> list[tuple[float, float]]:
    t = float(rng.uniform(5, k.gap_s[0]))
    out: list[tuple[float, float]] = []
    while t < duration_s - 5:
        d = float(rng.uniform(*k.duration_s))
        out.append((round(t, 3), round(min(t + d, duration_s + 10), 3)))
        t += d + float(rng.uniform(*k.gap_s))
    return out


def washer(rng: np.random.Generator, duration_s: float) -> Staged:
    """Washing machine: motor, heater + motor, motor, spin (a multi-state appliance)."""
    motor = cat.WASHER_MOTOR.signature(None, (1,))
    heat = cat.HEATING_ELEMENT.signature(2000, (1,))
    both = Signature(motor.currents + heat.currents)
    spin = motor.scaled(2.0)
    t = float(rng.uniform(30, max(60.0, duration_s / 3)))
    states: list[tuple[float, Signature, Inrush | None]] = []
    for sig, d in ((motor, 60), (both, 300), (motor, 240), (spin, 120), (OFF, 0)):
        states.append((round(t, 3), sig, None))
        t += d * float(rng.uniform(0.7, 1.3))
    return Staged("washer", states)


def household(seed: int, duration_s: float) -> tuple[VirtualSite, TruthLog]:
    rng = np.random.default_rng(seed)
    log = TruthLog()
    loads: list[Load] = [
        Recorded(TimedLoad(k.name, k.sig, schedule(rng, k, duration_s), k.inrush), log) for k in kinds()
    ]
    loads.append(Recorded(washer(rng, duration_s), log))
    sc = load_scenario(FAMILY)
    scenario: Scenario = sc.model_copy(
        update={
            "meter": sc.meter.model_copy(update={"s1": None, "load_control": []}),
            "site": sc.site.model_copy(update={"seed": seed}),
        }
    )
    return VirtualSite(scenario, loads, metrology=Metrology.PHASOR), log


# ---------------------------------------------------------------- runs


@dataclass(slots=True)
class RunResult:
    truth: list[LabelledEvent]
    events: list[ApplianceEvent]
    first_seen: dict[int, ApplianceEvent]
    labels: list[str]
    truth_w: np.ndarray
    est_w: np.ndarray
    nilm_s: float
    stream_s: float
    signatures: dict[int, EventSignature] = field(default_factory=dict)
    """Latest (refined) signature of each event id."""


def truth_events(log: TruthLog, min_w: float = 15.0) -> list[LabelledEvent]:
    return [
        LabelledEvent(t, name, after - before)
        for t, name, before, after in log.changes
        if abs(after - before) >= min_w
    ]


def truth_power(log: TruthLog, labels: list[str], seconds: int) -> np.ndarray:
    """(seconds, A) mean steady power of each load in each second."""
    out = np.zeros((seconds, len(labels)))
    col = {n: i for i, n in enumerate(labels)}
    state: dict[str, tuple[float, float]] = {}
    for t, name, _, after in sorted(log.changes):
        if name in state:
            t0, p = state[name]
            _add_interval(out[:, col[name]], t0, t, p)
        state[name] = (t, after)
    for name, (t0, p) in state.items():
        _add_interval(out[:, col[name]], t0, float(seconds), p)
    return out


def _add_interval(col: np.ndarray, t0: float, t1: float, p: float) -> None:
    n = col.size
    t1 = min(t1, float(n))
    if t1 <= t0 or p == 0:
        return
    s0, s1 = int(np.floor(t0)), int(np.ceil(t1))
    for s in range(max(s0, 0), min(s1, n)):
        col[s] += p * (min(t1, s + 1) - max(t0, s))


def run(
    engine: NilmEngine, site: VirtualSite, log: TruthLog, seconds: int, *, p1: bool, teach: bool
) -> RunResult:
    events: list[ApplianceEvent] = []
    first: dict[int, ApplianceEvent] = {}
    nilm = 0.0
    secs: list[SiteSecond] = []
    labels = [ld.name for ld in site.household.loads]
    est = np.zeros((seconds, len(labels)))
    col = {n: i for i, n in enumerate(labels)}
    pending_truth: list[LabelledEvent] = []
    sigs: dict[int, EventSignature] = {}
    for s in range(seconds):
        sec = site.step()
        secs.append(sec)
        t0 = time.process_time()
        if p1:
            got = [] if sec.reading is None else engine.feed_reading(sec.reading, t=sec.t)
        else:
            got = engine.feed_cycles(cycle_table(sec.block))
        nilm += time.process_time() - t0
        for ev in got:
            events.append(ev)
            first.setdefault(ev.event_id, ev)
            sig = engine.signature(ev.event_id)
            if sig is not None:
                sigs[ev.event_id] = sig
        for st in engine.states():
            if st.label in col:
                est[s, col[st.label]] = st.power_w
        if teach and got:
            pending_truth = truth_events(log)
            for ev in got:
                if ev.event_id in first and first[ev.event_id] is not ev:
                    continue
                best = min(
                    pending_truth,
                    key=lambda e: abs(e.t - ev.t) if np.sign(e.delta_p_w) == np.sign(ev.delta_p_w) else 1e9,
                    default=None,
                )
                if (
                    best is not None
                    and abs(best.t - ev.t) <= 0.5
                    and np.sign(best.delta_p_w) == np.sign(ev.delta_p_w)
                ):
                    engine.label(ev.event_id, best.label)
    truth = truth_events(log)
    return RunResult(
        truth, events, first, labels, truth_power(log, labels, seconds), est, nilm, float(seconds), sigs
    )


def final_events(r: RunResult) -> list[ApplianceEvent]:
    """One event per id: the time and latency of its first report, the label of its last;
    events whose last report cancelled them (a transient) are left out."""
    last: dict[int, ApplianceEvent] = {}
    for ev in r.events:
        last[ev.event_id] = ev
    order = sorted(r.first_seen, key=lambda i: r.first_seen[i].t)
    return [last[i] for i in order if not last[i].cancelled]


def report(name: str, results: list[RunResult], *, cycle_tolerance: bool) -> None:
    truth: list[LabelledEvent] = []
    det: list[LabelledEvent] = []
    lat: list[float] = []
    offset = 0.0
    truth_w: list[np.ndarray] = []
    est_w: list[np.ndarray] = []
    labels = results[0].labels
    for r in results:
        truth.extend(LabelledEvent(e.t + offset, e.label, e.delta_p_w) for e in r.truth)
        for ev in final_events(r):
            det.append(LabelledEvent(ev.t + offset, ev.label, ev.delta_p_w))
            lat.append(r.first_seen[ev.event_id].latency_s)
        offset += r.stream_s + 100.0
        truth_w.append(r.truth_w)
        est_w.append(r.est_w)
    print(f"\n== {name}: {len(truth)} true events, {len(det)} detected")
    tols = [("+-0.5 s", 0.5)] + ([("+-1 cycle", CYCLE)] if cycle_tolerance else [])
    pairs: list[tuple[int, int]] = []
    for tname, tol in tols:
        sc, p = event_score(truth, det, tol)
        if tol == 0.5:
            pairs = p
        print(
            f"event detection {tname:9s}: P {sc.precision:.3f}  R {sc.recall:.3f}  F1 {sc.f1:.3f}  "
            f"(tp {sc.tp}, fp {sc.fp}, fn {sc.fn})"
        )
    la = np.array(lat) * 1000
    if la.size:
        print(
            f"detection latency ms: median {np.median(la):.0f}  p95 {np.percentile(la, 95):.0f}  "
            f"max {la.max():.0f}"
        )
    per, macro = identification_scores(truth, det, pairs)
    print(f"identification (matched events): macro-F1 {macro:.3f}")
    for c, s in per.items():
        print(f"  {c:12s} P {s.precision:.3f} R {s.recall:.3f} F1 {s.f1:.3f} (n={s.tp + s.fn})")
    y = np.concatenate(truth_w)
    yh = np.concatenate(est_w)
    thr = [
        max(10.0, 0.1 * float(np.median(y[y[:, a] > 5, a])) if (y[:, a] > 5).any() else 10.0)
        for a in range(len(labels))
    ]
    figs, acc = disaggregation(labels, y, yh, thr)
    print(
        f"disaggregation: energy correctly assigned {acc:.3f}; "
        f"mean MAE {np.mean([f.mae_w for f in figs]):.1f} W; "
        f"macro on/off F1 {np.mean([f.on_f1 for f in figs]):.3f}"
    )
    for f in figs:
        print(
            f"  {f.label:12s} MAE {f.mae_w:7.1f} W  on/off F1 {f.on_f1:.3f}  "
            f"energy true {f.true_wh:8.1f} Wh  est {f.estimated_wh:8.1f} Wh"
        )


def open_set(lib: ApplianceLibrary, results: list[RunResult]) -> None:
    """Unknown appliances: each appliance in turn is left out of the library learnt on the training
    house; the share of its test-house events identified as unknown, and the share of the other
    (known) appliances' events identified as unknown, with the same classifier settings."""
    sigs: list[EventSignature] = []
    labels: list[str] = []
    for r in results:
        fe = final_events(r)
        det = [LabelledEvent(ev.t, ev.label, ev.delta_p_w) for ev in fe]
        _, pairs = event_score(r.truth, det, 0.5)
        for i, k in pairs:
            sig = r.signatures.get(fe[k].event_id)
            if sig is not None:
                sigs.append(sig)
                labels.append(r.truth[i].label)
    x_test, _ = feature_matrix(sigs)
    y_test = np.array(labels)
    train = [(s, n) for n in lib.names for s in lib.examples(n)]
    x_train, _ = feature_matrix([s for s, _ in train])
    y_train = np.array([n for _, n in train])
    flagged: list[float] = []
    false_unknown: list[bool] = []
    for name in lib.names:
        keep = y_train != name
        clf = ApplianceClassifier().fit(x_train[keep], list(y_train[keep]))
        unknown = np.array([row[0].label == UNKNOWN for row in clf.predict_proba_many(x_test)])
        if np.any(y_test == name):
            flagged.append(float(unknown[y_test == name].mean()))
        false_unknown.extend(unknown[y_test != name].tolist())
    full = ApplianceClassifier().fit(x_train, list(y_train)).predict_proba_many(x_test)
    print(
        f"open set: an appliance left out of the library is flagged unknown for {np.mean(flagged):.0%} "
        f"of its events (per appliance {min(flagged):.0%}..{max(flagged):.0%}); known events flagged "
        f"unknown: {np.mean(false_unknown):.1%} (full library: "
        f"{np.mean([row[0].label == UNKNOWN for row in full]):.1%})"
    )


def virtual(minutes: float, houses: int) -> None:
    seconds = int(minutes * 60)
    for p1 in (False, True):
        lib = ApplianceLibrary()
        engine = NilmEngine(lib)
        site, log = household(100, seconds)
        train = run(engine, site, log, seconds, p1=p1, teach=True)
        print(
            f"\n[{'P1 1 Hz' if p1 else 'cycle stream'}] training house: {len(train.truth)} true events, "
            f"{len(lib.names)} appliances learnt"
        )
        results = []
        for h in range(houses):
            eng = NilmEngine(lib, reconcile=True)
            site, log = household(200 + h, seconds)
            results.append(run(eng, site, log, seconds, p1=p1, teach=False))
        report(
            f"virtual households ({'P1 1 Hz' if p1 else 'cycle stream, 50 Hz'}), {houses} x {minutes:g} min",
            results,
            cycle_tolerance=not p1,
        )
        if not p1:
            open_set(lib, results)
        nilm = sum(r.nilm_s for r in results)
        stream = sum(r.stream_s for r in results)
        print(f"NILM CPU: {nilm:.2f} s for {stream:.0f} s of stream -> {stream / nilm:.0f}x real time")


# ---------------------------------------------------------------- kk_lab


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open() as f:
        rows = list(csv.reader(f))
    t = np.array([datetime.fromisoformat(r[0]).timestamp() for r in rows[1:]])
    x = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    if np.nanmax(np.abs(x[:, 4])) < 100.0:  # one folder stores kW / kvar
        x[:, 3:6] *= 1000.0
    return t, x


def kk_split(folder: Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    files = sorted(folder.glob("*.csv"))
    main = next(f for f in files if f.name.startswith("main"))
    t, x = _read_csv(main)
    apps = {f.name.split(".")[0]: _read_csv(f)[1][:, 4] for f in files if f is not main}
    return t - t[0], x, apps


def kk_truth(t: np.ndarray, apps: dict[str, np.ndarray], min_w: float = 100.0) -> list[LabelledEvent]:
    """Events of each appliance file: steps of its power between two steady levels (on/off)."""
    out: list[LabelledEvent] = []
    for name, p in apps.items():
        on = p > min_w
        edges = np.flatnonzero(on[1:] != on[:-1]) + 1
        for e in edges.tolist():
            before = float(np.median(p[max(0, e - 3) : e]))
            after = float(np.median(p[e : e + 3]))
            out.append(LabelledEvent(float(t[e]), name, after - before))
    return sorted(out, key=lambda e: e.t)


def kk_run(
    engine: NilmEngine, t: np.ndarray, x: np.ndarray, truth: list[LabelledEvent] | None, names: list[str]
) -> tuple[list[ApplianceEvent], np.ndarray, float]:
    events: list[ApplianceEvent] = []
    est = np.zeros((t.size, len(names)))
    cpu = 0.0
    for i in range(t.size):
        c0 = time.process_time()
        got = engine.feed_power(PowerSample(float(t[i]), (float(x[i, 4]),), (float(x[i, 5]),)))
        cpu += time.process_time() - c0
        events.extend(got)
        for st in engine.states():
            if st.label in names:
                est[i, names.index(st.label)] = st.power_w
        if truth is not None:
            for ev in got:
                m = [
                    e
                    for e in truth
                    if abs(e.t - ev.t) <= 1.5 and np.sign(e.delta_p_w) == np.sign(ev.delta_p_w)
                ]
                if m:
                    engine.label(ev.event_id, min(m, key=lambda e: abs(e.t - ev.t)).label)
    return events, est, cpu


def kk_lab() -> None:
    assert CORPUS.exists(), f"corpus missing: {CORPUS}"
    for combo in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        lib = ApplianceLibrary()
        t, x, apps = kk_split(combo / "train_data")
        names = sorted(apps)
        kk_run(NilmEngine(lib), t, x, kk_truth(t, apps), names)
        t, x, apps = kk_split(combo / "test_data")
        truth = kk_truth(t, apps)
        events, est, cpu = kk_run(NilmEngine(lib), t, x, None, names)
        last: dict[int, ApplianceEvent] = {}
        first: dict[int, ApplianceEvent] = {}
        for ev in events:
            last[ev.event_id] = ev
            first.setdefault(ev.event_id, ev)
        r = RunResult(
            truth, events, first, names, np.stack([apps[n] for n in names], axis=1), est, cpu, float(t.size)
        )
        print(
            f"\n[kk_lab {combo.name}] trained on train_data ({len(lib.names)} appliances: "
            f"{', '.join(lib.names)}); true events from the appliance files (on above 100 W). "
            "1 Hz data: the true times are whole samples, so +-1 s (one sample) is the fair tolerance"
        )
        _kk_report(combo.name, r)


def _kk_report(name: str, r: RunResult) -> None:
    truth = r.truth
    det = [LabelledEvent(ev.t, ev.label, ev.delta_p_w) for ev in final_events(r)]
    for tname, tol in (("+-1 s (1 sample)", 1.0), ("+-0.5 s", 0.5)):
        sc, _ = event_score(truth, det, tol)
        print(
            f"event detection {tname}: P {sc.precision:.3f} R {sc.recall:.3f} F1 {sc.f1:.3f} "
            f"(tp {sc.tp}, fp {sc.fp}, fn {sc.fn})"
        )
    _, pairs = event_score(truth, det, 1.0)
    per, macro = identification_scores(truth, det, pairs)
    print(
        f"identification macro-F1 {macro:.3f}: "
        + ", ".join(f"{c} {s.f1:.2f} (n={s.tp + s.fn})" for c, s in per.items())
    )
    y = r.truth_w
    thr = [
        max(10.0, 0.1 * float(np.median(y[y[:, a] > 5, a])) if (y[:, a] > 5).any() else 10.0)
        for a in range(y.shape[1])
    ]
    figs, acc = disaggregation(r.labels, y, r.est_w, thr)
    print(
        f"disaggregation: energy correctly assigned {acc:.3f}; "
        + "; ".join(f"{f.label} MAE {f.mae_w:.0f} W F1 {f.on_f1:.2f}" for f in figs)
    )


# ---------------------------------------------------------------- speed


def speed(seconds: int) -> None:
    site, _ = household(300, seconds)
    tables = [cycle_table(site.step().block) for _ in range(seconds)]
    engine = NilmEngine(ApplianceLibrary())
    t0 = time.process_time()
    n_ev = 0
    for tb in tables:
        n_ev += len(engine.feed_cycles(tb))
    cpu = time.process_time() - t0
    print(
        f"\n== speed, cycle tables (50 cycles/s, 3 phases, {seconds} s, {n_ev} event reports): "
        f"{cpu * 1e3 / seconds:.2f} ms CPU per stream second -> {seconds / cpu:.0f}x real time"
    )
    from gridedge.home.analytics.cycles import CycleAnalyser
    from gridedge.model.scenario import S1Config
    from gridedge.sim.waveform import WaveformSynth

    site, _ = household(300, seconds)
    synth = WaveformSynth(S1Config(), seed=1)
    analyser = CycleAnalyser()
    engine = NilmEngine(ApplianceLibrary())
    cpu = 0.0
    index = 0
    for _ in range(seconds):
        smp = synth.samples(site.step().block)
        chunk = waveform_chunk(smp, index)
        index += smp.count
        table = analyser.feed(chunk)
        c0 = time.process_time()
        engine.feed_cycles(table, chunk)
        cpu += time.process_time() - c0
    print(
        f"== speed, 4 kHz stream through CycleAnalyser (NILM engine only, with V-I cut): "
        f"{cpu * 1e3 / seconds:.2f} ms CPU per stream second -> {seconds / cpu:.0f}x real time"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--houses", type=int, default=3)
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    virtual(args.minutes, args.houses)
    kk_lab()
    if not args.skip_speed:
        speed(120)


if __name__ == "__main__":
    main()
