"""Where each interval of an event or report lies in time (schemas `event`, `interval`, `intervalPeriod`).

An event's `intervalPeriod` gives the start of its first interval and the duration of each; the
intervals then follow one another in list order (OpenADR 3.0.1 User Guide, "intervals"), so
interval k starts k durations after the start. An interval with its own `intervalPeriod`
overrides that (its duration falls back to the event's). A duration of PT0S (the spec's default)
means "instantaneous or infinite depending on payloadType"; for prices and limits gridedge reads
it as open-ended (`end is None`). `randomizeStart` is not applied here: it is a VEN's choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gridedge.model.openadr.duration import DurationError, IsoDuration
from gridedge.model.openadr.schemas import Interval, IntervalPeriod, ValuesMap

__all__ = ["OpenAdrConversionError", "TimedInterval", "timeline"]


class OpenAdrConversionError(ValueError):
    """An OpenADR object that is valid on the wire but cannot become a gridedge model; names where."""


@dataclass(frozen=True, slots=True)
class TimedInterval:
    """One interval placed in time: [start, end), `end` None when open-ended (PT0S)."""

    index: int
    id: int
    start: datetime
    end: datetime | None
    payloads: tuple[ValuesMap, ...]

    def payload(self, kind: str) -> ValuesMap | None:
        """The first payload of `kind` (e.g. PRICE), or None."""
        return next((p for p in self.payloads if p.type == kind), None)


def _utc(t: datetime, where: str) -> datetime:
    try:
        return t.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise OpenAdrConversionError(f"{where}.start: {t.isoformat()} cannot be expressed in UTC") from exc


def _end(start: datetime, duration: IsoDuration | None, where: str) -> datetime | None:
    if duration is None:
        return None
    try:
        if not duration.is_calendar and duration.to_timedelta().total_seconds() == 0:
            return None
        end = duration.add_to(start)
    except DurationError as exc:
        raise OpenAdrConversionError(f"{where}.duration: {exc}") from exc
    if end <= start:
        raise OpenAdrConversionError(f"{where}.duration: expected a positive duration, found {duration}")
    return end


def timeline(
    intervals: list[Interval], default: IntervalPeriod | None, where: str = "event"
) -> list[TimedInterval]:
    """Place `intervals` in time using their own periods or the `default` (event/resource) period.

    Raises `OpenAdrConversionError` for an interval with no start at all, a negative duration,
    or one that cannot be placed after an open-ended interval.
    """
    out: list[TimedInterval] = []
    cursor = _utc(default.start, where + ".intervalPeriod") if default is not None else None
    default_duration = default.duration if default is not None else None
    for k, iv in enumerate(intervals):
        here = f"{where}.intervals[{k}]"
        own = iv.interval_period
        if own is not None:
            start = _utc(own.start, here + ".intervalPeriod")
            duration = own.duration if own.duration is not None else default_duration
        elif cursor is not None:
            start = cursor
            duration = default_duration
        else:
            raise OpenAdrConversionError(
                f"{here}: no start time (neither the interval nor its {where} has an intervalPeriod,"
                " or the previous interval is open-ended)"
            )
        end = _end(start, duration, here + ".intervalPeriod")
        out.append(TimedInterval(index=k, id=iv.id, start=start, end=end, payloads=tuple(iv.payloads)))
        cursor = end
    return out
