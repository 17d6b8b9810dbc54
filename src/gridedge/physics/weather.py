"""Outdoor conditions for the virtual household: temperature and irradiance at sim time t.

Two sources (`WeatherConfig.source`):

- `DwdWeather`: the DWD station year 2015 of the corpus (15 min), each sim instant mapped onto the
  same month, day and UTC time of day of 2015 (29 February reads 28 February) and interpolated
  linearly. The file has no DST gaps, so its times are UTC; the GHI centroid of a June day lies
  at 11:36 UTC, as expected for a German station.
- `ClearSkyWeather`: pvlib's Ineichen clear sky with the Linke turbidity climatology at the site
  (Ineichen & Perez, Solar Energy 73 (2002) 151), cut by seeded cloud passages, and a sinusoidal
  daily temperature around a mean. Clouds are an alternating renewal process on a 10 s grid:
  passages of a few minutes whose share of the time is `cloudiness`, soft edges (~40 s), a
  clear-sky index of 0.15-0.55 under the cloud with AR(1) flicker, beam blocked, and the cloud
  enhancement (clear-sky index above 1 next to a cloud edge) seen in 1 s irradiance records
  (e.g. Yordanov et al., "Overirradiance (cloud enhancement) events at high latitudes", IEEE
  Journal of Photovoltaics 3 (2013) 271).

Both are cheap per call (a few array look-ups, no pandas or pvlib per second): pvlib runs once per
sim day and site and is cached across instances. `irradiance_many` / `temperature_many` give
vectorised samples for devices that precompute a day (PV).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from gridedge.model.scenario import SiteConfig, WeatherConfig, WeatherSource
from gridedge.physics.profiles import dwd_2015
from gridedge.physics.seeding import rng_for

FloatArray = npt.NDArray[np.float64]

DAY_S: Final = 86400.0
_GRID_S: Final = 10.0
"""Resolution of the synthetic cloud field."""
_N: Final = int(DAY_S / _GRID_S) + 1


class Weather(Protocol):
    """Outdoor temperature and irradiance at sim time t (s since scenario start)."""

    def temperature_c(self, t: float) -> float: ...

    def irradiance(self, t: float) -> tuple[float, float, float]:
        """(GHI, DNI, DHI) in W/m²."""
        ...

    def __hash__(self) -> int:
        """By identity: day caches (`sim.pv`) are keyed by the weather instance."""
        ...


def irradiance_many(weather: Weather, ts: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(GHI, DNI, DHI) at each of `ts`, vectorised when the weather offers it."""
    many: Callable[[FloatArray], tuple[FloatArray, FloatArray, FloatArray]] | None = getattr(
        weather, "irradiance_many", None
    )
    if many is not None:
        return many(ts)
    rows = np.array([weather.irradiance(float(t)) for t in ts], dtype=np.float64).reshape(-1, 3)
    return rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy()


def temperature_many(weather: Weather, ts: FloatArray) -> FloatArray:
    """Outdoor temperature at each of `ts`, vectorised when the weather offers it."""
    many: Callable[[FloatArray], FloatArray] | None = getattr(weather, "temperature_many", None)
    if many is not None:
        return many(ts)
    return np.array([weather.temperature_c(float(t)) for t in ts], dtype=np.float64)


# --- DWD 2015 -----------------------------------------------------------------------------------


