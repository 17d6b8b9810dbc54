"""Weather: DWD 2015 mapping and interpolation, pvlib clear sky, seeded clouds, daily temperature."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from gridedge.model.scenario import SiteConfig, WeatherConfig, WeatherSource
from gridedge.physics.weather import (
    ClearSkyWeather,
    DwdWeather,
    Weather,
    irradiance_many,
    weather_from_config,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*dayofyear.*:DeprecationWarning")  # pvlib 0.16 on pandas 3

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
DWD = CORPUS / "ems" / "dwd_weather_2015"
assert DWD.is_dir(), f"corpus not found at {CORPUS}"

GHENT = (51.05, 3.72)
START = datetime.fromisoformat("2025-06-17T00:00:00+02:00")


def _dwd_rows() -> pd.DataFrame:
    irr = pd.read_csv(DWD / "dwd_pv_irradiance_2015_15min.csv.gz", parse_dates=["time"], index_col="time")
    tmp = pd.read_csv(DWD / "dwd_temp_2015_15min.csv.gz", parse_dates=["time"], index_col="time")
    return irr.join(tmp)


def test_dwd_maps_the_scenario_day_onto_2015_at_the_same_utc_time() -> None:
    rows = _dwd_rows()
    w = DwdWeather(START)
    t = 12 * 3600.0  # 12:00 CEST = 10:00 UTC
    row = rows.loc["2015-06-17 10:00"]
    assert w.irradiance(t) == pytest.approx((row["ghi"], row["dni"], row["dhi"]))
    assert w.temperature_c(t) == pytest.approx(row["temperature"])
    nxt = rows.loc["2015-06-17 10:15"]
    mid = w.irradiance(t + 450.0)
    assert mid[0] == pytest.approx((row["ghi"] + nxt["ghi"]) / 2)
    assert w.temperature_c(t + 450.0) == pytest.approx((row["temperature"] + nxt["temperature"]) / 2)


def test_dwd_reads_29_february_as_28_february_and_vectorises_the_same() -> None:
    rows = _dwd_rows()
    w = DwdWeather(datetime.fromisoformat("2024-02-29T00:00:00+00:00"))
    assert w.temperature_c(6 * 3600.0) == pytest.approx(rows.loc["2015-02-28 06:00", "temperature"])
    ts = np.arange(0.0, 2 * 86400.0, 337.0)
    ghi, dni, dhi = irradiance_many(w, ts)
    scalar = np.array([w.irradiance(float(t)) for t in ts])
    np.testing.assert_allclose(np.column_stack([ghi, dni, dhi]), scalar)


def test_clear_sky_without_clouds_is_pvlib_ineichen_at_the_site() -> None:
    w = ClearSkyWeather(*GHENT, START, cloudiness=0.0)
    ts = np.arange(0.0, 86400.0, 600.0)
    times = pd.DatetimeIndex(pd.to_datetime(START.timestamp() + ts, unit="s", utc=True))
    ref = pvlib.location.Location(*GHENT, tz="UTC").get_clearsky(times, model="ineichen")
    got = np.array([w.irradiance(float(t)) for t in ts])
    np.testing.assert_allclose(got, ref[["ghi", "dni", "dhi"]].clip(lower=0).to_numpy(), atol=1e-6)
    assert got[: 4 * 6].max() == 0.0  # 00:00-04:00 CEST: night
    assert got[:, 0].max() > 800.0


def _cloud_days(cloudiness: float, days: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    w = ClearSkyWeather(*GHENT, START, cloudiness=cloudiness, seed=seed)
    clear = ClearSkyWeather(*GHENT, START, cloudiness=0.0)
    ts = np.arange(0.0, days * 86400.0, 10.0)
    return irradiance_many(w, ts)[0], irradiance_many(clear, ts)[0]


def test_cloudiness_is_the_share_of_daylight_under_clouds() -> None:
    for cloudiness in (0.2, 0.5, 0.8):
        ghi, ghi_cs = _cloud_days(cloudiness, 6)
        day = ghi_cs > 200.0
        shaded = float(np.mean(ghi[day] < 0.7 * ghi_cs[day]))
        assert abs(shaded - cloudiness) < 0.15, (cloudiness, shaded)
        energy_ratio = ghi.sum() / ghi_cs.sum()
        assert 1.0 - 0.8 * cloudiness < energy_ratio < 1.05


def test_clouds_make_minute_scale_ramps_and_edge_enhancement() -> None:
    ghi, ghi_cs = _cloud_days(0.4, 2)
    minute = ghi[::6]
    day = ghi_cs[::6] > 400.0
    ramps = np.abs(np.diff(minute))[day[1:]]
    assert ramps.max() > 300.0  # a cloud edge passes within a minute
    assert np.mean(ramps > 100.0) > 0.01
    assert (ghi[ghi_cs > 400] / ghi_cs[ghi_cs > 400]).max() > 1.05  # cloud enhancement


def test_components_stay_consistent_under_clouds() -> None:
    w = ClearSkyWeather(*GHENT, START, cloudiness=0.5, seed=3)
    ts = np.arange(6 * 3600.0, 20 * 3600.0, 60.0)
    ghi, dni, dhi = irradiance_many(w, ts)
    times = pd.DatetimeIndex(pd.to_datetime(START.timestamp() + ts, unit="s", utc=True))
    zen = pvlib.solarposition.get_solarposition(times, *GHENT)["apparent_zenith"].to_numpy()
    closure = dhi + dni * np.cos(np.radians(zen))
    np.testing.assert_allclose(closure, ghi, atol=15.0)  # 1 min clear-sky grid vs exact solar position
    assert (dni >= 0).all() and (dhi >= 0).all()


def test_clouds_are_seeded_and_independent_of_access_order() -> None:
    a = ClearSkyWeather(*GHENT, START, cloudiness=0.5, seed=7)
    b = ClearSkyWeather(*GHENT, START, cloudiness=0.5, seed=7)
    c = ClearSkyWeather(*GHENT, START, cloudiness=0.5, seed=8)
    late = [b.irradiance(86400.0 + 13 * 3600.0 + k) for k in range(0, 600, 7)]
    early = [b.irradiance(13 * 3600.0 + k) for k in range(0, 600, 7)]
    assert [a.irradiance(13 * 3600.0 + k) for k in range(0, 600, 7)] == early
    assert [a.irradiance(86400.0 + 13 * 3600.0 + k) for k in range(0, 600, 7)] == late
    assert [c.irradiance(13 * 3600.0 + k) for k in range(0, 600, 7)] != early


def test_daily_temperature_is_a_sine_around_the_mean_peaking_in_the_afternoon() -> None:
    w = ClearSkyWeather(*GHENT, START, mean_temperature_c=12.0, daily_swing_k=10.0)
    ts = np.arange(0.0, 86400.0, 60.0)
    temp = np.array([w.temperature_c(float(t)) for t in ts])
    assert temp.mean() == pytest.approx(12.0, abs=1e-9)
    assert temp.max() - temp.min() == pytest.approx(10.0, abs=1e-3)
    peak_utc_h = (START.timestamp() + ts[temp.argmax()]) % 86400 / 3600
    solar_h = peak_utc_h + GHENT[1] / 15
    assert solar_h == pytest.approx(14.5, abs=0.05)


def test_weather_from_config_picks_the_source() -> None:
    site = SiteConfig(start=START, seed=4)
    dwd: Weather = weather_from_config(WeatherConfig(source=WeatherSource.DWD_2015), site)
    assert isinstance(dwd, DwdWeather)
    cs = weather_from_config(WeatherConfig(cloudiness=0.6, mean_temperature_c=3.0, daily_swing_k=4.0), site)
    assert isinstance(cs, ClearSkyWeather)
    assert (cs.cloudiness, cs.seed) == (0.6, 4)
    assert math.isclose(np.mean([cs.temperature_c(t) for t in range(0, 86400, 60)]), 3.0, abs_tol=1e-9)
