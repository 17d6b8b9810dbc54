"""PV system: daily energy against an independent pvlib chain, night, inverter and curtailment limits,
signature, reconnection after an outage, determinism."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd
import pvlib
import pytest

from gridedge.model.scenario import PVConfig, SiteConfig
from gridedge.physics.weather import ClearSkyWeather
from gridedge.sim.control import PowerSettable, Switchable
from gridedge.sim.electrical import HARMONICS, Change, SiteContext
from gridedge.sim.pv import PVSystem

pytestmark = pytest.mark.filterwarnings("ignore:.*dayofyear.*:DeprecationWarning")  # pvlib 0.16 on pandas 3


def _site(start: str) -> SiteConfig:
    return SiteConfig(start=datetime.fromisoformat(start))


def _run(
    pv: PVSystem,
    ctx: SiteContext,
    t0: float,
    t1: float,
    before: Callable[[float], None] | None = None,
) -> tuple[float, list[Change]]:
    """Step second by second; energy (Wh, consumer sign) integrated from the emitted signatures."""
    sig = pv.signature
    since = t0
    wh = 0.0
    changes: list[Change] = []
    t = t0
    while t < t1:
        if before is not None:
            before(t)
        for ch in pv.advance(t, t + 1.0, ctx):
            wh += sig.power_w * (ch.at - since) / 3600.0
            sig, since = ch.signature, ch.at
            changes.append(ch)
        t += 1.0
    wh += sig.power_w * (t1 - since) / 3600.0
    return wh, changes


def _reference_kwh(cfg: PVConfig, site: SiteConfig) -> float:
    """An independent pvlib chain: isotropic sky, SAPM cell temperature, no IAM, PVWatts DC and inverter."""
    start = site.start_aware.timestamp()
    times = pd.DatetimeIndex(pd.to_datetime(start + 60.0 * np.arange(1440), unit="s", utc=True))
    loc = pvlib.location.Location(site.latitude, site.longitude, tz="UTC")
    cs = loc.get_clearsky(times, model="ineichen")
    sp = loc.get_solarposition(times)
    poa = pvlib.irradiance.get_total_irradiance(
        cfg.tilt_deg, cfg.azimuth_deg, sp["apparent_zenith"], sp["azimuth"], cs["dni"], cs["ghi"], cs["dhi"]
    )
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
    t_cell = pvlib.temperature.sapm_cell(poa["poa_global"], 20.0, 1.0, **params)
    pdc = pvlib.pvsystem.pvwatts_dc(poa["poa_global"], t_cell, cfg.kwp * 1000.0, -0.004) * (
        1 - cfg.system_losses
    )
    ac_max = (cfg.inverter_kw or 0.9 * cfg.kwp) * 1000.0
    pac = pvlib.inverter.pvwatts(pdc, ac_max / 0.96).clip(lower=0)
    return float(pac.sum()) / 60.0 / 1000.0


@pytest.mark.parametrize(
    ("start", "per_kwp"),
    [("2025-06-17T00:00:00+02:00", (5.0, 7.5)), ("2025-12-17T00:00:00+01:00", (0.7, 2.5))],
)
def test_clear_day_energy_matches_an_independent_pvlib_chain(
    start: str, per_kwp: tuple[float, float]
) -> None:
    site = _site(start)
    cfg = PVConfig(kwp=6.0)
    weather = ClearSkyWeather(
        site.latitude, site.longitude, site.start_aware, cloudiness=0.0, mean_temperature_c=20.0
    )
    pv = PVSystem(cfg, site, weather=weather)
    wh, changes = _run(pv, SiteContext(site.start_aware, site.zone, weather), 0.0, 86400.0)
    kwh = -wh / 1000.0
    ref = _reference_kwh(cfg, site)
    assert kwh == pytest.approx(ref, rel=0.08)
    assert per_kwp[0] < kwh / cfg.kwp < per_kwp[1]
    assert all(ch.signature.power_w <= 0 for ch in changes)
    assert len(changes) < 3000  # small drifts are not reported every second


def test_no_generation_at_night_and_some_at_noon() -> None:
    site = _site("2025-06-17T00:00:00+02:00")
    weather = ClearSkyWeather(site.latitude, site.longitude, site.start_aware, cloudiness=0.4, seed=5)
    pv = PVSystem(PVConfig(), site, weather=weather)
    ctx = SiteContext(site.start_aware, site.zone, weather)
    ts = np.arange(0.0, 86400.0, 1.0)
    power = np.empty(ts.size)
    for i, t in enumerate(ts):
        pv.advance(float(t), float(t) + 1.0, ctx)
        power[i] = pv.signature.power_w
    times = pd.DatetimeIndex(pd.to_datetime(site.start_aware.timestamp() + ts[::60], unit="s", utc=True))
    elevation = pvlib.solarposition.get_solarposition(times, site.latitude, site.longitude)[
        "elevation"
    ].to_numpy()
    night = np.repeat(elevation < -1.0, 60)
    assert (power[night] == 0.0).all()
    assert power[~night].min() < -3000.0  # generation is negative power


def test_inverter_clips_and_curtailment_limits_generation() -> None:
    site = _site("2025-06-17T00:00:00+02:00")
    weather = ClearSkyWeather(site.latitude, site.longitude, site.start_aware, cloudiness=0.0)
    pv = PVSystem(PVConfig(kwp=10.0, inverter_kw=5.0), site, weather=weather)
    assert isinstance(pv, PowerSettable) and isinstance(pv, Switchable)
    ctx = SiteContext(site.start_aware, site.zone, weather)
    noon = 13.5 * 3600.0
    _run(pv, ctx, noon - 60.0, noon)
    assert pv.signature.power_w == pytest.approx(-5000.0, rel=1e-9)  # clipped at the AC limit
    pv.set_power(1500.0, noon)
    _run(pv, ctx, noon, noon + 1.0)
    assert pv.signature.power_w == pytest.approx(-1500.0, rel=1e-9)
    wh, _ = _run(pv, ctx, noon + 1.0, noon + 601.0)
    assert wh == pytest.approx(-1500.0 * 600 / 3600, rel=1e-9)
    pv.set_power(None, noon + 601.0)
    _run(pv, ctx, noon + 601.0, noon + 602.0)
    assert pv.signature.power_w == pytest.approx(-5000.0, rel=1e-9)
    with pytest.raises(ValueError, match="-10"):
        pv.set_power(-10.0, noon)


def test_signature_is_unity_power_factor_with_a_few_percent_thd_on_its_phases() -> None:
    site = _site("2025-06-17T00:00:00+02:00")
    weather = ClearSkyWeather(site.latitude, site.longitude, site.start_aware, cloudiness=0.0)
    pv = PVSystem(PVConfig(phases=(1, 2, 3)), site, weather=weather)
    _run(pv, SiteContext(site.start_aware, site.zone, weather), 13 * 3600.0, 13 * 3600.0 + 5)
    sig = pv.signature
    assert sig.reactive_power_var == pytest.approx(0.0, abs=1e-6)
    cur = sig.currents
    np.testing.assert_allclose(cur[0], cur[1])
    np.testing.assert_allclose(cur[0], cur[2])
    thd = np.sqrt((np.abs(cur[0, 1:]) ** 2).sum()) / abs(cur[0, 0])
    assert 0.01 < thd < 0.05  # IEEE 1547-2018: total rated-current distortion <= 5 %
    assert (np.abs(cur[0, 1:]) / abs(cur[0, 0]))[HARMONICS[1:] < 11].max() < 0.04


def test_outage_stops_generation_then_reconnects_after_60_s_with_a_ramp() -> None:
    site = _site("2025-06-17T00:00:00+02:00")
    weather = ClearSkyWeather(site.latitude, site.longitude, site.start_aware, cloudiness=0.0)
    pv = PVSystem(PVConfig(), site, weather=weather)
    ctx = SiteContext(site.start_aware, site.zone, weather)
    noon = 13.5 * 3600.0
    _run(pv, ctx, noon - 10, noon)
    full = pv.signature.power_w
    assert full < -4000

    def outage(t: float) -> None:
        ctx.supply_ok = not (noon <= t < noon + 30)

    _, changes = _run(pv, ctx, noon, noon + 30, before=outage)
    assert [c.signature.is_zero for c in changes] == [True]
    _, changes = _run(pv, ctx, noon + 30, noon + 90, before=outage)
    assert changes == [] and pv.signature.is_zero  # observation time
    _run(pv, ctx, noon + 90, noon + 150)
    assert pv.signature.power_w == pytest.approx(-0.1 * pv.pac_max_w, rel=0.05)  # 10 %/min
    _run(pv, ctx, noon + 150, noon + 700)
    assert pv.signature.power_w == pytest.approx(full, rel=0.02)


def test_same_seed_same_changes() -> None:
    site = _site("2025-06-17T00:00:00+02:00")

    def changes(seed: int) -> list[tuple[float, float]]:
        weather = ClearSkyWeather(site.latitude, site.longitude, site.start_aware, cloudiness=0.5, seed=seed)
        pv = PVSystem(PVConfig(), site, weather, seed=seed)
        _, out = _run(pv, SiteContext(site.start_aware, site.zone, weather), 10 * 3600.0, 12 * 3600.0)
        return [(c.at, c.signature.power_w) for c in out]

    assert changes(3) == changes(3)
    assert changes(3) != changes(4)
