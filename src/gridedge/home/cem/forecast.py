"""Forecasts for the energy manager's planner: PV power, base load and outdoor temperature per step.

All three return frozen dataclasses of numpy arrays on the planner's UTC grid (`start`, `step_s`,
one value per step: the mean over the step).

* PV: `gridedge.physics.solar` (pvlib plane-of-array, PVWatts DC and inverter), the model the
  simulated PV system runs, on the weather of `gridedge.physics.weather` (pvlib Ineichen clear
  sky without clouds, or the DWD 2015 year), corrected by recent measurements: the ratio of
  measured to modelled energy over the last hours, bounded, decaying toward 1 over the horizon
  (a persistence-of-clear-sky-index forecast, the usual intraday baseline).
* Base load: the mean of the same local weekday and wall-clock time over the last `weeks` weeks of
  history; steps with fewer than `min_weeks` usable weeks take the standard load profile of the
  household (Synergrid RLP0N or BDEW, `gridedge.physics.profiles`) scaled to `annual_kwh`.
* Temperature: the weather source's outdoor temperature (clear-sky sinusoid or DWD 2015).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from gridedge.model.scenario import HouseholdConfig, PVConfig, SiteConfig, WeatherConfig, WeatherSource
from gridedge.physics.profiles import load_profile
from gridedge.physics.solar import PVArray, day_ac_power
from gridedge.physics.weather import DAY_S, ClearSkyWeather, DwdWeather, Weather, temperature_many

FloatArray = npt.NDArray[np.float64]
WEEK_S: Final = 7 * 86400


def _utc(t: datetime, name: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name}: expected a timezone-aware datetime, found naive {t.isoformat()}")
    return t.astimezone(UTC)


def _check_grid(n: int, step_s: int) -> None:
    if n < 0:
        raise ValueError(f"n: expected a number of steps >= 0, found {n}")
    if step_s <= 0 or step_s % 60:
        raise ValueError(f"step_s: expected a positive multiple of 60 s, found {step_s}")


def _frozen(a: FloatArray) -> FloatArray:
    a.setflags(write=False)
    return a


def forecast_weather(cfg: WeatherConfig, site: SiteConfig, origin: datetime) -> Weather:
    """The forecast's weather from `origin`: clear sky without clouds (seeded clouds are not a
    forecast) with the configured temperature, or the DWD 2015 year on the same calendar day."""
    if cfg.source is WeatherSource.DWD_2015:
        return DwdWeather(origin)
    return ClearSkyWeather(
        site.latitude,
        site.longitude,
        origin,
        cloudiness=0.0,
        mean_temperature_c=cfg.mean_temperature_c,
        daily_swing_k=cfg.daily_swing_k,
    )


# --- PV ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PVCorrection:
    """How recent measurements correct the modelled PV power."""

    min_ratio: float = 0.1
    """Lowest measured/modelled ratio applied (a dark sky)."""
    max_ratio: float = 1.3
    """Highest ratio applied (model too pessimistic, e.g. cold bright day)."""
    tau_s: float = 3 * 3600.0
    """e-folding time of the ratio's decay toward 1 over the horizon."""
    min_model_kwh_per_kwp: float = 0.05
    """Below this modelled energy per kWp in the look-back window (night, dawn) the ratio is 1."""


@dataclass(frozen=True, slots=True, eq=False)
class PVForecast:
    """Mean AC power (W, >= 0) per step of all PV arrays."""

    start: datetime
    step_s: int
    power_w: FloatArray
    """Corrected forecast."""
    model_w: FloatArray
    """The physical model before correction."""
    factor: FloatArray
    """Correction factor per step (power_w = model_w * factor)."""
    ratio: float
    """Bounded measured/modelled ratio over the look-back window (1 when there was none)."""

    @property
    def energy_kwh(self) -> float:
        return float(self.power_w.sum() * self.step_s / 3.6e6)


