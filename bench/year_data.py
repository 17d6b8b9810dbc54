"""The simulated year's inputs for bench/cem_year.py: prices, tariff, weather, base load, EV trips.

Everything is computed once per run from the corpus and a seed (numpy Generator streams), on a
grid of UTC quarter hours from local midnight of the first simulated day, with four weeks of
history before it (for the base-load forecast) and three days after it (for the last horizons).

* Prices: Belgian day-ahead 2024, hourly. `BE_DAM_2022-01_2024-07_hourly_EURperkWh_rigaux.csv`
  up to 2024-07-29 22:00 UTC, then `BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz` averaged
  per hour (its quarters carry the hourly price; the two files are identical where both have
  prices). Its 2-hour gap on 2024-10-27 00:00-02:00 UTC is filled by linear interpolation.
* Tariff: `fluvius_fees("fluvius_antwerpen", 2025)` (Fluvius 2025: offtake, levies, capacity
  50.24 EUR/kW/year, min 2.5 kW, VAT 6 %) and `belgian_dynamic_tariff` (import spot + 0.015,
  export spot - 0.015 EUR/kWh).
* Weather: the DWD 2015 year mapped onto 2024 by calendar day and UTC time of day
  (`gridedge.physics.weather.DwdWeather`; 29 February reads 28 February). PV actual = the PVSystem
  physics of `forecast.forecast_pv` on that weather (6 kWp south 35°, 5.4 kW inverter, Ghent).
* Base load actual: Synergrid RLP0N (Flanders) x annual kWh, times a seeded AR(1) lognormal
  factor (sd 0.35 in log, 1 h correlation), plus seeded appliance events (1.6 a day, 1.2-3 kW for
  15-45 min, timed by the profile), rescaled to the profile's energy over the calendar year
  (`annual_kwh`).
* Forecast errors (seeded): PV = the actual smoothed over 2 h (a forecast does not resolve
  clouds) x exp(daily error sd 0.3 + hourly AR(1) sd 0.2), later corrected by measurements in
  cem_year; outdoor temperature = actual + AR(1) error (sd 1 K, 12 h correlation) growing with lead
  time as 1 - exp(-lead / 3 h).
* EV trips: Monday-Friday the car leaves 07:00-08:00 and returns 17:00-19:30 having used 7-16
  kWh; Saturday it leaves 09:30-11:00 and returns 13:00-17:00 having used 4-20 kWh; Sunday it
  stays home. Times on the quarter-hour grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from gridedge.home.cem.forecast import forecast_pv, forecast_temperature
from gridedge.home.cem.tariffs import belgian_dynamic_tariff, fluvius_fees, load_price_csv
from gridedge.model.scenario import PVConfig, SiteConfig, WeatherConfig, WeatherSource
from gridedge.model.tariff import GridFees, PriceSeries, Tariff
from gridedge.physics.profiles import corpus_file, synergrid_rlp0n

F = npt.NDArray[np.float64]
TZ: Final = ZoneInfo("Europe/Brussels")
STEP_S: Final = 900
DT_H: Final = 0.25
HIST_DAYS: Final = 28
PAD_DAYS: Final = 3
HOURLY: Final = "ems/be_day_ahead/BE_DAM_2022-01_2024-07_hourly_EURperkWh_rigaux.csv"
QUARTER: Final = "ems/be_day_ahead/BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz"
SITE: Final = SiteConfig(latitude=51.05, longitude=3.72)
PV_CFG: Final = PVConfig(kwp=6.0)
DWD: Final = WeatherConfig(source=WeatherSource.DWD_2015)


@dataclass(frozen=True)
class Household:
    """The household's parameters (all seeded randomness derives from `seed`)."""

    seed: int = 2024
    annual_kwh: float = 3500.0
    pv_kwp: float = 6.0
    ev_capacity_kwh: float = 60.0
    ev_target_soc: float = 0.8
    ev_start_soc: float = 0.6
    ev_phases: int = 3
    ev_min_a: float = 6.0
    ev_max_a: float = 16.0
    ev_efficiency: float = 0.9
    comfort_min_c: float = 20.0
    """Need: indoor temperature at least this (both strategies)."""
    comfort_max_c: float = 22.0
    """Need: no heating above this."""
    thermostat_c: float = 20.2
    """Baseline thermostat setpoint, and the planner's lower bound (0.2 K margin over the need)."""
    internal_gains_w: float = 300.0
    """Internal gains (people, appliances) heating the house, as an outdoor-temperature offset."""
    distributor: str = "fluvius_antwerpen"

    @property
    def ev_min_w(self) -> float:
        return self.ev_phases * 230.0 * self.ev_min_a

    @property
    def ev_max_w(self) -> float:
        return self.ev_phases * 230.0 * self.ev_max_a


