"""Flexibility end to end in simulated time on the in-process bus: the aggregator asks a group of
three sites to cut 3 kW from 17:00 to 19:00, their energy managers offer from their plans (the
example home with battery, car and heat pump; the example family with PV, battery and car; a plain
household with nothing to move), the cheapest cover is dispatched, the dispatched sites follow
their flex plans, and their delivery is measured from 10 s load curves in the SQLite telemetry
store against a 10-of-10 baseline and settled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.grid.aggregator.baseline import XofY
from gridedge.grid.aggregator.flex import FlexAggregator
from gridedge.home.cem.flex import CommittedPlanner, FlexAgent, FlexAnswer
from gridedge.home.cem.planner import Plan, PlanInputs, SolverOptions
from gridedge.home.cem.planning import build_tariff, plan_inputs
from gridedge.home.cem.tariffs import load_price_csv
from gridedge.model.flex import FlexDirection, FlexRequest, FlexSettlement
from gridedge.model.scenario import HeatPumpConfig, Scenario, load_scenario
from gridedge.model.tariff import PriceSeries
from gridedge.model.telemetry import LoadCurve
from gridedge.physics.hplib import HplibModel
from gridedge.physics.profiles import corpus_file
from gridedge.store.telemetry_base import TelemetryBatch
from gridedge.store.telemetry_sqlite import SqliteTelemetryStore

BRUSSELS = ZoneInfo("Europe/Brussels")
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"
NOW = datetime(2025, 1, 15, 16, 0, tzinfo=BRUSSELS)  # a Wednesday
WINDOW = NOW + timedelta(hours=1)


@cache
def be_prices() -> PriceSeries:
    return load_price_csv(corpus_file("ems/be_day_ahead/BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz"))


def _cop(cfg: HeatPumpConfig) -> HplibModel:
    return HplibModel.load(cfg.model)


class Site:
    """A site's energy manager seen from the bus: its flex agent, the plan it follows."""

    def __init__(self, site_id: str, scenario: Scenario, bus: InProcessBus, clock: SimClock) -> None:
        self.site_id = site_id
        self.meter_id = f"meter-{site_id}"
        self.scenario = scenario
        self.followed: Plan | None = None
        self.agent = FlexAgent(
            site_id, bus, clock, ("ghent",), self.inputs, self.adopt, CommittedPlanner(),
            options=SolverOptions(mip_rel_gap=0.01), in_thread=False,
        )  # fmt: skip
        self.agent.start()

    def inputs(self, now: datetime) -> PlanInputs:
        tariff = build_tariff(self.scenario.tariff, be_prices(), now)
        return plan_inputs(self.scenario, tariff, now, cop_model=_cop).inputs

    def adopt(self, plan: Plan) -> None:
        self.followed = plan


def _net_kwh(plan: Plan, t: datetime) -> float:
    """The plan's net kWh in the quarter hour starting at `t`, by time of day (the plan covers 24 h)."""
    tl = plan.timeline
    k = tl.step_at(t) % tl.n
    return float(plan.grid_import_w[k] - plan.grid_export_w[k]) / 4000.0


def _curves(site: Site, reference: Plan, followed: Plan | None) -> TelemetryBatch:
    """10 s load curves: 14 days of history and the event day from 12:00 to 19:00 local; the site's
    usual day is its reference plan, in the window it follows its flex plan."""
    batch = TelemetryBatch()
    seq = 0
    for back in range(14, -1, -1):
        day = NOW.date() - timedelta(days=back)
        t = datetime(day.year, day.month, day.day, 12, 0, tzinfo=BRUSSELS)
        for _ in range(28):
            plan = followed if back == 0 and followed is not None and t >= WINDOW else reference
            e = _net_kwh(plan, t) * 1000 / 90
            seq += 1
            batch.add(
                LoadCurve(
                    site.meter_id, seq, t.astimezone(UTC), 10, (max(e, 0.0),) * 90, (max(-e, 0.0),) * 90
                )
            )
            t += timedelta(minutes=15)
    return batch


