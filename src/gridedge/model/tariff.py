"""Energy prices and tariffs as the energy manager's planner needs them: EUR/kWh per time step.

A `PriceSeries` is a regular UTC time grid of prices (missing intervals are NaN, never guessed).
A `Tariff` turns a spot series and a site's `GridFees` into per-step import and export prices for a
planner horizon with `Tariff.resample(start, n, step_s)`.

Time is UTC throughout: a local calendar day in Europe/Brussels holds 92 quarter hours on the last
Sunday of March and 100 on the last Sunday of October (`local_day`), which falls out of counting
UTC steps and never needs special cases.

Resampling is a time-weighted mean over each target step: a 15-min step inside an hourly price
repeats that hour's price; an hourly step over four 15-min prices is their mean (the mean price of
a flat hour of consumption). A target step touching a missing or uncovered source interval raises
`PriceGapError` naming that interval.

This module imports nothing else of gridedge (DESIGN.md: model depends on nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MAX_GAPS_LISTED: Final = 5


class PriceGapError(ValueError):
    """A horizon needs prices the series does not have; `missing` lists the UTC intervals."""

    def __init__(self, source: str, missing: tuple[tuple[datetime, datetime], ...]) -> None:
        self.source = source
        self.missing = missing
        shown = ", ".join(f"{a.isoformat()} .. {b.isoformat()}" for a, b in missing[:MAX_GAPS_LISTED])
        more = f" and {len(missing) - MAX_GAPS_LISTED} more" if len(missing) > MAX_GAPS_LISTED else ""
        super().__init__(f"{source or 'price series'}: no price for {shown}{more} (UTC)")


def _utc(t: datetime, name: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name}: expected a timezone-aware datetime, found naive {t.isoformat()}")
    return t.astimezone(UTC)


def _check_step(step_s: int, name: str = "step_s") -> int:
    if isinstance(step_s, bool) or not isinstance(step_s, int) or step_s <= 0:
        raise ValueError(f"{name}: expected a positive whole number of seconds, found {step_s!r}")
    return step_s


def local_day(day: date, zone: str | ZoneInfo, step_s: int = 900) -> tuple[datetime, int]:
    """UTC start and number of steps of local calendar `day` in `zone`.

    Europe/Brussels: 96 quarter hours on most days, 92 on the spring change day and 100 on the
    autumn one (the day lasts 23 h or 25 h of UTC time).
    """
    z = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    _check_step(step_s)
    a = datetime.combine(day, time(0), tzinfo=z).astimezone(UTC)
    b = datetime.combine(day + timedelta(days=1), time(0), tzinfo=z).astimezone(UTC)
    seconds = int((b - a).total_seconds())
    if seconds % step_s:
        raise ValueError(f"local day {day} in {z.key} lasts {seconds} s, not a multiple of step {step_s} s")
    return a, seconds // step_s


@dataclass(frozen=True, slots=True, eq=False)
class PriceSeries:
    """Prices on a regular UTC grid: `values[i]` holds for [start + i*step_s, start + (i+1)*step_s).

    `values` are in `currency` per kWh; NaN marks an interval without a price (a gap in the source).
    The array is stored read-only.
    """

    start: datetime
    """Start of the first interval, timezone-aware (converted to UTC)."""
    step_s: int
    """Length of each interval in seconds (900 for 15-min prices, 3600 for hourly)."""
    values: FloatArray
    """Price per kWh for each interval; NaN where the source has none."""
    source: str = ""
    """Where the prices came from (file name or URL), used in error messages."""
    currency: str = "EUR"
    """ISO 4217 currency of the values."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start, "PriceSeries.start"))
        _check_step(self.step_s, "PriceSeries.step_s")
        arr = np.array(self.values, dtype=np.float64, copy=True)
        if arr.ndim != 1:
            raise ValueError(f"PriceSeries.values: expected a 1-D sequence, found shape {arr.shape}")
        if np.isinf(arr).any():
            raise ValueError(
                f"PriceSeries.values: infinite price at index {int(np.flatnonzero(np.isinf(arr))[0])}"
            )
        arr.setflags(write=False)
        object.__setattr__(self, "values", arr)

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def end(self) -> datetime:
        """End of the last interval (exclusive)."""
        return self.start + timedelta(seconds=self.step_s * len(self))

    def time_at(self, i: int) -> datetime:
        """Start of interval `i` (UTC)."""
        return self.start + timedelta(seconds=self.step_s * i)

    def index_of(self, t: datetime) -> int:
        """Index of the interval holding `t`; ValueError outside the series."""
        off = (_utc(t, "t") - self.start).total_seconds()
        i = math.floor(off / self.step_s)
        if not 0 <= i < len(self):
            raise ValueError(
                f"{self.source or 'price series'}: {t.isoformat()} is outside {self.start} .. {self.end}"
            )
        return i

    def price_at(self, t: datetime) -> float:
        """Price of the interval holding `t` (NaN where the source has a gap)."""
        return float(self.values[self.index_of(t)])

    def missing_intervals(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> tuple[tuple[datetime, datetime], ...]:
        """UTC intervals within [start, end) (default: the whole series) that have no price."""
        a = self.start if start is None else _utc(start, "start")
        b = self.end if end is None else _utc(end, "end")
        return _missing(self, a.timestamp(), b.timestamp())

    def resample(self, start: datetime, n: int, step_s: int) -> FloatArray:
        """Prices for `n` steps of `step_s` from `start`: the time-weighted mean over each step.

        15-min steps from hourly prices repeat each hour; hourly steps from 15-min prices are the
        mean of the four quarters; unaligned grids weigh each source interval by its overlap.
        Raises `PriceGapError` naming the missing UTC intervals if any step is not fully covered.
        """
        a = _utc(start, "start")
        _check_step(step_s)
        if n < 0:
            raise ValueError(f"n: expected a number of steps >= 0, found {n}")
        t0 = a.timestamp()
        s0 = self.start.timestamp()
        src = self.values
        ss = self.step_s
        edges = t0 + step_s * np.arange(n + 1, dtype=np.float64)
        pos = (edges - s0) / ss  # target edges in source-interval units
        missing = _missing(self, t0, t0 + step_s * n)
        if missing:
            raise PriceGapError(self.source, missing)
        if n == 0:
            return np.zeros(0)
        i0 = math.floor(pos[0] + 1e-9)
        src = src[i0 : math.ceil(pos[-1] - 1e-9)]
        pos = pos - i0
        # integral of the piecewise-constant source at any position x (in source intervals)
        cum = np.concatenate(([0.0], np.cumsum(src)))
        k = np.clip(np.floor(pos).astype(np.int64), 0, len(src) - 1)
        integ = cum[k] + (pos - k) * src[k]
        out: FloatArray = np.diff(integ) / np.diff(pos)
        # exact values where a step lies inside one source interval (no rounding from the cumsum)
        first = np.floor(pos[:-1] + 1e-9).astype(np.int64)
        last = np.ceil(pos[1:] - 1e-9).astype(np.int64) - 1
        inside = first == last
        out[inside] = src[first[inside]]
        return out


def _missing(series: PriceSeries, t0: float, t1: float) -> tuple[tuple[datetime, datetime], ...]:
    """Merged UTC intervals in [t0, t1) not covered by a finite price of `series`."""
    if t1 <= t0:
        return ()
    s0 = series.start.timestamp()
    s1 = s0 + series.step_s * len(series)
    gaps: list[tuple[float, float]] = []
    if t0 < s0:
        gaps.append((t0, min(t1, s0)))
    lo = max(t0, s0)
    hi = min(t1, s1)
    if hi > lo:
        i0 = math.floor((lo - s0) / series.step_s)
        i1 = math.ceil((hi - s0) / series.step_s)
        bad = np.flatnonzero(np.isnan(series.values[i0:i1])) + i0
        for i in bad:
            a = max(lo, s0 + series.step_s * float(i))
            b = min(hi, s0 + series.step_s * float(i + 1))
            if gaps and gaps[-1][1] >= a:
                gaps[-1] = (gaps[-1][0], b)
            else:
                gaps.append((a, b))
    if t1 > s1:
        a = max(t0, s1)
        if gaps and gaps[-1][1] >= a:
            gaps[-1] = (gaps[-1][0], t1)
        else:
            gaps.append((a, t1))
    return tuple((datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)) for a, b in gaps)


