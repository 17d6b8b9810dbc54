"""Solve a built plan model with HiGHS and read the plan back.

Two stages when something gave way. The slacks' prices are large (they must outweigh any price
signal), so with relaxations the objective is dominated by penalties and a 0.5 % relative MIP
gap would be 0.5 % of the penalty, leaving the economic part of the plan unoptimised. Stage 1
therefore finds the least relaxation; stage 2 keeps every slack at most at its stage-1 value,
cuts the slacks' prices a thousandfold and re-optimises the money from the stage-1 plan (given
as a start), within what is left of the time limit. Feasible cases take one stage.

Each stage starts HiGHS from a known plan: stage 2 from stage 1's, stage 1 from
`rounded_start` (the LP relaxation with its binaries rounded, the car in the steps the
relaxation likes best). That plan's cost z bounds the capacity peak from below by
optimality-based bound tightening (`tighten_peak`: minimise the peak over the LP relaxation
plus `objective <= z`, repeated while the stronger `model.peak_cuts` it allows raise it;
Gleixner et al. 2017, "Three enhancements for optimization-based bound tightening", J. Glob.
Optim. 67). Only plans at least as good as the start survive it, and the start is handed to
HiGHS (`setSolution`), so the optimum is kept. On the bench's hardest 192-step case this takes
the root bound from 25 % to 1 % below the optimum (10 s time-out before, ~1 s after).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from gridedge.home.cem.planner.costing import cost_breakdown, peak_kw
from gridedge.home.cem.planner.inputs import FloatArray, PlanInputs
from gridedge.home.cem.planner.lp import LpBuilder
from gridedge.home.cem.planner.model import PlanModel, build, peak_cuts
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
TIGHTEN_ROUNDS = 6
PEAK_TOL_KW = 1e-4


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


def _relaxation(model: PlanModel, h: highspy.Highs, threads: int) -> highspy.Highs:
    """A copy of `h`'s current model with every integer column continuous. `threads` must match
    the MIP's: HiGHS keeps one thread scheduler per process, set by the first solve."""
    relax = highspy.Highs()  # type: ignore[no-untyped-call]
    relax.silent()
    relax.setOptionValue("threads", threads)
    relax.passModel(h.getLp())
    if model.lp.integer:
        ints = np.concatenate(model.lp.integer).astype(np.int32)
        relax.changeColsIntegrality(
            ints.size, ints, np.full(ints.size, int(highspy.HighsVarType.kContinuous), np.uint8)
        )
    return relax


def rounded_start(model: PlanModel, h: highspy.Highs, threads: int = 1) -> FloatArray | None:
    """A feasible start for HiGHS from the LP relaxation: every binary rounded, except that each
    car charges in the k steps where the relaxation's on-share is highest, k around the sum of
    those shares (the number of steps at minimum current the relaxation pays for, thanks to
    `model.peak_cuts`), and each heat pump with a minimum modulation runs in pulses
    (`heat_pulses`); the best of a few k after re-solving the LP with the binaries fixed.
    None when no rounding is feasible.

    Why: HiGHS's own root heuristics (RENS/RINS sub-MIPs) spend 1-2 s to find a plan within
    0.5 % on the bench's 192-step cases whose root bound is already within the gap; this costs a
    handful of LPs (~30 ms) and often lands within it, so the solve stops at the root. The same
    holds for the heat pump's on/off binaries: the relaxation heats at a fraction of the minimum
    in step after step, and a plan that heats at the minimum in some of those steps costs
    nearly the same."""
    evs = [v for v in model.evs if v.on1.size]
    hps = [(hp, hv) for hp, hv in zip(model.inputs.heat_pumps, model.heat_pumps, strict=True) if hv.on.size]
    if not (evs or hps) or not model.lp.integer:
        return None
    relax = _relaxation(model, h, threads)
    relax.run()
    if relax.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.array(relax.getSolution().col_value, dtype=np.float64)
    ints = np.concatenate(model.lp.integer).astype(np.int32)
    fixed = np.clip(np.round(x[ints]), 0.0, 1.0)
    relax.changeColsBounds(ints.size, ints, fixed, fixed)
    for hp, hv in hps:
        assert hp.min_modulation is not None
        k = hv.on_steps
        pmax = hp.max_electric_w[k] / 1000.0
        pulses = heat_pulses(x[hv.p[k]] * hp.cop[k], hp.min_modulation * pmax * hp.cop[k])
        relax.changeColsBounds(hv.on.size, hv.on.astype(np.int32), pulses, pulses)
    share = [x[v.on1] + (x[v.on3] if v.on3.size else 0.0) for v in evs]
    centre = [round(float(s.sum())) for s in share]
    best: FloatArray | None = None
    best_z = np.inf
    for d in (-1, 0, 1) if evs else (0,):
        for v, s, k0 in zip(evs, share, centre, strict=True):
            on = np.zeros(s.size)
            on[np.argsort(-s, kind="stable")[: max(0, k0 + d)]] = 1.0
            if v.on3.size:
                three = on * (x[v.on3] >= x[v.on1])
                relax.changeColsBounds(v.on3.size, v.on3.astype(np.int32), three, three)
                on = on - three
            relax.changeColsBounds(v.on1.size, v.on1.astype(np.int32), on, on)
        relax.run()
        if relax.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            z = float(relax.getInfo().objective_function_value)
            if z < best_z:
                best_z = z
                best = np.array(relax.getSolution().col_value, dtype=np.float64)
    return best