class DwdWeather:
    """The corpus DWD year 2015, mapped onto the scenario's calendar day and UTC time of day."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("DwdWeather needs an aware start time")
        self._epoch0 = start.timestamp()
        year = dwd_2015()
        self._ghi = year.ghi
        self._dni = year.dni
        self._dhi = year.dhi
        self._temp = year.temperature
        self._n = len(year.ghi)
        self._base: dict[int, int] = {}

    def _day_base(self, day: int) -> int:
        """Index in the 2015 arrays of 00:00 UTC of the day mapped from UTC day number `day`."""
        base = self._base.get(day)
        if base is None:
            d = datetime.fromtimestamp(day * DAY_S, UTC).date()
            month, dom = d.month, d.day
            if month == 2 and dom == 29:
                dom = 28
            base = (date(2015, month, dom) - date(2015, 1, 1)).days * 96
            self._base[day] = base
        return base

    def _pos(self, t: float) -> tuple[int, int, float]:
        epoch = self._epoch0 + t
        day = math.floor(epoch / DAY_S)
        x = self._day_base(day) + (epoch - day * DAY_S) / 900.0
        i = math.floor(x)
        return i % self._n, (i + 1) % self._n, x - i

    def temperature_c(self, t: float) -> float:
        i, j, f = self._pos(t)
        a = self._temp
        return float(a[i] + (a[j] - a[i]) * f)

    def irradiance(self, t: float) -> tuple[float, float, float]:
        i, j, f = self._pos(t)
        g, b, d = self._ghi, self._dni, self._dhi
        return (
            float(g[i] + (g[j] - g[i]) * f),
            float(b[i] + (b[j] - b[i]) * f),
            float(d[i] + (d[j] - d[i]) * f),
        )

    def _positions(self, ts: FloatArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
        epoch = self._epoch0 + np.asarray(ts, dtype=np.float64)
        days = np.floor(epoch / DAY_S).astype(np.int64)
        bases = np.array([self._day_base(int(d)) for d in days], dtype=np.float64)
        x = bases + (epoch - days * DAY_S) / 900.0
        i = np.floor(x).astype(np.int64)
        return i % self._n, (i + 1) % self._n, x - i

    def irradiance_many(self, ts: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        i, j, f = self._positions(ts)
        out = tuple(a[i] + (a[j] - a[i]) * f for a in (self._ghi, self._dni, self._dhi))
        return out[0], out[1], out[2]

    def temperature_many(self, ts: FloatArray) -> FloatArray:
        i, j, f = self._positions(ts)
        a = self._temp
        return a[i] + (a[j] - a[i]) * f


# --- clear sky with clouds ----------------------------------------------------------------------


@lru_cache(maxsize=64)
def clear_sky_day(
    latitude: float, longitude: float, epoch0: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Ineichen clear-sky (GHI, DNI, DHI) every 60 s over the day from `epoch0` (1441 points).

    Cached per site and day: every household of a fleet at the same place shares one pvlib call.
    """
    import pandas as pd
    import pvlib

    times = pd.DatetimeIndex(pd.to_datetime(epoch0 + 60.0 * np.arange(1441), unit="s", utc=True))
    with warnings.catch_warnings():  # pvlib 0.16 on pandas 3 warns about its own use of dayofyear
        warnings.simplefilter("ignore", DeprecationWarning)
        cs = pvlib.location.Location(latitude, longitude, tz="UTC").get_clearsky(times, model="ineichen")
    arrays = [np.clip(cs[c].to_numpy(np.float64), 0.0, None) for c in ("ghi", "dni", "dhi")]
    for a in arrays:
        a.setflags(write=False)
    return arrays[0], arrays[1], arrays[2]


def cloud_field(rng: np.random.Generator, cloudiness: float, n: int = _N) -> tuple[FloatArray, FloatArray]:
    """Cloud cover `o` (0 clear .. 1 covered) and clear-sky index `k` (GHI / clear-sky GHI) per 10 s.

    Passages last a few minutes (exponential, longer when the sky is fuller) and the gaps between
    them are sized so that clouds cover `cloudiness` of the time on average.
    """
    if cloudiness <= 0.0:
        return np.zeros(n), np.ones(n)
    mean_cloud = 240.0 * (1.0 + 3.0 * cloudiness) / _GRID_S
    mean_gap = mean_cloud * (1.0 - cloudiness) / cloudiness
    covered = np.zeros(n)
    k_cloud = np.zeros(n)
    cloudy = bool(rng.random() < cloudiness)
    pos = 0
    while pos < n:
        length = max(1, round(rng.exponential(mean_cloud if cloudy else max(mean_gap, 1e-9))))
        if cloudy:
            covered[pos : pos + length] = 1.0
            k_cloud[pos : pos + length] = rng.uniform(0.15, 0.55)
        elif mean_gap <= 0:
            length = n
        pos += length
        cloudy = not cloudy if cloudiness < 1.0 else True
    edge = np.ones(4) / 4.0  # ~40 s soft edges
    o = np.clip(np.convolve(covered, edge, mode="same"), 0.0, 1.0)
    k_in = np.convolve(k_cloud, edge, mode="same") / np.maximum(np.convolve(covered, edge, mode="same"), 1e-9)
    rho = 0.9
    z = rng.standard_normal(n) * 0.08 * math.sqrt(1 - rho * rho)
    flicker = np.asarray(lfilter([1.0], [1.0, -rho], z), dtype=np.float64)  # AR(1)
    k_in = np.clip(k_in + flicker, 0.05, 0.9)
    reach = np.exp(-np.abs(np.arange(-12, 13)) * _GRID_S / 60.0)  # enhancement within ~1 min of an edge
    near = np.clip(np.convolve(covered, reach, mode="same"), 0.0, 1.0)
    enhancement = 0.2 * near * (1.0 - o)
    k = (1.0 - o) * (1.0 + enhancement) + o * k_in
    return o, k


