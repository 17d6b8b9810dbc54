"""home.cem.forecast: PV (night, solar noon, measurement correction), base load, temperature."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pvlib
import pytest

from gridedge.home.cem.forecast import (
    PowerHistory,
    forecast_base_load,
    forecast_pv,
    forecast_temperature,
)
from gridedge.model.scenario import HouseholdConfig, PVConfig, SiteConfig, WeatherConfig, WeatherSource

pytestmark = pytest.mark.filterwarnings("ignore:.*dayofyear.*:DeprecationWarning")  # pvlib 0.16 on pandas 3

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "ems"
SITE = SiteConfig()  # Ghent, 51.05 N 3.72 E
PV = (PVConfig(kwp=5.0),)
BRUSSELS = ZoneInfo("Europe/Brussels")


def _transit(day: datetime) -> datetime:
    times = pd.DatetimeIndex([pd.Timestamp(day)])
    got = pvlib.solarposition.sun_rise_set_transit_spa(times, SITE.latitude, SITE.longitude)
    return pd.Timestamp(got["transit"].iloc[0]).floor("s").to_pydatetime().astimezone(UTC)


@pytest.mark.parametrize("day", [datetime(2025, 6, 21, tzinfo=UTC), datetime(2025, 12, 21, tzinfo=UTC)])
def test_pv_zero_at_night_and_peak_near_solar_noon(day: datetime) -> None:
    f = forecast_pv(PV, SITE, day, 96, 900)
    transit = _transit(day)
    mids = [day + timedelta(seconds=900 * (k + 0.5)) for k in range(96)]
    peak = mids[int(np.argmax(f.power_w))]
    assert abs((peak - transit).total_seconds()) <= 30 * 60
    # night: sun 6 degrees or more below the horizon at the step's middle
    sp = pvlib.solarposition.get_solarposition(pd.DatetimeIndex(mids), SITE.latitude, SITE.longitude)
    night = sp["apparent_elevation"].to_numpy() < -6
    assert night.any() and (f.power_w[night] == 0).all()
    assert f.power_w.max() <= 0.9 * 5000 + 1e-6  # inverter limit 0.9 x kWp
    assert f.ratio == 1.0 and (f.factor == 1.0).all()


def test_pv_summer_day_energy_is_plausible() -> None:
    f = forecast_pv(PV, SITE, datetime(2025, 6, 21, tzinfo=UTC), 96)
    assert 25 < f.energy_kwh < 40  # clear June day in Belgium: 5-8 kWh per kWp


def test_measurements_pull_the_forecast_and_decay() -> None:
    start = datetime(2025, 6, 21, 10, tzinfo=UTC)
    plain = forecast_pv(PV, SITE, start - timedelta(hours=3), 12 + 24, 900)
    past = plain.model_w[:12]
    f = forecast_pv(PV, SITE, start, 24, 900, measured_w=0.5 * past)
    assert f.ratio == pytest.approx(0.5)
    assert f.model_w == pytest.approx(plain.model_w[12:])
    assert f.power_w[0] == pytest.approx(f.model_w[0] * f.factor[0])
    assert f.factor[0] < 0.6 and f.factor[-1] > f.factor[0] and np.all(np.diff(f.factor) > 0)
    assert 0.5 < f.factor[-1] < 1.0
    # toward the measurements: closer to 0.5 x model than the uncorrected forecast is
    assert abs(f.power_w[0] - 0.5 * f.model_w[0]) < abs(f.model_w[0] - 0.5 * f.model_w[0])
    # bounded: ten times the model caps at max_ratio
    high = forecast_pv(PV, SITE, start, 4, 900, measured_w=10 * past)
    assert high.ratio == pytest.approx(1.3)


def test_night_lookback_gives_no_correction() -> None:
    f = forecast_pv(PV, SITE, datetime(2025, 6, 21, 2, tzinfo=UTC), 8, 900, measured_w=np.zeros(8))
    assert f.ratio == 1.0


def test_pv_on_dwd_weather_is_below_clear_sky() -> None:
    day = datetime(2025, 6, 22, tzinfo=UTC)
    clear = forecast_pv(PV, SITE, day, 96)
    dwd = forecast_pv(PV, SITE, day, 96, weather=WeatherConfig(source=WeatherSource.DWD_2015))
    assert 0 < dwd.energy_kwh < clear.energy_kwh


def test_temperature_from_dwd_matches_raw_file() -> None:
    with gzip.open(CORPUS / "dwd_weather_2015" / "dwd_temp_2015_15min.csv.gz", "rt") as fh:
        rows = dict(line.strip().split(",") for line in fh if line.startswith("2015-07-01 12:"))
    t = forecast_temperature(
        SITE,
        datetime(2025, 7, 1, 12, tzinfo=UTC),
        2,
        900,
        weather=WeatherConfig(source=WeatherSource.DWD_2015),
    )
    a, b, c = (float(rows[f"2015-07-01 12:{m}:00"]) for m in ("00", "15", "30"))
    assert t.temperature_c == pytest.approx([(a + b) / 2, (b + c) / 2])


def test_clear_sky_temperature_swings_around_the_mean() -> None:
    t = forecast_temperature(
        SITE,
        datetime(2025, 1, 10, tzinfo=UTC),
        96,
        900,
        weather=WeatherConfig(mean_temperature_c=5.0, daily_swing_k=8.0),
    )
    assert t.temperature_c.mean() == pytest.approx(5.0, abs=0.05)
    assert t.temperature_c.max() - t.temperature_c.min() == pytest.approx(8.0, abs=0.1)


def _weekly_pattern(t: datetime) -> float:
    local = t.astimezone(BRUSSELS)
    return 200.0 + 50.0 * local.weekday() + 10.0 * local.hour + local.minute


def test_base_load_reproduces_a_weekly_pattern_across_dst() -> None:
    # six weeks of quarter-hour history up to the week after the spring DST change
    start = datetime(2025, 3, 31, 0, tzinfo=BRUSSELS).astimezone(UTC)
    h0 = start - timedelta(weeks=6)
    n_hist = int((start - h0).total_seconds() // 900)
    times = [h0 + timedelta(seconds=900 * i) for i in range(n_hist)]
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 5.0, size=(n_hist,))
    history = PowerHistory(h0, 900, np.array([_weekly_pattern(t) for t in times]) + noise)
    f = forecast_base_load(history, start, 7 * 96, 900, weeks=4)
    expected = np.array([_weekly_pattern(start + timedelta(seconds=900 * k)) for k in range(7 * 96)])
    assert (f.weeks_used == 4).all() and not f.from_profile.any()
    assert np.abs(f.power_w - expected).max() < 15.0  # four-week mean of sigma-5 noise
    exact = forecast_base_load(
        PowerHistory(h0, 900, np.array([_weekly_pattern(t) for t in times])), start, 96, 900
    )
    assert exact.power_w == pytest.approx(expected[:96])
    hourly = forecast_base_load(history, start, 24, 3600)
    assert hourly.power_w == pytest.approx(f.power_w[:96].reshape(24, 4).mean(axis=1))


def test_short_history_falls_back_to_the_synergrid_profile() -> None:
    start = datetime(2025, 1, 15, tzinfo=UTC)
    history = PowerHistory(start - timedelta(days=3), 900, np.full(3 * 96, 400.0))
    household = HouseholdConfig(annual_kwh=3500.0)
    f = forecast_base_load(history, start, 8, 900, household=household)
    assert f.from_profile.all()
    frame = pd.read_csv(CORPUS / "synergrid_be" / "synergrid_rlp0n_2022-2026_15min.csv.gz")
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    share = frame.loc[stamps == pd.Timestamp(start), "flanders"].iloc[0]
    assert f.power_w[0] == pytest.approx(share * 3500.0 * 4000.0)  # share of a year's kWh in 15 min -> W
    none = forecast_base_load(None, start, 8, 900, household=household)
    assert none.power_w == pytest.approx(f.power_w)


def test_base_load_gap_weeks_are_skipped() -> None:
    start = datetime(2025, 2, 3, tzinfo=UTC)
    h0 = start - timedelta(weeks=4)
    values = np.full(4 * 7 * 96, 300.0)
    values[: 7 * 96] = np.nan  # the oldest week is missing
    values[7 * 96 :] = 600.0
    f = forecast_base_load(PowerHistory(h0, 900, values), start, 4, 900, weeks=4, min_weeks=2)
    assert (f.weeks_used == 3).all() and f.power_w == pytest.approx([600.0] * 4)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="start: expected a timezone-aware"):
        forecast_pv(PV, SITE, datetime(2025, 6, 21), 4)
    with pytest.raises(ValueError, match="step_s: expected a positive multiple of 60"):
        forecast_temperature(SITE, datetime(2025, 6, 21, tzinfo=UTC), 4, 90)
    with pytest.raises(ValueError, match="min_weeks"):
        forecast_base_load(None, datetime(2025, 6, 21, tzinfo=UTC), 4, weeks=2, min_weeks=3)
