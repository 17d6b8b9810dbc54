"""What kind of data a record is: the unit of consent and of the outbox's drop policy.

The categories follow the ESMIG use cases (seeds/002): monitoring of the grid connection point,
near-real-time data, load curves, events, WAN monitoring; plus `s1-samples`, the raw waveform of
the Fluvius S1 port, which this gateway does not send but which consent must be able to name,
because the Fluvius user-port brochure §6.1 ties the two ports together: "both user ports must
always be activated or deactivated together". Consent is therefore given for scopes, and the
port scope `port-data` covers every category read from P1 *and* S1 (`consent.SCOPES`).
"""

from __future__ import annotations

from enum import StrEnum

from gridedge.model.telemetry import (
    GridPointSample,
    LoadCurve,
    MeterEvent,
    SampleKind,
    TelemetryRecord,
    WanReport,
)

__all__ = ["DROP_ORDER", "DataCategory", "category_of", "priority"]


class DataCategory(StrEnum):
    MONITORING = "monitoring"
    """Grid-point samples every 10 s (P1)."""
    NRTD = "nrtd"
    """Near-real-time data, at most every 5 min (P1)."""
    LOAD_CURVE = "load-curve"
    """15-min load curves of 10 s energy values (P1)."""
    EVENTS = "events"
    """Limit, breaker, power-failure and voltage events (P1)."""
    S1_SAMPLES = "s1-samples"
    """Raw voltage/current samples of the S1 port (not sent by this gateway; named for consent)."""
    WAN = "wan"
    """The gateway's own WAN reports: no meter data."""


DROP_ORDER: tuple[DataCategory, ...] = (
    DataCategory.MONITORING,
    DataCategory.NRTD,
    DataCategory.WAN,
    DataCategory.S1_SAMPLES,
    DataCategory.LOAD_CURVE,
    DataCategory.EVENTS,
)
"""When the outbox is full, the oldest records of the first category here go first. Monitoring
samples are the most redundant (an NRTD sample and the load curve cover the same period), load
curves carry every Wh of the period, and events are rare and cannot be recomputed."""

_PRIORITY = {c: i for i, c in enumerate(DROP_ORDER)}


def priority(category: DataCategory) -> int:
    """Lower is dropped first."""
    return _PRIORITY[category]


def category_of(record: TelemetryRecord) -> DataCategory:
    if isinstance(record, GridPointSample):
        return DataCategory.MONITORING if record.kind is SampleKind.MONITORING else DataCategory.NRTD
    if isinstance(record, LoadCurve):
        return DataCategory.LOAD_CURVE
    if isinstance(record, MeterEvent):
        return DataCategory.EVENTS
    if isinstance(record, WanReport):
        return DataCategory.WAN
    raise TypeError(f"not a telemetry record: {type(record).__name__}")
