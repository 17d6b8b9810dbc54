"""Waveform analytics of the S1 port: per-cycle and per-second figures, power quality, grid-fault hints.

`Analytics` is the one object to feed: `WaveformChunk`s in, an `AnalyticsUpdate` out (cycles,
seconds, voltage events, neutral warnings, fault hints). With a `Transport` it also publishes,
payloads being the frozen dataclasses themselves:

- `site/<site_id>/power-quality/fault-hint`: `FaultHint`, once the snippet after an event start
  is complete (a few cycles after the start);
- `site/<site_id>/power-quality/event`: `VoltageEvent`, when a dip, swell or interruption ends;
- `site/<site_id>/power-quality/neutral`: `NeutralWarning`.

The parts (`CycleAnalyser`, `SecondAggregator`, `VoltageEventDetector`, `NeutralCheck`,
`FaultRecorder`) can be used alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridedge.bus.envelope import Transport, validate_topic
from gridedge.home.analytics.cycles import CycleAnalyser, concat_cycle_tables, empty_cycle_table
from gridedge.home.analytics.faults import FaultHint, FaultOrigin, FaultRecorder, SampleRing
from gridedge.home.analytics.neutral import NeutralCheck, NeutralIssue, NeutralWarning
from gridedge.home.analytics.quality import (
    EventBatch,
    EventKind,
    EventStart,
    VoltageEvent,
    VoltageEventDetector,
)
from gridedge.home.analytics.seconds import SecondAggregator, SecondTable, seconds_of
from gridedge.model.cycles import CycleTable
from gridedge.model.waveform import WaveformChunk

__all__ = [
    "Analytics",
    "AnalyticsUpdate",
    "CycleAnalyser",
    "CycleTable",
    "EventBatch",
    "EventKind",
    "EventStart",
    "FaultHint",
    "FaultOrigin",
    "FaultRecorder",
    "NeutralCheck",
    "NeutralIssue",
    "NeutralWarning",
    "SampleRing",
    "SecondAggregator",
    "SecondTable",
    "VoltageEvent",
    "VoltageEventDetector",
    "concat_cycle_tables",
    "empty_cycle_table",
    "event_topic",
    "fault_hint_topic",
    "neutral_topic",
    "seconds_of",
]


def _site_topic(site_id: str, leaf: str) -> str:
    if not site_id or "/" in site_id:
        raise ValueError(f"site_id must be one non-empty topic level (no '/'), got {site_id!r}")
    topic = f"site/{site_id}/power-quality/{leaf}"
    validate_topic(topic)
    return topic


def fault_hint_topic(site_id: str) -> str:
    return _site_topic(site_id, "fault-hint")


def event_topic(site_id: str) -> str:
    return _site_topic(site_id, "event")


def neutral_topic(site_id: str) -> str:
    return _site_topic(site_id, "neutral")


@dataclass(frozen=True, slots=True)
class AnalyticsUpdate:
    """What one chunk produced."""

    cycles: CycleTable
    seconds: SecondTable
    events: EventBatch
    neutral: tuple[NeutralWarning, ...]
    hints: tuple[FaultHint, ...]


class Analytics:
    """Feed `WaveformChunk`s of one site's S1 stream in order; optionally publish on a `Transport`."""

    def __init__(
        self,
        site_id: str,
        *,
        transport: Transport | None = None,
        source: str | None = None,
        nominal_hz: float = 50.0,
        declared_v: float = 230.0,
        max_order: int = 50,
        batch_s: float = 0.0,
        neutral: NeutralCheck | None = None,
    ) -> None:
        self.site_id = site_id
        self.topics = (fault_hint_topic(site_id), event_topic(site_id), neutral_topic(site_id))
        self.transport = transport
        self.source = source or f"analytics/{site_id}"
        self.cycles = CycleAnalyser(
            nominal_hz=nominal_hz, declared_v=declared_v, max_order=max_order, batch_s=batch_s
        )
        self.seconds = SecondAggregator()
        self.events = VoltageEventDetector(declared_v)
        self.neutral = neutral or NeutralCheck()
        self.faults = FaultRecorder(site_id, nominal_hz=nominal_hz)

    def feed(self, chunk: WaveformChunk) -> AnalyticsUpdate:
        cycles = self.cycles.feed(chunk)
        return self._after(cycles, chunk)

    def flush(self) -> AnalyticsUpdate:
        """End of stream: the cycles, seconds and hints still waiting."""
        cycles = self.cycles.flush()
        events = self.events.feed(cycles)
        neutral = self.neutral.feed(cycles)
        seconds = self.seconds.flush(cycles)
        hints = tuple(self.faults.flush())
        update = AnalyticsUpdate(cycles, seconds, events, neutral, hints)
        self._publish(update)
        return update

    def _after(self, cycles: CycleTable, chunk: WaveformChunk) -> AnalyticsUpdate:
        events = self.events.feed(cycles)
        neutral = self.neutral.feed(cycles)
        seconds = self.seconds.feed(cycles)
        hints = tuple(self.faults.feed(chunk, cycles, events.started))
        update = AnalyticsUpdate(cycles, seconds, events, neutral, hints)
        self._publish(update)
        return update

    def _publish(self, update: AnalyticsUpdate) -> None:
        if self.transport is None:
            return
        hint_topic, ev_topic, neutral_topic_ = self.topics
        for hint in update.hints:
            self.transport.publish(hint_topic, hint, source=self.source)
        for event in update.events.ended:
            self.transport.publish(ev_topic, event, source=self.source)
        for warning in update.neutral:
            self.transport.publish(neutral_topic_, warning, source=self.source)
