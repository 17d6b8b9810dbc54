"""The NILM engine: events, identification and per-appliance state, published on the bus.

`NilmEngine` takes either the cycle stream of the S1 port (`feed_cycles`, `CycleTable`s from
`home.analytics` and optionally the raw `WaveformChunk` for the V-I cut) or the 1 Hz P1 readings
(`feed_reading`), detects switching events, asks the appliance library who switched, keeps the
tracker's per-appliance power and energy, and publishes for the energy manager and the dashboard:

* `site/<id>/nilm/event`: one `ApplianceEvent` per event; an event first reported during an
  inrush (`final=False`) is published again with the same `event_id` once settled.
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
from gridedge.home.analytics.table import CycleTable
from gridedge.home.nilm.events import CycleEventDetector, DetectedEvent, StepConfig
from gridedge.home.nilm.lowrate import P1_STEP_CONFIG, LowRateDetector, PowerSample, sample_from_reading
from gridedge.home.nilm.signature import EventSignature
from gridedge.home.nilm.tracker import UNKNOWN_LABEL, ApplianceState, ApplianceTracker, Transition
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
        self.library.label(sig, name)
        self._labels[event_id] = name
        self.tracker.relabel(event_id, name)

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
        while len(self._signatures) > self._keep:
            self._signatures.popitem(last=False)
        label, conf, top = self._identify(sig)
        deltas = np.array(ev.delta_p_phase_w)
        if revision:
            self.tracker.revise(ev.event_id, deltas)
            label, conf, transition = self._revised(ev.event_id, sig, label, conf)
        else:
            self.tracker.advance(sig.t)
            att = self.tracker.apply(ev.event_id, sig.t, label, deltas, typical_power_w=self._typical(label))
            transition = att.transition
            paired = att.transition in (Transition.OFF, Transition.STEP) and att.label != UNKNOWN_LABEL
            if not sig.is_on and paired and att.label != label:
                # the pairing knows what was running: trust it over a weak identification of the off event
                conf = max(att.score * conf if label != UNKNOWN_LABEL else att.score, 0.0)
                label = att.label
        self._reported[ev.event_id] = (label, conf, transition)
        while len(self._reported) > self._keep:
            self._reported.popitem(last=False)
        out = ApplianceEvent(
            event_id=ev.event_id,
            t=sig.t,
            label=self._labels.get(ev.event_id, label),
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
        )
        if self.transport is not None:
            self.transport.publish(self.event_topic, out, source=self.source)
            self._publish_states(sig.t)
        return out

    def _revised(
        self, event_id: int, sig: EventSignature, label: str, conf: float
    ) -> tuple[str, float, Transition]:
        """Label of a settled event: a switch-on is identified again from its settled signature;
        a negative step keeps the appliance the pairing gave it."""
        first = self._reported.get(event_id)
        if first is None:
            return label, conf, Transition.ON if sig.is_on else Transition.OFF
        if sig.is_on and first[2] is Transition.ON:
            self.tracker.relabel(event_id, label)
            return label, conf, first[2]
        return first

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
