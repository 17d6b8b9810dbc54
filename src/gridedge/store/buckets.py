"""Bucket arithmetic and mergeable partial aggregates (pure: no I/O, no clock).

A bucket is kept as sums, counts, minima, maxima and the first / last register values with their
times. All of these merge associatively, so the writer folds a batch of new samples into small
in-memory partials and merges each partial into its stored row once per commit, whatever order the
samples came in. Duplicates never reach this code: the raw store refuses them first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gridedge.store.codec import POWER_EXPORT, POWER_IMPORT, energy_totals

MINUTE = 60
QUARTER_HOUR = 900
DAY = 86400
"""Resolution codes as stored; DAY means one local day of the store's zone (23, 24 or 25 h)."""

RESOLUTIONS = (MINUTE, QUARTER_HOUR, DAY)


def local_midnight(day: date, zone: ZoneInfo) -> int:
    """UTC epoch seconds of the first instant of a local date.

    With fold=0 a local midnight that does not exist (a zone that springs forward at 00:00) maps
    to the first instant after the gap, which is what a day bucket wants.
    """
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


class LocalDays:
    """Maps epoch seconds to the [start, end) of their local day, caching the current day."""

    __slots__ = ("_hi", "_lo", "zone")

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._lo = 0
        self._hi = 0

    def bounds(self, ts: int) -> tuple[int, int]:
        if self._lo <= ts < self._hi:
            return self._lo, self._hi
        d = datetime.fromtimestamp(ts, self.zone).date()
        lo = local_midnight(d, self.zone)
        hi = local_midnight(d + timedelta(days=1), self.zone)
        self._lo, self._hi = lo, hi
        return lo, hi


def bucket_bounds(res: int, ts: int, days: LocalDays) -> tuple[int, int]:
    if res == DAY:
        return days.bounds(ts)
    start = ts - ts % res
    return start, start + res


class Partial:
    """The mergeable state of one bucket. Field names match the `aggregates` table columns."""

    __slots__ = (
        "e_first_ts",
        "e_last_ts",
        "ee_first",
        "ee_last",
        "ei_first",
        "ei_last",
        "end",
        "first_ts",
        "last_ts",
        "n",
        "pe_max",
        "pe_min",
        "pe_n",
        "pe_sum",
        "pi_max",
        "pi_min",
        "pi_n",
        "pi_sum",
        "start",
    )

    COLUMNS = (
        "start",
        "end",
        "n",
        "first_ts",
        "last_ts",
        "pi_n",
        "pi_sum",
        "pi_min",
        "pi_max",
        "pe_n",
        "pe_sum",
        "pe_min",
        "pe_max",
        "e_first_ts",
        "ei_first",
        "ee_first",
        "e_last_ts",
        "ei_last",
        "ee_last",
    )

    start: int
    end: int
    n: int
    first_ts: int
    last_ts: int
    pi_n: int
    pi_sum: int
    pi_min: int | None
    pi_max: int | None
    pe_n: int
    pe_sum: int
    pe_min: int | None
    pe_max: int | None
    e_first_ts: int | None
    ei_first: int | None
    ee_first: int | None
    e_last_ts: int | None
    ei_last: int | None
    ee_last: int | None

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self.n = 0
        self.first_ts = 0
        self.last_ts = 0
        self.pi_n = self.pi_sum = self.pe_n = self.pe_sum = 0
        self.pi_min = self.pi_max = self.pe_min = self.pe_max = None
        self.e_first_ts = self.ei_first = self.ee_first = None
        self.e_last_ts = self.ei_last = self.ee_last = None

    @classmethod
    def from_row(cls, row: tuple[int | None, ...]) -> Partial:
        p = cls.__new__(cls)
        for name, value in zip(cls.COLUMNS, row, strict=True):
            setattr(p, name, value)
        return p

    def row(self) -> tuple[int | None, ...]:
        return tuple(getattr(self, name) for name in self.COLUMNS)

    def add(self, ts: int, pi: int | None, pe: int | None, ei: int | None, ee: int | None) -> None:
        """Fold in one new sample (integers in the units of `codec`)."""
        if self.n == 0 or ts < self.first_ts:
            self.first_ts = ts
        if self.n == 0 or ts > self.last_ts:
            self.last_ts = ts
        self.n += 1
        if pi is not None:
            self.pi_n += 1
            self.pi_sum += pi
            if self.pi_min is None or pi < self.pi_min:
                self.pi_min = pi
            if self.pi_max is None or pi > self.pi_max:
                self.pi_max = pi
        if pe is not None:
            self.pe_n += 1
            self.pe_sum += pe
            if self.pe_min is None or pe < self.pe_min:
                self.pe_min = pe
            if self.pe_max is None or pe > self.pe_max:
                self.pe_max = pe
        if ei is not None or ee is not None:
            if self.e_first_ts is None or ts < self.e_first_ts:
                self.e_first_ts, self.ei_first, self.ee_first = ts, ei, ee
            if self.e_last_ts is None or ts > self.e_last_ts:
                self.e_last_ts, self.ei_last, self.ee_last = ts, ei, ee

    def merge(self, other: Partial) -> None:
        """Fold another partial of the same bucket into this one."""
        if other.n == 0:
            return
        if self.n == 0 or other.first_ts < self.first_ts:
            self.first_ts = other.first_ts
        if self.n == 0 or other.last_ts > self.last_ts:
            self.last_ts = other.last_ts
        self.n += other.n
        self.pi_n += other.pi_n
        self.pi_sum += other.pi_sum
        self.pi_min = _min(self.pi_min, other.pi_min)
        self.pi_max = _max(self.pi_max, other.pi_max)
        self.pe_n += other.pe_n
        self.pe_sum += other.pe_sum
        self.pe_min = _min(self.pe_min, other.pe_min)
        self.pe_max = _max(self.pe_max, other.pe_max)
        if other.e_first_ts is not None and (self.e_first_ts is None or other.e_first_ts < self.e_first_ts):
            self.e_first_ts, self.ei_first, self.ee_first = other.e_first_ts, other.ei_first, other.ee_first
        if other.e_last_ts is not None and (self.e_last_ts is None or other.e_last_ts > self.e_last_ts):
            self.e_last_ts, self.ei_last, self.ee_last = other.e_last_ts, other.ei_last, other.ee_last


def _min(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a <= b else b


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


class Accumulator:
    """Partials of every bucket touched since the last commit, keyed by (meter, res, start)."""

    __slots__ = ("days", "partials")

    def __init__(self, zone: ZoneInfo) -> None:
        self.days = LocalDays(zone)
        self.partials: dict[tuple[str, int, int], Partial] = {}

    def add(self, meter: str, ts: int, values: Mapping[str, int]) -> None:
        pi = values.get(POWER_IMPORT)
        pe = values.get(POWER_EXPORT)
        ei, ee = energy_totals(values)
        partials = self.partials
        for res in RESOLUTIONS:
            start, end = bucket_bounds(res, ts, self.days)
            key = (meter, res, start)
            p = partials.get(key)
            if p is None:
                p = partials[key] = Partial(start, end)
            p.add(ts, pi, pe, ei, ee)

    def __len__(self) -> int:
        return len(self.partials)

    def clear(self) -> None:
        self.partials.clear()