@dataclass
class Trip:
    depart: int
    """Step index the car leaves (absent from this step on)."""
    arrive: int
    """Step index the car is back (present from this step on)."""
    energy_kwh: float
    """Energy used by the trip (taken from the car's battery on arrival)."""


@dataclass
class Year:
    """The year's inputs on the step grid; index 0 = `t0` (local midnight of the first day)."""

    hh: Household
    t0: datetime
    n_sim: int
    """Steps simulated."""
    hist: int
    """Steps of history before t0 in the `*_all` arrays."""
    spot_hourly: PriceSeries
    tariff: Tariff
    fees: GridFees
    spot: F
    """EUR/kWh per step, t0 .. t0 + n_sim + pad."""
    base_all: F
    """Actual base load W, from t0 - hist."""
    pv: F
    pv_fc_raw: F
    """Day-ahead PV forecast (W) before the measurement correction."""
    temp: F
    temp_err: F
    trips: list[Trip] = field(default_factory=list)

    @property
    def base(self) -> F:
        out: F = self.base_all[self.hist :]
        return out

    def time(self, k: int) -> datetime:
        return (self.t0.astimezone(UTC) + timedelta(seconds=STEP_S * int(k))).astimezone(TZ)


def _ar1(rng: np.random.Generator, n: int, sd: float, tau_steps: float) -> F:
    phi = math.exp(-1.0 / tau_steps)
    x = rng.normal(0.0, sd)
    e = rng.normal(0.0, sd * math.sqrt(1 - phi * phi), n)
    out = np.empty(n)
    for i in range(n):
        x = phi * x + e[i]
        out[i] = x
    return out


@cache
def spot_series() -> PriceSeries:
    """BE day-ahead EUR/kWh, hourly, 2023-12-31 23:00 UTC .. 2025-10 (see module docstring)."""
    h = load_price_csv(corpus_file(HOURLY))
    q = load_price_csv(corpus_file(QUARTER))
    start = q.start
    n = len(q) // 4
    vals = q.values[: n * 4].reshape(n, 4).mean(axis=1)
    for i in range(n):
        t = start + timedelta(hours=i)
        if math.isnan(vals[i]) and h.start <= t < h.end:
            vals[i] = h.values[h.index_of(t)]
    bad = np.isnan(vals)
    if bad.any():
        idx = np.arange(n)
        vals[bad] = np.interp(idx[bad], idx[~bad], vals[~bad])
    return PriceSeries(start, 3600, vals, source="BE DAM 2024 hourly (rigaux + nox, gaps interpolated)")


def ev_trips(hh: Household, t0: datetime, days: int) -> list[Trip]:
    rng = np.random.default_rng([hh.seed, 3])
    trips: list[Trip] = []
    day0 = t0.astimezone(TZ).date()

    def step(d: date, hour: float) -> int:
        local = datetime(d.year, d.month, d.day, tzinfo=TZ) + timedelta(hours=hour)
        k = (local.astimezone(UTC) - t0.astimezone(UTC)).total_seconds() / STEP_S
        return round(k)

    for i in range(days):
        d = day0 + timedelta(days=i)
        wd = d.weekday()
        if wd < 5:
            dep = 7.0 + 0.25 * int(rng.integers(0, 5))
            arr = 17.0 + 0.25 * int(rng.integers(0, 11))
            e = float(rng.uniform(7.0, 16.0))
        elif wd == 5:
            dep = 9.5 + 0.25 * int(rng.integers(0, 7))
            arr = 13.0 + 0.25 * int(rng.integers(0, 17))
            e = float(rng.uniform(4.0, 20.0))
        else:
            continue
        trips.append(Trip(step(d, dep), step(d, arr), e))
    return trips