class ClearSkyWeather:
    """pvlib clear sky at the site with seeded cloud passages and a sinusoidal daily temperature.

    Sim day d covers [d x 86400, (d+1) x 86400) s from `start`; its clouds come from
    `rng_for(seed, "weather/clouds/d")`, so any access order gives the same weather. The
    temperature peaks at 14:30 local solar time and has its minimum at 02:30.
    """

    def __init__(
        self,
        latitude: float,
        longitude: float,
        start: datetime,
        *,
        cloudiness: float = 0.3,
        mean_temperature_c: float = 10.0,
        daily_swing_k: float = 8.0,
        seed: int = 1,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("ClearSkyWeather needs an aware start time")
        if not 0.0 <= cloudiness <= 1.0:
            raise ValueError(f"cloudiness {cloudiness} outside [0, 1]")
        self.latitude = latitude
        self.longitude = longitude
        self.cloudiness = cloudiness
        self.mean_temperature_c = mean_temperature_c
        self.daily_swing_k = daily_swing_k
        self.seed = seed
        self._epoch0 = start.timestamp()
        self._solar_shift = longitude / 15.0 * 3600.0 - 14.5 * 3600.0
        self._day = -(10**9)
        self._arrays: tuple[FloatArray, FloatArray, FloatArray] = (np.zeros(_N), np.zeros(_N), np.zeros(_N))
        self._cache: dict[int, tuple[FloatArray, FloatArray, FloatArray]] = {}

    def day_arrays(self, day: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(GHI, DNI, DHI) every 10 s over sim day `day` (8641 points, both ends included)."""
        got = self._cache.get(day)
        if got is not None:
            return got
        ghi_cs, dni_cs, dhi_cs = clear_sky_day(self.latitude, self.longitude, self._epoch0 + day * DAY_S)
        fine = np.arange(_N) * _GRID_S
        coarse = np.arange(1441) * 60.0
        g = np.interp(fine, coarse, ghi_cs)
        b = np.interp(fine, coarse, dni_cs)
        d = np.interp(fine, coarse, dhi_cs)
        o, k = cloud_field(rng_for(self.seed, f"weather/clouds/{day}"), self.cloudiness)
        ghi = g * k
        dni = b * (1.0 - o)
        dhi = np.maximum(ghi - (1.0 - o) * (g - d), 0.0)
        out = (ghi, dni, dhi)
        if len(self._cache) >= 3:
            self._cache.pop(min(self._cache))
        self._cache[day] = out
        return out

    def irradiance(self, t: float) -> tuple[float, float, float]:
        day = math.floor(t / DAY_S)
        if day != self._day:
            self._arrays = self.day_arrays(day)
            self._day = day
        x = (t - day * DAY_S) / _GRID_S
        i = min(int(x), _N - 2)
        f = x - i
        g, b, d = self._arrays
        return (
            float(g[i] + (g[i + 1] - g[i]) * f),
            float(b[i] + (b[i + 1] - b[i]) * f),
            float(d[i] + (d[i + 1] - d[i]) * f),
        )

    def irradiance_many(self, ts: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        ts = np.asarray(ts, dtype=np.float64)
        out = (np.empty(ts.size), np.empty(ts.size), np.empty(ts.size))
        days = np.floor(ts / DAY_S).astype(np.int64)
        for day in np.unique(days):
            sel = days == day
            arrays = self.day_arrays(int(day))
            x = (ts[sel] - day * DAY_S) / _GRID_S
            grid = np.arange(_N, dtype=np.float64)
            for o, a in zip(out, arrays, strict=True):
                o[sel] = np.interp(x, grid, a)
        return out

    def temperature_c(self, t: float) -> float:
        phase = 2.0 * math.pi * (self._epoch0 + t + self._solar_shift) / DAY_S
        return self.mean_temperature_c + 0.5 * self.daily_swing_k * math.cos(phase)

    def temperature_many(self, ts: FloatArray) -> FloatArray:
        phase = 2.0 * math.pi * (self._epoch0 + np.asarray(ts, dtype=np.float64) + self._solar_shift) / DAY_S
        out: FloatArray = self.mean_temperature_c + 0.5 * self.daily_swing_k * np.cos(phase)
        return out


def weather_from_config(cfg: WeatherConfig, site: SiteConfig) -> Weather:
    """The scenario's weather: DWD 2015 or clear sky with clouds, from the site's start and seed
    (`cfg.cloud_seed` when set).

    Sites with the same weather, place and start share one instance, so a street computes its
    sky once per day and the PV systems under it share their plane-of-array work (`sim.pv`).
    """
    seed = cfg.cloud_seed if cfg.cloud_seed is not None else site.seed
    return _shared_weather(cfg, site.latitude, site.longitude, site.start_aware, seed)


@lru_cache(maxsize=256)
def _shared_weather(
    cfg: WeatherConfig, latitude: float, longitude: float, start: datetime, seed: int
) -> Weather:
    if cfg.source is WeatherSource.DWD_2015:
        return DwdWeather(start)
    return ClearSkyWeather(
        latitude,
        longitude,
        start,
        cloudiness=cfg.cloudiness,
        mean_temperature_c=cfg.mean_temperature_c,
        daily_swing_k=cfg.daily_swing_k,
        seed=seed,
    )
