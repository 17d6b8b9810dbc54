"""Sim time to the meter's calendar: epoch seconds, local offsets and aware timestamps.

A meter's calendar work (tariff switching, quarter-hour demand, month change, 5-minute M-Bus
capture) happens on quarter-hour boundaries. In every time zone in use today, UTC offsets and DST
transitions are whole multiples of 15 minutes (the EU switches at 01:00 UTC, Directive
2000/84/EC art. 2-3), so the local quarter-hours are the multiples of 900 s of Unix time. The
offset is therefore looked up once per quarter-hour and cached, and the per-second path only
compares floats.

Timestamps get a fixed-offset `timezone` rather than the site's `ZoneInfo`: they stand for the
same instant, but a fixed offset compares equal across zones even in the repeated October hour
(PEP 495: an inter-zone `==` is always False for a time whose offset depends on `fold`), so a
reading equals its decoded telegram (the P1 decoder returns CET/CEST offsets).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Final
from zoneinfo import ZoneInfo

QUARTER_S: Final = 900
"""Length of a demand period (e-MUCS capacity tariff, 15 min) and of the offset cache."""


class LocalTime:
    """Local calendar of a site: aware timestamps with fixed offsets, cached per quarter-hour."""

    __slots__ = ("_cached_q", "_tz", "_tzs", "zone")

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._tzs: dict[timedelta, timezone] = {}
        self._cached_q = -(2**62)
        self._tz: timezone = UTC

    def offset_tz(self, epoch: float) -> timezone:
        """The fixed-offset zone in force at `epoch` (Unix seconds)."""
        q = int(epoch // QUARTER_S)
        if q != self._cached_q:
            self._cached_q = q
            self._tz = self.fixed(datetime.fromtimestamp(q * QUARTER_S, self.zone).utcoffset())
        return self._tz

    def fixed(self, offset: timedelta | None) -> timezone:
        """One shared `timezone` object per offset."""
        off = offset if offset is not None else timedelta(0)
        tz = self._tzs.get(off)
        if tz is None:
            tz = self._tzs[off] = UTC if not off else timezone(off)
        return tz

    def stamp(self, epoch: float) -> datetime:
        """Aware timestamp at `epoch`, rounded to the whole second (TST has 1 s resolution)."""
        whole = round(epoch)
        return datetime.fromtimestamp(whole, self.offset_tz(whole))

    def local(self, epoch: float) -> datetime:
        """Wall-clock time at `epoch` in the site's zone (for calendar decisions, not for readings)."""
        return datetime.fromtimestamp(epoch, self.zone)


def epoch_of(when: datetime) -> float:
    """Unix seconds of an aware datetime."""
    if when.tzinfo is None:
        raise ValueError(f"{when.isoformat()} has no time zone")
    return (when - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
