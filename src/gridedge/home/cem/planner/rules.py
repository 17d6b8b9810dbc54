"""A simple rule-based plan: the baseline the MILP must beat, and the last-resort fallback.

The rules are what a household gets without optimisation (the EMHASS research note's baseline,
§2.4 of notes/ems.md): the battery follows the meter to zero (self-consumption), the EV takes
the cheapest quarter hours before departure at full power (evcc's planner, core/planner), the
heat pump is a thermostat holding the lower comfort bound, appliances start as early as their
window allows, PV is curtailed only above the export limit. It is costed with the same
`cost_breakdown` and penalties as the MILP's plan.
"""

from __future__ import annotations

import math

import numpy as np

from gridedge.home.cem.planner.costing import cost_breakdown, peak_kw
from gridedge.home.cem.planner.inputs import PlanInputs
from gridedge.home.cem.planner.result import (
    AppliancePlan,
    BatteryPlan,
    EVPlan,
    HeatPumpPlan,
    Plan,
    PVPlan,
    SolveStatus,
)


def rule_plan(inputs: PlanInputs) -> Plan:
    """The rule-based plan of `inputs` (status RULES; relaxations are not itemised, their
    penalties are in `cost.penalties`)."""
    n = inputs.n
    dt = inputs.step_s / 3600.0
    pen = inputs.penalties
    tl = inputs.timeline
    price = inputs.import_price + inputs.grid_fee
    imp_lim = inputs.import_limit_w()
    load = inputs.base_load_w.copy()
    penalties = 0.0

    apps = []
    for ap in inputs.appliances:
        power = np.zeros(n)
        start: int | None = (
            ap.earliest_start if ap.earliest_start + ap.duration <= min(ap.latest_end, n) else None
        )
        if start is None:
            penalties += pen.appliance_eur_per_run
        else:
            power[start : start + ap.duration] = ap.profile_w
        load += power
        apps.append(AppliancePlan(ap.device_id, start, tl.time(start) if start is not None else None, power))

    hps = []
    assert inputs.outdoor_c is not None or not inputs.heat_pumps
    for hp in inputs.heat_pumps:
        assert inputs.outdoor_c is not None
        a = math.exp(-hp.ua_w_per_k * inputs.step_s / (hp.capacity_kwh_per_k * 3.6e6))
        temp = hp.indoor_c
        p = np.zeros(n)
        temps = np.zeros(n)
        for t in range(n):
            lo = hp.comfort_min_c[t]
            target = (lo if not np.isnan(lo) else -np.inf) + 0.05
            gain = (1 - a) * hp.cop[t] / hp.ua_w_per_k
            free = a * temp + (1 - a) * inputs.outdoor_c[t]
            want = max(0.0, (target - free) / gain) if gain > 0 else 0.0
            pmax = hp.max_electric_w[t]
            if hp.min_modulation is not None and 0 < want < hp.min_modulation * pmax:
                want = hp.min_modulation * pmax
            p[t] = min(want, pmax)
            temp = free + gain * p[t]
            temps[t] = temp
            if not np.isnan(lo) and temp < lo:
                penalties += pen.comfort_eur_per_kh * dt * (lo - temp)
            hi = hp.comfort_max_c[t]
            if not np.isnan(hi) and temp > hi:
                penalties += pen.comfort_eur_per_kh * dt * (temp - hi)
        load += p
        hps.append(HeatPumpPlan(hp.device_id, p, temps))

    evs = []
    for ev in inputs.evs:
        steps = np.flatnonzero(ev.session())
        order = steps[np.lexsort((steps, price[steps]))]
        pn_lo, pn_hi = ev.power_range_w(ev.phases)
        if ev.phase_switching:
            pn_lo = ev.power_range_w(1)[0]
        left = ev.energy_needed_kwh
        p = np.zeros(n)
        for t in order:
            if left <= 1e-9:
                break
            room = min(pn_hi, imp_lim[t] - load[t])
            want = min(room, left / (ev.efficiency * dt) * 1000.0)
            if want < pn_lo:
                want = pn_lo if room >= pn_lo else 0.0
            p[t] = want
            left -= ev.efficiency * dt * want / 1000.0
        penalties += pen.ev_eur_per_kwh * max(0.0, left)
        load += p
        phases = np.where(
            p > 0, np.where(p < ev.power_range_w(3)[0] - 1e-6, 1, 3) if ev.phase_switching else ev.phases, 0
        )
        current = np.where(phases > 0, p / (np.maximum(phases, 1) * ev.voltage_v), 0.0)
        delivered = ev.efficiency * dt * np.cumsum(p) / 1000.0
        evs.append(
            EVPlan(
                ev.device_id,
                p,
                current,
                phases.astype(np.int64),
                ev.soc + delivered / ev.capacity_kwh,
                float(delivered[-1]),
            )
        )

    # PV, then the battery on what is left
    net = load - inputs.pv_total_w
    bats = []
    for b in inputs.batteries:
        e = b.soc * b.capacity_kwh
        power = np.zeros(n)
        soc = np.zeros(n)
        for t in range(n):
            if net[t] < 0:  # surplus: charge
                room = (b.soc_max * b.capacity_kwh - e) / (b.charge_efficiency * dt) * 1000.0
                pw = min(-net[t], b.charge_max_w, max(0.0, room))
                e += b.charge_efficiency * dt * pw / 1000.0
            else:
                avail = (e - b.soc_min * b.capacity_kwh) * b.discharge_efficiency / dt * 1000.0
                pw = -min(net[t], b.discharge_max_w, max(0.0, avail))
                e += dt * pw / 1000.0 / b.discharge_efficiency
            power[t] = pw
            soc[t] = e / b.capacity_kwh
            net[t] += pw
        penalties += b.wear_eur_per_kwh * dt * float(np.sum(np.abs(power))) / 1000.0
        if b.terminal_soc is not None:
            penalties += pen.battery_terminal_eur_per_kwh * max(0.0, b.terminal_soc * b.capacity_kwh - e)
        bats.append(BatteryPlan(b.device_id, power, soc))

    exp_lim = inputs.export_limit_w()
    pvs = []
    excess = np.maximum(-net - exp_lim, 0.0)
    for pv in inputs.pv:
        curt = np.minimum(excess, pv.forecast_w) if pv.curtailable else np.zeros(n)
        excess = excess - curt
        net = net + curt
        pvs.append(PVPlan(pv.device_id, -(pv.forecast_w - curt), curt))
    import_w = np.maximum(net, 0.0)
    export_w = np.maximum(-net, 0.0)
    over = np.maximum(import_w - imp_lim, 0.0) + np.maximum(export_w - exp_lim, 0.0)
    penalties += pen.grid_limit_eur_per_kwh * dt * float(np.sum(over)) / 1000.0
    return Plan(
        timeline=tl,
        grid_import_w=import_w,
        grid_export_w=export_w,
        base_load_w=inputs.base_load_w,
        batteries=tuple(bats),
        evs=tuple(evs),
        heat_pumps=tuple(hps),
        appliances=tuple(apps),
        pv=tuple(pvs),
        cost=cost_breakdown(inputs, import_w, export_w, penalties),
        relaxations=(),
        status=SolveStatus.RULES,
        mip_gap=float("nan"),
        solve_time_s=0.0,
        peak_kw=peak_kw(inputs, import_w),
    )
