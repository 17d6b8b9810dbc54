"""Say which hard needs gave way, by how much, when and (as far as the plan shows) why.

EMHASS answers an over-constrained problem with "Infeasible" and no plan (issues #180, #731,
#767; haeo #253 asks for the same). Here every hard need has a priced slack (`model.build`), so
a plan always exists; this module turns the non-zero slacks into `Relaxation`s a user can read,
e.g. "ev: 4.2 kWh short of the 36.0 kWh needed by 07:30 (the 5.0 kW grid limit leaves too
little time)". The cause is a diagnosis from the plan, not a proof: it names the binding limit
the plan shows (device at full power, grid at its limit, time plugged in, starting state).
"""

from __future__ import annotations

import numpy as np

from gridedge.home.cem.planner.inputs import BoolArray, FloatArray, HeatPumpInputs, PlanInputs
from gridedge.home.cem.planner.model import HeatPumpVars, PlanModel
from gridedge.home.cem.planner.result import Relaxation

TOL_KW = 1e-3
TOL_K = 0.01
TOL_KWH = 0.01


def runs(mask: BoolArray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True values."""
    out: list[tuple[int, int]] = []
    start = -1
    for i, v in enumerate(mask):
        if v and start < 0:
            start = i
        elif not v and start >= 0:
            out.append((start, i - 1))
            start = -1
    if start >= 0:
        out.append((start, len(mask) - 1))
    return out


def _span(inputs: PlanInputs, first: int, last: int) -> str:
    tl = inputs.timeline
    if first == last:
        return f"at {tl.label(first)}"
    return f"from {tl.label(first)} to {tl.label(last + 1)}"


def explain(model: PlanModel, x: FloatArray, import_w: FloatArray) -> tuple[Relaxation, ...]:
    """The relaxations in solution `x` of `model`; `import_w` is the plan's netted grid import."""
    inputs = model.inputs
    out: list[Relaxation] = []
    out += _grid(model, x)
    for hp, hv in zip(inputs.heat_pumps, model.heat_pumps, strict=True):
        out += _comfort(inputs, hp, hv, x, import_w)
    for ev, vv in zip(inputs.evs, model.evs, strict=True):
        short = float(x[vv.short])
        if short <= TOL_KWH:
            continue
        dt = inputs.step_s / 3600.0
        steps = vv.steps
        end = ev.deadline
        tl = inputs.timeline
        by = tl.label(end) if end < inputs.n else f"the horizon end {tl.label(end)}"
        p_hi = ev.power_range_w(3 if ev.phase_switching else ev.phases)[1] / 1000.0
        if steps.size == 0:
            why = "it is not plugged in before it leaves"
        else:
            reach = ev.efficiency * p_hi * dt * steps.size
            lim = inputs.import_limit_w()[steps] / 1000.0
            if reach < ev.energy_needed_kwh - TOL_KWH:
                why = (
                    f"charging at the full {p_hi:.1f} kW for the {steps.size * dt:.2f} h plugged in "
                    f"gives only {reach:.1f} kWh"
                )
            elif (lim < p_hi + inputs.base_load_w[steps] / 1000.0).any():
                why = f"the grid limit of {lim.min():.1f} kW leaves too little time"
            else:
                why = "other needs take priority"
        first = int(steps[0]) if steps.size else 0
        last = int(steps[-1]) if steps.size else max(0, end - 1)
        need = ev.energy_needed_kwh
        msg = f"{ev.device_id}: {short:.1f} kWh short of the {need:.1f} kWh needed by {by} ({why})"
        out.append(Relaxation("ev-energy", ev.device_id, round(short, 3), "kWh", first, last, msg))
    for ap, av in zip(inputs.appliances, model.appliances, strict=True):
        if x[av.skip] <= 0.5:
            continue
        tl = inputs.timeline
        window = f"{tl.label(ap.earliest_start)}-{tl.label(min(ap.latest_end, inputs.n))}"
        hours = ap.duration * inputs.step_s / 3600.0
        if av.starts.size == 0:
            why = f"the {hours:.2f} h programme does not fit its window {window} inside the horizon"
        else:
            why = f"no start in {window} keeps the grid within its limit"
        last = min(ap.latest_end, inputs.n) - 1
        msg = f"{ap.device_id}: could not run ({why})"
        out.append(
            Relaxation(
                "appliance-run",
                ap.device_id,
                1.0,
                "run",
                ap.earliest_start,
                max(last, ap.earliest_start),
                msg,
            )
        )
    for bat, bv in zip(inputs.batteries, model.batteries, strict=True):
        if bv.terminal_short < 0 or x[bv.terminal_short] <= TOL_KWH:
            continue
        short = float(x[bv.terminal_short])
        end_soc = float(x[bv.e[-1]]) / bat.capacity_kwh
        assert bat.terminal_soc is not None
        msg = (
            f"{bat.device_id}: ends at {end_soc:.0%} instead of {bat.terminal_soc:.0%} "
            f"({short:.1f} kWh short; charging is limited by power, time or the grid limit)"
        )
        out.append(
            Relaxation(
                "battery-terminal-soc", bat.device_id, round(short, 3), "kWh", inputs.n - 1, inputs.n - 1, msg
            )
        )
    return tuple(out)


def _grid(model: PlanModel, x: FloatArray) -> list[Relaxation]:
    inputs = model.inputs
    out: list[Relaxation] = []
    net = (inputs.base_load_w - inputs.pv_total_w) / 1000.0
    fixed_pv = sum((p.forecast_w for p in inputs.pv if not p.curtailable), np.zeros(inputs.n)) / 1000.0
    for kind, cols, lim, word in (
        ("grid-import-limit", model.imp_over, inputs.import_limit_w() / 1000.0, "import"),
        ("grid-export-limit", model.exp_over, inputs.export_limit_w() / 1000.0, "export"),
    ):
        over = x[cols]
        for a, b in runs(over > TOL_KW):
            worst = float(over[a : b + 1].max())
            seg = slice(a, b + 1)
            if word == "import":
                why = (
                    "the base load alone exceeds it"
                    if (net[seg] > lim[seg] + 1e-6).any()
                    else "needs of higher priority than the limit's price could not move"
                )
            else:
                why = (
                    "PV that cannot be curtailed exceeds it"
                    if (fixed_pv[seg] - inputs.base_load_w[seg] / 1000.0 > lim[seg] + 1e-6).any()
                    else "production could not be absorbed"
                )
            msg = (
                f"grid: {word} up to {worst:.2f} kW above the {float(lim[seg].min()):.1f} kW limit "
                f"{_span(inputs, a, b)} ({why})"
            )
            out.append(Relaxation(kind, "grid", round(worst, 3), "kW", a, b, msg))
    return out


def _comfort(
    inputs: PlanInputs, hp: HeatPumpInputs, hv: HeatPumpVars, x: FloatArray, import_w: FloatArray
) -> list[Relaxation]:
    out: list[Relaxation] = []
    p = x[hv.p]
    full = p >= hp.max_electric_w / 1000.0 - 1e-4
    at_limit = import_w >= inputs.import_limit_w() - 1.0
    name = hp.device_id
    for kind, steps, cols, bound in (
        ("comfort-min", hv.lo_steps, hv.lo_slack, hp.comfort_min_c),
        ("comfort-max", hv.hi_steps, hv.hi_slack, hp.comfort_max_c),
    ):
        s = np.zeros(inputs.n)
        s[steps] = x[cols]
        for a, b in runs(s > TOL_K):
            worst = float(s[a : b + 1].max())
            k = a + int(np.argmax(s[a : b + 1]))
            span = _span(inputs, a, b)
            if kind == "comfort-min":
                if hp.indoor_c < bound[k] and (a == 0 or full[:a].all()):
                    why = f"it starts at {hp.indoor_c:.1f} °C, below the band, and heats at full power"
                elif full[: b + 1].mean() > 0.5 and not at_limit[: b + 1].any():
                    kw = hp.max_electric_w[a] / 1000
                    why = f"the heat pump at full power ({kw:.1f} kW) cannot hold it"
                elif at_limit[: b + 1].any():
                    why = "the grid import limit leaves the heat pump too little power"
                else:
                    why = "other needs take priority"
                side = "below"
            else:
                idle = hp.indoor_c > bound[k] or p[a : b + 1].max() < 1e-4
                why = "it cools too slowly" if idle else "heating ahead"
                side = "above"
            what = "minimum" if kind == "comfort-min" else "maximum"
            level = f"{bound[k]:.1f} °C comfort {what}"
            msg = f"{name}: indoor up to {worst:.2f} K {side} the {level} {span} ({why})"
            out.append(Relaxation(kind, name, round(worst, 3), "K", a, b, msg))
    return out
