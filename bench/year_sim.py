"""15-minute device physics and the two strategies of bench/cem_year.py.

Physics per 15-minute step (energy balance, powers constant over the step):

* Battery 10 kWh / 5 kW AC, one-way efficiency 0.95, soc 5-100 % (BatteryConfig defaults): the
  same bookkeeping as `gridedge.sim.battery` (stored = 0.95 x AC in; AC out = 0.95 x stored).
* EV: 60 kWh car, 11 kW wallbox (3 x 16 A, 230 V), 6 A minimum (4.14 kW), 0.9 charger
  efficiency, charging stops at the target soc (80 %); the car is away on its trips (year_data).
  A 15-minute mean between 0 and 4.14 kW only occurs when the target is reached inside the step.
* House and heat pump: the first-order model of `gridedge.sim.heatpump` (UA 180 W/K, 10 kWh/K),
  integrated exactly over the step, hplib COP and thermal capacity of the scenario's default
  unit ("i-SHWAK V4 06", 35 °C flow) at the actual outdoor temperature; internal gains of 300 W
  enter as an outdoor-temperature offset gains/UA (for the planner too). The compressor runs at
  any mean power between 0 and its maximum (it cycles below its minimum modulation).
* PV: the actual DWD-2015 power, capped by an inverter limit when the plan curtails.

Strategies:

* baseline: battery for self-consumption (charges from surplus, discharges to cover any import,
  the car included: no battery lock); EV in evcc's "pv" mode (charges only when the PV surplus,
  counted without the home battery, i.e. the car before the battery, reaches 6 A on 3 phases =
  4.14 kW, at the surplus up to 11 kW), with a latest-start fallback that reaches the target by
  departure: when the energy still missing exceeds what 11 kW would deliver from the next step
  to departure, it charges at 11 kW now (evcc's plan charging without a price signal: full power
  at the end); thermostat holding 20.2 °C (modulating, deadbeat on the 15-min step).
* gridedge: hourly re-plans with `Planner` (and one when the car plugs in); the first hour of the
  plan is applied: EV and heat-pump powers and PV curtailment as planned, and the battery follows
  the plan's grid exchange (setpoint = planned grid - actual net load of the other devices,
  within its limits), so it absorbs the forecast errors as a grid-following battery controller
  does. The plans keep 15 % of the battery (`reserve`) for that; below it, the plan's minimum is
  the current soc and the horizon end brings it back to 15 % (the model would otherwise recharge
  at full power at once). A comfort guard raises the heat pump when the indoor temperature would
  fall below the 20.0 °C need (`ComfortController`) and stops it above 22 °C. A capacity guard
  (`advance`, on unless `guard=False`) sheds the car's charging, then the heat pump down to the
  comfort guard's power, when what the battery cannot absorb would raise the import above
  max(month's peak so far, 2.5 kW, the plan's import for the step): an unforecast 3 kW cooking
  spike while the battery is already at 5 kW or empty otherwise sets the month's peak. The car
  is shed only while 6 A can still deliver what is missing before departure.
  The car's session in the plan: plugged until departure (known; an arrival is not anticipated,
  the plug-in triggers a re-plan), the energy to 80 % due, minus what 6 A could still deliver
  after the horizon when it leaves later; its room allows one quarter at 6 A above 80 % so a
  small residual need stays feasible with the 6 A minimum (the car stops at 80 %).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np

from gridedge.home.cem.forecast import PowerHistory, PVCorrection, forecast_base_load
from gridedge.home.cem.peak import Sheddable, shed
from gridedge.home.cem.planner import (
    CapacityTariff,
    EVInputs,
    GridLimits,
    Plan,
    PlanInputs,
    Planner,
    PVInputs,
    SolverOptions,
    battery_from_config,
    heat_pump_from_config,
)
from gridedge.model.scenario import BatteryConfig, HeatPumpConfig
from gridedge.physics.hplib import HplibModel
from year_data import DT_H, STEP_S, TZ, F, Year, import_parts, known_until

BAT: Final = BatteryConfig(capacity_kwh=10.0, charge_kw=5.0, discharge_kw=5.0)
HP: Final = HeatPumpConfig()
CONNECTION_W: Final = 17_300.0
"""3 x 25 A at 400 V: room for the 11 kW wallbox, the heat pump and the base load together."""


@dataclass
class Devices:
    """Per-step physics constants of the simulated devices."""

    year: Year
    hplib: HplibModel
    cop: F
    """At the actual outdoor temperature."""
    hp_max_w: F
    a: float
    """House decay per step exp(-UA dt / C)."""
    gain_k: float
    """Internal gains as an outdoor-temperature offset (K)."""
    home: np.ndarray
    """Car at home during step k."""
    departs: np.ndarray
    """Step k is the first away step of a trip."""
    arrive_kwh: F
    """Energy the trip ending at step k used (0 when no arrival)."""
    next_departure: np.ndarray
    """First step >= k where the car leaves (a large number when none)."""

    @staticmethod
    def of(year: Year) -> Devices:
        hp = HplibModel.load(HP.model)
        n = year.temp.size
        cop = np.array([hp.cop(float(t), HP.supply_c) for t in year.temp])
        pmax = np.array([hp.capacity_w(float(t), HP.supply_c) for t in year.temp]) / cop
        home = np.ones(n, dtype=bool)
        departs = np.zeros(n, dtype=bool)
        arrive = np.zeros(n)
        for tr in year.trips:
            if tr.depart >= n or tr.arrive <= 0:
                continue
            home[max(tr.depart, 0) : min(tr.arrive, n)] = False
            if tr.depart >= 0:
                departs[tr.depart] = True
            if tr.arrive < n:
                arrive[tr.arrive] += tr.energy_kwh
        nxt = np.full(n, 10**9, dtype=np.int64)
        upcoming = 10**9
        for k in range(n - 1, -1, -1):
            if departs[k]:
                upcoming = k
            nxt[k] = upcoming
        a = math.exp(-HP.heat_loss_w_per_k * STEP_S / (HP.thermal_capacity_kwh_per_k * 3.6e6))
        return Devices(
            year,
            hp,
            cop,
            pmax,
            a,
            year.hh.internal_gains_w / HP.heat_loss_w_per_k,
            home,
            departs,
            arrive,
            nxt,
        )

    def hp_power_for(self, k: int, indoor_c: float, target_c: float) -> float:
        """Mean electric power that ends step k at `target_c` (may be < 0 or above the maximum)."""
        t_eff = self.year.temp[k] + self.gain_k
        need_eq = (target_c - self.a * indoor_c) / (1 - self.a) - t_eff
        return need_eq * HP.heat_loss_w_per_k / self.cop[k]


@dataclass
class State:
    bat_kwh: float = BAT.soc * BAT.capacity_kwh
    ev_kwh: float = 0.0
    indoor_c: float = 20.2


@dataclass
class Record:
    """What happened, per step of the simulated period."""

    n: int
    imp_w: F = field(init=False)
    exp_w: F = field(init=False)
    bat_w: F = field(init=False)
    ev_w: F = field(init=False)
    hp_w: F = field(init=False)
    pv_w: F = field(init=False)
    indoor_c: F = field(init=False)
    ev_unmet_kwh: list[float] = field(default_factory=list)
    ev_departures: int = 0
    final: State | None = None
    """Device states at the end of the run."""
    shed_ev_kwh: float = 0.0
    """Car charging the capacity guard shed (AC; caught up by later plans)."""
    shed_hp_kwh: float = 0.0
    shed_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("imp_w", "exp_w", "bat_w", "ev_w", "hp_w", "pv_w", "indoor_c"):
            setattr(self, name, np.zeros(self.n))


@dataclass
class Decision:
    ev_w: float = 0.0
    hp_w: float = 0.0
    grid_w: float | None = None
    """Battery follows this grid exchange (import positive); None: self-consumption (grid 0)."""
    pv_limit_w: float | None = None
    peak_cap_w: float | None = None
    """Capacity guard: import above this is shed from the car, then the heat pump (None: off)."""
    ev_deferrable: bool = False
    hp_floor_w: float = 0.0


def ev_room_w(dev: Devices, st: State) -> float:
    hh = dev.year.hh
    return max(0.0, (hh.ev_target_soc * hh.ev_capacity_kwh - st.ev_kwh) / hh.ev_efficiency / DT_H * 1000.0)


def begin_step(dev: Devices, st: State, k: int, rec: Record) -> None:
    """Departures and arrivals at the start of step k."""
    hh = dev.year.hh
    if dev.departs[k]:
        rec.ev_departures += 1
        rec.ev_unmet_kwh.append(max(0.0, hh.ev_target_soc * hh.ev_capacity_kwh - st.ev_kwh))
    if dev.arrive_kwh[k] > 0:
        st.ev_kwh = max(0.05 * hh.ev_capacity_kwh, st.ev_kwh - dev.arrive_kwh[k])


def advance(dev: Devices, st: State, k: int, d: Decision, rec: Record) -> None:
    """Apply decision `d` over step k against the actual load, PV and weather.

    With `d.peak_cap_w`, a capacity guard acts on what the battery could not absorb: when the
    import would exceed the cap, the car's charging is lowered (paused below 6 A) while it can
    still reach its target by departure at full power, then the heat pump down to
    `d.hp_floor_w` (the comfort guard's power)."""
    y = dev.year
    hh = y.hh
    pv = y.pv[k] if d.pv_limit_w is None else min(y.pv[k], max(0.0, d.pv_limit_w))
    hp = min(max(d.hp_w, 0.0), dev.hp_max_w[k])
    ev = min(max(d.ev_w, 0.0), hh.ev_max_w, ev_room_w(dev, st)) if dev.home[k] else 0.0
    target = 0.0 if d.grid_w is None else d.grid_w
    cap = BAT.capacity_kwh
    ch_max = min(
        BAT.charge_kw * 1000.0, max(0.0, (BAT.soc_max * cap - st.bat_kwh) / BAT.efficiency / DT_H * 1e3)
    )
    dis_max = min(
        BAT.discharge_kw * 1000.0, max(0.0, (st.bat_kwh - BAT.soc_min * cap) * BAT.efficiency / DT_H * 1e3)
    )

    def balance(ev: float, hp: float) -> tuple[float, float]:
        net = y.base[k] + ev + hp - pv
        bat = min(max(target - net, -dis_max), ch_max)
        return bat, net + bat

    bat, grid = balance(ev, hp)
    if d.peak_cap_w is not None and grid > d.peak_cap_w + 1.0:
        # the control cycle's shedding rule (home.cem.peak, PeakController): the car (paused below
        # 6 A), then the heat pump down to what comfort needs; the battery is already at its limit
        ev0, hp0 = ev, hp
        ev, hp = shed(
            grid - d.peak_cap_w,
            [
                Sheddable(ev, 0.0 if d.ev_deferrable else ev, hh.ev_min_w),
                Sheddable(hp, min(d.hp_floor_w, hp)),
            ],
        )
        bat, grid = balance(ev, hp)
        rec.shed_ev_kwh += (ev0 - ev) * DT_H / 1000.0
        rec.shed_hp_kwh += (hp0 - hp) * DT_H / 1000.0
        rec.shed_steps += (ev0 - ev) + (hp0 - hp) > 0
    t_eff = y.temp[k] + dev.gain_k
    st.indoor_c = dev.a * st.indoor_c + (1 - dev.a) * (t_eff + dev.cop[k] * hp / HP.heat_loss_w_per_k)
    st.ev_kwh += hh.ev_efficiency * ev * DT_H / 1000.0
    if bat >= 0:
        st.bat_kwh += BAT.efficiency * bat * DT_H / 1000.0
    else:
        st.bat_kwh += bat * DT_H / 1000.0 / BAT.efficiency
    rec.imp_w[k] = max(grid, 0.0)
    rec.exp_w[k] = max(-grid, 0.0)
    rec.bat_w[k] = bat
    rec.ev_w[k] = ev
    rec.hp_w[k] = hp
    rec.pv_w[k] = pv
    rec.indoor_c[k] = st.indoor_c


# --- baseline ------------------------------------------------------------------------------------


def baseline_decision(dev: Devices, st: State, k: int, ev_rule: str = "late") -> Decision:
    """`ev_rule` "late": the fallback charges at full power at the latest start; "cheap": at full
    power in the cheapest published quarters before departure (evcc's planner on a dynamic
    tariff), the latest start still enforced when the published prices do not reach departure;
    "late-min": at 6 A (4.14 kW) from the latest start that still reaches the target at 6 A."""
    y = dev.year
    hh = y.hh
    hp = min(max(dev.hp_power_for(k, st.indoor_c, hh.thermostat_c), 0.0), dev.hp_max_w[k])
    ev = 0.0
    if dev.home[k]:
        surplus = y.pv[k] - y.base[k] - hp  # the car before the home battery (evcc prioritySoc 0)
        if surplus >= hh.ev_min_w:
            ev = min(surplus, hh.ev_max_w)
        missing = (hh.ev_target_soc * hh.ev_capacity_kwh - st.ev_kwh) / hh.ev_efficiency  # AC kWh
        dep = int(dev.next_departure[k])
        steps_left = dep - k  # this step included
        per_step = hh.ev_max_w / 1000.0 * DT_H
        if ev_rule == "late-min":
            low = hh.ev_min_w / 1000.0 * DT_H
            if missing > 1e-9 and missing > low * (steps_left - 1):
                # latest start at the lowest current, faster only when that no longer suffices
                ev = max(ev, min(hh.ev_max_w, max(hh.ev_min_w, missing / (steps_left * DT_H) * 1000.0)))
        elif missing > 1e-9 and missing > per_step * (steps_left - 1):
            ev = hh.ev_max_w  # latest start: full power until the target is reached
        elif missing > 1e-9 and ev_rule == "cheap":
            known = min(dep, known_until(y, k))
            need = math.ceil(missing / per_step - 1e-9)
            if known - k >= need:
                window = y.spot[k:known]
                cheapest = np.argsort(window, kind="stable")[:need]
                if 0 in cheapest:
                    ev = hh.ev_max_w
    return Decision(ev_w=ev, hp_w=hp, grid_w=None)


def run_baseline(year: Year, ev_rule: str = "late") -> Record:
    dev = Devices.of(year)
    st = State(ev_kwh=year.hh.ev_start_soc * year.hh.ev_capacity_kwh)
    rec = Record(year.n_sim)
    for k in range(year.n_sim):
        begin_step(dev, st, k, rec)
        advance(dev, st, k, baseline_decision(dev, st, k, ev_rule), rec)
    rec.final = State(st.bat_kwh, st.ev_kwh, st.indoor_c)
    return rec


# --- gridedge ------------------------------------------------------------------------------------


@dataclass
class Stats:
    solves: int = 0
    solve_s: list[float] = field(default_factory=list)
    build_s: float = 0.0
    fallbacks: int = 0
    time_limited: int = 0
    relaxed: int = 0
    events: list[str] = field(default_factory=list)
    """Relaxations and fallbacks: time and message (the first 40)."""


class Gridedge:
    """Re-plans with `Planner` and turns the plan's first hour into device decisions."""

    def __init__(
        self,
        dev: Devices,
        horizon: int | None,
        options: SolverOptions,
        reserve: float = 0.15,
        guard: bool = True,
        ev_margin: int = 0,
        wear_eur_per_kwh: float = 0.0,
    ) -> None:
        self.dev = dev
        self.bat_cfg = BAT.model_copy(update={"soc_min": max(BAT.soc_min, reserve)})
        """The planner's battery keeps `reserve` of its capacity for the battery controller to absorb
        forecast errors (the physical minimum stays BAT.soc_min)."""
        self.horizon = horizon
        """Steps; None: to the end of the published prices, at least 96."""
        self.planner = Planner(options)
        self.plan: Plan | None = None
        self.plan_k = 0
        self.stats = Stats()
        self.energy, self.fees, self.export = import_parts(dev.year)
        self.corr = PVCorrection()
        self.guard = guard
        """Shed the car and the heat pump when the actual import would raise the month's peak."""
        self.ev_margin = ev_margin
        """Steps before the departure by which the plans must have charged the car; in them the
        car catches up on what is still missing (forecast errors, shed charging) at 6 A or more."""
        self.wear = wear_eur_per_kwh
        """Battery wear priced in the plans (EUR per kWh charged plus discharged, AC)."""
        self.month_peak_w = 0.0
        """Set by the caller before each step: the month's highest 15-min import so far."""
        self.cap_rate = dev.year.fees.capacity_eur_per_kw_month * (1.0 + dev.year.fees.vat)

    def n_steps(self, k: int) -> int:
        if self.horizon is not None:
            return self.horizon
        return max(96, known_until(self.dev.year, k) - k)

    def prices(self, k: int, n: int) -> tuple[F, F, F]:
        """Import energy price, fees, export price for n steps from k: published day-ahead prices,
        and beyond them the price of the same quarter one day earlier."""
        known = known_until(self.dev.year, k) - k
        e = self.energy[k : k + n].copy()
        x = self.export[k : k + n].copy()
        for j in range(max(known, 0), n):
            e[j] = e[j - 96] if j >= 96 else self.energy[k + j - 96]
            x[j] = x[j - 96] if j >= 96 else self.export[k + j - 96]
        return e, self.fees[k : k + n].copy(), x

    def pv_forecast(self, k: int, n: int) -> F:
        """Day-ahead forecast x the bounded measured/forecast ratio of the last 2 h, decaying with
        tau 3 h (the rule of `forecast.forecast_pv`, on the bench's forecast instead of pvlib)."""
        y = self.dev.year
        raw = y.pv_fc_raw[k : k + n]
        c = self.corr
        ratio = 1.0
        if k >= 8:
            model_kwh = float(y.pv_fc_raw[k - 8 : k].sum()) * DT_H / 1000.0
            if model_kwh >= c.min_model_kwh_per_kwp * y.hh.pv_kwp:
                raw_r = float(y.pv[k - 8 : k].sum()) * DT_H / 1000.0 / model_kwh
                ratio = min(max(raw_r, c.min_ratio), c.max_ratio)
        t_mid = (np.arange(n) + 0.5) * STEP_S
        out: F = raw * (1.0 + (ratio - 1.0) * np.exp(-t_mid / c.tau_s))
        return out

    def inputs(self, st: State, k: int, month_peak_kw: float) -> PlanInputs:
        dev = self.dev
        y = dev.year
        hh = y.hh
        n = self.n_steps(k)
        start = y.time(k)
        energy, fees, export = self.prices(k, n)
        hist = PowerHistory(y.time(-y.hist), STEP_S, y.base_all[: y.hist + k])
        base = forecast_base_load(hist, start, n, STEP_S).power_w
        lead_h = (np.arange(n) + 0.5) * DT_H
        t_fc = y.temp[k : k + n] + y.temp_err[k : k + n] * (1.0 - np.exp(-lead_h / 3.0))
        # comfort bounds made feasible from the current indoor temperature
        hp0 = heat_pump_from_config(HP, t_fc, dev.hplib, indoor_c=st.indoor_c, modulating=False)
        t_eff = t_fc + dev.gain_k
        free = np.empty(n)
        full = np.empty(n)
        tf = tm = st.indoor_c
        for j in range(n):
            tf = dev.a * tf + (1 - dev.a) * t_eff[j]
            tm = dev.a * tm + (1 - dev.a) * (
                t_eff[j] + hp0.cop[j] * hp0.max_electric_w[j] / HP.heat_loss_w_per_k
            )
            free[j], full[j] = tf, tm
        lo = np.minimum(hh.thermostat_c, full - 0.01)
        hi = np.maximum(hh.comfort_max_c, free + 0.01)
        hp = replace(hp0, comfort_min_c=lo, comfort_max_c=hi)
        soc = st.bat_kwh / BAT.capacity_kwh
        # below the reserve the plan's minimum is the current soc (the model would otherwise recharge
        # at full power at once, a new peak); the horizon end brings it back to the reserve
        cfg = self.bat_cfg.model_copy(update={"soc_min": max(BAT.soc_min, min(self.bat_cfg.soc_min, soc))})
        end = min(max(soc, self.bat_cfg.soc_min), cfg.soc_max)
        bat = battery_from_config(cfg, soc=soc, terminal_soc=end, wear_eur_per_kwh=self.wear)
        evs: tuple[EVInputs, ...] = ()
        if dev.home[k]:
            rel = int(dev.next_departure[k]) - k - self.ev_margin  # the plan's deadline
            last = max(0, min(rel, n))
            plugged = np.zeros(n, dtype=bool)
            plugged[:last] = True
            need = max(0.0, hh.ev_target_soc * hh.ev_capacity_kwh - st.ev_kwh)
            if rel > n:  # what 6 A on 3 phases can still deliver after the horizon is not due in it
                need -= hh.ev_efficiency * hh.ev_min_w / 1000.0 * DT_H * (rel - n)
            can = hh.ev_efficiency * hh.ev_max_w / 1000.0 * DT_H * last
            need = min(max(need, 0.0), max(can - 1e-3, 0.0))
            soc_ev = st.ev_kwh / hh.ev_capacity_kwh
            slack_soc = hh.ev_efficiency * hh.ev_min_w / 1000.0 * DT_H / hh.ev_capacity_kwh
            evs = (
                EVInputs(
                    device_id="ev",
                    capacity_kwh=hh.ev_capacity_kwh,
                    plugged=plugged,
                    soc=soc_ev,
                    energy_needed_kwh=need,
                    departure_step=last,
                    phases=3,
                    min_current_a=hh.ev_min_a,
                    max_current_a=hh.ev_max_a,
                    efficiency=hh.ev_efficiency,
                    # room for one quarter at 6 A above the target: a residual need below what
                    # 6 A delivers in a quarter is then feasible (the car stops at the target)
                    max_soc=min(1.0, max(hh.ev_target_soc, soc_ev) + slack_soc),
                ),
            )
        pv_fc = self.pv_forecast(k, n)
        return PlanInputs(
            start=start,
            import_price=energy,
            export_price=export,
            grid_fee=fees,
            base_load_w=base,
            outdoor_c=t_eff,
            pv=(PVInputs("pv", pv_fc),),
            batteries=(bat,),
            evs=evs,
            heat_pumps=(hp,),
            capacity=CapacityTariff(self.cap_rate, max(y.fees.min_billed_peak_kw, month_peak_kw)),
            limits=GridLimits(CONNECTION_W, CONNECTION_W),
        )

    def replan(self, st: State, k: int, month_peak_kw: float) -> None:
        t0 = time.perf_counter()
        inp = self.inputs(st, k, month_peak_kw)
        self.stats.build_s += time.perf_counter() - t0
        p = self.planner.plan(inp)
        s = self.stats
        s.solves += 1
        s.solve_s.append(p.solve_time_s)
        s.fallbacks += p.fallback
        s.time_limited += p.status.value == "time-limit"
        s.relaxed += bool(p.relaxations)
        if (p.relaxations or p.fallback) and len(s.events) < 40:
            why = "; ".join(r.message for r in p.relaxations) or p.message
            s.events.append(f"{local_label(self.dev.year, k)}: {'fallback: ' if p.fallback else ''}{why}")
        self.plan = p
        self.plan_k = k

    def decision(self, st: State, k: int) -> Decision:
        dev = self.dev
        hh = dev.year.hh
        p = self.plan
        assert p is not None
        j = k - self.plan_k
        if j >= p.n:  # cannot happen with hourly re-plans; keep the battery on self-consumption
            return baseline_decision(dev, st, k)
        ev = float(p.evs[0].power_w[j]) if p.evs else 0.0
        missing = (hh.ev_target_soc * hh.ev_capacity_kwh - st.ev_kwh) / hh.ev_efficiency  # AC kWh
        steps_left = int(dev.next_departure[k]) - k
        if dev.home[k] and steps_left <= self.ev_margin and missing > 0.01:
            ev = max(ev, min(hh.ev_max_w, max(hh.ev_min_w, missing / (steps_left * DT_H) * 1000.0)))
        hp = float(p.heat_pumps[0].power_w[j]) if p.heat_pumps else 0.0
        # comfort guard on the actual temperature
        floor = max(0.0, dev.hp_power_for(k, st.indoor_c, hh.comfort_min_c))
        hp = max(hp, floor)
        hp = min(hp, max(0.0, dev.hp_power_for(k, st.indoor_c, hh.comfort_max_c)))
        grid = float(p.grid_import_w[j] - p.grid_export_w[j])
        limit = None
        if p.pv and p.pv[0].curtailed_w[j] > 1.0:
            limit = -float(p.pv[0].power_w[j])
        cap = None
        deferrable = False
        if self.guard:
            cap = max(self.month_peak_w, dev.year.fees.min_billed_peak_kw * 1000.0, float(p.grid_import_w[j]))
            # shed only what 6 A can still deliver before the plans' deadline
            deferrable = missing <= hh.ev_min_w / 1000.0 * DT_H * (steps_left - self.ev_margin - 4)
        return Decision(ev, hp, grid, limit, cap, deferrable, floor)


def month_index(year: Year) -> np.ndarray:
    """Local month number (0 = the first simulated month) per simulated step."""
    first = year.time(0)
    out = np.empty(year.n_sim, dtype=np.int64)
    for k in range(year.n_sim):
        t = year.time(k)
        out[k] = (t.year - first.year) * 12 + t.month - first.month
    return out


def local_label(year: Year, k: int) -> str:
    return year.time(k).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
