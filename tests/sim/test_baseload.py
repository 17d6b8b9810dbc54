"""Base load: daily energy equals the profile's share of annual use, quarter-hour means kept under the
minute variation, phase split, power factor, year mapping, DST days, outages, determinism."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from gridedge.model.scenario import BaseLoadProfile, HouseholdConfig
from gridedge.physics.profiles import synergrid_rlp0n
from gridedge.sim.baseload import BaseLoad
from gridedge.sim.electrical import Change, SiteContext

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
RLP = CORPUS / "ems" / "synergrid_be" / "synergrid_rlp0n_2022-2026_15min.csv.gz"
BDEW_2024 = CORPUS / "ems" / "bdew_slp" / "bdew_h0_h0dyn_h25_2024_15min_per1000kWh.csv"
assert RLP.is_file() and BDEW_2024.is_file(), f"corpus not found at {CORPUS}"

ZONE = ZoneInfo("Europe/Brussels")


def _ctx(day: str) -> SiteContext:
    return SiteContext(datetime.fromisoformat(day).replace(tzinfo=ZONE), ZONE)


def _day(load: BaseLoad, ctx: SiteContext, seconds: float) -> tuple[np.ndarray, list[Change]]:
    """Power per second (from the emitted changes, which may fall inside a second) over [0, seconds)."""
    changes: list[Change] = []
    for t in range(int(seconds)):
        changes.extend(load.advance(float(t), t + 1.0, ctx))
    power = np.zeros(int(seconds))
    for i, ch in enumerate(changes):
        end = changes[i + 1].at if i + 1 < len(changes) else seconds
        power[int(ch.at) : int(end)] = ch.signature.power_w
    return power, changes


@cache
def _rlp_by_local_day() -> pd.DataFrame:
    df = pd.read_csv(RLP)
    df["day"] = pd.to_datetime(df["timestamp"], utc=True).dt.tz_convert(ZONE).dt.strftime("%Y-%m-%d")
    return df


def _rlp_day_kwh(day: str, region: str, annual: float) -> float:
    df = _rlp_by_local_day()
    return float(df.loc[df["day"] == day, region].sum()) * annual


@pytest.mark.parametrize(("day", "hours"), [("2025-06-17", 24), ("2025-03-30", 23), ("2025-10-26", 25)])
def test_day_energy_is_the_synergrid_share_of_annual_use(day: str, hours: int) -> None:
    cfg = HouseholdConfig(annual_kwh=4200.0, region="flanders")
    load = BaseLoad(cfg, seed=3)
    power, changes = _day(load, _ctx(day), hours * 3600.0)
    assert all(c.at == int(c.at) and int(c.at) % 60 == 0 for c in changes)  # minute boundaries
    kwh = power.sum() / 3600.0 / 1000.0
    assert kwh == pytest.approx(_rlp_day_kwh(day, "flanders", 4200.0), rel=0.01)


def test_quarter_hour_means_of_the_profile_survive_the_minute_variation() -> None:
    cfg = HouseholdConfig(annual_kwh=3500.0)
    load = BaseLoad(cfg, seed=1)
    ctx = _ctx("2025-01-14")
    power, _ = _day(load, ctx, 6 * 3600.0)
    quarters = power.reshape(-1, 900)
    profile = synergrid_rlp0n("flanders")
    expected = np.array([profile.watts_per_kwh(ctx.local(q * 900.0)) * 3500.0 for q in range(len(quarters))])
    np.testing.assert_allclose(quarters.mean(axis=1), expected, rtol=0.005)
    minutes = power.reshape(-1, 60)[:, 0].reshape(-1, 15)
    spread = (minutes.std(axis=1) / minutes.mean(axis=1)).mean()
    assert 0.1 < spread < 0.6  # restless minute to minute


def test_bdew_profile_in_standard_time() -> None:
    cfg = HouseholdConfig(annual_kwh=2000.0, profile=BaseLoadProfile.BDEW_H0)
    load = BaseLoad(cfg, seed=2)
    power, _ = _day(load, _ctx("2024-01-10"), 86400.0)  # winter: local time is standard time
    df = pd.read_csv(BDEW_2024, parse_dates=["timestamp_local_standard_time"])
    ref = df.loc[df["timestamp_local_standard_time"].dt.strftime("%Y-%m-%d") == "2024-01-10", "h0_kw"]
    assert power.sum() / 3.6e6 == pytest.approx(ref.sum() / 4 * 2000.0 / 1000.0, rel=0.01)


def test_years_outside_the_profile_map_onto_the_same_iso_week_and_weekday() -> None:
    profile = synergrid_rlp0n("flanders")
    for far, near in (("2030-06-18T09:00", "2026-06-16T09:00"), ("2019-01-08T19:15", "2022-01-11T19:15")):
        a = datetime.fromisoformat(far).replace(tzinfo=ZONE)
        b = datetime.fromisoformat(near).replace(tzinfo=ZONE)
        assert a.isocalendar()[1:] == b.isocalendar()[1:]
        assert profile.index(a) == profile.index(b)
    cfg = HouseholdConfig()
    far_kwh = _day(BaseLoad(cfg), _ctx("2030-06-18"), 86400.0)[0].sum()
    near_kwh = _day(BaseLoad(cfg), _ctx("2026-06-16"), 86400.0)[0].sum()
    assert far_kwh == pytest.approx(near_kwh, rel=0.01)


def test_phase_split_power_factor_and_single_phase_meter() -> None:
    cfg = HouseholdConfig(phase_shares=(0.5, 0.3, 0.2), power_factor=0.9)
    ctx = _ctx("2025-06-17")
    three = BaseLoad(cfg, phases=3)
    three.advance(0.0, 1.0, ctx)
    cur = three.signature.currents
    per_phase = 230.0 * cur[:, 0].real
    np.testing.assert_allclose(per_phase / per_phase.sum(), [0.5, 0.3, 0.2])
    sig = three.signature
    assert sig.reactive_power_var / sig.power_w == pytest.approx(np.tan(np.arccos(0.9)))
    thd = np.sqrt((np.abs(cur[0, 1:]) ** 2).sum()) / abs(cur[0, 0])
    assert 0.05 < thd < 0.25
    one = BaseLoad(cfg, phases=1)
    one.advance(0.0, 1.0, ctx)
    assert (one.signature.currents[1:] == 0).all()
    assert one.signature.power_w == pytest.approx(sig.power_w)
    with pytest.raises(ValueError, match="2"):
        BaseLoad(cfg, phases=2)


def test_outage_draws_nothing_and_the_load_returns_with_the_supply() -> None:
    load = BaseLoad(HouseholdConfig())
    ctx = _ctx("2025-06-17")
    for t in range(100):
        load.advance(float(t), t + 1.0, ctx)
    ctx.supply_ok = False
    changes = [c for t in range(100, 200) for c in load.advance(float(t), t + 1.0, ctx)]
    assert len(changes) == 1 and changes[0].signature.is_zero
    ctx.supply_ok = True
    back = load.advance(200.0, 201.0, ctx)
    assert len(back) == 1 and back[0].at == 200.0 and back[0].signature.power_w > 50


def test_same_seed_same_changes_other_seed_other_minutes() -> None:
    def trace(seed: int) -> list[tuple[float, float]]:
        _, changes = _day(BaseLoad(HouseholdConfig(), seed=seed), _ctx("2025-06-17"), 3600.0)
        return [(c.at, c.signature.power_w) for c in changes]

    assert trace(1) == trace(1)
    assert trace(1) != trace(2)
