"""Water-filling a feeder's capacity above the §14a floors: sums, floors, max-min fairness."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.grid.dso.fair_share import Claim, share_capacity


def test_equal_shares_when_everyone_wants_more() -> None:
    r = share_capacity(
        30_000.0, [Claim("a", 20_000.0, 4200.0), Claim("b", 20_000.0, 4200.0), Claim("c", 5_000.0, None)]
    )
    assert r.feasible and r.congested
    assert r.level_w == pytest.approx(12_500.0)
    assert [s.limit_w for s in r.shares] == [pytest.approx(12_500.0), pytest.approx(12_500.0), None]
    assert math.fsum(s.allocation_w for s in r.shares) == pytest.approx(30_000.0)


def test_a_small_consumer_keeps_what_it_draws_and_the_rest_is_split() -> None:
    r = share_capacity(
        20_000.0, [Claim("a", 3_000.0, 4200.0), Claim("b", 30_000.0, 4200.0), Claim("c", 30_000.0, 4200.0)]
    )
    assert r.share("a").allocation_w == 3_000.0
    assert r.share("b").allocation_w == pytest.approx(8_500.0) == r.share("c").allocation_w
    assert r.share("a").limit_w == pytest.approx(8_500.0)  # capped at the level too


def test_a_floor_above_the_level_is_kept() -> None:
    # b has 4 devices behind an EMS: floor 13.02 kW, above the fair level
    r = share_capacity(20_000.0, [Claim("a", 15_000.0, 4200.0), Claim("b", 15_000.0, 13_020.0)])
    b = r.share("b")
    assert b.at_floor and b.limit_w == 13_020.0
    assert r.share("a").limit_w == pytest.approx(20_000.0 - 13_020.0)


def test_no_congestion_no_limits() -> None:
    r = share_capacity(50_000.0, [Claim("a", 20_000.0, 4200.0), Claim("b", 20_000.0, 4200.0)])
    assert not r.congested and r.level_w == math.inf
    assert all(s.limit_w is None and s.allocation_w == s.demand_w for s in r.shares)


def test_minimums_alone_above_the_capacity_are_kept_and_flagged() -> None:
    claims = [Claim(f"s{i}", 10_000.0, 7_560.0) for i in range(4)] + [Claim("plain", 3_000.0, None)]
    r = share_capacity(30_000.0, claims)
    assert not r.feasible
    assert r.firm_w == pytest.approx(4 * 7_560.0 + 3_000.0)
    assert r.shortfall_w == pytest.approx(4 * 7_560.0 + 3_000.0 - 30_000.0)
    assert all(s.limit_w == 7_560.0 for s in r.shares if s.floor_w is not None)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="unique"):
        share_capacity(1.0, [Claim("a", 1.0, None), Claim("a", 1.0, None)])
    with pytest.raises(ValueError, match="demand_w"):
        Claim("a", -1.0, None)
    with pytest.raises(ValueError, match="capacity_w"):
        share_capacity(float("nan"), [])


watts = st.floats(min_value=0.0, max_value=50_000.0, allow_nan=False)
claims_st = st.lists(
    st.tuples(watts, st.one_of(st.none(), st.sampled_from([4200.0, 7560.0, 10_500.0, 13_020.0, 0.0]))),
    min_size=1,
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(claims_st, st.floats(min_value=1.0, max_value=300_000.0))
def test_properties(raw: list[tuple[float, float | None]], capacity: float) -> None:
    claims = [Claim(f"s{i}", d, f) for i, (d, f) in enumerate(raw)]
    r = share_capacity(capacity, claims)
    total = math.fsum(s.allocation_w for s in r.shares)
    tol = 1e-6 * max(1.0, capacity, r.demand_w)
    for s in r.shares:
        assert 0 <= s.allocation_w <= s.demand_w + tol
        if s.floor_w is None:
            assert s.limit_w is None and s.allocation_w == s.demand_w  # never limited
        elif s.limit_w is not None:
            assert s.limit_w >= s.floor_w  # never below the legal minimum
    if not r.congested:
        assert all(s.limit_w is None for s in r.shares) and total == pytest.approx(r.demand_w)
        return
    if not r.feasible:
        assert r.firm_w > capacity and r.shortfall_w == pytest.approx(r.firm_w - capacity)
        assert all(s.limit_w == s.floor_w for s in r.shares if s.floor_w is not None)
        return
    # feasible congestion: the feeder carries exactly its capacity ...
    assert total == pytest.approx(capacity, rel=1e-9, abs=1e-6)
    level = r.level_w
    for s in r.shares:
        if s.floor_w is None:
            continue
        # ... every curtailable site is limited at the common level or its floor ...
        assert s.limit_w == pytest.approx(max(s.floor_w, level))
        # ... and max-min fair: a site held below its demand above its floor gets the level, and
        # no site gets more than the level unless its floor says so
        if s.allocation_w < s.demand_w - tol and s.allocation_w > s.floor_w + tol:
            assert s.allocation_w == pytest.approx(level)
        assert s.allocation_w <= max(level, s.floor_w) + tol
