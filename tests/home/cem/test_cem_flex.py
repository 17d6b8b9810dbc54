"""home.cem.flex: offers computed from the plan respect the house's needs, nothing flexible offers
nothing, and a dispatched offer is kept by the plans that follow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gridedge.clock import SimClock
from gridedge.home.cem.flex import (
    CommittedPlanner,
    FlexAgent,
    FlexPolicy,
    commitment_for,
    compute_offer,
)
from gridedge.home.cem.planner import Plan, PlanInputs, SolveStatus
from gridedge.home.cem.planning import build_tariff, plan_inputs
from gridedge.home.cem.service import CemService
from gridedge.home.cem.tariffs import load_price_csv
from gridedge.model.cem_config import CemConfig, LimitsConfig, PlannerConfig, TariffConfig, TariffKind
from gridedge.model.flex import FlexDirection, FlexDispatch, FlexRequest
from gridedge.model.scenario import (
    BatteryConfig,
    EVConfig,
    HeatPumpConfig,
    Scenario,
    SiteConfig,
    load_scenario,
)
from gridedge.model.tariff import PriceSeries
from gridedge.physics.hplib import HplibModel
from gridedge.physics.profiles import corpus_file

BRUSSELS = ZoneInfo("Europe/Brussels")
BE15 = "ems/be_day_ahead/BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"
START = datetime(2025, 1, 15, 16, 0, tzinfo=BRUSSELS)


@cache
def be_prices() -> PriceSeries:
    return load_price_csv(corpus_file(BE15))


def _cop(cfg: HeatPumpConfig) -> HplibModel:
    return HplibModel.load(cfg.model)


def _inputs(scenario: Scenario, start: datetime = START) -> PlanInputs:
    tariff = build_tariff(scenario.tariff, be_prices(), start)
    return plan_inputs(scenario, tariff, start, cop_model=_cop).inputs


def _request(
    direction: FlexDirection, a: datetime, hours: float, kw: float = 3.0, price: float = 0.3
) -> FlexRequest:
    return FlexRequest("r1", direction, kw, a, a + timedelta(hours=hours), price, START, "ghent")


def _assert_needs_met(inputs: PlanInputs, plan: Plan) -> None:
    assert plan.status is not SolveStatus.FAILED and plan.feasible, plan.relaxations
    for hp_in, hp in zip(inputs.heat_pumps, plan.heat_pumps, strict=True):
        lo, hi = hp_in.comfort_min_c, hp_in.comfort_max_c
        ok = ~np.isnan(lo)
        assert (hp.indoor_c[ok] >= lo[ok] - 0.01).all()
        ok = ~np.isnan(hi)
        assert (hp.indoor_c[ok] <= hi[ok] + 0.01).all()
    for ev_in, ev in zip(inputs.evs, plan.evs, strict=True):
        assert ev.delivered_kwh >= ev_in.energy_needed_kwh - 0.01
    for b_in, b in zip(inputs.batteries, plan.batteries, strict=True):
        assert (b.soc >= b_in.soc_min - 1e-6).all() and (b.soc <= b_in.soc_max + 1e-6).all()
        if b_in.terminal_soc is not None:
            assert b.soc[-1] >= b_in.terminal_soc - 0.01


def test_offer_from_the_example_home_respects_comfort_ev_and_battery() -> None:
    scenario = load_scenario(EXAMPLES / "belgian-home-energy.toml")
    inputs = _inputs(scenario)
    req = _request(FlexDirection.REDUCE, START + timedelta(hours=1), 2.0)
    ans = compute_offer(req, inputs, site_id="home", now=START)
    offer = ans.offer
    assert not offer.empty, ans.why
    assert len(offer.power_kw) == 8 and max(offer.power_kw) <= 3.0 + 1e-9
    assert offer.energy_kwh > 2.0  # the battery carries most of the evening
    # priced at the opportunity cost, at or below what the aggregator pays
    assert 0.0 <= offer.price_eur_per_kwh <= req.price_eur_per_kwh + 1e-6
    assert offer.price_eur_per_kwh * offer.energy_kwh == pytest.approx(ans.cost_eur, abs=1e-3)
    assert ans.cost_eur == pytest.approx(max(0.0, ans.plan.cost.total - ans.reference.cost.total))
    assert offer.valid_until <= req.start
    # what is offered is what the flex plan does to the grid exchange
    ref, new = np.array(ans.net_kw(ans.reference)), np.array(ans.net_kw(ans.plan))
    assert (ref - new >= np.array(offer.power_kw) - 1e-6).all()
    # and the house's needs hold in it
    _assert_needs_met(inputs, ans.reference)
    _assert_needs_met(inputs, ans.plan)
    # the heat pump is really there and keeps its band through the window
    assert ans.plan.heat_pumps and ans.plan.evs and ans.plan.batteries


def test_offer_at_a_price_below_the_cost_of_moving_is_zero() -> None:
    scenario = load_scenario(EXAMPLES / "belgian-home-energy.toml")
    inputs = _inputs(scenario)
    req = _request(FlexDirection.REDUCE, START + timedelta(hours=4), 2.0, price=0.0)
    ans = compute_offer(req, inputs, site_id="home", now=START)
    assert ans.offer.empty and "price" in ans.why
    assert ans.plan is ans.reference


@pytest.mark.parametrize("direction", list(FlexDirection))
def test_nothing_flexible_offers_nothing(direction: FlexDirection) -> None:
    inputs = _inputs(Scenario())  # a plain household: base load only
    assert not (inputs.batteries or inputs.evs or inputs.heat_pumps or inputs.appliances or inputs.pv)
    req = _request(direction, START + timedelta(hours=1), 2.0, price=3.0)
    ans = compute_offer(req, inputs, site_id="plain", now=START, policy=FlexPolicy(reward_eur_per_kwh=4.0))
    assert ans.offer.empty and ans.offer.price_eur_per_kwh == 0.0
    assert ans.offer.power_kw == (0.0,) * 8


def test_window_outside_the_horizon_offers_nothing_and_a_wrong_grid_is_an_error() -> None:
    inputs = _inputs(load_scenario(EXAMPLES / "belgian-home-energy.toml"))
    late = _request(FlexDirection.REDUCE, START + timedelta(hours=30), 1.0)
    assert compute_offer(late, inputs, site_id="home", now=START).offer.empty
    hourly = FlexRequest(
        "r2", FlexDirection.REDUCE, 1.0, START, START + timedelta(hours=2), 0.3, START, "g", 3600
    )
    with pytest.raises(ValueError, match="step_s 3600 s differs from the planner's 900 s"):
        compute_offer(hourly, inputs, site_id="home", now=START)


def test_a_committed_offer_holds_in_the_next_plan() -> None:
    scenario = load_scenario(EXAMPLES / "belgian-home-energy.toml")
    inputs = _inputs(scenario)
    req = _request(FlexDirection.REDUCE, START + timedelta(hours=1), 2.0)
    ans = compute_offer(req, inputs, site_id="home", now=START)
    dispatch = FlexDispatch(
        "r1", "home", req.direction, req.start, ans.offer.power_kw, ans.offer.price_eur_per_kwh
    )
    commitment = commitment_for(ans, dispatch)
    planner = CommittedPlanner()
    planner.commit(commitment)
    # half an hour later, with the base load forecast 300 W higher than thought
    later = START + timedelta(minutes=30)
    base = _inputs(scenario, later)
    busier = PlanInputs(
        **{
            **{f: getattr(base, f) for f in base.__dataclass_fields__},
            "base_load_w": base.base_load_w + 300.0,
        }
    )
    plan = planner.plan(busier)
    _assert_needs_met(busier, plan)
    k0 = plan.timeline.step_at(req.start)
    net = (plan.grid_import_w - plan.grid_export_w)[k0 : k0 + req.steps] / 1000.0
    assert (net <= np.array(commitment.target_net_kw) + 1e-3).all()
    # once the window is over the commitment is dropped
    planner.plan(_inputs(scenario, req.end + timedelta(minutes=15)))
    assert planner.commitments == []


def test_agent_on_a_cem_service_adopts_the_dispatched_plan(tmp_path: Path) -> None:
    start = datetime(2025, 1, 15, 17, 0, tzinfo=UTC)
    scenario = Scenario(
        site=SiteConfig(start=start, seed=3),
        ev=(EVConfig(arrival=time(17, 0), departure=time(23, 0), arrival_soc=0.5, target_soc=0.7),),
        battery=(BatteryConfig(soc=0.8),),
        tariff=TariffConfig(kind=TariffKind.FIXED, import_eur_per_kwh=0.30, export_eur_per_kwh=0.05),
        cem=CemConfig(
            limits=LimitsConfig(failsafe_store=str(tmp_path / "failsafe.json")),
            planner=PlannerConfig(horizon_h=8, time_limit_s=20),
        ),
    )

    async def main() -> None:
        clock = SimClock(start)
        service = CemService(scenario, clock=clock, base_dir=tmp_path, cop_model=_cop)
        agent = FlexAgent.for_service(service, ["g"], policy=FlexPolicy(reward_eur_per_kwh=1.0))
        assert isinstance(service.planner, CommittedPlanner)
        agent.start()
        await service.replan()
        before = service.plan
        assert before is not None
        a = start + timedelta(minutes=30)
        req = FlexRequest("r9", FlexDirection.REDUCE, 2.0, a, a + timedelta(hours=1), 0.5, a, "g")
        offer = await agent.answer(req)
        assert offer is not None and not offer.empty, agent.answers
        d = FlexDispatch(
            "r9", service.site_id, req.direction, req.start, offer.power_kw, offer.price_eur_per_kwh
        )
        agent.follow(d)
        assert service.plan is not before
        assert isinstance(service.planner, CommittedPlanner) and len(service.planner.commitments) == 1
        await service.replan()  # the 15-min re-plan keeps the promise
        plan = service.plan
        assert plan is not None
        k0 = plan.timeline.step_at(a)
        net = (plan.grid_import_w - plan.grid_export_w)[k0 : k0 + 4] / 1000.0
        target = service.planner.commitments[0].target_net_kw
        assert (net <= np.array(target) + 1e-3).all()
        agent.close()

    asyncio.run(main())