@dataclass(frozen=True, slots=True)
class GridFees:
    """Network fees, levies and taxes on top of the energy price, per site.

    All per-kWh amounts are in EUR/kWh before VAT. The capacity tariff (Flanders, from 2023) bills
    each month's highest 15-min average import power, but at least `min_billed_peak_kw` (Fluvius:
    2.5 kW), at `capacity_eur_per_kw_year` / 12 per kW.
    """

    offtake_eur_per_kwh: float = 0.0
    """Per-kWh network fees on import (distribution use, public-service obligations)."""
    levies_eur_per_kwh: float = 0.0
    """Per-kWh levies and taxes on import (surcharges, excise duty, energy contribution, energy tax)."""
    injection_eur_per_kwh: float = 0.0
    """Per-kWh fee on export (subtracted from the export price)."""
    capacity_eur_per_kw_year: float = 0.0
    """Capacity tariff per kW of billed monthly peak and per year."""
    min_billed_peak_kw: float = 0.0
    """The billed monthly peak is at least this (Fluvius: 2.5 kW)."""
    capacity_cap_eur_per_kwh: float | None = None
    """Fluvius ceiling on the capacity component per imported kWh (the 'maximumtarief'), if any."""
    fixed_eur_per_year: float = 0.0
    """Fixed fees per year (data management, metering, standing charge)."""
    vat: float = 0.0
    """VAT rate on import (0.06 = 6 %); export carries none."""
    source: str = ""
    """Where the fees came from."""

    def __post_init__(self) -> None:
        for name in (
            "offtake_eur_per_kwh",
            "levies_eur_per_kwh",
            "injection_eur_per_kwh",
            "capacity_eur_per_kw_year",
            "min_billed_peak_kw",
            "fixed_eur_per_year",
            "vat",
        ):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise ValueError(f"GridFees.{name}: expected a finite number, found {v!r}")
        for name in ("capacity_eur_per_kw_year", "min_billed_peak_kw", "vat"):
            if getattr(self, name) < 0:
                raise ValueError(f"GridFees.{name}: expected >= 0, found {getattr(self, name)!r}")

    @property
    def capacity_eur_per_kw_month(self) -> float:
        """Capacity tariff per kW of monthly peak, per month (the yearly rate / 12)."""
        return self.capacity_eur_per_kw_year / 12.0

    def monthly_capacity_eur(self, peak_kw: float) -> float:
        """Capacity charge of one month with a highest 15-min average import of `peak_kw` (before VAT)."""
        return max(peak_kw, self.min_billed_peak_kw) * self.capacity_eur_per_kw_month