def heat_pulses(heat: FloatArray, lowest: FloatArray, tol: float = 1e-6) -> FloatArray:
    """On (1) / off (0) per step for a compressor that cannot deliver less than `lowest` heat in
    a step it runs, following `heat` (the relaxation's heat per step, same units): it runs
    whenever the heat delivered so far falls short of `heat`'s running sum, at `lowest` (or
    `heat` when more), so the house is never colder than the relaxation planned it (a
    sigma-delta modulator that leads rather than lags)."""
    on = np.zeros(heat.size)
    owed = 0.0
    for t in range(heat.size):
        owed += float(heat[t])
        if owed > tol:
            on[t] = 1.0
            owed -= max(float(heat[t]), float(lowest[t]))
    return on


def tighten_peak(model: PlanModel, h: highspy.Highs, z: float, threads: int = 1) -> float | None:
    """Lowest capacity peak (kW) of any solution of `h`'s LP relaxation with objective <= `z`,
    after adding `model.peak_cuts` for it to `h` and raising the peak's lower bound; None when
    the model has no peak or it could not be raised.

    Valid for every plan costing at most `z` (it satisfies the relaxation and the cost row), so
    the optimum is kept whenever a plan of cost `z` is known. The cuts it enables raise the
    relaxation's minimum peak again, hence the few rounds (192-step bench case: 2.50 -> 2.674
    -> 2.683 -> 2.6834 kW, optimum 2.685 kW, ~20 ms per LP)."""
    if model.peak < 0:
        return None
    lp = h.getLp()
    cost = np.array(lp.col_cost_, dtype=np.float64)
    ncol = model.lp.ncol
    relax = _relaxation(model, h, threads)
    nz = np.flatnonzero(cost).astype(np.int32)
    slack_z = 1e-7 * max(1.0, abs(z))
    relax.addRow(-np.inf, z - float(lp.offset_) + slack_z, nz.size, nz, cost[nz])
    relax.changeColsCost(ncol, np.arange(ncol, dtype=np.int32), np.zeros(ncol))
    relax.changeColCost(model.peak, 1.0)
    relax.changeObjectiveOffset(0.0)
    lo = float(lp.col_lower_[model.peak])
    best: float | None = None
    for _ in range(TIGHTEN_ROUNDS):
        relax.run()
        if relax.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        new = float(relax.getInfo().objective_function_value) - PEAK_TOL_KW
        if new <= lo + PEAK_TOL_KW:
            break
        lo = new
        best = lo
        cuts = LpBuilder(ncol=ncol)
        peak_cuts(cuts, model, lo)
        for target in (relax, h):
            cuts.add_rows_to(target)
            target.changeColBounds(model.peak, lo, float(lp.col_upper_[model.peak]))
    return best


def _mip(
    h: highspy.Highs, model: PlanModel, opts: SolverOptions, budget: float, start: FloatArray | None
) -> tuple[_Run, float]:
    """One stage: from `start` (else `rounded_start`), tighten the peak for plans no dearer than
    it under `h`'s current prices, hand it to HiGHS as the incumbent and solve within `budget`.
    Returns the run and the wall time used. Deterministic: no step depends on the clock."""
    t0 = time.perf_counter()
    x0 = start
    if model.num_binaries and x0 is None:
        x0 = rounded_start(model, h, opts.threads)
    if model.num_binaries and x0 is not None:
        lp = h.getLp()
        z = float(np.array(lp.col_cost_) @ x0 + lp.offset_)
        tighten_peak(model, h, z, opts.threads)
    if x0 is not None:
        h.setSolution(model.lp.ncol, np.arange(model.lp.ncol, dtype=np.int32), x0)
    _configure(h, opts, budget - (time.perf_counter() - t0))
    run = _run(h, model.num_binaries > 0)
    if run.x is None and start is None and x0 is not None:
        # HiGHS rejected the start and found nothing at least as good: keep the start, gap unknown
        # (stage 2 keeps stage 1's plan instead)
        run = _Run(x0, SolveStatus.TIME_LIMIT, 1.0)
    return run, time.perf_counter() - t0


def solve(model: PlanModel, options: SolverOptions | None = None) -> Plan:
    """Solve `model`; status FAILED (with an empty plan's shape and `message`) when HiGHS gives none."""
    opts = options or SolverOptions()
    h = model.lp.to_highs()
    first, elapsed = _mip(h, model, opts, opts.time_limit_s, None)
    run = first
    if first.x is not None and model.slack.size and (first.x[model.slack] > SLACK_TOL).any():
        # a fresh copy: the cuts stage 1 added hold for plans no dearer than its incumbent
        # under stage 1's prices, not under stage 2's
        h = model.lp.to_highs()
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
        left = opts.time_limit_s - elapsed
        if left > 0.05:
            second, more = _mip(h, model, opts, left, first.x)
            elapsed += more
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
