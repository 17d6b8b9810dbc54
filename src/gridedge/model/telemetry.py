"""What a meter's communication module sends to the head-end system, and the head-end's receipt.

The ESMIG use cases (seeds/002, DESIGN.md "numbers") define four kinds of upstream data:

- monitoring of the grid connection point: instantaneous power, energy import/export, per-phase
  current and voltage, frequency, pushed every 10 s (`GridPointSample`, kind MONITORING);
- near-real-time data (NRTD) at a set interval of at most 5 min (`GridPointSample`, kind NRTD);
- load curves: 10 s energy values, sent every 15 min (`LoadCurve`);
- events: near a power limit, breaker, power failure, voltage quality (`MeterEvent`);

plus WAN monitoring (link quality, outages; a report at most every 15 min, `WanReport`).

Every record carries the meter's id and a `sequence` that counts per meter over all kinds,
assigned once when the gateway stores the record. Sequence numbers make delivery end to end: the
head-end commits records idempotently on (meter, sequence), and acknowledges the committed
sequence ranges (`TelemetryAck`); the gateway deletes from its store-and-forward queue only what is
acknowledged. MQTT shared subscriptions hand messages out round-robin, so order per meter comes
from the sequence, not from arrival.

Energy is in Wh (integers: 10 s values of a household are a few Wh, and registers in Wh keep
exact sums), power in W, voltage in V, current in A.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

__all__ = [
    "EventCode",
    "GridPointSample",
    "LoadCurve",
    "MeterEvent",
    "SampleKind",
    "TelemetryAck",
    "TelemetryRecord",
    "WanReport",
    "merge_ranges",
]


class SampleKind(StrEnum):
    """Why a grid-point sample was sent."""

    MONITORING = "monitoring"
    """Grid connection point monitoring, every 10 s (ESMIG use case "Monitoring of grid
    connection point")."""
    NRTD = "nrtd"
    """Near-real-time data for the head-end, at a set interval of at most 5 min."""


class EventCode(StrEnum):
    """Events a meter reports upstream (ESMIG use cases: near-to-power-limit notification, meter
    power-limit action, power quality)."""

    NEAR_LIMIT = "near-limit"
    LIMIT_EXCEEDED = "limit-exceeded"
    BREAKER_OPEN = "breaker-open"
    BREAKER_CLOSED = "breaker-closed"
    POWER_FAILURE = "power-failure"
    POWER_RESTORED = "power-restored"
    VOLTAGE_SAG = "voltage-sag"
    VOLTAGE_SWELL = "voltage-swell"


def _check_common(meter_id: str, sequence: int, time: datetime) -> None:
    if not meter_id:
        raise ValueError("meter_id must not be empty")
    if sequence < 1:
        raise ValueError(f"sequence must be >= 1, got {sequence}")
    if time.tzinfo is not UTC and (time.tzinfo is None or time.utcoffset() is None):
        raise ValueError(f"time must be timezone-aware, got {time.isoformat()}")


@dataclass(slots=True)
class GridPointSample:
    """The grid connection point at one instant: monitoring (10 s) or NRTD (<= 5 min).

    `voltage_v` / `current_a` hold one value per phase (L1..L3), None where the meter sends none.

    Slotted but not frozen, like `MeterReading`: the head-end builds one per reading (tens of
    thousands a second) and a frozen dataclass costs ~1.2 us more per construction. Treat it as
    immutable all the same (`dataclasses.replace` derives a changed copy).
    """

    meter_id: str
    sequence: int
    time: datetime
    kind: SampleKind
    import_w: float
    export_w: float
    import_wh: int
    export_wh: int
    voltage_v: tuple[float | None, ...] = ()
    current_a: tuple[float | None, ...] = ()
    frequency_hz: float | None = None

    def __post_init__(self) -> None:
        _check_common(self.meter_id, self.sequence, self.time)


@dataclass(frozen=True, slots=True)
class LoadCurve:
    """Energy per interval (10 s by default) over a quarter hour, starting at `start`.

    `import_wh[i]` is the energy imported in [start + i*interval_s, start + (i+1)*interval_s).
    An interval the gateway has no reading for is None, never 0.
    """

    meter_id: str
    sequence: int
    start: datetime
    interval_s: int
    import_wh: tuple[float | None, ...]
    export_wh: tuple[float | None, ...]

    def __post_init__(self) -> None:
        _check_common(self.meter_id, self.sequence, self.start)
        if self.interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {self.interval_s}")
        if len(self.import_wh) != len(self.export_wh):
            raise ValueError(
                f"import_wh has {len(self.import_wh)} values, export_wh {len(self.export_wh)}: "
                "they must be the same length"
            )

    @property
    def time(self) -> datetime:
        return self.start


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """Something that happened at the meter.

    For voltage events `value` is the residual voltage in % of nominal (a sag to 70 % is 70.0)
    and `duration_s` how long it lasted; for limit events `value` is the power in W.
    """

    meter_id: str
    sequence: int
    time: datetime
    code: EventCode
    phase: int | None = None
    value: float | None = None
    duration_s: float | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        _check_common(self.meter_id, self.sequence, self.time)
        if self.phase is not None and not 1 <= self.phase <= 3:
            raise ValueError(f"phase must be 1..3 or None, got {self.phase}")


@dataclass(frozen=True, slots=True)
class WanReport:
    """The gateway's view of its wide-area link since `since` (ESMIG "WAN monitoring").

    Latencies are round trips to the head-end (publish to acknowledgement) in ms, None when
    nothing was acknowledged in the period.
    """

    meter_id: str
    sequence: int
    time: datetime
    since: datetime
    link_up: bool
    latency_ms_median: float | None
    latency_ms_max: float | None
    outages: int
    outage_s: float
    sent: int
    resent: int

    def __post_init__(self) -> None:
        _check_common(self.meter_id, self.sequence, self.time)


TelemetryRecord = GridPointSample | LoadCurve | MeterEvent | WanReport
"""One upstream message's content."""


def merge_ranges(sequences: list[int] | tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Sorted, merged inclusive ranges of the given sequence numbers: [5, 1, 2, 3] -> ((1, 3), (5, 5))."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(sequences)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class TelemetryAck:
    """The head-end's receipt: these sequence ranges of `meter_id` are committed to storage.

    Ranges are inclusive (first, last). The gateway may delete exactly these records from its
    store-and-forward queue; anything not acknowledged is sent again.
    """

    meter_id: str
    ranges: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.meter_id:
            raise ValueError("meter_id must not be empty")
        for first, last in self.ranges:
            if first < 1 or last < first:
                raise ValueError(f"bad sequence range ({first}, {last}): need 1 <= first <= last")

    def covers(self, sequence: int) -> bool:
        return any(first <= sequence <= last for first, last in self.ranges)

    @property
    def count(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges)
