"""The aggregator's flexibility service: request, collect offers, dispatch the cheapest, settle.

One `FlexRequest` goes to a group of sites (`flex/request/<group>`); their energy managers
answer on `site/<id>/flex/offer` until the offer deadline; the aggregator then selects the set
of offers that covers `power_kw` in every window step at least cost (`select_offers`, a small
MILP on HiGHS) and tells every site that offered what it must deliver on
`site/<id>/flex/dispatch` (all zeros: not taken). After the window (plus `settle_delay_s`, the
time the gateways need to deliver the quarter's load curves) each dispatched site's delivery is
measured at its meter against its baseline (`baseline.py`) from the head-end's telemetry store,
and settled (`settle`) on `site/<id>/flex/settlement`: pay as bid, per step for what was
delivered up to what was dispatched. The protocol is docs/flexibility.md.

Selection. Offers are all-or-nothing by default (the CEM's plan delivers the offer as a whole;
a part would be a different plan), so the problem is a covering knapsack: binary a_i per offer,
shortfall u_t >= 0 per step,

    min  sum_i price_i x energy_i x a_i  +  P x dt x sum_t u_t
    s.t. sum_i kW_i[t] a_i + u_t >= X   for every window step t,

P (`shortfall_eur_per_kwh`) far above any offer price, so the request is covered whenever the
offers can cover it, and as nearly as they can otherwise. `divisible=True` makes a_i continuous
in [0, 1] (the LP of a pro-rata market). Only offers at or below the request's price, still
valid, for the request's window and from the group's sites are eligible.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import highspy
import numpy as np
from scipy.sparse import coo_matrix

from gridedge.bus.envelope import Envelope, Transport
from gridedge.clock import Clock
from gridedge.grid.aggregator.baseline import Baseline, BaselineError, BaselineMethod, measure
from gridedge.model.flex import (
    FlexDirection,
    FlexDispatch,
    FlexOffer,
    FlexRequest,
    FlexSettlement,
    dispatch_topic,
    request_topic,
    settlement_topic,
)
from gridedge.store.telemetry_base import TelemetryStore

__all__ = [
    "FlexAggregator",
    "FlexOutcome",
    "Selection",
    "eligible_offers",
    "select_offers",
    "settle",
]

log = logging.getLogger(__name__)

OFFER_PATTERN = "site/+/flex/offer"


@dataclass(frozen=True, slots=True)
class Selection:
    """Accepted share of each offer (1.0 whole; 0 < s < 1 only when divisible), what it covers."""

    accepted: Mapping[str, float]
    """Site id -> accepted share of its offer (sites not listed: not taken)."""
    covered_kw: tuple[float, ...]
    shortfall_kw: tuple[float, ...]
    cost_eur: float

    @property
    def met(self) -> bool:
        return not any(s > 1e-6 for s in self.shortfall_kw)


def eligible_offers(
    request: FlexRequest, offers: Iterable[FlexOffer], now: datetime, sites: Iterable[str] | None = None
) -> list[FlexOffer]:
    """The offers that may be taken: this request's, from the group's `sites` (None: any),
    for the whole window, not empty, at or below the request's price, still valid at `now`
    (the latest offer per site counts)."""
    allowed = None if sites is None else set(sites)
    latest: dict[str, FlexOffer] = {}
    for o in offers:
        if o.request_id != request.request_id or (allowed is not None and o.site_id not in allowed):
            continue
        if len(o.power_kw) != request.steps or o.step_s != request.step_s or o.empty:
            continue
        if o.price_eur_per_kwh > request.price_eur_per_kwh + 1e-12 or o.valid_until < now:
            continue
        latest[o.site_id] = o
    return [latest[s] for s in sorted(latest)]


def select_offers(
    request: FlexRequest,
    offers: Sequence[FlexOffer],
    *,
    divisible: bool = False,
    shortfall_eur_per_kwh: float = 1000.0,
    time_limit_s: float = 5.0,
) -> Selection:
    """The cheapest set of `offers` (already eligible) that covers the request (see the module
    docstring)."""
    n_t = request.steps
    h = request.step_h
    n_o = len(offers)
    if n_o == 0:
        return Selection({}, (0.0,) * n_t, (request.power_kw,) * n_t, 0.0)
    kw = np.array([o.power_kw for o in offers], dtype=np.float64)  # offers x steps
    energy = kw.sum(axis=1) * h
    # a micro-cost per kWh so that a free offer that covers nothing needed is not taken
    cost = np.concatenate([(np.array([o.price_eur_per_kwh for o in offers]) + 1e-6) * energy,
                           np.full(n_t, shortfall_eur_per_kwh * h)])  # fmt: skip
    lo = np.zeros(n_o + n_t)
    hi = np.concatenate([np.ones(n_o), np.full(n_t, request.power_kw)])
    hs = highspy.Highs()  # type: ignore[no-untyped-call]
    hs.silent()
    hs.setOptionValue("time_limit", time_limit_s)
    hs.setOptionValue("mip_rel_gap", 1e-6)
    empty_i = np.zeros(0, np.int32)
    hs.addCols(n_o + n_t, cost, lo, hi, 0, empty_i, empty_i, np.zeros(0))
    rows, cols = np.nonzero(kw.T)
    vals = kw.T[rows, cols]
    r = np.concatenate([rows, np.arange(n_t)])
    c = np.concatenate([cols, n_o + np.arange(n_t)])
    v = np.concatenate([vals, np.ones(n_t)])
    csr = coo_matrix((v, (r, c)), shape=(n_t, n_o + n_t)).tocsr()
    csr.sort_indices()
    starts, index = csr.indptr[:-1].astype(np.int32), csr.indices.astype(np.int32)
    hs.addRows(n_t, np.full(n_t, request.power_kw), np.full(n_t, np.inf), int(csr.nnz), starts, index,
               csr.data.astype(np.float64))  # fmt: skip
    if not divisible:
        idx = np.arange(n_o, dtype=np.int32)
        hs.changeColsIntegrality(n_o, idx, np.full(n_o, int(highspy.HighsVarType.kInteger), np.uint8))
    hs.run()
    x = np.array(hs.getSolution().col_value, dtype=np.float64)
    if x.size != n_o + n_t:  # no solution (cannot happen: all-zero is feasible with shortfall)
        raise RuntimeError(f"{request.request_id}: HiGHS found no selection ({hs.getModelStatus()})")
    share = np.clip(x[:n_o], 0.0, 1.0)
    if not divisible:
        share = np.round(share)
    share[share < 1e-6] = 0.0
    covered = share @ kw
    short = np.maximum(request.power_kw - covered, 0.0)
    accepted = {o.site_id: float(s) for o, s in zip(offers, share, strict=True) if s > 0}
    money = float(sum(o.price_eur_per_kwh * e * s for o, e, s in zip(offers, energy, share, strict=True)))
    return Selection(
        accepted,
        tuple(float(round(v, 6)) for v in covered),
        tuple(float(round(v, 6)) for v in short),
        money,
    )


def dispatches_for(
    request: FlexRequest, offers: Sequence[FlexOffer], selection: Selection
) -> list[FlexDispatch]:
    """One dispatch per offering site: the accepted share of its offer, or zeros."""
    out = []
    for o in offers:
        share = selection.accepted.get(o.site_id, 0.0)
        kw = tuple(round(p * share, 6) for p in o.power_kw)
        out.append(
            FlexDispatch(
                request.request_id,
                o.site_id,
                request.direction,
                request.start,
                kw,
                o.price_eur_per_kwh,
                request.step_s,
            )
        )
    return out


def settle(dispatch: FlexDispatch, baseline: Baseline, measured_kwh: Sequence[float]) -> FlexSettlement:
    """Delivered energy of one site per step (baseline - measured for REDUCE, the other way for
    INCREASE), paid per step between 0 and the dispatched energy at the dispatch price. A step
    without a complete measurement counts as not delivered."""
    n = len(dispatch.power_kw)
    if len(baseline.net_kwh) != n or len(measured_kwh) != n:
        raise ValueError(
            f"{dispatch.site_id}: expected {n} steps of baseline and measurement, found "
            f"{len(baseline.net_kwh)} and {len(measured_kwh)}"
        )
    h = dispatch.step_s / 3600.0
    sign = 1.0 if dispatch.direction is FlexDirection.REDUCE else -1.0
    base = np.array(baseline.net_kwh, dtype=np.float64)
    meas = np.array(measured_kwh, dtype=np.float64)
    meas = np.where(np.isnan(meas), base, meas)
    delivered = sign * (base - meas)
    ordered = np.array(dispatch.power_kw) * h
    paid = np.clip(delivered, 0.0, ordered)
    total_ordered = float(ordered.sum())
    ratio = float(delivered.sum()) / total_ordered if total_ordered > 0 else 0.0
    return FlexSettlement(
        dispatch.request_id,
        dispatch.site_id,
        round(float(base.sum()), 6),
        round(float(meas.sum()), 6),
        round(float(delivered.sum()), 6),
        round(total_ordered, 6),
        round(float(paid.sum()), 6),
        round(ratio, 6),
        round(float(paid.sum()) * dispatch.price_eur_per_kwh, 6),
        baseline.method,
    )


@dataclass
class FlexOutcome:
    """Everything one request led to."""

    request: FlexRequest
    offers: dict[str, FlexOffer] = field(default_factory=dict)
    selection: Selection | None = None
    dispatches: dict[str, FlexDispatch] = field(default_factory=dict)
    baselines: dict[str, Baseline] = field(default_factory=dict)
    settlements: dict[str, FlexSettlement] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class FlexAggregator:
    """Runs flex requests over a bus `Transport`, measuring delivery in a `TelemetryStore`.

    `groups`: group name -> its site ids; `meters`: site id -> the meter id of its load curve
    in the store; `baseline(site)`: the baseline rule of a site's product; `zone`: the local
    time of the sites (the X-of-Y baseline's days)."""

    transport: Transport
    clock: Clock
    store: TelemetryStore
    groups: Mapping[str, Sequence[str]]
    meters: Mapping[str, str]
    baseline: Callable[[str], BaselineMethod]
    zone: tzinfo
    divisible: bool = False
    settle_delay_s: float = 900.0
    point_s: int = 10
    source: str = "aggregator"
    outcomes: dict[str, FlexOutcome] = field(default_factory=dict)

    async def _sleep_until(self, t: datetime) -> None:
        await self.clock.sleep(max(0.0, (t - self.clock.now()).total_seconds()))

    async def run(self, request: FlexRequest) -> FlexOutcome:
        """The whole cycle of one request; returns when it is settled."""
        outcome = await self.request_offers(request)
        self.dispatch(outcome)
        if outcome.dispatches and any(d.accepted for d in outcome.dispatches.values()):
            await self._sleep_until(request.end + timedelta(seconds=self.settle_delay_s))
            await self.settle_all(outcome)
        return outcome

    async def request_offers(self, request: FlexRequest) -> FlexOutcome:
        """Publish the request and collect offers until its deadline."""
        if request.group not in self.groups:
            raise ValueError(
                f"{request.request_id}: unknown group {request.group!r} (known: {sorted(self.groups)})"
            )
        outcome = FlexOutcome(request)
        self.outcomes[request.request_id] = outcome
        sites = set(self.groups[request.group])

        def collect(env: Envelope[FlexOffer]) -> None:
            o = env.payload
            if o.request_id != request.request_id:
                return
            site = env.topic.split("/")[1]
            if site != o.site_id or site not in sites:
                outcome.problems.append(
                    f"offer from {o.site_id!r} on {env.topic!r} ignored (not in the group)"
                )
                return
            if self.clock.now() > request.offer_deadline:
                outcome.problems.append(f"offer from {o.site_id!r} after the deadline ignored")
                return
            outcome.offers[o.site_id] = o

        sub = self.transport.subscribe_callback(OFFER_PATTERN, collect, FlexOffer)
        try:
            self.transport.publish(request_topic(request.group), request, source=self.source)
            await self._sleep_until(request.offer_deadline)
        finally:
            sub.close()
        return outcome

    def dispatch(self, outcome: FlexOutcome) -> None:
        """Select among the collected offers and publish a dispatch to every offering site."""
        request = outcome.request
        now = self.clock.now()
        offers = eligible_offers(request, outcome.offers.values(), now, self.groups[request.group])
        outcome.selection = select_offers(request, offers, divisible=self.divisible)
        if not outcome.selection.met:
            outcome.problems.append(
                f"offers cover {min(outcome.selection.covered_kw):.2f} of {request.power_kw:.2f} kW at worst"
            )
        taken = {o.site_id for o in offers}
        rest = [o for s, o in sorted(outcome.offers.items()) if s not in taken]
        for d in dispatches_for(request, [*offers, *rest], outcome.selection):
            outcome.dispatches[d.site_id] = d
            self.transport.publish(dispatch_topic(d.site_id), d, source=self.source)

    async def settle_all(self, outcome: FlexOutcome) -> None:
        """Measure and settle every accepted dispatch from the store's load curves."""
        request = outcome.request
        for site, d in sorted(outcome.dispatches.items()):
            if not d.accepted:
                continue
            meter = self.meters.get(site)
            if meter is None:
                outcome.problems.append(f"{site}: no meter known, not settled")
                continue
            rule = self.baseline(site)
            a, b = rule.data_span(request.start, request.end)
            points = await self.store.load_curve(meter, a, b)
            try:
                base = rule(points, request.start, request.end, request.step_s, self.zone)
            except BaselineError as exc:
                outcome.problems.append(f"{site}: {exc}")
                continue
            meas = measure(points, request.start, request.end, request.step_s, point_s=self.point_s)
            if np.isnan(meas).any():
                k = int(np.flatnonzero(np.isnan(meas))[0])
                outcome.problems.append(
                    f"{site}: load curve incomplete from step {k}: those steps are unpaid"
                )
            s = settle(d, base, [float(v) if math.isfinite(v) else math.nan for v in meas])
            outcome.baselines[site] = base
            outcome.settlements[site] = s
            self.transport.publish(settlement_topic(site), s, source=self.source)
