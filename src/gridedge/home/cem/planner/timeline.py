"""Absolute time steps of a plan and their local labels.

A plan's steps are fixed lengths of absolute time from an aware start, so a DST day simply has
92 or 100 quarter hours: nothing in the model depends on the local calendar. Python adds
`timedelta`s to aware datetimes in wall-clock time (PEP 495), which would put two steps on the
same instant or skip one across a DST change; every step time here is computed in UTC and only
then converted to the start's zone for labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo


@dataclass(frozen=True, slots=True)
class Timeline:
    """`n` steps of `step_s` seconds from the aware `start`."""

    start: datetime
    step_s: int
    n: int

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError(f"start: expected an aware datetime, found naive {self.start.isoformat()}")
        if self.step_s <= 0:
            raise ValueError(f"step_s: expected > 0 seconds, found {self.step_s}")
        if self.n <= 0:
            raise ValueError(f"n: expected at least one step, found {self.n}")

    @property
    def zone(self) -> tzinfo:
        tz = self.start.tzinfo
        assert tz is not None
        return tz

    @property
    def dt_h(self) -> float:
        """Step length in hours."""
        return self.step_s / 3600.0

    def time(self, k: int) -> datetime:
        """Start of step `k` (k == n is the end of the horizon), in the start's zone."""
        utc = self.start.astimezone(UTC) + timedelta(seconds=k * self.step_s)
        return utc.astimezone(self.zone)

    def times(self) -> tuple[datetime, ...]:
        return tuple(self.time(k) for k in range(self.n))

    @property
    def end(self) -> datetime:
        return self.time(self.n)

    def step_at(self, when: datetime) -> int:
        """Index of the step containing `when` (may be < 0 or >= n when outside the horizon)."""
        if when.tzinfo is None:
            raise ValueError(f"when: expected an aware datetime, found naive {when.isoformat()}")
        seconds = (when.astimezone(UTC) - self.start.astimezone(UTC)).total_seconds()
        return int(seconds // self.step_s)

    def label(self, k: int) -> str:
        """Local 'HH:MM' of the start of step `k`, with the date when it is not the start's date."""
        t = self.time(k)
        if t.date() == self.start.date():
            return t.strftime("%H:%M")
        return t.strftime("%a %H:%M")


def steps_in_local_day(day_start: datetime, step_s: int = 900) -> int:
    """Steps between local midnight `day_start` and the next local midnight (92/96/100 for quarter
    hours in Europe/Brussels on spring-forward / ordinary / fall-back days)."""
    if day_start.tzinfo is None:
        raise ValueError("day_start: expected an aware datetime")
    nxt = (day_start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=day_start.tzinfo)
    seconds = (nxt.astimezone(UTC) - day_start.astimezone(UTC)).total_seconds()
    return int(seconds // step_s)