def _pv_model_w(
    arrays: Sequence[PVConfig], site: SiteConfig, weather: Weather, origin: datetime, n: int, step_s: int
) -> FloatArray:
    """Mean modelled AC power per step for `n` steps from `origin` (sum over arrays)."""
    total_s = n * step_s
    days = max(1, math.ceil(total_s / DAY_S))
    epoch0 = origin.timestamp()
    per_minute = np.zeros(days * 1440 + 1)
    for cfg in arrays:
        array = PVArray.from_config(cfg, site)
        for d in range(days):
            per_minute[d * 1440 : d * 1440 + 1441] += day_ac_power(array, weather, epoch0, d) * (
                np.r_[np.ones(1440), 1.0] if d == days - 1 else np.r_[np.ones(1440), 0.0]
            )
    seg = 0.5 * (per_minute[:-1] + per_minute[1:])  # trapezoid mean of each minute
    m = step_s // 60
    out: FloatArray = seg[: n * m].reshape(n, m).mean(axis=1) if n else np.zeros(0)
    return out


def forecast_pv(
    arrays: Sequence[PVConfig],
    site: SiteConfig,
    start: datetime,
    n: int,
    step_s: int = 900,
    *,
    weather: WeatherConfig | None = None,
    measured_w: Sequence[float] | FloatArray = (),
    correction: PVCorrection = PVCorrection(),
) -> PVForecast:
    """PV AC power per step for `n` steps of `step_s` from `start`.

    `measured_w` are measured mean PV powers (W) of the steps just before `start`, oldest first
    (the last one ends at `start`; NaN for a missing step). The ratio r of their energy to the
    model's over the same steps, bounded to [min_ratio, max_ratio], scales the forecast by
    1 + (r - 1) * exp(-t / tau_s), t the time from `start` to the middle of each step.
    """
    a = _utc(start, "start")
    _check_grid(n, step_s)
    meas = np.asarray(measured_w, dtype=np.float64)
    back = int(meas.size)
    origin = a - timedelta(seconds=back * step_s)
    wcfg = weather if weather is not None else WeatherConfig()
    wx = forecast_weather(wcfg, site, origin)
    model_all = (
        _pv_model_w(tuple(arrays), site, wx, origin, back + n, step_s) if arrays else np.zeros(back + n)
    )
    past, model = model_all[:back], model_all[back:].copy()
    ratio = 1.0
    ok = np.isfinite(meas)
    kwp = sum(c.kwp for c in arrays)
    model_kwh = float(past[ok].sum() * step_s / 3.6e6)
    if back and kwp > 0 and model_kwh >= correction.min_model_kwh_per_kwp * kwp:
        raw = float(meas[ok].sum() * step_s / 3.6e6) / model_kwh
        ratio = min(max(raw, correction.min_ratio), correction.max_ratio)
    t_mid = (np.arange(n, dtype=np.float64) + 0.5) * step_s
    factor = 1.0 + (ratio - 1.0) * np.exp(-t_mid / correction.tau_s)
    return PVForecast(
        start=a,
        step_s=step_s,
        power_w=_frozen(model * factor),
        model_w=_frozen(model),
        factor=_frozen(factor),
        ratio=ratio,
    )


# --- temperature ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class TemperatureForecast:
    """Mean outdoor temperature (°C) per step."""

    start: datetime
    step_s: int
    temperature_c: FloatArray


def forecast_temperature(
    site: SiteConfig, start: datetime, n: int, step_s: int = 900, *, weather: WeatherConfig | None = None
) -> TemperatureForecast:
    """Outdoor temperature per step from the weather source (minute samples averaged per step)."""
    a = _utc(start, "start")
    _check_grid(n, step_s)
    wx = forecast_weather(weather if weather is not None else WeatherConfig(), site, a)
    m = step_s // 60
    nodes = temperature_many(wx, 60.0 * np.arange(n * m + 1, dtype=np.float64))
    seg = 0.5 * (nodes[:-1] + nodes[1:])
    out: FloatArray = seg.reshape(n, m).mean(axis=1) if n else np.zeros(0)
    return TemperatureForecast(a, step_s, _frozen(out))


