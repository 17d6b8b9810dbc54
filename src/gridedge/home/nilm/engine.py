"""The NILM engine: events, identification and per-appliance state, published on the bus.

`NilmEngine` takes either the cycle stream of the S1 port (`feed_cycles`, `CycleTable`s from
`home.analytics` and optionally the raw `WaveformChunk` for the V-I cut) or the 1 Hz P1 readings
(`feed_reading`), detects switching events, asks the appliance library who switched, keeps the
tracker's per-appliance power and energy, and publishes for the energy manager and the dashboard:

* `site/<id>/nilm/event`: one `ApplianceEvent` per event; an event first reported during an
  inrush (`final=False`, provisional: detected within 180 ms, power extrapolated) is published
  again with the same `event_id` once settled (`final=True`, refined), identified again from
  the refined signature; `cancelled=True` on that report means the change was a transient.
  Labels the user gives a provisional event are learnt from its refined signature.
* `site/<id>/nilm/appliances`: an `ApplianceSnapshot` after every event and every
  `snapshot_every_s` of stream time.

All times are stream times from the data; the engine never reads a clock (the bus stamps its
envelopes with its own injected clock).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gridedge.bus.envelope import Transport
from gridedge.home.nilm.events import CycleEventDetector, DetectedEvent, StepConfig
from gridedge.home.nilm.lowrate import P1_STEP_CONFIG, LowRateDetector, PowerSample, sample_from_reading
from gridedge.home.nilm.signature import EventSignature
from gridedge.home.nilm.tracker import UNKNOWN_LABEL, ApplianceState, ApplianceTracker, Transition
from gridedge.model.cycles import CycleTable
from gridedge.model.reading import MeterReading
from gridedge.model.waveform import WaveformChunk

EVENT_TOPIC = "site/{site}/nilm/event"
APPLIANCES_TOPIC = "site/{site}/nilm/appliances"


class CandidateLike(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def confidence(self) -> float: ...


class Identifier(Protocol):
    """What the engine needs of the appliance library (`home.nilm.library.ApplianceLibrary`)."""

    def identify(self, sig: EventSignature) -> Sequence[CandidateLike]: ...

    def label(self, sig: EventSignature, name: str) -> None: ...

    def typical_power_w(self, name: str) -> float: ...


@dataclass(frozen=True, slots=True)
class ApplianceEvent:
    """One appliance event as published on `site/<id>/nilm/event`."""

    event_id: int
    t: float
    """Stream time of the switch (first changed cycle or the estimated instant within a P1 second)."""
    label: str
    confidence: float
    on: bool
    """True for a positive power step (switch-on or step up)."""
    transition: Transition
    delta_p_w: float
    delta_q_var: float | None
    phase: int
    """Phase with the largest step, 0..2 for L1..L3; -1 when only the site total is known."""
    phases: tuple[int, ...]
    latency_s: float
    """Stream time from the switch to the report."""
    final: bool
    """False: measured during an inrush; a final report with the same id follows."""
    source: str
    """"cycles" (S1 waveform stream) or "p1" (1 Hz readings)."""
    candidates: tuple[tuple[str, float], ...]
    """The library's best candidates (label, confidence), best first."""
    cancelled: bool = False
    """Final report of a provisional event that was a transient, not a switch (undone)."""


@dataclass(frozen=True, slots=True)
class ApplianceSnapshot:
    """Every known appliance's state at stream time `t` (`site/<id>/nilm/appliances`)."""

    t: float
    appliances: tuple[ApplianceState, ...]


