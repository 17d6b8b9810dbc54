"""Heat pump: hplib COP and power against the published regression, comfort band on a cold day,
energy balance of the house model, soft start, outages, signature, determinism."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gridedge.model.scenario import HeatPumpConfig
from gridedge.physics.hplib import HplibModel
from gridedge.physics.weather import ClearSkyWeather
from gridedge.sim.control import Switchable, TemperatureSettable
from gridedge.sim.electrical import HARMONICS, Change, SiteContext
from gridedge.sim.heatpump import MIN_OFF_S, HeatPump

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
HPLIB = CORPUS / "ems" / "heatpump_hplib" / "hplib_database.csv"
assert HPLIB.is_file(), f"corpus not found at {CORPUS}"

START = datetime.fromisoformat("2025-01-15T00:00:00+01:00")
GHENT = (51.05, 3.72)


def _row(model: str) -> dict[str, str]:
    with HPLIB.open(encoding="utf-8") as f:
        return next(r for r in csv.DictReader(f) if r["Model"].strip() == model)


def _ctx(mean_c: float, swing_k: float = 6.0) -> SiteContext:
    weather = ClearSkyWeather(*GHENT, START, cloudiness=0.0, mean_temperature_c=mean_c, daily_swing_k=swing_k)
    return SiteContext(START, ZoneInfo("Europe/Brussels"), weather)


@pytest.mark.parametrize("model", ["i-SHWAK V4 06", "AEROTOP T20"])
@pytest.mark.parametrize(("outdoor", "flow"), [(-7.0, 35.0), (2.0, 35.0), (7.0, 45.0), (12.0, 55.0)])
def test_cop_and_power_follow_the_hplib_regression(model: str, outdoor: float, flow: float) -> None:
    r = {k: v for k, v in _row(model).items()}
    p = [float(r[f"p{i}_COP [-]"]) for i in range(1, 5)]
    e = [float(r[k]) for k in ("p1_P_el_h [1/°C]", "p2_P_el_h [1/°C]", "p3_P_el_h [-]", "p4_P_el_h [1/°C]")]
    ref = float(r["P_el_h_ref [W]"])
    # air/water: T_in = T_amb = outdoor (hplib README: COP = p1*T_in + p2*T_out + p3 + p4*T_amb)
    cop = p[0] * outdoor + p[1] * flow + p[2] + p[3] * outdoor
    p_el = ref * (e[0] * outdoor + e[1] * flow + e[2] + e[3] * outdoor)
    if float(r["Group"]) == 1.0:  # regulated: not below 25 % of the -7 °C value
        p_el = max(p_el, 0.25 * ref * (e[0] * -7 + e[1] * flow + e[2] + e[3] * -7))
    hp = HplibModel.load(model)
    assert hp.cop(outdoor, flow) == pytest.approx(max(cop, 1.0), rel=1e-12)
    assert hp.electric_w(outdoor, flow) == pytest.approx(p_el, rel=1e-12)
    assert hp.thermal_w(outdoor, flow) == pytest.approx(p_el * max(cop, 1.0), rel=1e-12)


def test_a_model_missing_from_the_database_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"'i-SHWAK V4 6'.*hplib_database.csv.*i-SHWAK V4 06"):
        HeatPump(HeatPumpConfig(model="i-SHWAK V4 6"))


def test_indoor_temperature_stays_in_band_on_a_cold_day_and_the_house_balances() -> None:
    cfg = HeatPumpConfig(indoor_c=20.5, setpoint_c=20.5, band_k=0.5)
    hp = HeatPump(cfg)
    assert isinstance(hp, TemperatureSettable) and isinstance(hp, Switchable)
    ctx = _ctx(-4.0)
    sig = hp.signature
    since = 0.0
    electric = 0.0
    heat = 0.0
    indoor = []
    worst = 0.0
    for t in range(86400):
        for ch in hp.advance(float(t), t + 1.0, ctx):
            electric += sig.power_w * (ch.at - since) / 3600.0
            sig, since = ch.signature, ch.at
        heat += hp.heat_w / 3600.0
        if hp.running:  # heat = COP x the compressor's share of the emitted power
            worst = max(worst, abs(hp.heat_w - hp.cop * (sig.power_w - hp.hp.standby_w)))
        indoor.append(hp.indoor_c)
    electric += sig.power_w * (86400.0 - since) / 3600.0
    assert worst < 1e-9
    temps = np.array(indoor)
    assert temps.min() >= 20.5 - 0.5 and temps.max() <= 20.5 + 0.5
    assert electric == pytest.approx(hp.electric_wh, rel=1e-12)
    assert heat == pytest.approx(hp.heat_delivered_wh, rel=1e-9)
    stored = hp.capacity_j_per_k * (hp.indoor_c - 20.5) / 3600.0
    assert stored == pytest.approx(hp.heat_delivered_wh - hp.heat_lost_wh, abs=1e-6)
    # the house lost about UA x (setpoint - mean outdoor) over the day
    assert hp.heat_lost_wh == pytest.approx(180.0 * (20.5 + 4.0) * 24, rel=0.02)
    assert 2.0 < hp.heat_delivered_wh / electric < 4.0  # a plausible daily COP at -4 °C, 35 °C flow


def test_mild_weather_cycles_at_minimum_modulation_within_the_band() -> None:
    cfg = HeatPumpConfig(indoor_c=20.5, setpoint_c=20.5, min_modulation=0.6, thermal_capacity_kwh_per_k=2.0)
    hp = HeatPump(cfg)
    ctx = _ctx(14.0, 2.0)
    starts = 0
    was = False
    lo = hi = 20.5
    for t in range(6 * 3600):
        hp.advance(float(t), t + 1.0, ctx)
        starts += hp.running and not was
        was = hp.running
        lo, hi = min(lo, hp.indoor_c), max(hi, hp.indoor_c)
    assert starts >= 2  # demand below the minimum: on/off cycling
    assert lo >= 20.0 and hi <= 21.0


def test_soft_start_standby_and_setpoint() -> None:
    hp = HeatPump(HeatPumpConfig(indoor_c=19.0, setpoint_c=20.5))
    ctx = _ctx(0.0)
    powers = []
    for t in range(120):
        hp.advance(float(t), t + 1.0, ctx)
        powers.append(hp.signature.power_w)
    assert powers[0] < 0.05 * powers[90]  # the inverter ramps the compressor up over a minute
    assert powers[30] == pytest.approx(powers[90] / 2, rel=0.2)
    hp.switch(False, 120.0)
    hp.advance(120.0, 121.0, ctx)
    assert hp.signature.power_w == pytest.approx(hp.hp.standby_w) and hp.hp.standby_w > 0
    with pytest.raises(ValueError, match="50"):
        hp.set_temperature(50.0, 121.0)


def test_outage_cools_the_house_and_the_compressor_waits_after_power_returns() -> None:
    hp = HeatPump(HeatPumpConfig(indoor_c=20.5))
    ctx = _ctx(-5.0)
    for t in range(300):
        hp.advance(float(t), t + 1.0, ctx)
    assert hp.running
    ctx.supply_ok = False
    before = hp.indoor_c
    changes: list[Change] = []
    for t in range(300, 1200):
        changes.extend(hp.advance(float(t), t + 1.0, ctx))
    assert len(changes) == 1 and changes[0].signature.is_zero
    assert hp.indoor_c < before - 0.01 and hp.heat_w == 0.0
    ctx.supply_ok = True
    for t in range(1200, 1200 + int(MIN_OFF_S) - 1):
        hp.advance(float(t), t + 1.0, ctx)
        assert not hp.running  # anti-short-cycle timer counts from the power's return
    for t in range(1200 + int(MIN_OFF_S) - 1, 1200 + int(MIN_OFF_S) + 90):
        hp.advance(float(t), t + 1.0, ctx)
    assert hp.running and hp.signature.power_w > 1000


def test_three_phase_drive_has_no_triplens_and_single_phase_pfc_is_clean() -> None:
    ctx = _ctx(-5.0)
    thd = {}
    for phases in ((1, 2, 3), (1,)):
        hp = HeatPump(HeatPumpConfig(indoor_c=18.0, phases=phases))
        for t in range(120):
            hp.advance(float(t), t + 1.0, ctx)
        cur = hp.signature.currents[0]
        thd[len(phases)] = np.sqrt((np.abs(cur[1:]) ** 2).sum()) / abs(cur[0])
        if len(phases) == 3:
            assert (np.abs(cur[HARMONICS % 3 == 0]) == 0).all()
    assert 0.3 < thd[3] < 0.45
    assert thd[1] < 0.08


def test_same_weather_same_changes() -> None:
    def trace() -> list[tuple[float, float]]:
        hp = HeatPump(HeatPumpConfig(indoor_c=19.8), seed=5)
        ctx = _ctx(3.0)
        out: list[tuple[float, float]] = []
        for t in range(3 * 3600):
            out.extend((c.at, c.signature.power_w) for c in hp.advance(float(t), t + 1.0, ctx))
        return out

    first = trace()
    assert len(first) > 10 and first == trace()
