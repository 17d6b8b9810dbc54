"""Scripted scenario events on the sim time line ("kettle on at 07:02", "outage at 2025-06-17T14:00").

A daily event (`at = "07:02"`) happens every local day at that wall time; across a DST change
it keeps its wall time, and a time that does not exist that day (02:30 on the spring-forward
Sunday) is taken one hour later, as a household clock would. A one-off event (`at` with a date)
happens once. `due(t0, t1)` hands out the events of [t0, t1) in time order.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gridedge.model.scenario import EventConfig


def _local_to_sim(day: date, event: EventConfig, zone: ZoneInfo, start: datetime) -> float:
    at = event.daily_time
    assert at is not None
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone)
    # a wall time skipped by the spring-forward change does not round-trip: move it an hour on
    if aware.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) != naive:
        aware = (naive + timedelta(hours=1)).replace(tzinfo=zone)
    return (aware - start).total_seconds()


class EventScript:
    """The scenario's events as a time line in sim seconds since `start`."""

    def __init__(self, events: Sequence[EventConfig], start: datetime, zone: ZoneInfo) -> None:
        self.start = start
        self.zone = zone
        self._daily = [e for e in events if e.daily_time is not None]
        self._heap: list[tuple[float, int, EventConfig]] = []
        self._seq = 0
        for e in events:
            when = e.when(zone)
            if when is not None:
                t = (when - start).total_seconds()
                if t >= 0:
                    self._push(t, e)
        self._next_day = start.astimezone(zone).date()
        self._horizon = -1.0

    def _push(self, t: float, e: EventConfig) -> None:
        heapq.heappush(self._heap, (t, self._seq, e))
        self._seq += 1

    def _extend(self, t1: float) -> None:
        """Generate daily occurrences until the generated days cover t1."""
        while self._horizon < t1:
            day = self._next_day
            for e in self._daily:
                t = _local_to_sim(day, e, self.zone, self.start)
                if t >= 0:
                    self._push(t, e)
            self._next_day = day + timedelta(days=1)
            midnight = datetime.combine(self._next_day, datetime.min.time()).replace(tzinfo=self.zone)
            self._horizon = (midnight - self.start).total_seconds()

    def schedule(self, t: float, event: EventConfig) -> None:
        """Add a follow-up event at sim time t (e.g. the "off" that ends an "on" with a duration)."""
        self._push(t, event)

    def due(self, t0: float, t1: float) -> list[tuple[float, EventConfig]]:
        """Events with t0 <= t < t1 (and any earlier ones not handed out yet), in time order."""
        if self._daily:
            self._extend(t1)
        out: list[tuple[float, EventConfig]] = []
        while self._heap and self._heap[0][0] < t1:
            t, _, e = heapq.heappop(self._heap)
            out.append((t, e))
        return out
