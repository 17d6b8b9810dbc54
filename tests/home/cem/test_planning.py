"""home.cem.planning: scenario + tariff + live state -> PlanInputs, and a plan back to cycle powers."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gridedge.home.cem.planner import Planner, SolverOptions
from gridedge.home.cem.planning import (
    LiveState,
    ScheduledLimit,
    build_tariff,
    connection_w,
    plan_inputs,
    plan_powers,
    typical_run_kw,
)
from gridedge.home.cem.tariffs import fluvius_fees, load_price_csv
from gridedge.model.cem_config import TariffConfig, TariffKind
from gridedge.model.scenario import (
    ApplianceConfig,
    ApplianceKind,
    BatteryConfig,
    EVConfig,
    HeatPumpConfig,
    MeterConfig,
    PVConfig,
    Scenario,
    ScenarioError,
    scenario_from_dict,
)
from gridedge.model.tariff import PriceSeries
from gridedge.physics.hplib import HplibModel
from gridedge.physics.profiles import corpus_file

BRUSSELS = ZoneInfo("Europe/Brussels")
BE15 = "ems/be_day_ahead/BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz"


@cache
def be_prices() -> PriceSeries:
    return load_price_csv(corpus_file(BE15))


def _cop(cfg: HeatPumpConfig) -> HplibModel:
    return HplibModel.load(cfg.model)


def test_be_dynamic_prices_split_fees_and_match_the_tariff() -> None:
    start = datetime(2025, 10, 8, 6, 0, tzinfo=BRUSSELS)
    sc = Scenario()
    tariff = build_tariff(sc.tariff, be_prices(), start)
    ctx = plan_inputs(sc, tariff, start, horizon_steps=96)
    inp = ctx.inputs
    assert inp.n == 96 and inp.timeline.start == start
    fees = fluvius_fees("fluvius_antwerpen", start, annual_kwh=3500.0)
    want_fee = (fees.offtake_eur_per_kwh + fees.levies_eur_per_kwh) * (1 + fees.vat)
    assert np.allclose(inp.grid_fee, want_fee)
    steps = tariff.resample(start.astimezone(UTC), 96, 900)
    # energy price + fee is the all-in import price, VAT included
    assert np.allclose(inp.import_price + inp.grid_fee, steps.import_eur_per_kwh)
    assert np.allclose(ctx.import_price_all_in, steps.import_eur_per_kwh)
    assert np.allclose(inp.export_price, steps.export_eur_per_kwh)
    # spot from the corpus at 06:00 local = 04:00 UTC, EUR/MWh -> EUR/kWh
    assert steps.spot_eur_per_kwh[0] == pytest.approx(be_prices().price_at(start))
    cap = inp.capacity
    assert cap is not None
    assert cap.eur_per_kw == pytest.approx(fees.capacity_eur_per_kw_month * (1 + fees.vat))
    assert cap.peak_kw == pytest.approx(fees.min_billed_peak_kw) == pytest.approx(2.5)
    assert "standard profile" in " ".join(ctx.notes)


def test_capacity_counts_only_this_month_and_takes_the_measured_peak() -> None:
    start = datetime(2025, 9, 30, 20, 0, tzinfo=BRUSSELS)
    sc = Scenario()
    tariff = build_tariff(sc.tariff, be_prices(), start)
    ctx = plan_inputs(sc, tariff, start, horizon_steps=24, state=LiveState(month_peak_kw=4.2))
    cap = ctx.inputs.capacity
    assert cap is not None and cap.peak_kw == 4.2
    counts = ctx.inputs.capacity_counts()
    assert counts[:16].all() and not counts[16:].any()  # October starts at step 16 (midnight local)


def test_prices_beyond_publication_repeat_the_day_before_and_say_so() -> None:
    prices = be_prices()
    last = prices.end  # 2025-10-21 22:00 UTC
    start = last - timedelta(hours=2)
    sc = Scenario()
    ctx = plan_inputs(sc, build_tariff(sc.tariff, prices, start), start, horizon_steps=48)
    spot_known = prices.resample(start, 8, 900)
    imp = ctx.import_price_all_in
    fees = build_tariff(sc.tariff, prices, start).fees
    vat = 1 + fees.vat
    spot = (imp / vat) - fees.offtake_eur_per_kwh - fees.levies_eur_per_kwh - 0.015
    assert np.allclose(spot[:8], spot_known)
    # step 8 (known + 0) = the price 24 h before it
    assert spot[8] == pytest.approx(prices.price_at(start + timedelta(hours=2) - timedelta(days=1)))
    assert any("repeat the prices of 24 h earlier" in n for n in ctx.notes)


def test_no_price_at_the_start_is_a_clear_error() -> None:
    sc = Scenario()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="no price for 2026-01-01T00:00:00"):
        plan_inputs(sc, build_tariff(sc.tariff, be_prices(), start), start, horizon_steps=4)
    with pytest.raises(ValueError, match="expected day-ahead prices"):
        build_tariff(sc.tariff, None, start)


def test_fixed_tariff_needs_no_prices() -> None:
    cfg = TariffConfig(kind=TariffKind.FIXED, import_eur_per_kwh=0.31, export_eur_per_kwh=0.04)
    sc = Scenario(tariff=cfg)
    start = datetime(2025, 6, 1, 12, tzinfo=BRUSSELS)
    ctx = plan_inputs(sc, build_tariff(cfg, None, start), start, horizon_steps=8)
    assert np.allclose(ctx.inputs.import_price, 0.31) and np.allclose(ctx.inputs.export_price, 0.04)
    assert ctx.inputs.capacity is None


def test_live_state_overrides_the_scenario_and_limits_become_step_ceilings() -> None:
    start = datetime(2025, 10, 8, 19, 7, tzinfo=BRUSSELS)  # rounded down to 19:00
    sc = Scenario(
        battery=(BatteryConfig(soc=0.5),),
        ev=(EVConfig(arrival=time(18, 0), departure=time(7, 0), arrival_soc=0.3, target_soc=0.8),),
        heat_pump=(HeatPumpConfig(),),
        pv=(PVConfig(kwp=4.0),),
    )
    lpc = ScheduledLimit(
        datetime(2025, 10, 8, 19, 20, tzinfo=BRUSSELS), datetime(2025, 10, 8, 20, 0, tzinfo=BRUSSELS), 5000.0
    )
    state = LiveState(
        battery_soc={"battery": 0.8},
        ev_soc={"ev": 0.6},
        ev_plugged={"ev": True},
        indoor_c={"heat-pump": 19.0},
        import_limits=(lpc,),
    )
    ctx = plan_inputs(
        sc, build_tariff(sc.tariff, be_prices(), start), start, horizon_steps=48, state=state, cop_model=_cop
    )
    inp = ctx.inputs
    assert inp.timeline.start == datetime(2025, 10, 8, 19, 0, tzinfo=BRUSSELS)
    (bat,) = inp.batteries
    assert bat.soc == 0.8 and bat.terminal_soc == 0.8
    (ev,) = inp.evs
    assert ev.soc == 0.6 and ev.plugged[0]
    assert ev.energy_needed_kwh == pytest.approx((0.8 - 0.6) * 60.0)
    assert ev.deadline == 48  # departs 07:00 next day: beyond 12 h, the horizon end
    (hp,) = inp.heat_pumps
    # the compressor is 0 or at least its minimum modulation up to the next re-plan and an hour more
    assert hp.indoor_c == 19.0 and hp.min_modulation == 0.3
    assert hp.min_modulation_steps == sc.cem.planner.replan_min // 15 + 4
    lim = inp.limits.import_max_w
    assert lim is not None
    # 19:20..20:00 overlaps the steps 19:15, 19:30, 19:45
    assert np.isnan(lim[0]) and (lim[1:4] == 5000.0).all() and np.isnan(lim[4:]).all()
    assert inp.limits.connection_import_w == connection_w(sc) == 3 * 25 * 230.0


def test_ev_plugged_follows_the_schedule_when_not_measured() -> None:
    sc = Scenario(ev=(EVConfig(arrival=time(18, 0), departure=time(7, 30)),))
    tariff = build_tariff(sc.tariff, be_prices(), datetime(2025, 10, 8, tzinfo=UTC))
    at_night = plan_inputs(sc, tariff, datetime(2025, 10, 8, 23, 0, tzinfo=BRUSSELS), horizon_steps=8)
    assert at_night.inputs.evs[0].plugged.all()
    at_noon = plan_inputs(sc, tariff, datetime(2025, 10, 8, 12, 0, tzinfo=BRUSSELS), horizon_steps=48)
    plugged = at_noon.inputs.evs[0].plugged
    assert not plugged[:24].any() and plugged[24:].all()  # arrives 18:00 = step 24


def test_appliance_window_today_or_tomorrow() -> None:
    washer = ApplianceConfig(
        name="washer", kind=ApplianceKind.WASHING_MACHINE, run_window=(time(9), time(17))
    )
    dish = ApplianceConfig(
        name="dish", kind=ApplianceKind.DISHWASHER, run_window=(time(22), time(6)), run_profile_kw=(1.5, 0.2)
    )
    sc = Scenario(appliances=(washer, dish))
    start = datetime(2025, 10, 8, 10, 0, tzinfo=BRUSSELS)
    ctx = plan_inputs(sc, build_tariff(sc.tariff, be_prices(), start), start, horizon_steps=96)
    w, d = ctx.inputs.appliances
    assert (w.earliest_start, w.latest_end) == (0, 28)  # inside its window: now until 17:00
    assert np.allclose(w.profile_w, np.array(typical_run_kw(washer)) * 1000)
    assert (d.earliest_start, d.latest_end) == (48, 80)  # 22:00 .. 06:00 next day
    assert np.allclose(d.profile_w, [1500.0, 200.0])
    done = plan_inputs(
        sc,
        build_tariff(sc.tariff, be_prices(), start),
        start,
        horizon_steps=96,
        state=LiveState(appliances_done=frozenset({"washer"})),
    )
    w2, _ = done.inputs.appliances
    assert (w2.earliest_start, w2.latest_end) == (92, 124)  # tomorrow 09:00 .. 17:00
    late = datetime(2025, 10, 8, 15, 30, tzinfo=BRUSSELS)  # 1.5 h left today: too short for 2 h
    w3, _ = plan_inputs(
        sc, build_tariff(sc.tariff, be_prices(), late), late, horizon_steps=96
    ).inputs.appliances
    assert (w3.earliest_start, w3.latest_end) == (70, 102)


def test_appliance_window_needs_a_profile_for_other_kinds() -> None:
    with pytest.raises(ScenarioError, match="run_window needs run_profile_kw"):
        scenario_from_dict(
            {"appliances": [{"name": "k", "kind": "kettle", "run_window": ["09:00", "10:00"]}]}
        )


def test_sunspec_devices_must_name_a_pv_or_battery() -> None:
    with pytest.raises(ScenarioError, match="not a \\[\\[pv\\]\\] or \\[\\[battery\\]\\] name"):
        scenario_from_dict({"pv": [{"name": "roof"}], "cem": {"sunspec": [{"device": "garage"}]}})
    ok = scenario_from_dict(
        {"pv": [{"name": "roof"}], "cem": {"sunspec": [{"device": "roof", "port": 1502}]}}
    )
    assert ok.cem.sunspec[0].port == 1502


def test_connection_from_the_meter() -> None:
    assert connection_w(Scenario(meter=MeterConfig(phases=1))) == 40 * 230.0
    assert connection_w(Scenario(meter=MeterConfig(fuse_a=40))) == 3 * 40 * 230.0
    assert connection_w(Scenario(meter=MeterConfig(fuse_a=40, limiter_kw=10))) == 10_000.0


def test_plan_powers_follow_the_plan_and_leave_uncurtailed_pv_free() -> None:
    start = datetime(2025, 10, 8, 11, 0, tzinfo=BRUSSELS)
    sc = Scenario(battery=(BatteryConfig(),), pv=(PVConfig(kwp=8.0),))
    ctx = plan_inputs(sc, build_tariff(sc.tariff, be_prices(), start), start, horizon_steps=16)
    plan = Planner(SolverOptions(time_limit_s=20)).plan(ctx.inputs)
    assert plan.feasible
    now = start + timedelta(minutes=37)  # inside step 2
    powers = dict(plan_powers(plan, now) or ())
    assert powers["battery"] == pytest.approx(float(plan.batteries[0].power_w[2]))
    curtailed = plan.pv[0].curtailed_w[2] >= 1.0
    assert ("pv" in powers) == curtailed
    assert plan_powers(plan, start - timedelta(seconds=1)) is None
    assert plan_powers(plan, start + timedelta(hours=4)) is None


def test_plan_powers_cap_pv_where_the_plan_curtails() -> None:
    start = datetime(2025, 6, 18, 12, 0, tzinfo=BRUSSELS)
    sc = Scenario(pv=(PVConfig(kwp=8.0),))
    state = LiveState(export_limits=(ScheduledLimit(start, None, 1000.0),))
    ctx = plan_inputs(sc, build_tariff(sc.tariff, be_prices(), start), start, horizon_steps=4, state=state)
    plan = Planner().plan(ctx.inputs)
    assert plan.feasible and (plan.grid_export_w <= 1000.0 + 1e-6).all()
    assert plan.pv[0].curtailed_w[0] > 1000.0
    powers = dict(plan_powers(plan, start) or ())
    assert powers["pv"] == pytest.approx(float(plan.pv[0].power_w[0]))
    assert powers["pv"] < 0


def test_a_car_arriving_after_the_horizon_needs_nothing_yet() -> None:
    sc = Scenario(ev=(EVConfig(arrival=time(18, 0), departure=time(7, 30)),))
    start = datetime(2025, 10, 8, 8, 0, tzinfo=BRUSSELS)  # horizon 08:00..14:00, car due at 18:00
    ctx = plan_inputs(sc, build_tariff(sc.tariff, be_prices(), start), start, horizon_steps=24)
    (ev,) = ctx.inputs.evs
    assert not ev.plugged.any() and ev.energy_needed_kwh == 0.0 and ev.deadline == 24
    plan = Planner().plan(ctx.inputs)
    assert plan.feasible
