"""OpenADR 3.0.1 events <-> gridedge's own models: prices and capacity limits.

* A PRICE (or EXPORT_PRICE) event becomes a `PriceSeries` (model/tariff.py) in currency per kWh on
  a regular UTC grid: the grid step is the greatest common divisor of the intervals' lengths and
  offsets, intervals without a price stay NaN (a gap, never guessed). The payload descriptor of
  the event (else of the program) gives `units` (KWH by default; MWH and WH are converted) and
  `currency` (the caller's default otherwise).
* An IMPORT_CAPACITY_LIMIT / EXPORT_CAPACITY_LIMIT event becomes a `CapacityLimitSchedule`: a
  sorted tuple of [start, end) limits in W (units KW by default; W and MW converted), with the
  direction of model/limits.py (import = consumption, export = production). `power_limit_at(t)`
  gives the `PowerLimit` in force, with the time left as its duration, which is what the LPC
  limit machine takes.

The builders do the opposite for the VTN side (`price_event`, `capacity_limit_event`) and for the
VEN's reports (`usage_report`). Pure functions, no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from itertools import pairwise

import numpy as np

from gridedge.model.limits import Direction, PowerLimit
from gridedge.model.openadr.duration import IsoDuration, format_duration
from gridedge.model.openadr.payloads import EventPayloadType, ReportPayloadType, Unit
from gridedge.model.openadr.schemas import (
    Event,
    EventPayloadDescriptor,
    Interval,
    IntervalPeriod,
    Program,
    Report,
    ReportPayloadDescriptor,
    ReportResource,
    ValuesMap,
)
from gridedge.model.openadr.timeline import OpenAdrConversionError, TimedInterval, timeline
from gridedge.model.tariff import PriceSeries

__all__ = [
    "CapacityLimit",
    "CapacityLimitSchedule",
    "capacity_limit_event",
    "capacity_limits_from_event",
    "merge_limit_schedules",
    "merge_price_series",
    "price_event",
    "price_series_from_event",
    "usage_report",
]

_PRICE_PER_KWH = {Unit.KWH.value: 1.0, Unit.MWH.value: 1e-3, Unit.WH.value: 1e3}
"""Factor from a price per `units` to a price per kWh."""
_WATTS = {Unit.KW.value: 1e3, Unit.W.value: 1.0, Unit.MW.value: 1e6}
"""Factor from a power in `units` to W."""
_LIMIT_DIRECTION = {
    EventPayloadType.IMPORT_CAPACITY_LIMIT.value: Direction.CONSUMPTION,
    EventPayloadType.EXPORT_CAPACITY_LIMIT.value: Direction.PRODUCTION,
}


# --------------------------------------------------------------------------- capacity limits


@dataclass(frozen=True, slots=True)
class CapacityLimit:
    """A power limit over [start, end) in W (`end` None: until further notice)."""

    start: datetime
    end: datetime | None
    watts: float

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError(f"CapacityLimit.start: expected a timezone-aware time, found {self.start}")
        if not (math.isfinite(self.watts) and self.watts >= 0):
            raise ValueError(f"CapacityLimit.watts: expected W >= 0 (LPC-TS-001), found {self.watts!r}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"CapacityLimit.end: expected after {self.start.isoformat()}, found {self.end}")

    def holds_at(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass(frozen=True, slots=True)
class CapacityLimitSchedule:
    """Scheduled import (consumption) or export (production) limits, sorted and non-overlapping.

    model/limits.py has a limit that applies now (`PowerLimit`) but no schedule of future ones;
    this is that schedule, as an OpenADR capacity-limit event carries it.
    """

    direction: Direction
    limits: tuple[CapacityLimit, ...]
    source: str = ""
    """Where it came from (e.g. "OpenADR event <id>"), for messages."""

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.limits, key=lambda lim: lim.start))
        for a, b in pairwise(ordered):
            if a.end is None or a.end > b.start:
                raise ValueError(
                    f"{self.source or 'CapacityLimitSchedule'}: limits overlap at {b.start.isoformat()}"
                )
        object.__setattr__(self, "limits", ordered)

    def limit_at(self, t: datetime) -> CapacityLimit | None:
        """The limit holding at `t`, or None."""
        return next((lim for lim in self.limits if lim.holds_at(t)), None)

    def power_limit_at(self, t: datetime) -> PowerLimit | None:
        """The `PowerLimit` in force at `t`, its duration the time left until the limit ends."""
        lim = self.limit_at(t)
        if lim is None:
            return None
        left = None if lim.end is None else (lim.end - t).total_seconds()
        return PowerLimit(value_w=lim.watts, active=True, duration_s=left, direction=self.direction)


def merge_limit_schedules(schedules: Iterable[CapacityLimitSchedule]) -> CapacityLimitSchedule | None:
    """One schedule from several of the same direction: where limits overlap the lowest holds
    (the most restrictive one is always safe for the grid). None for no schedules."""
    items = list(schedules)
    if not items:
        return None
    direction = items[0].direction
    if any(s.direction is not direction for s in items):
        raise ValueError("merge_limit_schedules: schedules of different directions")
    limits = [lim for s in items for lim in s.limits]
    cuts = sorted({lim.start for lim in limits} | {lim.end for lim in limits if lim.end is not None})
    out: list[CapacityLimit] = []
    for k, a in enumerate(cuts):
        b = cuts[k + 1] if k + 1 < len(cuts) else None
        held = [lim.watts for lim in limits if lim.holds_at(a)]
        if not held:
            continue
        w = min(held)
        if out and out[-1].end == a and out[-1].watts == w:
            out[-1] = CapacityLimit(out[-1].start, b, w)
        else:
            out.append(CapacityLimit(a, b, w))
    return CapacityLimitSchedule(direction, tuple(out), source=", ".join(s.source for s in items if s.source))


# --------------------------------------------------------------------------- reading events


def _name(event: Event) -> str:
    return f"OpenADR event {event.id or event.event_name or '(unsaved)'}"


def _descriptor(event: Event, program: Program | None, payload_type: str) -> EventPayloadDescriptor | None:
    for d in event.payload_descriptors or ():
        if d.payload_type == payload_type:
            return d
    if program is not None:
        for pd in program.payload_descriptors or ():
            if isinstance(pd, EventPayloadDescriptor) and pd.payload_type == payload_type:
                return pd
    return None


def _number(ti: TimedInterval, payload: ValuesMap, where: str) -> float:
    if len(payload.values) != 1:
        raise OpenAdrConversionError(
            f"{where}.intervals[{ti.index}] {payload.type}: expected one value, found {len(payload.values)}"
        )
    v = payload.values[0]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise OpenAdrConversionError(
            f"{where}.intervals[{ti.index}] {payload.type}: expected a number, found {v!r}"
        )
    return float(v)


def _factor(table: dict[str, float], units: str | None, default: Unit, where: str) -> float:
    key = (units or default.value).upper()
    if key not in table:
        raise OpenAdrConversionError(
            f"{where}: units {units!r} not understood (expected one of {sorted(table)})"
        )
    return table[key]


def price_series_from_event(
    event: Event,
    *,
    program: Program | None = None,
    payload_type: str = EventPayloadType.PRICE.value,
    default_currency: str = "EUR",
) -> PriceSeries:
    """The event's prices as a `PriceSeries` per kWh (see the module docstring)."""
    where = _name(event)
    timed = [
        (ti, p)
        for ti in timeline(event.intervals, event.interval_period, where)
        if (p := ti.payload(payload_type))
    ]
    if not timed:
        raise OpenAdrConversionError(f"{where}: no {payload_type} payload in any interval")
    desc = _descriptor(event, program, payload_type)
    factor = _factor(_PRICE_PER_KWH, desc.units if desc else None, Unit.KWH, f"{where} {payload_type}")
    currency = (desc.currency if desc and desc.currency else default_currency).upper()
    spans: list[tuple[datetime, datetime, float]] = []
    for ti, p in timed:
        if ti.end is None:
            raise OpenAdrConversionError(
                f"{where}.intervals[{ti.index}]: a {payload_type} interval needs a duration"
                " (PT0S is open-ended)"
            )
        spans.append((ti.start, ti.end, _number(ti, p, where) * factor))
    t0 = min(s[0] for s in spans)
    t1 = max(s[1] for s in spans)
    marks = [(a - t0) for a, b, _ in spans] + [(b - a) for a, b, _ in spans]
    micro = [m // timedelta(microseconds=1) for m in marks]
    if any(m % 1_000_000 for m in micro):
        raise OpenAdrConversionError(f"{where}: interval starts and lengths must be whole seconds")
    step = reduce(math.gcd, (m // 1_000_000 for m in micro))
    n = int((t1 - t0).total_seconds()) // step
    values = np.full(n, np.nan)
    for a, b, v in spans:
        i0 = int((a - t0).total_seconds()) // step
        i1 = int((b - t0).total_seconds()) // step
        if not np.isnan(values[i0:i1]).all():
            raise OpenAdrConversionError(f"{where}: {payload_type} intervals overlap at {a.isoformat()}")
        values[i0:i1] = v
    return PriceSeries(start=t0, step_s=step, values=values, source=where, currency=currency)


def capacity_limits_from_event(
    event: Event,
    payload_type: str = EventPayloadType.IMPORT_CAPACITY_LIMIT.value,
    *,
    program: Program | None = None,
) -> CapacityLimitSchedule:
    """The event's IMPORT_ or EXPORT_CAPACITY_LIMIT values as a schedule in W."""
    where = _name(event)
    if payload_type not in _LIMIT_DIRECTION:
        raise ValueError(f"payload_type: expected one of {sorted(_LIMIT_DIRECTION)}, found {payload_type!r}")
    desc = _descriptor(event, program, payload_type)
    factor = _factor(_WATTS, desc.units if desc else None, Unit.KW, f"{where} {payload_type}")
    limits = []
    for ti in timeline(event.intervals, event.interval_period, where):
        p = ti.payload(payload_type)
        if p is None:
            continue
        w = _number(ti, p, where) * factor
        if w < 0:
            raise OpenAdrConversionError(
                f"{where}.intervals[{ti.index}] {payload_type}: expected a limit >= 0, found {w / factor!r}"
            )
        limits.append(CapacityLimit(ti.start, ti.end, w))
    if not limits:
        raise OpenAdrConversionError(f"{where}: no {payload_type} payload in any interval")
    try:
        return CapacityLimitSchedule(_LIMIT_DIRECTION[payload_type], tuple(limits), source=where)
    except ValueError as exc:
        raise OpenAdrConversionError(str(exc)) from exc


def merge_price_series(series: Sequence[PriceSeries]) -> PriceSeries | None:
    """Several price series (e.g. one event per day) on one grid; a later one wins where they
    overlap, NaN where none has a price. None for an empty sequence."""
    if not series:
        return None
    currencies = {s.currency for s in series}
    if len(currencies) > 1:
        raise ValueError(f"merge_price_series: mixed currencies {sorted(currencies)}")
    t0 = min(s.start for s in series)
    t1 = max(s.end for s in series)
    offsets = [int((s.start - t0).total_seconds()) for s in series]
    step = reduce(math.gcd, [s.step_s for s in series] + offsets)
    values = np.full(int((t1 - t0).total_seconds()) // step, np.nan)
    for s, off in zip(series, offsets, strict=True):
        rep = np.repeat(s.values, s.step_s // step)
        i0 = off // step
        seg = values[i0 : i0 + rep.size]
        values[i0 : i0 + rep.size] = np.where(np.isnan(rep), seg, rep)
    return PriceSeries(
        start=t0,
        step_s=step,
        values=values,
        source=" + ".join(s.source for s in series),
        currency=series[0].currency,
    )


# --------------------------------------------------------------------------- writing events


def _period(start: datetime, end: datetime | None) -> IntervalPeriod:
    text = "PT0S" if end is None else format_duration(end - start)
    return IntervalPeriod(start=start, duration=IsoDuration.parse(text))


def price_event(
    program_id: str,
    series: PriceSeries,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    event_name: str | None = None,
    priority: int | None = None,
    targets: list[ValuesMap] | None = None,
    payload_type: str = EventPayloadType.PRICE.value,
) -> Event:
    """A PRICE event with one interval per step of `series` over [start, end) (default: all of it).

    Contiguous prices use the compact form (the event's `intervalPeriod` and no per-interval
    period); a series with gaps gives each priced interval its own start, and the gaps are left out.
    """
    i0 = 0 if start is None else series.index_of(start)
    i1 = len(series) if end is None else series.index_of(end - timedelta(microseconds=1)) + 1
    vals = series.values[i0:i1]
    if vals.size == 0 or np.isnan(vals).all():
        raise ValueError(f"{series.source or 'price series'}: no price between the given times")
    step = timedelta(seconds=series.step_s)
    period = IntervalPeriod(start=series.time_at(i0), duration=IsoDuration.parse(format_duration(step)))
    gaps = bool(np.isnan(vals).any())
    intervals = [
        Interval(
            id=k,
            interval_period=IntervalPeriod(start=series.time_at(i0 + k)) if gaps else None,
            payloads=[ValuesMap(type=payload_type, values=[float(v)])],
        )
        for k, v in enumerate(vals)
        if not np.isnan(v)
    ]
    return Event(
        program_id=program_id,
        event_name=event_name,
        priority=priority,
        targets=targets,
        payload_descriptors=[
            EventPayloadDescriptor(payload_type=payload_type, units=Unit.KWH.value, currency=series.currency)
        ],
        interval_period=period,
        intervals=intervals,
    )


def capacity_limit_event(
    program_id: str,
    schedule: CapacityLimitSchedule,
    *,
    event_name: str | None = None,
    priority: int | None = None,
    targets: list[ValuesMap] | None = None,
) -> Event:
    """An IMPORT_ or EXPORT_CAPACITY_LIMIT event (units KW), one interval per limit, each with
    its own period (an open-ended limit has duration PT0S)."""
    kind = next(k for k, d in _LIMIT_DIRECTION.items() if d is schedule.direction)
    return Event(
        program_id=program_id,
        event_name=event_name,
        priority=priority,
        targets=targets,
        payload_descriptors=[EventPayloadDescriptor(payload_type=kind, units=Unit.KW.value)],
        intervals=[
            Interval(
                id=k,
                interval_period=_period(lim.start, lim.end),
                payloads=[ValuesMap(type=kind, values=[lim.watts / 1000.0])],
            )
            for k, lim in enumerate(schedule.limits)
        ],
    )


def usage_report(
    *,
    program_id: str,
    event_id: str,
    client_name: str,
    resource_name: str,
    start: datetime,
    step_s: int,
    values: Sequence[float],
    report_name: str | None = None,
    payload_type: str = ReportPayloadType.USAGE.value,
    units: str = Unit.KWH.value,
) -> Report:
    """A report of one resource's consecutive `values` (energy per step by default: USAGE in KWH)."""
    if step_s <= 0:
        raise ValueError(f"step_s: expected a positive number of seconds, found {step_s}")
    if start.tzinfo is None:
        raise ValueError(f"start: expected a timezone-aware time, found {start}")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise ValueError(f"values: expected finite numbers, found {bad[0]!r}")
    return Report(
        program_id=program_id,
        event_id=event_id,
        client_name=client_name,
        report_name=report_name,
        payload_descriptors=[ReportPayloadDescriptor(payload_type=payload_type, units=units)],
        resources=[
            ReportResource(
                resource_name=resource_name,
                interval_period=IntervalPeriod(
                    start=start.astimezone(UTC),
                    duration=IsoDuration.parse(format_duration(timedelta(seconds=step_s))),
                ),
                intervals=[
                    Interval(id=k, payloads=[ValuesMap(type=payload_type, values=[float(v)])])
                    for k, v in enumerate(values)
                ],
            )
        ],
    )
