"""grid.aggregator.flex: the cheapest set of offers that covers the request, and settlement."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from gridedge.grid.aggregator.baseline import Baseline
from gridedge.grid.aggregator.flex import dispatches_for, eligible_offers, select_offers, settle
from gridedge.model.flex import FlexDirection, FlexDispatch, FlexOffer, FlexRequest

T0 = datetime(2025, 1, 15, 16, 0, tzinfo=UTC)
REQ = FlexRequest("r1", FlexDirection.REDUCE, 3.0, T0, T0 + timedelta(hours=1), 0.5, T0, "g")


def _offer(site: str, kw: tuple[float, ...], price: float, **kw_args: object) -> FlexOffer:
    args: dict[str, object] = dict(valid_until=T0)
    args.update(kw_args)
    return FlexOffer(kw_args.get("request_id", "r1"), site, kw, price, args["valid_until"])  # type: ignore[arg-type]


OFFERS = [
    _offer("a", (2.0, 2.0, 2.0, 2.0), 0.10),
    _offer("b", (1.5, 1.5, 1.5, 1.5), 0.12),
    _offer("c", (1.0, 1.0, 1.0, 1.0), 0.30),
    _offer("d", (3.0, 3.0, 0.0, 0.0), 0.05),
    _offer("e", (0.0, 0.0, 3.0, 3.0), 0.06),
]


def _brute_force(offers: list[FlexOffer], need: float) -> float:
    best = float("inf")
    for r in range(len(offers) + 1):
        for combo in itertools.combinations(offers, r):
            cover = [sum(o.power_kw[t] for o in combo) for t in range(4)]
            if all(c >= need - 1e-9 for c in cover):
                best = min(best, sum(o.price_eur_per_kwh * o.energy_kwh for o in combo))
    return best


def test_selection_meets_the_request_at_least_cost() -> None:
    sel = select_offers(REQ, OFFERS)
    assert sel.met and all(c >= 3.0 - 1e-9 for c in sel.covered_kw)
    assert sel.cost_eur == pytest.approx(_brute_force(OFFERS, 3.0))
    assert set(sel.accepted) == {"d", "e"} and sel.cost_eur == pytest.approx(0.05 * 1.5 + 0.06 * 1.5)
    # without d and e: a + b (3.5 kW) is cheaper than a + c or b + c + ...
    rest = OFFERS[:3]
    sel = select_offers(REQ, rest)
    assert set(sel.accepted) == {"a", "b"} and sel.cost_eur == pytest.approx(_brute_force(rest, 3.0))


def test_short_offers_cover_as_much_as_they_can() -> None:
    sel = select_offers(REQ, [OFFERS[1], OFFERS[2]])
    assert not sel.met and set(sel.accepted) == {"b", "c"}
    assert sel.shortfall_kw == pytest.approx((0.5,) * 4)
    empty = select_offers(REQ, [])
    assert empty.shortfall_kw == (3.0,) * 4 and not empty.accepted


def test_divisible_offers_are_taken_in_part() -> None:
    sel = select_offers(REQ, OFFERS[:3], divisible=True)
    assert sel.met and sel.accepted["a"] == pytest.approx(1.0) and sel.accepted["b"] == pytest.approx(2 / 3)
    assert sel.cost_eur == pytest.approx(0.10 * 2.0 + 0.12 * 1.0)
    ds = {d.site_id: d for d in dispatches_for(REQ, OFFERS[:3], sel)}
    assert ds["b"].power_kw == pytest.approx((1.0,) * 4) and not ds["c"].accepted


def test_only_eligible_offers_count() -> None:
    offers = [
        _offer("a", (2.0,) * 4, 0.10),
        _offer("x", (5.0,) * 4, 0.01),  # not in the group
        _offer("b", (5.0,) * 4, 0.60),  # above the request's price
        _offer("c", (5.0,) * 3, 0.01),  # wrong window
        _offer("d", (5.0,) * 4, 0.01, valid_until=T0 - timedelta(minutes=10)),  # expired
        _offer("e", (0.0,) * 4, 0.0),  # nothing offered
        _offer("f", (5.0,) * 4, 0.01, request_id="other"),
    ]
    ok = eligible_offers(REQ, offers, T0 - timedelta(minutes=5), sites=["a", "b", "c", "d", "e", "f"])
    assert [o.site_id for o in ok] == ["a"]


def _dispatch(kw: tuple[float, ...], direction: FlexDirection = FlexDirection.REDUCE) -> FlexDispatch:
    return FlexDispatch("r1", "a", direction, T0, kw, 0.2)


def test_settlement_pays_per_step_up_to_the_order() -> None:
    base = Baseline(T0, 900, (1.0, 1.0, 1.0, 1.0), "test")
    # ordered 2 kW = 0.5 kWh per step; delivered 0.6, 0.5, 0.25, -0.1 (took more)
    meas = [0.4, 0.5, 0.75, 1.1]
    s = settle(_dispatch((2.0,) * 4), base, meas)
    assert s.baseline_kwh == pytest.approx(4.0) and s.measured_kwh == pytest.approx(2.75)
    assert s.delivered_kwh == pytest.approx(1.25) and s.dispatched_kwh == pytest.approx(2.0)
    assert s.paid_kwh == pytest.approx(0.5 + 0.5 + 0.25 + 0.0)
    assert s.ratio == pytest.approx(0.625) and s.payment_eur == pytest.approx(0.25)
    # increase: measured above the baseline is delivery; a missing interval is not paid
    s = settle(_dispatch((2.0,) * 4, FlexDirection.INCREASE), base, [1.5, float("nan"), 1.25, 0.9])
    assert s.delivered_kwh == pytest.approx(0.5 + 0.0 + 0.25 - 0.1) and s.paid_kwh == pytest.approx(0.75)
    with pytest.raises(ValueError, match="expected 4 steps"):
        settle(_dispatch((2.0,) * 4), base, [1.0])
