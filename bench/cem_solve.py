"""Planner solve time: 96 and 192 quarter-hour steps, battery + EV + heat pump + two appliances.

Run: `python bench/cem_solve.py [--instances 12] [--gap 0.005] [--modulating] [--quiet]`.

A fixed, seeded set of instances (numpy Generator seed 2025), each starting at a random quarter
hour of 2025-10-01..19, the days of the corpus with true 15-minute Belgian day-ahead prices
(`corpus/ems/be_day_ahead`, EUR/MWh, UTC). Buy = DAM + 0.12 EUR/kWh (energy part) with a
0.05 EUR/kWh grid fee, sell = DAM - 0.015 (the EMHASS note's BE case); Fluvius-like capacity
tariff 4.19 EUR/kW/month with 2.5 kW already billed; import limit 9.2 kW (an LPC limit of 5 kW
for 2 h in half of the instances). Base load: Synergrid RLP0N x 3 500 kWh; PV: Synergrid SPP x
5 kWp; outdoor temperature: DWD 2015 same day (corpus, via gridedge.physics.profiles).
Devices: battery 10 kWh / 5 kW (terminal soc = start soc), EV 3-phase 6-16 A (1/3-phase
switching in every other instance) arriving 17:00-20:00 needing 10-30 kWh by 07:30, hplib heat
pump (scenario default, min modulation 0.3 with --modulating), washing machine (2 h profile) and
dishwasher (1.5 h) each with a 10-14 h window. Prints one line per instance (wall time of build +
solve, status, plan cost, MIP gap, binaries, whether the EV switches phases; `--quiet` drops them),
then per horizon the median / p90 / max wall time (HiGHS 1 thread, MIP gap 0.5 %), the number of
solves that stopped at the 10 s limit (with or without a usable plan) and the binaries. Goal:
median <= 1 s at 96 steps, <= 3 s at 192. The instances are drawn in order from one generator,
so `--instances 24` gives 24 other 96-step instances and 24 other 192-step ones.
"""

from __future__ import annotations

import argparse
import gzip
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np

from gridedge.cli_progress import add_progress_flag, progress, progress_wanted
from gridedge.home.cem.planner import (
    ApplianceInputs,
    CapacityTariff,
    GridLimits,
    PlanInputs,
    PVInputs,
    SolverOptions,
    Timeline,
    battery_from_config,
    build,
    ev_from_config,
    heat_pump_from_config,
    rule_plan,
    solve,
)
from gridedge.model.scenario import BaseLoadProfile, BatteryConfig, EVConfig, HeatPumpConfig
from gridedge.physics.hplib import HplibModel
from gridedge.physics.profiles import corpus_file, dwd_2015, load_profile

TZ = ZoneInfo("Europe/Brussels")
PRICES = "ems/be_day_ahead/BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz"
SPP = "ems/synergrid_be/synergrid_spp_2022-2026_15min.csv.gz"


@cache
def be_prices() -> dict[datetime, float]:
    """BE day-ahead EUR/kWh keyed by UTC quarter start (first column is the UTC time)."""
    out: dict[datetime, float] = {}
    with gzip.open(corpus_file(PRICES), "rt", encoding="ascii") as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split(",")
            out[datetime.fromisoformat(cols[0]).replace(tzinfo=UTC)] = float(cols[4]) / 1000.0
    return out


@cache
def spp() -> dict[datetime, float]:
    """Synergrid solar production profile, Flanders: mean kW per kWp of each quarter hour (about
    976 kWh per kWp in 2025)."""
    out: dict[datetime, float] = {}
    with gzip.open(corpus_file(SPP), "rt", encoding="ascii") as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split(",")
            out[datetime.fromisoformat(cols[0]).astimezone(UTC)] = float(cols[2])
    return out


