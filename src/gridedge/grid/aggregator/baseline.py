"""Baselines: what a site would have taken from the grid in a window had it not been activated.

Flexibility is paid on the difference between a baseline and what the meter measured; the
baseline is a counterfactual and can only be estimated. Two families are in common use and both
are here, as pure functions of the head-end's load-curve points (`CurvePoint`, 10 s energies by
default):

* **X of Y** (day matching, for events of an hour or more): take the Y most recent days of the
  same type (working day, or weekend/holiday) before the event day that had no event and full
  data, keep the X with the highest consumption in the event window ("High X of Y"; X = Y is
  the plain average, CAISO's "10 in 10"), and average them interval by interval at the same
  local time of day. A same-day adjustment then scales (multiplicative) or shifts (additive)
  that shape so it matches the event day's own load in the hours before the event, excluding
  the hour just before it (when the site may already have been notified), within a cap (+-20 %
  by default). Sources: AEMO's Wholesale Demand Response baseline register, four methods "based
  on the CAISO 10 of 10 framework" by day type
  (https://aemo.com.au/initiatives/trials-and-initiatives/wholesale-demand-response-mechanism/
  wdr-participant-toolbox/wdr-baseline-methodology-register); PG&E's residential programme, 5 of
  the 10 previous weekdays (3 of 5 weekend days) with an adjustment from the hours around the
  event (https://powersaver.pge.com/faq/); the review of customer-baseline methods by the JRC
  and co-authors, Energies 15(14):5259, 2022, doi:10.3390/en15145259; Bode & Ciccone,
  "California ISO baseline accuracy assessment", Nexant, 2017 (same-day adjustments cut the bias
  of day-matching baselines for weather-sensitive homes).
* **Meter before / meter after** (for short activations, minutes to an hour, as in balancing
  reserves): the baseline is the power measured just before the activation, held flat, or the
  line from it to the power measured just after the activation. Elia uses both families for its
  balancing and transfer-of-energy products and reviewed them in its 2021 baseline study
  (https://www.elia.be/en/public-consultation/20210927_public-consultation-of-the-study-on-baseline-methodologies).

The parameters (X, Y, adjustment window and cap, look-back) are ours to choose per product; the
defaults follow the CAISO-style residential 10-of-10 with a +-20 % multiplicative cap. With PV
the net can be near zero or negative, where a ratio means nothing: the multiplicative
adjustment then falls back to the additive one (said in `Baseline.method`).

Energies are net (import - export) kWh per interval; an interval whose points cover less than
`min_coverage` of it is unknown (NaN), never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gridedge.store.telemetry_base import CurvePoint

__all__ = [
    "Adjustment",
    "AdjustmentKind",
    "Baseline",
    "BaselineError",
    "BaselineMethod",
    "MeterBeforeAfter",
    "XofY",
    "interval_energy",
    "interval_registers",
    "measure",
]

FloatArray = npt.NDArray[np.float64]


class BaselineError(ValueError):
    """Not enough measured data for the baseline asked for."""


def interval_registers(
    points: Sequence[CurvePoint],
    start: datetime,
    end: datetime,
    step_s: int,
    *,
    point_s: int = 10,
    min_coverage: float = 0.9,
) -> tuple[FloatArray, FloatArray]:
    """Import and export energy (kWh) per `step_s` interval in [start, end) from load-curve
    points of `point_s` seconds each. An interval with fewer than `min_coverage` of its points
    present (both registers known) is NaN; one above is scaled up to the full interval (a few
    lost 10 s values are filled with the interval's own mean)."""
    if step_s <= 0 or point_s <= 0 or step_s % point_s:
        raise ValueError(f"step_s: expected a positive multiple of point_s {point_s}, found {step_s}")
    t0 = start.astimezone(UTC).timestamp()
    n = max(0, round((end.astimezone(UTC).timestamp() - t0) / step_s))
    known = [p for p in points if p.import_wh is not None and p.export_wh is not None]
    k = np.floor((np.array([p.time.timestamp() for p in known]) - t0) / step_s).astype(np.int64)
    inside = (k >= 0) & (k < n)
    k = k[inside]
    imp = np.bincount(k, np.array([p.import_wh for p in known], dtype=np.float64)[inside], minlength=n)
    exp = np.bincount(k, np.array([p.export_wh for p in known], dtype=np.float64)[inside], minlength=n)
    count = np.bincount(k, minlength=n).astype(np.float64)
    expected = step_s / point_s
    scale = np.where(count >= min_coverage * expected, expected / np.maximum(count, 1) / 1000.0, np.nan)
    return np.asarray(imp * scale, dtype=np.float64), np.asarray(exp * scale, dtype=np.float64)


def interval_energy(
    points: Sequence[CurvePoint],
    start: datetime,
    end: datetime,
    step_s: int,
    *,
    point_s: int = 10,
    min_coverage: float = 0.9,
) -> FloatArray:
    """Net energy (import - export, kWh) per interval; see `interval_registers`."""
    imp, exp = interval_registers(points, start, end, step_s, point_s=point_s, min_coverage=min_coverage)
    return imp - exp


@dataclass(frozen=True, slots=True)
class Baseline:
    """Net kWh per window step from `start`, and how it was made."""

    start: datetime
    step_s: int
    net_kwh: tuple[float, ...]
    method: str
    days: tuple[date, ...] = ()
    """The days averaged (X of Y)."""
    adjustment: float = 0.0
    """Multiplicative factor (1 = none) or additive kWh per step (0 = none), as `method` says."""

    @property
    def total_kwh(self) -> float:
        return float(sum(self.net_kwh))


class BaselineMethod(Protocol):
    """A baseline rule: which measurements it needs and how it turns them into a baseline."""

    def data_span(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """[from, to) of the load curve the baseline of window [start, end) reads."""
        ...

    def __call__(
        self, points: Sequence[CurvePoint], start: datetime, end: datetime, step_s: int, zone: tzinfo
    ) -> Baseline: ...


class AdjustmentKind(StrEnum):
    NONE = "none"
    MULTIPLICATIVE = "multiplicative"
    ADDITIVE = "additive"


@dataclass(frozen=True, slots=True)
class Adjustment:
    """Same-day adjustment from the `window_s` ending `gap_s` before the event start.

    Multiplicative: factor = measured / baseline over that window, within [1 - cap, 1 + cap].
    Additive: + (measured - baseline) per step of that window, within +- cap x the baseline's
    mean absolute step energy there (cap None: unbounded, PJM-style symmetric additive)."""

    kind: AdjustmentKind = AdjustmentKind.MULTIPLICATIVE
    window_s: int = 3 * 3600
    gap_s: int = 3600
    cap: float | None = 0.2

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.gap_s < 0:
            raise ValueError(f"adjustment window: expected window_s > 0 and gap_s >= 0, found {self}")
        if self.cap is not None and not self.cap >= 0:
            raise ValueError(f"adjustment.cap: expected a share >= 0 or None, found {self.cap}")


def _is_working_day(d: date, holidays: frozenset[date]) -> bool:
    return d.weekday() < 5 and d not in holidays


def _local_interval(day: date, wall: datetime, zone: tzinfo) -> datetime:
    """The instant of `wall`'s local time of day on `day` (same wall clock, DST-aware)."""
    return datetime.combine(day, wall.timetz().replace(tzinfo=None), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class XofY:
    """High X of the Y most recent like days, with a same-day adjustment (see module docstring).

    `exclude`: days that must not serve as baseline days (earlier events, outages);
    `holidays` count as weekend days. Raises `BaselineError` when fewer than `min_days` like
    days with full data are found within `lookback_days`."""

    x: int = 10
    y: int = 10
    lookback_days: int = 45
    adjustment: Adjustment = field(default_factory=Adjustment)
    exclude: frozenset[date] = frozenset()
    holidays: frozenset[date] = frozenset()
    min_days: int = 3
    point_s: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.x <= self.y:
            raise ValueError(f"x, y: expected 1 <= x <= y, found x={self.x}, y={self.y}")
        if self.lookback_days < self.y:
            raise ValueError(f"lookback_days: expected >= y = {self.y}, found {self.lookback_days}")

    def data_span(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        return start - timedelta(days=self.lookback_days + 1), end

    def _name(self, kind: AdjustmentKind) -> str:
        name = f"high {self.x}-of-{self.y}" if self.x < self.y else f"{self.x}-of-{self.y}"
        if kind is AdjustmentKind.NONE:
            return name
        cap = "" if self.adjustment.cap is None else f" +-{self.adjustment.cap:.0%}"
        return f"{name}, {kind.value} same-day adjustment{cap}"

    def __call__(
        self, points: Sequence[CurvePoint], start: datetime, end: datetime, step_s: int, zone: tzinfo
    ) -> Baseline:
        local0 = start.astimezone(zone)
        n = int((end - start).total_seconds() // step_s)
        adj = self.adjustment
        use_adj = adj.kind is not AdjustmentKind.NONE
        a_start = start - timedelta(seconds=adj.gap_s + adj.window_s)
        a_n = adj.window_s // step_s if use_adj else 0
        local_a = a_start.astimezone(zone)
        event_day = local0.date()
        working = _is_working_day(event_day, self.holidays)

        def energy(t0: datetime, steps: int) -> FloatArray:
            return interval_energy(points, t0, t0 + timedelta(seconds=steps * step_s), step_s,
                                   point_s=self.point_s)  # fmt: skip

        candidates: list[tuple[date, FloatArray, FloatArray]] = []
        for back in range(1, self.lookback_days + 1):
            d = event_day - timedelta(days=back)
            if d in self.exclude or _is_working_day(d, self.holidays) != working:
                continue
            window = energy(_local_interval(d, local0, zone), n)
            shift = (local0.date() - local_a.date()).days
            before = energy(_local_interval(d - timedelta(days=shift), local_a, zone), a_n)
            if np.isnan(window).any() or np.isnan(before).any():
                continue
            candidates.append((d, window, before))
            if len(candidates) == self.y:
                break
        if len(candidates) < self.min_days:
            raise BaselineError(
                f"{self._name(AdjustmentKind.NONE)}: expected at least {self.min_days} like days with full "
                f"load curves in the {self.lookback_days} days before {event_day}, found {len(candidates)}"
            )
        chosen = sorted(candidates, key=lambda c: -float(c[1].sum()))[: self.x]
        shape = np.mean([c[1] for c in chosen], axis=0)
        days = tuple(sorted(c[0] for c in chosen))
        if not use_adj:
            return Baseline(start, step_s, tuple(float(v) for v in shape), self._name(adj.kind), days)
        ref = np.mean([c[2] for c in chosen], axis=0)
        actual = energy(a_start, a_n)
        if np.isnan(actual).any():
            # no same-day data: the unadjusted shape, and the method says so
            name = self._name(AdjustmentKind.NONE) + " (no data for the same-day adjustment)"
            return Baseline(start, step_s, tuple(float(v) for v in shape), name, days)
        kind = adj.kind
        ref_sum, act_sum = float(ref.sum()), float(actual.sum())
        if kind is AdjustmentKind.MULTIPLICATIVE and (ref_sum <= 1e-6 or act_sum <= 1e-6):
            kind = AdjustmentKind.ADDITIVE  # a ratio of (near) zero or negative nets means nothing
        if kind is AdjustmentKind.MULTIPLICATIVE:
            factor = act_sum / ref_sum
            if adj.cap is not None:
                factor = min(max(factor, 1.0 - adj.cap), 1.0 + adj.cap)
            values = shape * factor
            amount = factor
        else:
            delta = (act_sum - ref_sum) / max(1, a_n)
            if adj.cap is not None:
                bound = adj.cap * float(np.mean(np.abs(ref)))
                delta = min(max(delta, -bound), bound)
            values = shape + delta
            amount = delta
        return Baseline(start, step_s, tuple(float(v) for v in values), self._name(kind), days, amount)


@dataclass(frozen=True, slots=True)
class MeterBeforeAfter:
    """The mean power of the `before_s` just before the window, held flat; with `after_s`, the
    line from it to the mean power of the `after_s` just after the window (midpoints of the two
    periods as anchors). Short activations only: a longer window drifts with the daily load."""

    before_s: int = 900
    after_s: int | None = None
    point_s: int = 10

    def __post_init__(self) -> None:
        if self.before_s <= 0 or (self.after_s is not None and self.after_s <= 0):
            raise ValueError(f"before_s/after_s: expected > 0 s, found {self.before_s}/{self.after_s}")

    def data_span(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        return start - timedelta(seconds=self.before_s), end + timedelta(seconds=self.after_s or 0)

    def _mean_kw(self, points: Sequence[CurvePoint], t0: datetime, seconds: int, what: str) -> float:
        e = interval_energy(points, t0, t0 + timedelta(seconds=seconds), seconds, point_s=self.point_s)
        if e.size != 1 or np.isnan(e[0]):
            raise BaselineError(f"meter {what}: no complete load curve in {t0.isoformat()} + {seconds} s")
        return float(e[0]) * 3600.0 / seconds

    def __call__(
        self, points: Sequence[CurvePoint], start: datetime, end: datetime, step_s: int, zone: tzinfo
    ) -> Baseline:
        n = int((end - start).total_seconds() // step_s)
        p0 = self._mean_kw(points, start - timedelta(seconds=self.before_s), self.before_s, "before")
        h = step_s / 3600.0
        if self.after_s is None:
            return Baseline(start, step_s, (p0 * h,) * n, f"meter before ({self.before_s} s)", (), 0.0)
        p1 = self._mean_kw(points, end, self.after_s, "after")
        x0 = -self.before_s / 2.0
        x1 = (end - start).total_seconds() + self.after_s / 2.0
        mids = (np.arange(n) + 0.5) * step_s
        line = p0 + (p1 - p0) * (mids - x0) / (x1 - x0)
        name = f"meter before ({self.before_s} s) / meter after ({self.after_s} s)"
        return Baseline(start, step_s, tuple(float(v) * h for v in line), name)


def measure(
    points: Sequence[CurvePoint], start: datetime, end: datetime, step_s: int, *, point_s: int = 10
) -> FloatArray:
    """Measured net kWh per window step (NaN where the load curve is incomplete)."""
    return interval_energy(points, start, end, step_s, point_s=point_s)
