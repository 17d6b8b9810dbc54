"""Solve a built plan model with HiGHS and read the plan back.

Two stages when something gave way. The slacks' prices are large (they must outweigh any price
signal), so with relaxations the objective is dominated by penalties and a 0.5 % relative MIP
gap would be 0.5 % of the penalty, leaving the economic part of the plan unoptimised. Stage 1
therefore finds the least relaxation; stage 2 keeps every slack at most at its stage-1 value,
cuts the slacks' prices a thousandfold and re-optimises the money from the stage-1 plan (given
as a start), within what is left of the time limit. Feasible cases take one stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from gridedge.home.cem.planner.costing import cost_breakdown, peak_kw
from gridedge.home.cem.planner.inputs import FloatArray, PlanInputs
from gridedge.home.cem.planner.model import PlanModel, build
from gridedge.home.cem.planner.relax import explain
from gridedge.home.cem.planner.result import (
    AppliancePlan,
    BatteryPlan,
    EVPlan,
    HeatPumpPlan,
    Plan,
    PVPlan,
    SolveStatus,
)

STAGE2_PRICE_SCALE = 1e-3
SLACK_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class SolverOptions:
    """HiGHS settings. `time_limit_s` covers both stages. A time-limited solve's plan is used when
    its gap is at most `accept_gap`; otherwise the solve counts as failed."""

    time_limit_s: float = 10.0
    mip_rel_gap: float = 0.005
    threads: int = 1
    random_seed: int = 0
    accept_gap: float = 0.05

    def __post_init__(self) -> None:
        if not self.time_limit_s >= 0:
            raise ValueError(f"time_limit_s: expected >= 0 s, found {self.time_limit_s}")
        if not 0 <= self.mip_rel_gap < 1:
            raise ValueError(f"mip_rel_gap: expected a share in [0, 1), found {self.mip_rel_gap}")


def _configure(h: highspy.Highs, options: SolverOptions, time_limit: float) -> None:
    h.setOptionValue("time_limit", max(0.0, time_limit))
    h.setOptionValue("mip_rel_gap", options.mip_rel_gap)
    h.setOptionValue("threads", options.threads)
    h.setOptionValue("random_seed", options.random_seed)
    h.setOptionValue("output_flag", False)


@dataclass(frozen=True, slots=True)
class _Run:
    x: FloatArray | None
    status: SolveStatus
    gap: float


def _run(h: highspy.Highs, has_ints: bool) -> _Run:
    h.run()
    ms = h.getModelStatus()
    info = h.getInfo()
    feasible = int(info.primal_solution_status) == 2
    gap = float(info.mip_gap) if has_ints else 0.0
    if not np.isfinite(gap):
        gap = 1.0
    x = np.array(h.getSolution().col_value, dtype=np.float64) if feasible else None
    if ms == highspy.HighsModelStatus.kOptimal and x is not None:
        return _Run(x, SolveStatus.OPTIMAL, max(0.0, gap))
    if x is not None and ms in (
        highspy.HighsModelStatus.kTimeLimit,
        highspy.HighsModelStatus.kInterrupt,
        highspy.HighsModelStatus.kSolutionLimit,
        highspy.HighsModelStatus.kIterationLimit,
    ):
        return _Run(x, SolveStatus.TIME_LIMIT, gap)
    return _Run(None, SolveStatus.FAILED, 1.0)


def solve(model: PlanModel, options: SolverOptions | None = None) -> Plan:
    """Solve `model`; status FAILED (with an empty plan's shape and `message`) when HiGHS gives none."""
    opts = options or SolverOptions()
    h = model.lp.to_highs()
    _configure(h, opts, opts.time_limit_s)
    has_ints = model.num_binaries > 0
    first = _run(h, has_ints)
    elapsed = h.getRunTime()
    run = first
    if first.x is not None and model.slack.size and (first.x[model.slack] > SLACK_TOL).any():
        slack = model.slack
        h.changeColsBounds(
            slack.size,
            slack.astype(np.int32),
            np.zeros(slack.size),
            first.x[slack] * (1 + 1e-9) + SLACK_TOL,
        )
        costs = np.concatenate(model.lp.cost)
        prices = costs[slack]
        h.changeColsCost(slack.size, slack.astype(np.int32), prices * STAGE2_PRICE_SCALE)
        # the over-limit columns keep their money part; only the penalty is scaled
        pen_g = model.inputs.step_s / 3600.0 * model.inputs.penalties.grid_limit_eur_per_kwh
        for cols in (model.imp_over, model.exp_over):
            money = costs[cols] - pen_g
            h.changeColsCost(cols.size, cols.astype(np.int32), money + pen_g * STAGE2_PRICE_SCALE)
        h.setSolution(model.lp.ncol, np.arange(model.lp.ncol, dtype=np.int32), first.x)
        left = opts.time_limit_s - elapsed
        if left > 0.05:
            _configure(h, opts, left)
            second = _run(h, has_ints)
            elapsed += h.getRunTime()
            if second.x is not None:
                run = second
    if run.x is None or (run.status is SolveStatus.TIME_LIMIT and run.gap > opts.accept_gap):
        why = "no feasible plan" if run.x is None else f"gap {run.gap:.1%} above {opts.accept_gap:.1%}"
        return empty_plan(model.inputs, SolveStatus.FAILED, elapsed, f"HiGHS {h.getModelStatus()}: {why}")
    return extract(model, run.x, run.status, run.gap, elapsed)


def plan(inputs: PlanInputs, options: SolverOptions | None = None) -> Plan:
    """Build and solve in one call."""
    return solve(build(inputs), options)


def extract(model: PlanModel, x: FloatArray, status: SolveStatus, gap: float, solve_time_s: float) -> Plan:
    """Read the plan from solution `x` (netted import/export, device series in W)."""
    inputs = model.inputs
    n = inputs.n
    dt = inputs.step_s / 3600.0
    pen = inputs.penalties
    tl = inputs.timeline

    def ro(a: np.ndarray) -> FloatArray:
        out = np.asarray(a, dtype=np.float64).copy()
        out[np.abs(out) < 1e-9] = 0.0
        out.setflags(write=False)
        return out

    imp = x[model.imp_ok] + x[model.imp_over]
    exp = x[model.exp_ok] + x[model.exp_over]
    net = imp - exp
    import_w = np.maximum(net, 0.0) * 1000.0
    export_w = np.maximum(-net, 0.0) * 1000.0

    penalties = 0.0
    bats = []
    for b, bv in zip(inputs.batteries, model.batteries, strict=True):
        ch, dis = x[bv.ch], x[bv.dis]
        penalties += b.wear_eur_per_kwh * dt * float(np.sum(ch + dis))
        if bv.terminal_short >= 0:
            penalties += pen.battery_terminal_eur_per_kwh * float(x[bv.terminal_short])
        bats.append(
            BatteryPlan(b.device_id, ro((ch - dis) * 1000.0), ro(np.clip(x[bv.e] / b.capacity_kwh, 0, 1)))
        )
    evs = []
    for ev, vv in zip(inputs.evs, model.evs, strict=True):
        p = np.zeros(n)
        p[vv.steps] = np.maximum(x[vv.p], 0.0)
        p[p < 1e-6] = 0.0
        phases = np.zeros(n, dtype=np.int64)
        if vv.on3.size:
            phases[vv.steps] = np.where(x[vv.on3] > 0.5, 3, np.where(x[vv.on1] > 0.5, 1, 0))
        else:
            phases[p > 0] = ev.phases
        current = np.where(phases > 0, p * 1000.0 / (np.maximum(phases, 1) * ev.voltage_v), 0.0)
        delivered = ev.efficiency * dt * np.cumsum(p)
        soc = ev.soc + delivered / ev.capacity_kwh
        penalties += pen.ev_eur_per_kwh * float(x[vv.short])
        phases.setflags(write=False)
        evs.append(EVPlan(ev.device_id, ro(p * 1000.0), ro(current), phases, ro(soc), float(delivered[-1])))
    hps = []
    for hp, hv in zip(inputs.heat_pumps, model.heat_pumps, strict=True):
        penalties += pen.comfort_eur_per_kh * dt * float(np.sum(x[hv.lo_slack]) + np.sum(x[hv.hi_slack]))
        hps.append(HeatPumpPlan(hp.device_id, ro(np.maximum(x[hv.p], 0.0) * 1000.0), ro(x[hv.temp])))
    apps = []
    for ap, av in zip(inputs.appliances, model.appliances, strict=True):
        power = np.zeros(n)
        start_step: int | None = None
        if av.start.size and x[av.start].max() > 0.5:
            start_step = int(av.starts[int(np.argmax(x[av.start]))])
            seg = ap.profile_w[: max(0, n - start_step)]
            power[start_step : start_step + seg.size] = seg
        else:
            penalties += pen.appliance_eur_per_run
        start = tl.time(start_step) if start_step is not None else None
        apps.append(AppliancePlan(ap.device_id, start_step, start, ro(power)))
    pvs = []
    for pv, cc in zip(inputs.pv, model.curtail, strict=True):
        curt = np.clip(x[cc], 0.0, None) * 1000.0 if cc.size else np.zeros(n)
        pvs.append(PVPlan(pv.device_id, ro(-(pv.forecast_w - curt)), ro(curt)))
    imp_over = np.maximum(import_w / 1000.0 - inputs.import_limit_w() / 1000.0, 0.0)
    exp_over = np.maximum(export_w / 1000.0 - inputs.export_limit_w() / 1000.0, 0.0)
    penalties += pen.grid_limit_eur_per_kwh * dt * float(np.sum(imp_over) + np.sum(exp_over))
    cost = cost_breakdown(inputs, import_w, export_w, penalties)
    return Plan(
        timeline=tl,
        grid_import_w=ro(import_w),
        grid_export_w=ro(export_w),
        base_load_w=inputs.base_load_w,
        batteries=tuple(bats),
        evs=tuple(evs),
        heat_pumps=tuple(hps),
        appliances=tuple(apps),
        pv=tuple(pvs),
        cost=cost,
        relaxations=explain(model, x, import_w),
        status=status,
        mip_gap=gap,
        solve_time_s=solve_time_s,
        peak_kw=peak_kw(inputs, import_w),
    )


def empty_plan(inputs: PlanInputs, status: SolveStatus, solve_time_s: float, message: str) -> Plan:
    """A plan with no device activity (used to report a failed solve; never for control)."""
    from gridedge.home.cem.planner.result import CostBreakdown

    z = np.zeros(inputs.n)
    z.setflags(write=False)
    return Plan(
        timeline=inputs.timeline,
        grid_import_w=z,
        grid_export_w=z,
        base_load_w=inputs.base_load_w,
        batteries=(),
        evs=(),
        heat_pumps=(),
        appliances=(),
        pv=(),
        cost=CostBreakdown(0.0, 0.0, 0.0, 0.0),
        relaxations=(),
        status=status,
        mip_gap=1.0,
        solve_time_s=solve_time_s,
        peak_kw=0.0,
        message=message,
    )
