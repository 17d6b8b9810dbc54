"""The head-end's telemetry store: rows, the protocol both engines implement, query results.

Two engines implement `TelemetryStore`: SQLite for the embedded demo (`telemetry_sqlite`) and
PostgreSQL for grid scale (`telemetry_pg`: COPY into staging tables, then `INSERT ... ON
CONFLICT DO NOTHING` into time-partitioned tables). Both are idempotent on the record's natural
key, so a batch written twice (a worker crashed after the commit, before the acknowledgement,
and the gateway sent it again) adds no rows: end-to-end delivery is at-least-once on the wire
and exactly-once in storage.

Records become flat tuples here, once, because both engines bulk-load tuples; the column order is
the `*_COLUMNS` constants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from gridedge.model.telemetry import (
    EventCode,
    GridPointSample,
    LoadCurve,
    MeterEvent,
    SampleKind,
    TelemetryRecord,
)

__all__ = [
    "CURVE_COLUMNS",
    "EVENT_COLUMNS",
    "SAMPLE_COLUMNS",
    "WAN_COLUMNS",
    "CurvePoint",
    "LatestSample",
    "MeterInfo",
    "StoredEvent",
    "TelemetryBatch",
    "TelemetryStore",
    "WanStatus",
    "WriteResult",
]

SAMPLE_COLUMNS = (
    "meter_id", "seq", "time", "kind", "import_w", "export_w", "import_wh", "export_wh",
    "v1", "v2", "v3", "i1", "i2", "i3", "freq",
)  # fmt: skip
CURVE_COLUMNS = ("meter_id", "time", "seq", "import_wh", "export_wh")
EVENT_COLUMNS = ("meter_id", "seq", "time", "code", "phase", "value", "duration_s", "detail")
WAN_COLUMNS = (
    "meter_id", "seq", "time", "since", "link_up", "latency_ms_median", "latency_ms_max", "outages",
    "outage_s", "sent", "resent",
)  # fmt: skip

SampleRow = tuple[
    str, int, datetime, str, float, float, int, int,
    float | None, float | None, float | None, float | None, float | None, float | None, float | None,
]  # fmt: skip
CurveRow = tuple[str, datetime, int, float | None, float | None]
EventRow = tuple[str, int, datetime, str, int | None, float | None, float | None, str]
WanRow = tuple[str, int, datetime, datetime, bool, float | None, float | None, int, float, int, int]


def _three(values: tuple[float | None, ...]) -> tuple[float | None, float | None, float | None]:
    n = len(values)
    return (
        values[0] if n > 0 else None,
        values[1] if n > 1 else None,
        values[2] if n > 2 else None,
    )


@dataclass(slots=True)
class TelemetryBatch:
    """Records of many meters, as rows, plus what to acknowledge once they are committed."""

    samples: list[SampleRow] = field(default_factory=list)
    curve_points: list[CurveRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    wan: list[WanRow] = field(default_factory=list)
    sequences: dict[str, list[int]] = field(default_factory=dict)
    """Meter id -> the sequence numbers in this batch (for the acknowledgement)."""

    def __len__(self) -> int:
        return sum(len(v) for v in self.sequences.values())

    def add(self, record: TelemetryRecord) -> None:
        r = record
        if isinstance(r, GridPointSample):
            v1, v2, v3 = _three(r.voltage_v)
            i1, i2, i3 = _three(r.current_a)
            self.samples.append(
                (r.meter_id, r.sequence, r.time, str(r.kind), r.import_w, r.export_w, r.import_wh,
                 r.export_wh, v1, v2, v3, i1, i2, i3, r.frequency_hz)
            )  # fmt: skip
        elif isinstance(r, LoadCurve):
            step = timedelta(seconds=r.interval_s)
            self.curve_points.extend(
                (r.meter_id, r.start + i * step, r.sequence, imp, exp)
                for i, (imp, exp) in enumerate(zip(r.import_wh, r.export_wh, strict=True))
            )
        elif isinstance(r, MeterEvent):
            self.events.append(
                (r.meter_id, r.sequence, r.time, r.code.value, r.phase, r.value, r.duration_s, r.detail)
            )
        else:
            self.wan.append(
                (r.meter_id, r.sequence, r.time, r.since, r.link_up, r.latency_ms_median, r.latency_ms_max,
                 r.outages, r.outage_s, r.sent, r.resent)
            )  # fmt: skip
        seqs = self.sequences.get(r.meter_id)
        if seqs is None:
            self.sequences[r.meter_id] = [r.sequence]
        else:
            seqs.append(r.sequence)

    def extend(self, other: TelemetryBatch) -> None:
        """Append another batch's rows and sequences (a failed commit merged into the next)."""
        self.samples += other.samples
        self.curve_points += other.curve_points
        self.events += other.events
        self.wan += other.wan
        for meter, seqs in other.sequences.items():
            self.sequences.setdefault(meter, []).extend(seqs)

    @classmethod
    def of(cls, records: Iterable[TelemetryRecord]) -> TelemetryBatch:
        batch = cls()
        for r in records:
            batch.add(r)
        return batch


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a commit added: rows new to the store (a replayed batch adds 0)."""

    samples: int
    curve_points: int
    events: int
    wan: int

    @property
    def rows(self) -> int:
        return self.samples + self.curve_points + self.events + self.wan


@dataclass(frozen=True, slots=True)
class MeterInfo:
    """Where a meter sits in the grid: its feeder and the feeder section it hangs off."""

    meter_id: str
    feeder_id: str | None = None
    section: str | None = None


@dataclass(frozen=True, slots=True)
class LatestSample:
    """The newest grid-point sample of a meter (monitoring or NRTD) and when it was received."""

    meter_id: str
    sequence: int
    time: datetime
    kind: SampleKind
    import_w: float
    export_w: float
    import_wh: int
    export_wh: int
    voltage_v: tuple[float | None, float | None, float | None]
    current_a: tuple[float | None, float | None, float | None]
    frequency_hz: float | None


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Energy in one load-curve interval: of one meter, or summed over a feeder's meters."""

    time: datetime
    import_wh: float | None
    export_wh: float | None
    meters: int = 1
    """How many meters contributed (feeder curves: fewer than the feeder's meters means gaps)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    meter_id: str
    sequence: int
    time: datetime
    code: EventCode
    phase: int | None
    value: float | None
    duration_s: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class WanStatus:
    """A meter's latest WAN report."""

    meter_id: str
    time: datetime
    link_up: bool
    latency_ms_median: float | None
    latency_ms_max: float | None
    outages: int
    outage_s: float