def test_request_offer_dispatch_measure_settle() -> None:
    async def main() -> None:
        clock = SimClock(NOW.astimezone(UTC))
        bus = InProcessBus(clock)
        store = SqliteTelemetryStore()
        await store.init()
        sites = [
            Site("home", load_scenario(EXAMPLES / "belgian-home-energy.toml"), bus, clock),
            Site("family", load_scenario(EXAMPLES / "belgian-family.toml"), bus, clock),
            Site("plain", Scenario(), bus, clock),
        ]
        agg = FlexAggregator(
            bus,
            clock,
            store,
            groups={"ghent": [s.site_id for s in sites]},
            meters={s.site_id: s.meter_id for s in sites},
            baseline=lambda site: XofY(),
            zone=BRUSSELS,
        )
        settled: list[FlexSettlement] = []
        bus.subscribe_callback("site/+/flex/settlement", lambda e: settled.append(e.payload), FlexSettlement)
        request = FlexRequest(
            "evening-peak",
            FlexDirection.REDUCE,
            3.0,
            WINDOW,
            WINDOW + timedelta(hours=2),
            0.35,
            NOW + timedelta(minutes=15),
            "ghent",
        )
        task = asyncio.ensure_future(agg.run(request))
        await clock.advance(60)  # the request is out, the energy managers answer
        answers: dict[str, FlexAnswer] = {s.site_id: s.agent.answers["evening-peak"] for s in sites}
        outcome = agg.outcomes["evening-peak"]
        assert set(outcome.offers) == {"home", "family", "plain"}
        assert outcome.offers["plain"].empty and not outcome.offers["home"].empty
        await clock.advance(15 * 60)  # the deadline: selection and dispatch
        sel = outcome.selection
        assert sel is not None and set(outcome.dispatches) == {"home", "family", "plain"}
        taken = {s for s, d in outcome.dispatches.items() if d.accepted}
        assert taken == set(sel.accepted) and "plain" not in taken
        for s in sites:
            assert (s.followed is not None) == (s.site_id in taken)
            assert [d.accepted for d in s.agent.dispatches] == [s.site_id in taken]
        # the cover: every step as far as the offers reach, at no more than the request's price
        offered = np.sum([outcome.offers[s].power_kw for s in taken], axis=0)
        assert np.array(sel.covered_kw) == pytest.approx(offered)
        assert all(c >= 3.0 - 1e-6 or s > 0 for c, s in zip(sel.covered_kw, sel.shortfall_kw, strict=True))
        # the window passes; the gateways' load curves reach the head-end's store
        for s in sites:
            if s.site_id in taken:
                await store.write(_curves(s, answers[s.site_id].reference, s.followed))
        await clock.run_until(request.end + timedelta(seconds=901))
        await task
        assert outcome.problems == [] or all("cover" in p for p in outcome.problems), outcome.problems
        assert set(outcome.settlements) == taken and {x.site_id for x in settled} == taken
        for site_id in taken:
            st = outcome.settlements[site_id]
            d = outcome.dispatches[site_id]
            assert st.method.startswith("10-of-10")
            assert st.dispatched_kwh == pytest.approx(d.energy_kwh)
            # delivered as dispatched, to the Wh rounding of the curves and the offer's 10 W grid
            assert st.delivered_kwh == pytest.approx(st.dispatched_kwh, abs=0.02 + 0.01 * st.dispatched_kwh)
            assert st.ratio == pytest.approx(1.0, abs=0.05)
            assert st.payment_eur == pytest.approx(st.paid_kwh * d.price_eur_per_kwh, abs=1e-6)
            assert outcome.baselines[site_id].total_kwh == pytest.approx(st.baseline_kwh, abs=1e-6)
        await store.close()
        for s in sites:
            s.agent.close()

    asyncio.run(main())
