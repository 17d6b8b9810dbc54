"""The MILP: variables, constraints and objective of one plan (`build`).

Units inside the model: kW for power, kWh for energy, K for temperature, EUR for cost; a step
lasts dt hours. Per step t:

* balance  imp - exp = base + Σ ev + Σ hp + Σ (ch - dis) + Σ appliance - Σ (pv - curtailment)
* grid     imp = imp_ok + imp_over, 0 <= imp_ok <= import limit[t] (LPC or connection), imp_over a
           priced slack; the same for export (LPP). Cost dt x (import price + fee) x imp -
           dt x export price x exp.
* battery  e[t] = e[t-1] + η_c dt ch - dt dis / η_d, soc bounds; ch/ch_max + dis/dis_max <= 1.
* EV       0 or I_min..I_max per phase on 1 or 3 phases (binaries only in the session's steps:
           the minimum current is what makes it discrete); Σ η dt p + short >= energy needed.
* heat pump  T[t] = a T[t-1] + (1 - a)(T_out[t] + COP[t] p[t] / UA), a = exp(-UA dt / C)
           (exact for a piecewise-constant input), comfort band with priced slacks per step;
           with a minimum modulation m the compressor is semi-continuous: p = 0 or
           m p_max <= p <= p_max (one binary per step), as a compressor cannot run below it.
* appliance  one start binary per allowed start; Σ starts + skip = 1, skip priced.
* capacity tariff  peak >= already-billed peak, peak >= every counted quarter-hour's mean import;
           cost eur_per_kw x (peak - already billed).

No simultaneous import and export, and no simultaneous battery charge and discharge, are obtained
from the price structure, with binaries only where it does not hold. Importing and exporting the
same kW in one step costs (import price + fee - export price) x dt and changes nothing else (the
balance only sees the difference; the limits and the capacity peak only get worse), so wherever
import price + fee > export price an optimal plan never does both; a direction binary is added
only in steps where that margin is <= 0 (negative fees or a premium export price). Likewise
charging and discharging at once only burns energy in the battery's losses, which can pay only
where energy has negative value: a binary is added in steps where the import price + fee <= 0,
or where PV that cannot be curtailed meets a negative export price or exceeds the export limit.
A 96-step day thus usually carries no direction binaries at all, where EMHASS carries two per
step. The result is netted per step anyway, so a plan returned at a MIP gap never shows both.

Valid inequalities (`peak_cuts`) tie the EV's on/off binaries to the capacity peak: they cut
off no integer plan and give the relaxation the discharge (or peak) that charging at >= 6 A
really costs; without them the bench's slow tail sat on a 25 % root gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gridedge.home.cem.planner.inputs import FloatArray, IntArray, PlanInputs
from gridedge.home.cem.planner.lp import INF, LpBuilder, Term

EMPTY = np.zeros(0, np.int64)


@dataclass(frozen=True, slots=True)
class BatteryVars:
    ch: IntArray
    dis: IntArray
    e: IntArray
    terminal_short: int
    """Column of the terminal-soc slack, -1 when no target."""


@dataclass(frozen=True, slots=True)
class EVVars:
    steps: IntArray
    """Session steps (the only ones with a power column)."""
    p: IntArray
    on1: IntArray
    """Binaries 'charging on one phase' (phase switching) or 'charging' (fixed phases); may be empty."""
    on3: IntArray
    """Binaries 'charging on three phases' (phase switching only)."""
    short: int


@dataclass(frozen=True, slots=True)
class HeatPumpVars:
    p: IntArray
    temp: IntArray
    lo_steps: IntArray
    lo_slack: IntArray
    hi_steps: IntArray
    hi_slack: IntArray
    on: IntArray
    """Binaries 'compressor running' (minimum modulation), one per step of `on_steps`; may be empty."""
    on_steps: IntArray
    """Steps with an `on` binary (those with a compressor maximum > 0)."""


@dataclass(frozen=True, slots=True)
class ApplianceVars:
    starts: IntArray
    """Allowed start steps."""
    start: IntArray
    """One binary per allowed start."""
    skip: int


@dataclass(frozen=True, slots=True)
class PlanModel:
    """The built MILP, as arrays, and where each quantity sits in it."""

    inputs: PlanInputs
    lp: LpBuilder
    imp_ok: IntArray
    imp_over: IntArray
    exp_ok: IntArray
    exp_over: IntArray
    grid_dir: IntArray
    """Steps with a direction binary (see module docstring)."""
    batteries: tuple[BatteryVars, ...]
    evs: tuple[EVVars, ...]
    heat_pumps: tuple[HeatPumpVars, ...]
    appliances: tuple[ApplianceVars, ...]
    curtail: tuple[IntArray, ...]
    """Per PV system: curtailment columns (empty when not curtailable)."""
    peak: int
    """Peak column (kW), -1 without capacity tariff."""
    slack: IntArray
    """Every priced-slack column."""

    @property
    def num_binaries(self) -> int:
        return int(sum(len(i) for i in self.lp.integer))


def quarter_groups(inputs: PlanInputs) -> list[IntArray]:
    """Counted steps grouped by absolute quarter hour (the capacity tariff's 15-min average).

    Steps of 15 min or longer are their own group (their mean import stands for the quarter's)."""
    counts = inputs.capacity_counts()
    tl = inputs.timeline
    t0 = tl.start.timestamp()
    keys = np.floor((t0 + np.arange(tl.n) * tl.step_s) / 900.0).astype(np.int64)
    if tl.step_s >= 900:
        keys = np.arange(tl.n, dtype=np.int64)
    groups: list[IntArray] = []
    for key in np.unique(keys[counts]):
        groups.append(np.flatnonzero((keys == key) & counts).astype(np.int64))
    return groups


def build(inputs: PlanInputs, *, cuts: bool = True) -> PlanModel:
    """The MILP of `inputs` (see the module docstring for the formulation). `cuts=False` leaves
    out `peak_cuts` (same optimum, weaker relaxation: for tests and comparisons)."""
    n = inputs.n
    dt = inputs.step_s / 3600.0
    pen = inputs.penalties
    lp = LpBuilder()
    t = np.arange(n)
    tie = pen.tie_break_eur_per_kwh * dt * (1.0 + t / n)
    price_in = inputs.import_price + inputs.grid_fee
    price_out = inputs.export_price
    imp_lim = inputs.import_limit_w() / 1000.0
    exp_lim = inputs.export_limit_w() / 1000.0
    slack: list[IntArray] = []

    # grid
    imp_ok = lp.cols(n, 0.0, imp_lim, dt * price_in)
    imp_over = lp.cols(n, 0.0, INF, dt * (price_in + pen.grid_limit_eur_per_kwh))
    exp_ok = lp.cols(n, 0.0, exp_lim, -dt * price_out)
    exp_over = lp.cols(n, 0.0, INF, dt * (pen.grid_limit_eur_per_kwh - price_out))
    slack += [imp_over, exp_over]

    # balance rows: sum(flows into the house) = net load; filled in below
    rhs = (inputs.base_load_w - inputs.pv_total_w) / 1000.0
    terms: list[Term] = [(t, imp_ok, 1.0), (t, imp_over, 1.0), (t, exp_ok, -1.0), (t, exp_over, -1.0)]

    # PV curtailment
    curtail: list[IntArray] = []
    fixed_pv = np.zeros(n)
    for pv in inputs.pv:
        if pv.curtailable:
            cc = lp.cols(n, 0.0, pv.forecast_w / 1000.0, 1e-6 * dt)
            terms.append((t, cc, -1.0))
            curtail.append(cc)
        else:
            fixed_pv += pv.forecast_w / 1000.0
            curtail.append(EMPTY)

    # direction binaries where the prices do not exclude import and export together
    big_m = float(
        np.max(np.abs(inputs.base_load_w)) / 1000.0
        + np.max(inputs.pv_total_w, initial=0.0) / 1000.0
        + sum(b.charge_max_w + b.discharge_max_w for b in inputs.batteries) / 1000.0
        + sum(e.power_range_w(3 if e.phase_switching else e.phases)[1] for e in inputs.evs) / 1000.0
        + sum(float(np.max(h.max_electric_w)) for h in inputs.heat_pumps) / 1000.0
        + sum(float(np.max(a.profile_w)) for a in inputs.appliances) / 1000.0
        + 1.0
    )
    dir_steps = np.flatnonzero(price_in <= price_out + 1e-9).astype(np.int64)
    if dir_steps.size:
        d = lp.cols(dir_steps.size, binary=True)
        m = dir_steps.size
        j = np.arange(m)
        lp.rows(m, -INF, 0.0, [(j, imp_ok[dir_steps], 1.0), (j, imp_over[dir_steps], 1.0), (j, d, -big_m)])
        lp.rows(m, -INF, big_m, [(j, exp_ok[dir_steps], 1.0), (j, exp_over[dir_steps], 1.0), (j, d, big_m)])

    # batteries
    dump_risk = (price_in <= 0.0) | ((fixed_pv > 0) & ((price_out < 0) | (fixed_pv > exp_lim)))
    bats: list[BatteryVars] = []
    for b in inputs.batteries:
        cap = b.capacity_kwh
        ch_max, dis_max = b.charge_max_w / 1000.0, b.discharge_max_w / 1000.0
        e0 = b.soc * cap
        steps_done = (t + 1) * dt
        e_lo = np.minimum(b.soc_min * cap, e0 + b.charge_efficiency * ch_max * steps_done)
        e_hi = np.maximum(b.soc_max * cap, e0 - dis_max / b.discharge_efficiency * steps_done)
        wear = dt * b.wear_eur_per_kwh
        ch = lp.cols(n, 0.0, ch_max, wear + tie)
        dis = lp.cols(n, 0.0, dis_max, wear)
        e = lp.cols(n, e_lo, e_hi, 0.0)
        terms += [(t, ch, -1.0), (t, dis, 1.0)]
        rhs_e = np.zeros(n)
        rhs_e[0] = e0
        dyn: list[Term] = [
            (t, e, 1.0),
            (t, ch, -b.charge_efficiency * dt),
            (t, dis, dt / b.discharge_efficiency),
        ]
        if n > 1:
            dyn.append((t[1:], e[:-1], -1.0))
        lp.rows(n, rhs_e, rhs_e, dyn)
        if ch_max > 0 and dis_max > 0:
            lp.rows(n, -INF, 1.0, [(t, ch, 1.0 / ch_max), (t, dis, 1.0 / dis_max)])
            risk = np.flatnonzero(dump_risk)
            if risk.size:
                bb = lp.cols(risk.size, binary=True)
                j = np.arange(risk.size)
                lp.rows(risk.size, -INF, 0.0, [(j, ch[risk], 1.0), (j, bb, -ch_max)])
                lp.rows(risk.size, -INF, dis_max, [(j, dis[risk], 1.0), (j, bb, dis_max)])
        short = -1
        if b.terminal_soc is not None:
            target = b.terminal_soc * cap
            sc = lp.cols(1, 0.0, target, pen.battery_terminal_eur_per_kwh)
            lp.rows(1, target, INF, [(0, e[n - 1], 1.0), (0, sc, 1.0)])
            slack.append(sc)
            short = int(sc[0])
        bats.append(BatteryVars(ch, dis, e, short))

    # EVs
    evs: list[EVVars] = []
    for ev in inputs.evs:
        steps = np.flatnonzero(ev.session()).astype(np.int64)
        k = steps.size
        switching = ev.phase_switching and ev.phases == 3
        p1_lo, p1_hi = (x / 1000.0 for x in ev.power_range_w(1))
        pn_lo, pn_hi = (x / 1000.0 for x in ev.power_range_w(ev.phases))
        p = lp.cols(k, 0.0, pn_hi, tie[steps])
        on1, on3 = EMPTY, EMPTY
        j = np.arange(k)
        if k and switching:
            on1 = lp.cols(k, binary=True)
            on3 = lp.cols(k, binary=True)
            lp.rows(k, -INF, 0.0, [(j, p, 1.0), (j, on1, -p1_hi), (j, on3, -pn_hi)])
            lp.rows(k, 0.0, INF, [(j, p, 1.0), (j, on1, -p1_lo), (j, on3, -pn_lo)])
            lp.rows(k, -INF, 1.0, [(j, on1, 1.0), (j, on3, 1.0)])
        elif k and pn_lo > 0:
            on1 = lp.cols(k, binary=True)
            lp.rows(k, -INF, 0.0, [(j, p, 1.0), (j, on1, -pn_hi)])
            lp.rows(k, 0.0, INF, [(j, p, 1.0), (j, on1, -pn_lo)])
        terms.append((steps, p, -1.0))
        need = ev.energy_needed_kwh
        sc = lp.cols(1, 0.0, need, pen.ev_eur_per_kwh)
        slack.append(sc)
        lp.rows(1, need, INF, [(np.zeros(k, np.int64), p, ev.efficiency * dt), (0, sc, 1.0)])
        room = max(0.0, (ev.max_soc - ev.soc) * ev.capacity_kwh)
        lp.rows(1, -INF, room, [(np.zeros(k, np.int64), p, ev.efficiency * dt)])
        evs.append(EVVars(steps, p, on1, on3, int(sc[0])))

    # heat pumps
    hps: list[HeatPumpVars] = []
    for hp in inputs.heat_pumps:
        assert inputs.outdoor_c is not None  # checked by PlanInputs
        ua_kw = hp.ua_w_per_k / 1000.0
        a = math.exp(-hp.ua_w_per_k * inputs.step_s / (hp.capacity_kwh_per_k * 3.6e6))
        pmax = hp.max_electric_w / 1000.0
        p = lp.cols(n, 0.0, pmax, tie)
        temp = lp.cols(n, -INF, INF, 0.0)
        rhs_t = (1 - a) * inputs.outdoor_c
        rhs_t = rhs_t.copy()
        rhs_t[0] += a * hp.indoor_c
        hdyn: list[Term] = [(t, temp, 1.0), (t, p, -(1 - a) * hp.cop / ua_kw)]
        if n > 1:
            hdyn.append((t[1:], temp[:-1], -a))
        lp.rows(n, rhs_t, rhs_t, hdyn)
        terms.append((t, p, -1.0))
        lo_steps = np.flatnonzero(~np.isnan(hp.comfort_min_c)).astype(np.int64)
        hi_steps = np.flatnonzero(~np.isnan(hp.comfort_max_c)).astype(np.int64)
        lo_s = lp.cols(lo_steps.size, 0.0, INF, pen.comfort_eur_per_kh * dt)
        hi_s = lp.cols(hi_steps.size, 0.0, INF, pen.comfort_eur_per_kh * dt)
        slack += [lo_s, hi_s]
        j = np.arange(lo_steps.size)
        lp.rows(lo_steps.size, hp.comfort_min_c[lo_steps], INF, [(j, temp[lo_steps], 1.0), (j, lo_s, 1.0)])
        j = np.arange(hi_steps.size)
        lp.rows(hi_steps.size, -INF, hp.comfort_max_c[hi_steps], [(j, temp[hi_steps], 1.0), (j, hi_s, -1.0)])
        on, live = EMPTY, EMPTY
        if hp.min_modulation is not None:
            firm = n if hp.min_modulation_steps is None else min(n, hp.min_modulation_steps)
            live = np.flatnonzero(pmax[:firm] > 0).astype(np.int64)
            on = lp.cols(live.size, binary=True)
            j = np.arange(live.size)
            lp.rows(live.size, -INF, 0.0, [(j, p[live], 1.0), (j, on, -pmax[live])])
            lp.rows(live.size, 0.0, INF, [(j, p[live], 1.0), (j, on, -hp.min_modulation * pmax[live])])
        hps.append(HeatPumpVars(p, temp, lo_steps, lo_s, hi_steps, hi_s, on, live))

    # appliances
    mean_price = float(np.mean(price_in))
    apps: list[ApplianceVars] = []
    for ap in inputs.appliances:
        dur = ap.duration
        last = min(ap.latest_end - dur, n - 1)
        starts = (
            np.arange(ap.earliest_start, last + 1, dtype=np.int64) if last >= ap.earliest_start else EMPTY
        )
        prof = ap.profile_w / 1000.0
        tail = np.array([dt * mean_price * prof[max(0, n - s) :].sum() for s in starts])
        sv = lp.cols(starts.size, 0.0, 1.0, tail + tie[np.minimum(starts, n - 1)] * prof.sum(), binary=True)
        skip = lp.cols(1, 0.0, 1.0, pen.appliance_eur_per_run)
        slack.append(skip)
        lp.rows(1, 1.0, 1.0, [(np.zeros(starts.size, np.int64), sv, 1.0), (0, skip, 1.0)])
        for off in range(dur):
            at = starts + off
            ok = at < n
            if ok.any() and prof[off] != 0:
                terms.append((at[ok], sv[ok], -prof[off]))
        apps.append(ApplianceVars(starts, sv, int(skip[0])))

    # capacity tariff
    peak = -1
    tariff = inputs.capacity
    if tariff is not None and tariff.eur_per_kw > 0:
        groups = quarter_groups(inputs)
        pk = lp.cols(1, tariff.peak_kw, INF, tariff.eur_per_kw)
        peak = int(pk[0])
        lp.offset -= tariff.eur_per_kw * tariff.peak_kw
        if groups:
            g_rows = np.concatenate([np.full(g.size, i) for i, g in enumerate(groups)])
            g_steps = np.concatenate(groups)
            g_w = np.concatenate([np.full(g.size, -1.0 / g.size) for g in groups])
            lp.rows(
                len(groups),
                0.0,
                INF,
                [
                    (np.arange(len(groups)), peak, 1.0),
                    (g_rows, imp_ok[g_steps], g_w),
                    (g_rows, imp_over[g_steps], g_w),
                ],
            )

    lp.rows(n, rhs, rhs, terms)
    model = PlanModel(
        inputs,
        lp,
        imp_ok,
        imp_over,
        exp_ok,
        exp_over,
        dir_steps,
        tuple(bats),
        tuple(evs),
        tuple(hps),
        tuple(apps),
        tuple(curtail),
        peak,
        np.concatenate(slack) if slack else EMPTY,
    )
    if cuts and tariff is not None and peak >= 0:
        peak_cuts(lp, model, tariff.peak_kw)
    return model


def net_load_kw(inputs: PlanInputs) -> FloatArray:
    """Base load minus PV forecast (kW)."""
    return (inputs.base_load_w - inputs.pv_total_w) / 1000.0


def peak_cuts(lp: LpBuilder, model: PlanModel, peak_lo: float) -> int:
    """Add the EV-minimum-current x capacity-peak cuts for a peak known to be >= `peak_lo` (kW);
    returns the number of rows added (0 without capacity tariff, EV binaries or 15-min steps).

    Why: the LP relaxation of `p <= on x p_max, p >= on x p_min` lets a 3-phase car charge at
    1-2 kW in every night step with `on` about 0.2, so the relaxation never sees that a real
    session must run at >= 4.1 kW in fewer steps and either raise the month's peak or discharge
    the battery. The LP bound then sits ~25 % below the optimum when the plan's cost nets out
    near zero, and branch and bound on the ~50 session binaries cannot close a 0.5 % gap in 10 s.
    Both cuts are disjunctive (Balas 1979, "Disjunctive programming"): written for on = 1 and
    on = 0 and combined linearly in `on`, each valid in both states. For a counted 15-min step t
    with c_t = base - PV (kW), import <= peak and every other load >= 0:

    * on = 1: p - dis <= peak - c_t;  on = 0: p = 0 and -dis <= peak - peak_lo. Hence
      `p - dis <= peak - peak_lo + (peak_lo - c_t) on` (dis: all batteries' discharge).
    * the same with the heat pumps' power added, where their maximum X_t < peak_lo - c_t
      (off: hp - dis <= X_t + peak - peak_lo): `p + hp - dis <= peak - peak_lo +
      (peak_lo - c_t) on + X_t (1 - on)`; it says the heat pump cannot keep running while the
      car takes its minimum under the peak.

    Their strength grows as `peak_lo` approaches the optimal peak; `solve` raises it by bound
    tightening on the relaxation (`tighten_peak`). With 1/3-phase switching `on` is on1 + on3.
    Steps shorter than 15 min are skipped (the peak bounds a quarter's mean, not a step).
    """
    inputs = model.inputs
    if model.peak < 0 or inputs.step_s < 900:
        return 0
    counts = inputs.capacity_counts()
    c = net_load_kw(inputs)
    hp_max = np.zeros(inputs.n)
    for h in inputs.heat_pumps:
        hp_max += h.max_electric_w / 1000.0
    added = 0
    for vv in model.evs:
        keep = counts[vv.steps]
        if not vv.on1.size or not keep.any():
            continue
        steps = vv.steps[keep]
        ons = [vv.on1[keep]] + ([vv.on3[keep]] if vv.on3.size else [])
        head = peak_lo - c[steps]
        x = np.minimum(hp_max[steps], head)
        with_hp = np.flatnonzero(x < head - 1e-9) if model.heat_pumps else EMPTY
        for sel, hp in ((np.arange(steps.size), False), (with_hp, True)):
            if not sel.size:
                continue
            k = sel.size
            j = np.arange(k)
            xs = x[sel] if hp else np.zeros(k)
            terms: list[Term] = [(j, vv.p[keep][sel], 1.0), (j, model.peak, -1.0)]
            terms += [(j, bv.dis[steps[sel]], -1.0) for bv in model.batteries]
            if hp:
                terms += [(j, hv.p[steps[sel]], 1.0) for hv in model.heat_pumps]
            terms += [(j, on[sel], -(head[sel] - xs)) for on in ons]
            lp.rows(k, -INF, xs - peak_lo, terms)
            added += k
    return added