def instance(rng: np.random.Generator, n: int, modulating: bool) -> PlanInputs:
    day = datetime(2025, 10, 1, tzinfo=TZ) + timedelta(days=int(rng.integers(0, 19 if n <= 96 else 18)))
    start = (day.astimezone(UTC) + timedelta(minutes=15 * int(rng.integers(0, 96)))).astimezone(TZ)
    tl = Timeline(start, 900, n)
    utc = [start.astimezone(UTC) + timedelta(minutes=15 * k) for k in range(n)]
    dam = np.array([be_prices()[t] for t in utc])
    rlp = load_profile(BaseLoadProfile.SYNERGRID_RLP0N, "flanders")
    base = np.array([rlp.watts_per_kwh(t.astimezone(TZ)) * 3500.0 for t in utc])
    pv = np.array([spp()[t] * 5.0 * 1000.0 for t in utc]) * rng.uniform(0.3, 1.0)  # kW per kWp x 5 kWp
    dwd = dwd_2015()
    doy0 = (start.astimezone(UTC) - datetime(start.year, 1, 1, tzinfo=UTC)).total_seconds() // 900
    outdoor = dwd.temperature[(int(doy0) + np.arange(n)) % dwd.temperature.size] - rng.uniform(0, 6)
    hp_cfg = HeatPumpConfig(indoor_c=float(rng.uniform(20.3, 20.7)))
    hp = heat_pump_from_config(hp_cfg, outdoor, HplibModel.load(hp_cfg.model), modulating=modulating)
    soc = float(rng.uniform(0.2, 0.8))
    bat = battery_from_config(BatteryConfig(soc=soc), terminal_soc=soc)
    arrival = 17 + float(rng.uniform(0, 3))
    ev_cfg = EVConfig(
        arrival=(datetime(2025, 1, 1) + timedelta(hours=arrival)).time().replace(second=0, microsecond=0),
        arrival_soc=float(rng.uniform(0.3, 0.6)),
        target_soc=0.9,
    )
    ev = ev_from_config(ev_cfg, tl)
    need = float(rng.uniform(10, 30))
    ev = replace(
        ev, energy_needed_kwh=min(need, ev.energy_needed_kwh), phase_switching=bool(rng.integers(0, 2))
    )
    apps = []
    programmes = (
        ("washing-machine", [2000] * 2 + [300] * 4 + [800] * 2),
        ("dishwasher", [1800] * 2 + [100] * 2 + [1800] * 2),
    )
    for name, prof in programmes:
        a = int(rng.integers(0, max(1, n - 56)))
        apps.append(ApplianceInputs(name, a, a + int(rng.integers(40, 57)), np.array(prof, float)))
    lpc = np.full(n, np.nan)
    if rng.integers(0, 2):
        k = int(rng.integers(0, n - 8))
        lpc[k : k + 8] = 5000.0
    return PlanInputs(
        start=start,
        import_price=dam + 0.12,
        export_price=dam - 0.015,
        grid_fee=np.full(n, 0.05),
        base_load_w=base,
        outdoor_c=outdoor,
        pv=(PVInputs("pv", pv),),
        batteries=(bat,),
        evs=(ev,),
        heat_pumps=(hp,),
        appliances=tuple(apps),
        capacity=CapacityTariff(50.24 / 12, 2.5),
        limits=GridLimits(9200.0, 9200.0, import_max_w=lpc),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=12)
    ap.add_argument("--gap", type=float, default=0.005)
    ap.add_argument("--modulating", action="store_true", help="heat pump with min-modulation binaries")
    ap.add_argument("--quiet", action="store_true", help="summary lines only")
    add_progress_flag(ap)
    args = ap.parse_args()
    bar_on = progress_wanted(args.no_progress)
    opts = SolverOptions(time_limit_s=10.0, mip_rel_gap=args.gap)
    rng = np.random.default_rng(2025)
    for n in (96, 192):
        times, bins, gaps, saving, failed, limited = [], [], [], [], 0, 0
        unmet: list[bool] = []
        with progress(
            f"{n} steps", total=args.instances, unit="instances", enabled=bar_on, proxy_stdout=True
        ) as bar:
            for k in range(args.instances):
                inp = instance(rng, n, args.modulating)
                t0 = time.perf_counter()
                model = build(inp)
                plan = solve(model, opts)
                times.append(time.perf_counter() - t0)
                bins.append(model.num_binaries)
                failed += plan.status.value == "failed"
                limited += plan.status.value in ("failed", "time-limit")
                gaps.append(plan.mip_gap if plan.status.value != "failed" else 0.0)
                rules = rule_plan(inp)
                money = rules.cost.total - rules.cost.penalties - (plan.cost.total - plan.cost.penalties)
                saving.append(money)
                unmet.append(bool(rules.relaxations))
                bar.advance()
                if not args.quiet:
                    print(
                        f"  {n} #{k:2d}: {times[-1]:6.3f} s  {plan.status.value:10s} "
                        f"cost {plan.cost.total:9.4f} EUR  gap {plan.mip_gap:.3%}  "
                        f"binaries {model.num_binaries} "
                        f"phase switching {inp.evs[0].phase_switching}"
                    )
                if plan.relaxations:
                    print("  relaxations:", [r.message for r in plan.relaxations])
        t = np.array(times)
        print(
            f"{n} steps, {args.instances} instances: median {np.median(t):.3f} s, "
            f"p90 {np.quantile(t, 0.9):.3f} s, "
            f"max {t.max():.3f} s; binaries median {int(np.median(bins))}; max gap of plans {max(gaps):.2%}; "
            f"stopped at the time limit: {limited}, of which no plan: {failed}; "
            f"the rule plan's energy + fees + capacity minus the MILP's: median {np.median(saving):.2f} EUR "
            f"(and the rule plan leaves a need unmet in {sum(unmet)} of {len(unmet)})"
        )


if __name__ == "__main__":
    main()
