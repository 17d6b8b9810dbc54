"""Feeder congestion management over time: engage, follow, release with hysteresis, flag."""

from __future__ import annotations

import pytest

from gridedge.grid.dso.congestion import FeederCongestion, FeederSite, FeederSpec

SITES = (
    FeederSite("hp", 1, False),  # heat pump, direct control: floor 4.2 kW
    FeederSite("ems", 3, True),  # wallbox + battery + heat pump behind an EMS: 10.5 kW
    FeederSite("flat", 0, False),  # no §14a device: never limited
    FeederSite("car", 1, True, household_kw=1.0),  # 4.2 kW + 1 kW household allowance
)


def _spec(**kw: float) -> FeederSpec:
    return FeederSpec("f", 40_000.0, SITES, **kw)


def test_floors_and_the_feeders_sum_of_floors() -> None:
    assert [s.floor_w for s in SITES] == [4200.0, 10_500.0, None, 5200.0]
    assert _spec().floors_w == pytest.approx(19_900.0)


def test_engage_share_follow_and_release_with_hysteresis() -> None:
    c = FeederCongestion(_spec(release_hold_s=60.0, limit_duration_s=600.0))
    assert not c.step(0.0, {"hp": 5000, "ems": 9000, "flat": 8000, "car": 7000}).congested
    s = c.step(10.0, {"hp": 12_000, "ems": 16_000, "flat": 8_000, "car": 11_000})  # 47 kW > 40 kW
    assert s.engaged and s.congested and s.feasible
    # 32 kW left for the curtailable sites, all wanting more than a share: 3 L = 32 kW
    level = s.result.level_w if s.result else 0.0
    assert level == pytest.approx(32_000.0 / 3)
    assert s.set_limits == {
        "hp": pytest.approx(level),
        "ems": pytest.approx(level),
        "car": pytest.approx(level),
    }
    assert "flat" not in s.set_limits
    # the sites follow their limits: the same limits hold (saturated demand keeps them), nothing re-sent
    s = c.step(20.0, {"hp": level, "ems": level, "flat": 8_000, "car": level})
    assert s.congested and s.set_limits == {}
    # the flat site drops 4 kW: the level rises for the saturated ones (an increase >= 100 W is sent)
    s = c.step(30.0, {"hp": level, "ems": level, "flat": 4_000, "car": level})
    assert all(v > level + 100 for v in s.set_limits.values()) and len(s.set_limits) == 3
    # load oscillates around 90 %: never released
    for t in range(40, 400, 10):
        load = 37_000 if t % 20 else 35_000  # 92.5 % / 87.5 %
        s = c.step(float(t), {"hp": load / 4, "ems": load / 4, "flat": load / 4, "car": load / 4})
        assert s.congested and not s.released
    # below 90 % for the whole hold: released, every issued limit lifted
    s = c.step(400.0, {"hp": 5_000, "ems": 5_000, "flat": 5_000, "car": 5_000})
    assert s.congested
    s = c.step(459.0, {"hp": 5_000, "ems": 5_000, "flat": 5_000, "car": 5_000})
    assert s.congested
    s = c.step(460.0, {"hp": 5_000, "ems": 5_000, "flat": 5_000, "car": 5_000})
    assert s.released and not s.congested and sorted(s.lift) == ["car", "ems", "hp"]
    assert c.limits == {}


def test_limits_are_renewed_before_their_duration_runs_out() -> None:
    c = FeederCongestion(_spec(limit_duration_s=100.0))
    loads = {"hp": 20_000.0, "ems": 20_000.0, "flat": 5_000.0, "car": 20_000.0}
    first = c.step(0.0, loads)
    sent_at = {k: 0.0 for k in first.set_limits}
    for t in range(10, 301, 10):
        s = c.step(float(t), {k: min(v, c.limits.get(k, v)) for k, v in loads.items()})
        for k in s.set_limits:
            sent_at[k] = float(t)
        assert all(t - v < 100.0 for v in sent_at.values())  # never lapses while congested


def test_a_falling_share_is_sent_at_once() -> None:
    c = FeederCongestion(_spec(min_change_w=5000.0))
    c.step(0.0, {"hp": 12_000, "ems": 12_000, "flat": 5_000, "car": 12_000})
    before = dict(c.limits)
    s = c.step(10.0, {"hp": 12_000, "ems": 12_000, "flat": 8_000, "car": 12_000})  # flat grows 3 kW
    assert s.set_limits and all(s.set_limits[k] < before[k] for k in s.set_limits)


def test_minimums_above_the_capacity_are_kept_and_flagged() -> None:
    c = FeederCongestion(FeederSpec("small", 15_000.0, SITES))
    s = c.step(0.0, {"hp": 9_000, "ems": 12_000, "flat": 3_000, "car": 9_000})
    assert s.congested and not s.feasible and s.result is not None
    assert s.result.shortfall_w == pytest.approx(4_200 + 10_500 + 3_000 + 5_200 - 15_000)
    assert s.set_limits == {"hp": 4200.0, "ems": 10_500.0, "car": 5200.0}


def test_missing_loads_are_reported() -> None:
    c = FeederCongestion(_spec())
    s = c.step(0.0, {"hp": 1000})
    assert s.missing == ("ems", "flat", "car") and not s.congested


def test_spec_checks() -> None:
    with pytest.raises(ValueError, match="capacity_w"):
        FeederSpec("f", 0.0, SITES)
    with pytest.raises(ValueError, match="unique"):
        FeederSpec("f", 1.0, (SITES[0], SITES[0]))
    with pytest.raises(ValueError, match="release_fraction"):
        FeederSpec("f", 1.0, SITES, release_fraction=1.0)
