"""A simulated year of a Belgian household with gridedge's planner against a rule-based baseline.

Run: `python bench/cem_year.py [--days 366] [--start 2024-01-01] [--checkpoint PATH] [--every 7]
[--resume] [--horizon 96|auto] [--gap 0.02] [--time-limit 2] [--reserve 0.15] [--no-guard]
[--ev-margin 0] [--wear 0] [--seed 2024] [--annual-kwh 3500]`. The full year takes 6-8 minutes
on one busy core (about 9 000 plans, median solve 0.04 s); the budget is 60 minutes.

The household (6 kWp PV, 10 kWh / 5 kW battery, 60 kWh EV on an 11 kW wallbox, air/water heat pump
heating a first-order house, 3 500 kWh base load) is simulated in 15-minute energy balance over
2024 on the real hourly Belgian day-ahead prices, the Fluvius 2025 tariffs (Antwerpen), the
Synergrid RLP0N profile with seeded noise and the DWD 2015 weather mapped onto 2024 by calendar
day (year_data.py says how each input is made and which errors the forecasts carry), driven by
two strategies (year_sim.py):

* baseline: battery self-consumption, evcc "pv" mode with a latest-start full-power fallback that
  reaches the target by departure, thermostat at 20.2 °C; two variants of the EV fallback are
  reported too (the cheapest published quarters at 11 kW; 6 A from the latest start at 6 A);
* gridedge: `Planner` every hour (and when the car plugs in) over 96 quarter hours (`--horizon
  auto`: to the end of the published prices, 96-140 steps) with forecasts (base load: same
  weekday and time of the last 4 weeks, `forecast_base_load`; PV: a seeded day-ahead forecast
  corrected by the last 2 h of measurements; temperature: seeded error growing with lead time),
  day-ahead prices as published (the next day's after 13:00; beyond them the same quarter one
  day earlier), the month's peak so far as the capacity tariff's floor (at least 2.5 kW), the
  battery's current soc as its target at the horizon end (15 % of it kept for deviations); the
  first hour is applied against the actual load, PV and weather, the battery following the
  planned grid exchange, a capacity guard shedding the car, then the heat pump, when the actual
  import would raise the month's peak (`--no-guard` turns it off). `--ev-margin N` makes the
  plans finish the car N quarter hours before it leaves (the car catches up in them);
  `--wear` prices battery cycling in the plans (not in the bill).

Both must reach the car's 80 % by each departure and keep the house at >= 20.0 °C: the unmet EV
energy and the degree-hours outside 20-22 °C are printed for both. Then the bills (year_bill.py)
per month and for the year, and the reductions. Goal: >= 15 % lower bill and >= 40 % lower mean
monthly capacity peak.

Checkpoints: the gridedge run's state is pickled to `--checkpoint` every `--every` simulated days
(7); `--resume` continues from it (the baselines are recomputed: they take seconds) and gives the
same figures as an uninterrupted run; a checkpoint made with other arguments is refused. The
seeded inputs are drawn for the whole calendar year, so `--days N` and `--start` runs see the
same household as those days of the full year. Progress lines go to stdout every `--every` days;
on a terminal a progress bar (steps, rate, ETA) runs on stderr meanwhile (`--no-progress` or
GRIDEDGE_NO_PROGRESS=1: off).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gridedge.cli_progress import add_progress_flag, progress, progress_wanted
from gridedge.home.cem.planner import SolverOptions
from year_bill import Bill, billed_peak, monthly, print_bills, total
from year_data import DT_H, Household, Year, build_year
from year_sim import (
    Devices,
    Gridedge,
    Record,
    State,
    advance,
    begin_step,
    month_index,
    run_baseline,
)

CKPT_VERSION = 1


def signature(args: argparse.Namespace) -> str:
    values = (args.start, args.days, args.horizon, args.gap, args.time_limit, args.reserve, args.no_guard)
    key = "|".join(str(v) for v in (*values, args.ev_margin, args.wear, args.seed, args.annual_kwh))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def save(path: Path, payload: dict[str, object]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def needs(year: Year, rec: Record, upto: int) -> tuple[float, int, int, float, float, float]:
    """Unmet EV kWh, departures short by > 0.1 kWh, departures, K·h below 20.0, K·h above 22.0,
    mean indoor temperature."""
    hh = year.hh
    t = rec.indoor_c[:upto]
    below = float(np.clip(hh.comfort_min_c - t, 0, None).sum() * DT_H)
    above = float(np.clip(t - hh.comfort_max_c, 0, None).sum() * DT_H)
    unmet = rec.ev_unmet_kwh
    return sum(unmet), sum(u > 0.1 for u in unmet), rec.ev_departures, below, above, float(t.mean())


def energies(year: Year, rec: Record, upto: int) -> str:
    kwh = {name: float(getattr(rec, name)[:upto].sum()) * DT_H / 1000.0 for name in ("ev_w", "hp_w", "pv_w")}
    base = float(year.base[:upto].sum()) * DT_H / 1000.0
    curtailed = float(year.pv[:upto].sum()) * DT_H / 1000.0 - kwh["pv_w"]
    dis = float(-np.clip(rec.bat_w[:upto], None, 0).sum()) * DT_H / 1000.0
    return (
        f"base {base:.0f} kWh, EV {kwh['ev_w']:.0f} kWh AC, heat pump {kwh['hp_w']:.0f} kWh, "
        f"PV used {kwh['pv_w']:.0f} kWh (curtailed {curtailed:.0f}), battery discharged {dis:.0f} kWh"
    )


def end_state(rec: Record) -> str:
    f = rec.final
    if f is None:
        return "end state unknown"
    return f"end state: battery {f.bat_kwh:.2f} kWh, car {f.ev_kwh:.2f} kWh, indoor {f.indoor_c:.2f} °C"


def report(
    year: Year,
    base: Record,
    ge: Record,
    upto: int,
    stats_line: str,
    others: dict[str, Record] | None = None,
    events: list[str] | None = None,
) -> None:
    bb = monthly(year, base, upto)
    gb = monthly(year, ge, upto)
    bt, gt = total(year, bb, upto), total(year, gb, upto)
    print_bills(
        year, "baseline (self-consumption battery, evcc pv mode + latest-start fallback, thermostat)", bb, bt
    )
    print_bills(year, "gridedge (Planner, hourly re-plan)", gb, gt)
    print("\nneeds and energies")
    for name, rec in (("baseline", base), ("gridedge", ge)):
        unmet, short, deps, below, above, mean_t = needs(year, rec, upto)
        print(
            f"  {name:8}: EV unmet {unmet:.2f} kWh ({short} of {deps} departures short), "
            f"{below:.2f} K·h below {year.hh.comfort_min_c} °C, {above:.1f} K·h above "
            f"{year.hh.comfort_max_c} °C, mean indoor {mean_t:.2f} °C"
        )
        print(f"            {energies(year, rec, upto)}")
        print(f"            {end_state(rec)}")
    print(f"\ngridedge planner: {stats_line}")
    print(
        f"capacity guard: shed {ge.shed_ev_kwh:.1f} kWh of car charging and {ge.shed_hp_kwh:.1f} kWh of heat "
        f"pump in {ge.shed_steps} quarter hours (caught up later)"
    )
    for e in events or []:
        print(f"  {e}")

    def pct(a: float, b: float) -> float:
        return 100.0 * (a - b) / a if a else float("nan")

    bill_red = pct(bt.total, gt.total)
    peak_red = pct(bt.peak_kw, gt.peak_kw)
    billed_b = float(np.mean([billed_peak(year, b) for b in bb]))
    billed_g = float(np.mean([billed_peak(year, b) for b in gb]))
    print(
        f"\nbill: baseline {bt.total:.2f} EUR, gridedge {gt.total:.2f} EUR -> {bill_red:.1f} % lower "
        f"(goal >= 15 %: {'met' if bill_red >= 15 else 'NOT met'})"
    )
    print(
        f"mean monthly capacity peak: baseline {bt.peak_kw:.2f} kW, gridedge {gt.peak_kw:.2f} kW -> "
        f"{peak_red:.1f} % lower (goal >= 40 %: {'met' if peak_red >= 40 else 'NOT met'}); billed "
        f"(min 2.5 kW) {billed_b:.2f} -> {billed_g:.2f} kW, {pct(billed_b, billed_g):.1f} % lower"
    )
    for label, other in (others or {}).items():
        ob = monthly(year, other, upto)
        ot = total(year, ob, upto)
        unmet = needs(year, other, upto)[0]
        print(
            f"other baseline, {label}: bill {ot.total:.2f} EUR (energy {ot.energy:.2f}, capacity "
            f"{ot.capacity:.2f}), mean monthly peak {ot.peak_kw:.2f} kW, EV unmet {unmet:.2f} kWh -> "
            f"gridedge "
            f"{pct(ot.total, gt.total):.1f} % lower bill, {pct(ot.peak_kw, gt.peak_kw):.1f} % lower peak"
        )
    sign = {"energy": 1, "fees": 1, "export": -1, "capacity": 1}
    diffs = ", ".join(f"{p} {sg * (getattr(gt, p) - getattr(bt, p)):+.2f}" for p, sg in sign.items())
    print(f"bill parts gridedge - baseline (EUR; export as a cost): {diffs}")


def stats_line(ge: Gridedge, wall: float) -> str:
    s = ge.stats
    st = np.array(s.solve_s) if s.solve_s else np.zeros(1)
    return (
        f"{s.solves} plans, solve median {np.median(st):.3f} s, p90 {np.quantile(st, 0.9):.3f} s, "
        f"max {st.max():.2f} s, total {st.sum():.0f} s; input building {s.build_s:.0f} s; "
        f"{s.time_limited} time-limited, {s.fallbacks} fallbacks, {s.relaxed} with relaxations; "
        f"wall {wall:.0f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=date.fromisoformat, default=date(2024, 1, 1))
    ap.add_argument("--days", type=int, default=366)
    ap.add_argument(
        "--horizon", default="96", help="steps of 15 min, or 'auto' (to the end of the known prices)"
    )
    ap.add_argument("--gap", type=float, default=0.02, help="MIP relative gap")
    ap.add_argument("--time-limit", type=float, default=2.0, help="per solve, s")
    ap.add_argument("--reserve", type=float, default=0.15, help="battery soc the plans keep for deviations")
    ap.add_argument("--no-guard", action="store_true", help="no capacity guard on the actual import")
    ap.add_argument(
        "--ev-margin", type=int, default=0, help="quarter hours before departure the plans' EV deadline lies"
    )
    ap.add_argument(
        "--wear", type=float, default=0.0, help="battery wear the plans price, EUR/kWh (AC in + out)"
    )
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--annual-kwh", type=float, default=3500.0)
    ap.add_argument("--checkpoint", type=Path, default=Path(tempfile.gettempdir()) / "gridedge-cem_year.ckpt")
    ap.add_argument("--every", type=int, default=7, help="checkpoint every N simulated days")
    ap.add_argument("--resume", action="store_true")
    add_progress_flag(ap)
    args = ap.parse_args()
    bar_on = progress_wanted(args.no_progress)
    wall0 = time.perf_counter()
    hh = Household(seed=args.seed, annual_kwh=args.annual_kwh)
    year = build_year(hh, args.start, args.days)
    n = year.n_sim
    print(
        f"{args.start} + {args.days} days, {n} steps; inputs built in {time.perf_counter() - wall0:.1f} s "
        f"(PV {year.pv[:n].sum() * DT_H / 1000:.0f} kWh, base {year.base[:n].sum() * DT_H / 1000:.0f} kWh, "
        f"mean spot {year.spot[:n].mean() * 1000:.1f} EUR/MWh)",
        flush=True,
    )
    with progress("baselines", total=3, unit="runs", enabled=bar_on, proxy_stdout=True) as bar:
        base = run_baseline(year, "late")
        bar.advance()
        cheap = run_baseline(year, "cheap")
        bar.advance()
        late_min = run_baseline(year, "late-min")
        bar.advance()
    others = {
        "EV fallback in the cheapest published quarters at 11 kW (evcc planner on the dynamic tariff)": cheap,
        "EV fallback at 6 A (4.14 kW) from the latest start (evcc minpv-like)": late_min,
    }
    print(f"baselines simulated ({time.perf_counter() - wall0:.1f} s)", flush=True)

    dev = Devices.of(year)
    horizon = None if args.horizon == "auto" else int(args.horizon)
    ge = Gridedge(
        dev,
        horizon,
        SolverOptions(time_limit_s=args.time_limit, mip_rel_gap=args.gap),
        args.reserve,
        not args.no_guard,
        args.ev_margin,
        args.wear,
    )
    st = State(ev_kwh=hh.ev_start_soc * hh.ev_capacity_kwh)
    rec = Record(year.n_sim)
    k0 = 0
    wall_before = 0.0
    sig = signature(args)
    if args.resume and args.checkpoint.is_file():
        with open(args.checkpoint, "rb") as f:
            ck = pickle.load(f)
        if ck.get("version") != CKPT_VERSION or ck.get("signature") != sig:
            raise SystemExit(f"{args.checkpoint}: made with other arguments or version; not resuming")
        k0, st, rec = ck["k"], ck["state"], ck["record"]
        ge.plan, ge.plan_k, ge.stats, ge.planner.last = ck["plan"], ck["plan_k"], ck["stats"], ck["last"]
        wall_before = ck["wall"]
        print(
            f"resumed at step {k0} ({year.time(k0):%Y-%m-%d %H:%M}), {wall_before:.0f} s spent before",
            flush=True,
        )
    elif args.resume:
        print(f"{args.checkpoint}: no checkpoint, starting from the beginning", flush=True)

    months = month_index(year)
    first_of = {int(m): int(np.argmax(months == m)) for m in np.unique(months)}
    m_now = int(months[k0]) if k0 < year.n_sim else -1
    peak_kw = float(rec.imp_w[first_of.get(m_now, 0) : k0].max(initial=0.0)) / 1000.0
    run0 = time.perf_counter()
    every = 96 * args.every
    with progress(
        f"gridedge {year.time(k0):%Y-%m-%d}" if k0 < year.n_sim else "gridedge",
        total=year.n_sim - k0,
        unit="steps",
        enabled=bar_on,
        proxy_stdout=True,
    ) as bar:
        for k in range(k0, year.n_sim):
            if months[k] != m_now:
                m_now, peak_kw = int(months[k]), 0.0
            begin_step(dev, st, k, rec)
            if k % 4 == 0 or dev.arrive_kwh[k] > 0 or ge.plan is None:
                ge.replan(st, k, peak_kw)
            ge.month_peak_w = peak_kw * 1000.0
            advance(dev, st, k, ge.decision(st, k), rec)
            peak_kw = max(peak_kw, rec.imp_w[k] / 1000.0)
            done = k + 1
            bar.advance()
            if done % 96 == 0:
                bar.describe(f"gridedge {year.time(done - 1):%Y-%m-%d}")
            if done % every == 0 or done == year.n_sim:
                wall = wall_before + time.perf_counter() - run0
                save(
                    args.checkpoint,
                    {
                        "version": CKPT_VERSION,
                        "signature": sig,
                        "k": done,
                        "state": st,
                        "record": rec,
                        "plan": ge.plan,
                        "plan_k": ge.plan_k,
                        "stats": ge.stats,
                        "last": ge.planner.last,
                        "wall": wall,
                    },
                )
                gb: list[Bill] = monthly(year, rec, done)
                bb = monthly(year, base, done)
                rate = (time.perf_counter() - run0) / max(1, done - k0)
                print(
                    f"[{year.time(done - 1):%Y-%m-%d}] {done}/{year.n_sim} steps, wall {wall:.0f} s, "
                    f"eta {rate * (year.n_sim - done):.0f} s; bill so far gridedge "
                    f"{sum(b.total for b in gb):.2f} vs baseline {sum(b.total for b in bb):.2f} EUR; "
                    f"peak this month {peak_kw:.2f} kW",
                    flush=True,
                )
    wall = wall_before + time.perf_counter() - run0
    rec.final = State(st.bat_kwh, st.ev_kwh, st.indoor_c)
    report(year, base, rec, year.n_sim, stats_line(ge, wall), others, ge.stats.events)
    print(f"\nwall time: gridedge simulation {wall:.0f} s, whole process {time.perf_counter() - wall0:.0f} s")


if __name__ == "__main__":
    main()
