"""Planner device inputs from the site scenario (`gridedge.model.scenario`).

The heat pump's COP and maximum electric power per step come from a `CopModel`: anything with
hplib-style `cop(outdoor_c, flow_c)` and `capacity_w(outdoor_c, flow_c)`, such as
`gridedge.physics.hplib.HplibModel`, the map the simulated heat pump runs on too. It is a
parameter so that tests can give a planner a map of known numbers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol

import numpy as np

from gridedge.home.cem.planner.inputs import (
    BatteryInputs,
    EVInputs,
    FloatArray,
    HeatPumpInputs,
    PVInputs,
)
from gridedge.home.cem.planner.timeline import Timeline
from gridedge.model.scenario import BatteryConfig, EVConfig, HeatPumpConfig, PVConfig


class CopModel(Protocol):
    """Heat-pump performance map (hplib regression)."""

    def cop(self, outdoor_c: float, flow_c: float) -> float: ...

    def capacity_w(self, outdoor_c: float, flow_c: float) -> float: ...


def battery_from_config(
    cfg: BatteryConfig,
    *,
    soc: float | None = None,
    terminal_soc: float | None = None,
    wear_eur_per_kwh: float = 0.0,
) -> BatteryInputs:
    """`soc`: measured state of charge (default: the scenario's start value)."""
    return BatteryInputs(
        device_id=cfg.name,
        capacity_kwh=cfg.capacity_kwh,
        charge_max_w=cfg.charge_kw * 1000.0,
        discharge_max_w=cfg.discharge_kw * 1000.0,
        soc=cfg.soc if soc is None else soc,
        charge_efficiency=cfg.efficiency,
        discharge_efficiency=cfg.efficiency,
        soc_min=cfg.soc_min,
        soc_max=cfg.soc_max,
        terminal_soc=terminal_soc,
        wear_eur_per_kwh=wear_eur_per_kwh,
    )


def _at(day: date, clock: datetime, tl: Timeline) -> datetime:
    return datetime.combine(day, clock.timetz()).replace(tzinfo=tl.zone)


def _first_step_from(tl: Timeline, when: datetime) -> int:
    """First step starting at or after `when`."""
    k = tl.step_at(when)
    return k if tl.time(k) >= when else k + 1


def ev_from_config(
    cfg: EVConfig, timeline: Timeline, *, soc: float | None = None, plugged_now: bool = False
) -> EVInputs:
    """One charging session from the scenario's daily arrival/departure times (local).

    `plugged_now`: the car is connected at the start with `soc` (default the arrival soc); the
    session ends at the next departure. Otherwise it starts at the next arrival (weekdays only
    when so configured) with the arrival soc. The car needs (target_soc - soc) x capacity and
    charging stops at the target (EVConfig). When the car leaves after the horizon end, only the part
    the charger could not deliver after the horizon is due inside it.
    """
    tl = timeline
    start_local = tl.start.astimezone(tl.zone)
    arrival_t = datetime.combine(start_local.date(), cfg.arrival)
    departure_t = datetime.combine(start_local.date(), cfg.departure)
    soc_now = cfg.arrival_soc if soc is None else soc
    day = start_local.date()
    if plugged_now:
        first = 0
        begin = start_local
    else:
        for extra in range(8):
            d = day + timedelta(days=extra)
            arr = _at(d, arrival_t, tl)
            if arr >= start_local and not (cfg.weekdays_only and d.weekday() >= 5):
                break
        begin = arr
        first = _first_step_from(tl, arr)
    dep_day = begin.date()
    dep = _at(dep_day, departure_t, tl)
    if dep <= begin:
        dep = _at(dep_day + timedelta(days=1), departure_t, tl)
    dep_step = tl.step_at(dep)
    if first >= tl.n:  # the car arrives after the horizon: nothing to plan for it yet
        first = dep_step = tl.n
    last = max(first, min(dep_step, tl.n))
    plugged = np.zeros(tl.n, dtype=np.bool_)
    plugged[max(0, min(first, tl.n)) : last] = True
    max_soc = max(cfg.target_soc, soc_now)
    need = max(0.0, cfg.target_soc - soc_now) * cfg.capacity_kwh if first < tl.n else 0.0
    if dep_step > tl.n:
        # departure after the horizon: only what the charger could not still deliver after the
        # horizon end is due within it (the next plans take the rest)
        later = (dep_step - max(tl.n, first)) * tl.dt_h * cfg.phases * 230.0 * cfg.max_current_a / 1000.0
        need = max(0.0, need - cfg.efficiency * later)
    return EVInputs(
        device_id=cfg.name,
        capacity_kwh=cfg.capacity_kwh,
        plugged=plugged,
        soc=soc_now,
        energy_needed_kwh=need,
        departure_step=last,
        phases=cfg.phases,
        min_current_a=cfg.min_current_a,
        max_current_a=cfg.max_current_a,
        efficiency=cfg.efficiency,
        max_soc=max_soc,
    )


def heat_pump_from_config(
    cfg: HeatPumpConfig,
    outdoor_c: FloatArray,
    performance: CopModel,
    *,
    indoor_c: float | None = None,
    comfort_min_c: FloatArray | None = None,
    comfort_max_c: FloatArray | None = None,
    modulating: bool = True,
    min_modulation_steps: int | None = None,
) -> HeatPumpInputs:
    """COP and the compressor's electric maximum per step from the outdoor temperature at the
    scenario's flow temperature; comfort band setpoint ± band_k/2 unless given (as the simulated
    thermostat); `modulating=False` drops the minimum-modulation binaries (continuous 0..max),
    `min_modulation_steps` keeps them in the first steps only (`HeatPumpInputs`)."""
    out = np.asarray(outdoor_c, dtype=np.float64)
    cop = np.array([performance.cop(float(t), cfg.supply_c) for t in out])
    pmax = np.array([performance.capacity_w(float(t), cfg.supply_c) for t in out]) / cop
    lo = np.full(out.size, cfg.setpoint_c - cfg.band_k / 2) if comfort_min_c is None else comfort_min_c
    hi = np.full(out.size, cfg.setpoint_c + cfg.band_k / 2) if comfort_max_c is None else comfort_max_c
    return HeatPumpInputs(
        device_id=cfg.name,
        ua_w_per_k=cfg.heat_loss_w_per_k,
        capacity_kwh_per_k=cfg.thermal_capacity_kwh_per_k,
        indoor_c=cfg.indoor_c if indoor_c is None else indoor_c,
        comfort_min_c=lo,
        comfort_max_c=hi,
        cop=cop,
        max_electric_w=pmax,
        min_modulation=cfg.min_modulation if modulating else None,
        min_modulation_steps=min_modulation_steps if modulating else None,
    )


def pv_from_config(cfg: PVConfig, forecast_w: FloatArray, *, curtailable: bool = True) -> PVInputs:
    """`forecast_w`: the system's forecast AC output (W >= 0) per step."""
    return PVInputs(cfg.name, np.asarray(forecast_w, dtype=np.float64), curtailable)