class TelemetryStore(Protocol):
    """What the head-end stores and asks; both engines implement it."""

    async def init(self) -> None:
        """Create the schema if it is missing (idempotent)."""

    async def close(self) -> None: ...

    async def write(self, batch: TelemetryBatch) -> WriteResult:
        """Commit a batch atomically; rows already stored are skipped, never duplicated."""

    async def set_meters(self, meters: Sequence[MeterInfo]) -> None:
        """Register or move meters (feeder and section), upserting."""

    async def latest(self, meter_ids: Sequence[str] | None = None) -> list[LatestSample]:
        """The newest sample per meter (all meters, or the ones asked for), by meter id."""

    async def load_curve(self, meter_id: str, start: datetime, end: datetime) -> list[CurvePoint]:
        """One meter's load-curve points in [start, end), in time order."""

    async def feeder_curve(self, feeder_id: str, start: datetime, end: datetime) -> list[CurvePoint]:
        """The sum over a feeder's meters per load-curve interval in [start, end), in time order."""

    async def events(
        self,
        start: datetime,
        end: datetime,
        *,
        codes: Sequence[EventCode] | None = None,
        meter_id: str | None = None,
        feeder_id: str | None = None,
    ) -> list[StoredEvent]:
        """Events in [start, end), in time order, filtered by code, meter or feeder."""

    async def wan_status(self) -> list[WanStatus]:
        """The latest WAN report per meter, by meter id."""

    async def count(self, table: str) -> int:
        """Rows in one of the tables: samples, curve_points, events, wan_reports."""