@dataclass(frozen=True, slots=True)
class PriceFormula:
    """Price per kWh as `spot_factor * spot + adder_eur_per_kwh` (a supplier's dynamic formula)."""

    spot_factor: float = 1.0
    """Multiplier of the spot price (0 for a fixed price)."""
    adder_eur_per_kwh: float = 0.0
    """Constant added per kWh (supplier margin, or the whole price when `spot_factor` is 0)."""

    def apply(self, spot: FloatArray) -> FloatArray:
        out: FloatArray = self.spot_factor * spot + self.adder_eur_per_kwh
        return out


@dataclass(frozen=True, slots=True, eq=False)
class TariffSteps:
    """A tariff over one planner horizon: prices per step, and the capacity terms."""

    start: datetime
    step_s: int
    spot_eur_per_kwh: FloatArray
    """Spot price per step (zeros for a fixed-price tariff)."""
    import_eur_per_kwh: FloatArray
    """All-in price of importing one kWh in the step, VAT included."""
    export_eur_per_kwh: FloatArray
    """Price received for exporting one kWh in the step (negative: export costs money)."""
    capacity_eur_per_kw_month: float
    min_billed_peak_kw: float


@dataclass(frozen=True, slots=True, eq=False)
class Tariff:
    """A supply contract plus network fees.

    import = (import_formula(spot) + offtake + levies) * (1 + vat)
    export = export_formula(spot) - injection
    A fixed-price contract has `spot = None` and formulas with `spot_factor = 0`.
    """

    spot: PriceSeries | None
    import_formula: PriceFormula = field(default_factory=PriceFormula)
    export_formula: PriceFormula = field(default_factory=PriceFormula)
    fees: GridFees = field(default_factory=GridFees)
    name: str = ""

    def __post_init__(self) -> None:
        if self.spot is None and (self.import_formula.spot_factor or self.export_formula.spot_factor):
            raise ValueError(
                f"Tariff {self.name!r}: a formula uses the spot price but no spot series is given"
            )

    def spot_steps(self, start: datetime, n: int, step_s: int) -> FloatArray:
        """Spot price per step (zeros without a spot series)."""
        if self.spot is None:
            _utc(start, "start")
            _check_step(step_s)
            return np.zeros(n)
        return self.spot.resample(start, n, step_s)

    def resample(self, start: datetime, n: int, step_s: int) -> TariffSteps:
        """Import and export prices for `n` steps of `step_s` seconds from `start` (UTC-aware)."""
        spot = self.spot_steps(start, n, step_s)
        f = self.fees
        imp = (self.import_formula.apply(spot) + f.offtake_eur_per_kwh + f.levies_eur_per_kwh) * (1.0 + f.vat)
        exp = self.export_formula.apply(spot) - f.injection_eur_per_kwh
        for a in (spot, imp, exp):
            a.setflags(write=False)
        return TariffSteps(
            start=_utc(start, "start"),
            step_s=step_s,
            spot_eur_per_kwh=spot,
            import_eur_per_kwh=imp,
            export_eur_per_kwh=exp,
            capacity_eur_per_kw_month=f.capacity_eur_per_kw_month,
            min_billed_peak_kw=f.min_billed_peak_kw,
        )