class NilmEngine:
    """Detect, identify, track and publish appliance events of one site."""

    def __init__(
        self,
        library: Identifier,
        *,
        site_id: str = "home",
        transport: Transport | None = None,
        source: str = "nilm",
        cycle_config: StepConfig | None = None,
        p1_config: StepConfig = P1_STEP_CONFIG,
        min_confidence: float = 0.3,
        trust_confidence: float = 0.6,
        snapshot_every_s: float = 1.0,
        keep_signatures: int = 256,
        reconcile: bool = False,
    ) -> None:
        if not site_id or "/" in site_id or "+" in site_id or "#" in site_id:
            raise ValueError(f"site_id: expected one topic level without '/', '+' or '#', found {site_id!r}")
        self.library = library
        self.site_id = site_id
        self.transport = transport
        self.source = source
        self.min_confidence = min_confidence
        self.trust_confidence = trust_confidence
        """An off event identified at least this confidently keeps its label even when the
        on/off pairing gave it to another running appliance (whose switch-on was missed or
        misread); below it, the pairing's label wins."""
        self.snapshot_every_s = snapshot_every_s
        self.reconcile = reconcile
        """Drop tracked appliances the measured phase power cannot carry (a missed off event).
        Only for sites without generation behind the meter: PV export hides running loads."""
        self.tracker = ApplianceTracker()
        self.cycles = CycleEventDetector(cycle_config)
        self.p1 = LowRateDetector(p1_config)
        self.event_topic = EVENT_TOPIC.format(site=site_id)
        self.appliances_topic = APPLIANCES_TOPIC.format(site=site_id)
        self._signatures: OrderedDict[int, EventSignature] = OrderedDict()
        self._keep = keep_signatures
        self._labels: dict[int, str] = {}
        self._final: dict[int, bool] = {}
        self._cancelled: set[int] = set()
        self._pending: dict[int, str] = {}
        self._reported: OrderedDict[int, tuple[str, float, Transition]] = OrderedDict()
        self._next_snapshot: float | None = None

    # ---- inputs

    def feed_cycles(self, table: CycleTable, chunk: WaveformChunk | None = None) -> list[ApplianceEvent]:
        """Cycles of the S1 stream (and the chunk they were computed from, for the V-I cut)."""
        if chunk is not None:
            self.cycles.feed_chunk(chunk)
        out = [self._handle(ev, "cycles") for ev in self.cycles.feed(table)]
        if table.cycles:
            t_end = float(table.t_start[-1] + 1.0 / max(float(table.frequency_hz[-1]), 1.0))
            if self.reconcile and self.cycles.settled:
                self.tracker.reconcile(t_end, np.nan_to_num(table.p_w[-5:]).mean(axis=0))
            self._tick(t_end)
        return out

    def feed_reading(self, reading: MeterReading, t: float | None = None) -> list[ApplianceEvent]:
        """One P1 reading; `t` is the stream time of the start of the second it averages
        (default: the telegram's timestamp minus one second)."""
        if t is None:
            if reading.timestamp is None:
                raise ValueError("feed_reading: the reading has no timestamp; pass its stream time t")
            t = reading.timestamp.timestamp() - 1.0
        sample = sample_from_reading(reading, t)
        if sample is None:
            return []
        return self.feed_power(sample)

    def feed_power(self, sample: PowerSample) -> list[ApplianceEvent]:
        """One low-rate power sample (P1 or any 1 Hz recording)."""
        out = [self._handle(ev, "p1") for ev in self.p1.feed(sample)]
        if self.reconcile and self.p1.settled:
            measured = np.zeros(3)
            measured[: len(sample.power_w)] = sample.power_w
            self.tracker.reconcile(sample.t + sample.interval_s, measured)
        self._tick(sample.t + sample.interval_s)
        return out

    # ---- user feedback

    def label(self, event_id: int, name: str) -> None:
        """The user names a recent event: the library learns its signature under `name`."""
        sig = self._signatures.get(event_id)
        if sig is None:
            raise KeyError(f"event {event_id}: not among the last {self._keep} events")
        if event_id in self._cancelled:
            raise ValueError(f"event {event_id}: was cancelled (a transient, not a switch); nothing to learn")
        if self._final.get(event_id, True):
            self.library.label(sig, name)
        else:
            self._pending[event_id] = name  # learnt from the refined signature when it comes
        self._labels[event_id] = name
        self.tracker.relabel(event_id, name)

    def signature(self, event_id: int) -> EventSignature | None:
        """The latest signature of a recent event (the refined one once its final report is out)."""
        return self._signatures.get(event_id)

    def states(self) -> list[ApplianceState]:
        return self.tracker.states()

    # ---- internals

    def _identify(self, sig: EventSignature) -> tuple[str, float, tuple[tuple[str, float], ...]]:
        cands = list(self.library.identify(sig))
        top = tuple((c.label, float(c.confidence)) for c in cands[:3])
        if not cands:
            return UNKNOWN_LABEL, 0.0, top
        best = cands[0]
        if best.confidence < self.min_confidence:
            return UNKNOWN_LABEL, float(best.confidence), top
        return best.label, float(best.confidence), top

    def _typical(self, label: str) -> float | None:
        if label == UNKNOWN_LABEL:
            return None
        try:
            return float(self.library.typical_power_w(label))
        except (KeyError, ValueError):
            return None

    def _handle(self, ev: DetectedEvent, source: str) -> ApplianceEvent:
        sig = ev.signature
        revision = ev.event_id in self._signatures
        self._signatures[ev.event_id] = sig
        self._signatures.move_to_end(ev.event_id)
        self._final[ev.event_id] = ev.final
        while len(self._signatures) > self._keep:
            old, _ = self._signatures.popitem(last=False)
            self._final.pop(old, None)
            self._pending.pop(old, None)
            self._labels.pop(old, None)
            self._cancelled.discard(old)
        if ev.cancelled:
            return self._cancel(ev, source)
        pending = self._pending.pop(ev.event_id, None) if ev.final else None
        if pending is not None:
            self.library.label(sig, pending)
        label, conf, top = self._identify(sig)
        deltas = np.array(ev.delta_p_phase_w)
        if revision:
            self.tracker.revise(ev.event_id, deltas)
            label, conf, transition = self._revised(ev.event_id, sig, deltas, label, conf)
        else:
            self.tracker.advance(sig.t)
            att = self.tracker.apply(ev.event_id, sig.t, label, deltas, typical_power_w=self._typical(label))
            transition = att.transition
            label, conf = self._paired(sig, label, conf, att.label, att.score, transition)
        self._reported[ev.event_id] = (label, conf, transition)
        while len(self._reported) > self._keep:
            self._reported.popitem(last=False)
        return self._publish(ev, source, self._labels.get(ev.event_id, label), conf, transition, top)

    def _paired(
        self, sig: EventSignature, label: str, conf: float, paired: str, score: float, transition: Transition
    ) -> tuple[str, float]:
        """Label of a negative step: the identification's, unless it is weak and the on/off
        pairing knows which running appliance it came from."""
        if sig.is_on or transition not in (Transition.OFF, Transition.STEP) or paired == UNKNOWN_LABEL:
            return label, conf
        if paired == label or (label != UNKNOWN_LABEL and conf >= self.trust_confidence):
            return label, conf
        return paired, max(score * conf if label != UNKNOWN_LABEL else score, 0.0)

    def _cancel(self, ev: DetectedEvent, source: str) -> ApplianceEvent:
        self.tracker.cancel(ev.event_id)
        self._cancelled.add(ev.event_id)
        self._pending.pop(ev.event_id, None)
        label, conf, transition = self._reported.pop(ev.event_id, (UNKNOWN_LABEL, 0.0, Transition.UNPAIRED))
        return self._publish(ev, source, label, conf, transition, ())

    def _publish(
        self,
        ev: DetectedEvent,
        source: str,
        label: str,
        conf: float,
        transition: Transition,
        top: tuple[tuple[str, float], ...],
    ) -> ApplianceEvent:
        sig = ev.signature
        out = ApplianceEvent(
            event_id=ev.event_id,
            t=sig.t,
            label=label,
            confidence=conf,
            on=sig.is_on,
            transition=transition,
            delta_p_w=sig.delta_p_w,
            delta_q_var=sig.delta_q_var,
            phase=sig.phase,
            phases=ev.phases,
            latency_s=ev.latency_s,
            final=ev.final,
            source=source,
            candidates=top,
            cancelled=ev.cancelled,
        )
        if self.transport is not None:
            self.transport.publish(self.event_topic, out, source=self.source)
            self._publish_states(sig.t)
        return out

    def _revised(
        self, event_id: int, sig: EventSignature, deltas: np.ndarray, label: str, conf: float
    ) -> tuple[str, float, Transition]:
        """Label of a refined event, identified again from its settled signature. A switch-on
        whose label changed is attributed afresh (the provisional one may have been read as a
        step of another running appliance); a negative step keeps the appliance the pairing gave
        it unless the refined identification is confident."""
        first = self._reported.get(event_id)
        if first is None:
            return label, conf, Transition.ON if sig.is_on else Transition.OFF
        if sig.is_on:
            if label == first[0]:
                return label, conf, first[2]
            att = self.tracker.reattribute(event_id, label, deltas, typical_power_w=self._typical(label))
            return label, conf, first[2] if att is None else att.transition
        if first[0] == label or label == UNKNOWN_LABEL or conf < self.trust_confidence:
            return first
        return label, conf, first[2]

    def _tick(self, t: float) -> None:
        self.tracker.advance(t)
        if self.transport is None:
            return
        if self._next_snapshot is None:
            self._next_snapshot = t
        if t >= self._next_snapshot:
            self._publish_states(t)
            self._next_snapshot = t + self.snapshot_every_s

    def _publish_states(self, t: float) -> None:
        if self.transport is not None:
            snap = ApplianceSnapshot(t, tuple(self.tracker.states()))
            self.transport.publish(self.appliances_topic, snap, source=self.source)