def build_year(hh: Household, first: date, days: int) -> Year:
    """All inputs for `days` local days from `first`.

    The seeded series (load noise and events, forecast errors, trips) are drawn for a fixed span
    from 1 January of `first`'s year (at least that whole year) and sliced, so a shorter run (`--days`,
    `--start`) sees the same household, weather errors and trips as the same days of the full year."""
    t0 = datetime(first.year, first.month, first.day, tzinfo=TZ)
    t0_utc = t0.astimezone(UTC)
    origin = datetime(first.year, 1, 1, tzinfo=TZ)
    year_end = datetime(first.year + 1, 1, 1, tzinfo=TZ)
    last = first + timedelta(days=days)
    end = max(year_end, datetime(last.year, last.month, last.day, tzinfo=TZ))

    def steps(a: datetime, b: datetime) -> int:
        return int((b - a).total_seconds() // STEP_S)

    n_sim = steps(t0, datetime(last.year, last.month, last.day, tzinfo=TZ))
    off = steps(origin, t0)
    n_year = steps(origin, year_end)
    pad = PAD_DAYS * 96
    hist = HIST_DAYS * 96
    span = hist + steps(origin, end) + pad
    need = slice(off, off + hist + n_sim + pad)

    # prices and tariff
    spot_h = spot_series()
    fees = fluvius_fees(hh.distributor, datetime(2025, 1, 1, 12, tzinfo=UTC), annual_kwh=hh.annual_kwh)
    tariff = belgian_dynamic_tariff(spot_h, fees)
    spot = spot_h.resample(t0_utc, n_sim + pad, STEP_S)

    # base load: RLP0N x annual kWh x seeded noise + seeded events, over history + span + pad
    rlp = synergrid_rlp0n("flanders")
    h0 = origin.astimezone(UTC) - timedelta(days=HIST_DAYS)
    i0 = int((h0 - rlp.first.astimezone(UTC)).total_seconds() // STEP_S)
    if i0 < 0 or i0 + span > rlp.values.size:
        raise ValueError("Synergrid RLP0N does not cover the simulated period")
    shape = rlp.values[i0 : i0 + span] * hh.annual_kwh
    rng = np.random.default_rng([hh.seed, 1])
    noise = np.exp(_ar1(rng, span, 0.35, 4.0) - 0.35**2 / 2)
    events = np.zeros(span)
    n_ev = int(rng.poisson(1.6 * span / 96))
    weight = shape / shape.sum()
    starts = rng.choice(span, size=n_ev, p=weight)
    for s in starts:
        dur = int(rng.integers(1, 4))
        events[s : s + dur] += float(rng.uniform(1200.0, 3000.0))
    gen = shape * noise + events
    cal = slice(hist, hist + n_year)
    gen *= shape[cal].sum() / gen[cal].sum()  # the profile's energy over the calendar year
    base_all = gen[need]

    # weather: PV physics and temperature on DWD 2015 mapped by calendar day
    pv_cfg = PVConfig(kwp=hh.pv_kwp)
    pv = np.asarray(forecast_pv([pv_cfg], SITE, t0, n_sim + pad, STEP_S, weather=DWD).model_w, dtype=float)
    temp = np.asarray(forecast_temperature(SITE, t0, n_sim + pad, STEP_S, weather=DWD).temperature_c, float)
    rng_pv = np.random.default_rng([hh.seed, 2])
    kernel = np.ones(9) / 9.0
    smooth = np.convolve(pv, kernel, mode="same")
    days_n = span // 96 + 2
    daily = rng_pv.normal(0.0, 0.3, days_n)
    hourly = np.repeat(_ar1(rng_pv, days_n * 24, 0.2, 3.0), 4)
    err_all = np.repeat(daily, 96)[: days_n * 96] + hourly[: days_n * 96]
    err = err_all[off : off + n_sim + pad]
    pv_fc_raw = np.minimum(smooth * np.exp(err - (0.3**2 + 0.2**2) / 2), 0.9 * hh.pv_kwp * 1000.0)
    temp_err = _ar1(np.random.default_rng([hh.seed, 4]), span, 1.0, 48.0)[off : off + n_sim + pad]
    trips = [
        Trip(t.depart - off, t.arrive - off, t.energy_kwh)
        for t in ev_trips(hh, origin, span // 96)
        if t.arrive - off > 0
    ]

    return Year(
        hh=hh,
        t0=t0,
        n_sim=n_sim,
        hist=hist,
        spot_hourly=spot_h,
        tariff=tariff,
        fees=fees,
        spot=np.asarray(spot, dtype=float),
        base_all=base_all,
        pv=pv,
        pv_fc_raw=pv_fc_raw,
        temp=temp,
        temp_err=temp_err,
        trips=trips,
    )


def import_parts(year: Year) -> tuple[F, F, F]:
    """Per step: energy price (supplier formula on spot, VAT incl.), fees + levies (VAT incl.) and
    export price, EUR/kWh, over the simulated period and the padding."""
    f = year.fees
    tf = year.tariff
    vat = 1.0 + f.vat
    energy = tf.import_formula.apply(year.spot) * vat
    fees = np.full(year.spot.size, (f.offtake_eur_per_kwh + f.levies_eur_per_kwh) * vat)
    export = tf.export_formula.apply(year.spot) - f.injection_eur_per_kwh
    return energy, fees, export


def known_until(year: Year, k: int) -> int:
    """First step whose day-ahead price is not yet published at step k: prices of the next local
    day are published at 13:00 (EPEX SDAC results ~12:45 CET)."""
    now = year.time(k)
    day = now.date() + timedelta(days=1 if now.hour < 13 else 2)
    end = datetime(day.year, day.month, day.day, tzinfo=TZ)
    return int((end.astimezone(UTC) - year.t0.astimezone(UTC)).total_seconds() // STEP_S)
