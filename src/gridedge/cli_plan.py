"""`gridedge plan`: the energy manager's plan for a site, printed.

    gridedge plan --scenario FILE.toml [--prices FILE.csv|URL] [--start ISO-TIME] [--horizon 48h]
                  [--time-limit S] [--json]

The scenario gives the site, its devices and their needs and the `[tariff]` table; `--prices`
(or `tariff.prices`) the day-ahead prices (ENTSO-E style CSV, docs/tariffs.md). The plan is the
MILP of `home.cem.planner` on the inputs `home.cem.planning` builds, the same the `gridedge cem`
service would use: per quarter hour each device's power, grid import and export, battery and car
state of charge and indoor temperature; then the cost broken down (energy, fees, capacity,
penalties) and, when needs could not all be met, which one gave way and by how much.

Exit status: 0 a plan with every need met, 1 a plan that relaxed a need or a fallback plan,
2 usage or input errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gridedge.cli_progress import add_progress_flag, progress, progress_wanted

if TYPE_CHECKING:
    from gridedge.home.cem.planner import Plan
    from gridedge.home.cem.planning import PlanContext

EXIT_OK = 0
EXIT_RELAXED = 1
EXIT_USAGE = 2


def add_plan_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "plan",
        help="plan a site's devices against prices, fees, limits and needs (MILP on HiGHS)",
        description="Print the energy manager's plan per quarter hour and its cost. See"
        " docs/scenario.md ([tariff], [cem.planner]) and docs/tariffs.md for the inputs.",
    )
    p.add_argument("--scenario", required=True, metavar="FILE.toml", help="the site scenario")
    p.add_argument("--prices", metavar="FILE.csv|URL", help="day-ahead prices (overrides tariff.prices)")
    p.add_argument(
        "--start", metavar="ISO-TIME", help="plan start (default: now); a naive time is in the site's zone"
    )
    p.add_argument("--horizon", metavar="DURATION", help="e.g. 24h or 48h (default: cem.planner.horizon_h)")
    p.add_argument("--time-limit", type=float, metavar="S", help="solver time limit in seconds")
    p.add_argument("--json", action="store_true", help="one JSON object: steps, cost, relaxations")
    add_progress_flag(p)
    p.set_defaults(func=cmd_plan, parser=p)


def highs_banner_to_stderr() -> None:
    """HiGHS prints its banner on stdout when the first solver of the process is made (C++ side,
    past Python's sys.stdout); make that one with stdout pointing at stderr so `--json` output
    stays pure JSON."""
    import os

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _fail(msg: str) -> int:
    print(f"gridedge plan: {msg}", file=sys.stderr)
    return EXIT_USAGE


def cmd_plan(args: argparse.Namespace) -> int:
    """The plan; a spinner on stderr while the models load, the inputs are built and HiGHS solves."""
    highs_banner_to_stderr()  # before the spinner: HiGHS writes it past Python's streams
    with progress("plan: loading models", enabled=progress_wanted(args.no_progress)) as bar:
        got = _make_plan(args, bar.describe)
    if isinstance(got, int):
        return got
    plan, ctx, site, tariff_name = got
    if args.json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(plan_record(plan, ctx), option=orjson.OPT_SERIALIZE_NUMPY))
        sys.stdout.buffer.write(b"\n")
    else:
        print_plan(plan, ctx, site, tariff_name, sys.stdout)
    return EXIT_OK if plan.feasible and not plan.fallback else EXIT_RELAXED


def _make_plan(
    args: argparse.Namespace, phase: Callable[[str], None]
) -> tuple[Plan, PlanContext, str, str] | int:
    """Read the inputs and solve; an exit status on input errors. `phase` names each step."""
    from gridedge.home.cem.planner import Planner, SolverOptions
    from gridedge.home.cem.planning import build_tariff, plan_inputs, resolve_path
    from gridedge.home.cem.tariffs import PriceFileError, load_prices
    from gridedge.model.scenario import ScenarioError, load_scenario, parse_duration
    from gridedge.model.tariff import PriceGapError
    from gridedge.physics.hplib import HplibModel

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        return _fail(str(exc))
    base = Path(args.scenario).resolve().parent
    zone = scenario.site.zone
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            return _fail(f"--start {args.start!r}: expected an ISO time such as 2025-10-10T17:00")
        start = start if start.tzinfo is not None else start.replace(tzinfo=zone)
    else:
        start = datetime.now(UTC)
    steps = None
    if args.horizon:
        try:
            span = parse_duration(args.horizon)
        except ValueError as exc:
            return _fail(f"--horizon: {exc}")
        if span < timedelta(minutes=15) or span > timedelta(hours=48):
            return _fail(f"--horizon {args.horizon!r}: expected 15min..48h")
        steps = int(span.total_seconds() // 900)
    cfg = scenario.tariff
    source = args.prices or cfg.prices
    prices = None
    phase("plan: reading prices, building inputs")
    try:
        if source is not None:
            where = resolve_path(source, None if args.prices else base)
            prices = load_prices(where, unit=cfg.price_unit, tz=scenario.site.timezone)
        tariff = build_tariff(cfg, prices, start, annual_kwh=scenario.household.annual_kwh)
        ctx = plan_inputs(
            scenario, tariff, start, horizon_steps=steps, cop_model=lambda hp: HplibModel.load(hp.model)
        )
    except (PriceFileError, PriceGapError, ValueError, OSError) as exc:
        return _fail(str(exc))
    planner_cfg = scenario.cem.planner
    options = SolverOptions(
        time_limit_s=args.time_limit if args.time_limit is not None else planner_cfg.time_limit_s,
        mip_rel_gap=planner_cfg.mip_gap,
    )
    phase(f"plan: solving {ctx.inputs.timeline.n} steps (HiGHS, limit {options.time_limit_s:g} s)")
    plan = Planner(options).plan(ctx.inputs)
    return plan, ctx, scenario.site.name, tariff.name


def _r(x: float, nd: int = 1) -> float:
    return round(float(x), nd)


def plan_record(plan: Plan, ctx: PlanContext) -> dict[str, Any]:
    """The plan as plain JSON types: one entry per step, the cost, the relaxations."""
    inp = ctx.inputs
    steps = []
    for k, t in enumerate(plan.times):
        devices: dict[str, dict[str, float]] = {}
        for b in plan.batteries:
            devices[b.device_id] = {"power_w": _r(b.power_w[k]), "soc": _r(b.soc[k], 4)}
        for e in plan.evs:
            devices[e.device_id] = {
                "power_w": _r(e.power_w[k]),
                "soc": _r(e.soc[k], 4),
                "current_a": _r(e.current_a[k], 2),
                "phases": int(e.phases[k]),
            }
        for h in plan.heat_pumps:
            devices[h.device_id] = {"power_w": _r(h.power_w[k]), "indoor_c": _r(h.indoor_c[k], 2)}
        for a in plan.appliances:
            devices[a.device_id] = {"power_w": _r(a.power_w[k])}
        for p in plan.pv:
            devices[p.device_id] = {"power_w": _r(p.power_w[k]), "curtailed_w": _r(p.curtailed_w[k])}
        steps.append(
            {
                "start": t.isoformat(),
                "import_w": _r(plan.grid_import_w[k]),
                "export_w": _r(plan.grid_export_w[k]),
                "base_load_w": _r(plan.base_load_w[k]),
                "import_eur_per_kwh": _r(ctx.import_price_all_in[k], 5),
                "export_eur_per_kwh": _r(inp.export_price[k], 5),
                "devices": devices,
            }
        )
    c = plan.cost
    return {
        "start": plan.timeline.start.isoformat(),
        "step_s": plan.timeline.step_s,
        "status": plan.status.value,
        "fallback": plan.fallback,
        "message": plan.message,
        "mip_gap": plan.mip_gap,
        "solve_time_s": round(plan.solve_time_s, 3),
        "peak_kw": round(plan.peak_kw, 3),
        "cost_eur": {
            "energy": round(c.energy, 4),
            "fees": round(c.fees, 4),
            "capacity": round(c.capacity, 4),
            "penalties": round(c.penalties, 4),
            "total": round(c.total, 4),
        },
        "relaxations": [
            {
                "constraint": r.constraint,
                "device": r.device_id,
                "amount": r.amount,
                "unit": r.unit,
                "first_step": r.first_step,
                "last_step": r.last_step,
                "message": r.message,
            }
            for r in plan.relaxations
        ],
        "appliance_starts": {
            a.device_id: None if a.start is None else a.start.isoformat() for a in plan.appliances
        },
        "notes": list(ctx.notes),
        "steps": steps,
    }


def print_plan(plan: Plan, ctx: PlanContext, site: str, tariff: str, out: TextIO) -> None:
    tl = plan.timeline
    w = out.write
    w(f"plan for {site}: {tl.start.isoformat()} .. {tl.end.isoformat()}, {tl.n} x 15 min, tariff {tariff}\n")
    status = plan.status.value + (" (fallback)" if plan.fallback else "")
    w(f"solver: {status}, gap {plan.mip_gap:.2%}, {plan.solve_time_s:.2f} s")
    w(f"; {plan.message}\n" if plan.message else "\n")
    for note in ctx.notes:
        w(f"note: {note}\n")
    cols: list[tuple[str, Any]] = []
    for b in plan.batteries:
        cols += [(f"{b.device_id} W", b.power_w), (f"{b.device_id} soc%", b.soc * 100)]
    for e in plan.evs:
        cols += [(f"{e.device_id} W", e.power_w), (f"{e.device_id} soc%", e.soc * 100)]
    for h in plan.heat_pumps:
        cols += [(f"{h.device_id} W", h.power_w), (f"{h.device_id} °C", h.indoor_c)]
    for a in plan.appliances:
        cols.append((f"{a.device_id} W", a.power_w))
    for p in plan.pv:
        cols.append((f"{p.device_id} W", p.power_w))
    head = ["time", "EUR/kWh", "import W", "export W", "base W"] + [c[0] for c in cols]
    widths = [max(len(h), 8) for h in head]
    widths[0] = 5
    w("  ".join(h.rjust(n) for h, n in zip(head, widths, strict=True)) + "\n")
    for k, t in enumerate(plan.times):
        cells = [
            t.strftime("%H:%M"),
            f"{ctx.import_price_all_in[k]:.4f}",
            f"{plan.grid_import_w[k]:.0f}",
            f"{plan.grid_export_w[k]:.0f}",
            f"{plan.base_load_w[k]:.0f}",
        ]
        for name, arr in cols:
            v = float(arr[k])
            cells.append(f"{v:.1f}" if name.endswith(("%", "°C")) else f"{v:.0f}")
        w("  ".join(c.rjust(n) for c, n in zip(cells, widths, strict=True)) + "\n")
    c = plan.cost
    w(
        f"cost EUR: energy {c.energy:.2f}  fees {c.fees:.2f}  capacity {c.capacity:.2f}"
        f" (peak {plan.peak_kw:.2f} kW)  penalties {c.penalties:.2f}  total {c.total:.2f}\n"
    )
    for a in plan.appliances:
        when = "not placed" if a.start is None else a.start.strftime("%Y-%m-%d %H:%M")
        w(f"{a.device_id}: starts {when}\n")
    if plan.relaxations:
        w("needs that gave way:\n")
        for r in plan.relaxations:
            w(f"  {r.message}\n")
    else:
        w("every need is met\n")