# --- base load -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class PowerHistory:
    """Measured mean power (W) per step on a regular UTC grid; NaN for a missing step."""

    start: datetime
    step_s: int
    power_w: FloatArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start, "PowerHistory.start"))
        if self.step_s <= 0:
            raise ValueError(f"PowerHistory.step_s: expected > 0, found {self.step_s}")
        arr = np.array(self.power_w, dtype=np.float64, copy=True)
        if arr.ndim != 1:
            raise ValueError(f"PowerHistory.power_w: expected a 1-D sequence, found shape {arr.shape}")
        object.__setattr__(self, "power_w", _frozen(arr))

    def mean_over(self, t0: float, step_s: int) -> float:
        """Mean power over [t0, t0 + step_s) (epoch seconds); NaN if not fully covered."""
        s0 = self.start.timestamp()
        i0 = (t0 - s0) / self.step_s
        k = step_s / self.step_s
        if abs(i0 - round(i0)) > 1e-9 or abs(k - round(k)) > 1e-9:
            raise ValueError(f"history step {self.step_s} s does not align with forecast step {step_s} s")
        lo, hi = round(i0), round(i0 + k)
        if lo < 0 or hi > self.power_w.size:
            return math.nan
        seg = self.power_w[lo:hi]
        return float(seg.mean()) if seg.size and np.isfinite(seg).all() else math.nan


@dataclass(frozen=True, slots=True, eq=False)
class LoadForecast:
    """Mean base-load power (W) per step, and where each value came from."""

    start: datetime
    step_s: int
    power_w: FloatArray
    weeks_used: npt.NDArray[np.int64]
    """History weeks averaged per step; 0 where the standard profile was used."""

    @property
    def from_profile(self) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = self.weeks_used == 0
        return out


def _same_wall_time_weeks_ago(t: datetime, weeks: int, zone: ZoneInfo) -> float:
    """Epoch of the same local wall-clock time `weeks` weeks before UTC instant `t`."""
    wall = t.astimezone(zone).replace(tzinfo=None) - timedelta(days=7 * weeks)
    return wall.replace(tzinfo=zone).timestamp()


def forecast_base_load(
    history: PowerHistory | None,
    start: datetime,
    n: int,
    step_s: int = 900,
    *,
    household: HouseholdConfig | None = None,
    timezone: str = "Europe/Brussels",
    weeks: int = 4,
    min_weeks: int = 2,
) -> LoadForecast:
    """Base load per step: the same-weekday-and-time mean of the last `weeks` weeks of `history`.

    The weeks are counted on the local wall clock of `timezone`, so 18:00 on a Monday after the
    DST change averages the 18:00 of earlier Mondays. Steps with fewer than `min_weeks` usable
    weeks (short or gappy history) take the household's standard profile x `annual_kwh`
    (default `HouseholdConfig()`: Synergrid RLP0N Flanders, 3500 kWh).
    """
    a = _utc(start, "start")
    _check_grid(n, step_s)
    if weeks < 1 or not 1 <= min_weeks <= weeks:
        raise ValueError(f"weeks {weeks} / min_weeks {min_weeks}: expected 1 <= min_weeks <= weeks")
    zone = ZoneInfo(timezone)
    household = household if household is not None else HouseholdConfig()
    profile = None
    out = np.zeros(n)
    used = np.zeros(n, dtype=np.int64)
    for k in range(n):
        t = a + timedelta(seconds=k * step_s)
        vals: list[float] = []
        if history is not None:
            for w in range(1, weeks + 1):
                v = history.mean_over(_same_wall_time_weeks_ago(t, w, zone), step_s)
                if math.isfinite(v):
                    vals.append(v)
        if len(vals) >= min_weeks:
            out[k] = sum(vals) / len(vals)
            used[k] = len(vals)
            continue
        if profile is None:
            profile = load_profile(household.profile, household.region)
        quarters = max(1, step_s // 900)
        acc = 0.0
        for q in range(quarters):
            local = (t + timedelta(seconds=900 * q)).astimezone(zone)
            acc += profile.watts_per_kwh(local)
        out[k] = acc / quarters * household.annual_kwh
    used.setflags(write=False)
    return LoadForecast(a, step_s, _frozen(out), used)
