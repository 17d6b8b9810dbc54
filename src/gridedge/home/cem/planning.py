"""From the site scenario, the tariff and what is measured now to the planner's `PlanInputs`, and
from a `Plan` back to the powers the control cycle follows.

The planner (`home.cem.planner`) knows arrays and devices; the site knows TOML tables, price
files and live measurements. This module is the glue both `gridedge plan` and the `gridedge cem`
service use, so what a user plans on the command line is exactly what the service would do:

* prices: the tariff's import price without the per-kWh network fees and levies (those go to
  `grid_fee`, so the cost breakdown shows them apart), both with VAT; where the day-ahead
  prices end before the horizon does (EPEX publishes tomorrow's around 13:00), the missing tail
  repeats the prices of 24 h earlier, and the plan says so;
* capacity tariff: the month's peak so far (measured, configured or the minimum billed) and
  which steps fall in the current month;
* forecasts: PV (pvlib on the scenario's weather, corrected by recent measurements), base load
  (history, else the standard profile), outdoor temperature (`home.cem.forecast`);
* devices: battery, EV, heat pump (COP from a `CopModel` given by the caller), appliances with a
  `run_window`; live state (state of charge, car plugged, indoor temperature) overrides the
  scenario's start values;
* grid limits: LPC/LPP limits active now or scheduled, as per-step ceilings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np

from gridedge.home.cem.forecast import PowerHistory, forecast_base_load, forecast_pv, forecast_temperature
from gridedge.home.cem.planner import (
    ApplianceInputs,
    CapacityTariff,
    CopModel,
    GridLimits,
    Plan,
    PlanInputs,
    PVInputs,
    Timeline,
    battery_from_config,
    ev_from_config,
    heat_pump_from_config,
)
from gridedge.home.cem.planner.inputs import FloatArray
from gridedge.home.cem.tariffs import belgian_dynamic_tariff, dutch_dynamic_tariff, fluvius_fees
from gridedge.model.cem_config import TariffConfig, TariffKind
from gridedge.model.scenario import (
    ApplianceConfig,
    ApplianceKind,
    EVConfig,
    HeatPumpConfig,
    Scenario,
)
from gridedge.model.tariff import GridFees, PriceFormula, PriceSeries, Tariff

__all__ = [
    "STEP_S",
    "LiveState",
    "PlanContext",
    "ScheduledLimit",
    "build_tariff",
    "connection_w",
    "min_modulation_steps",
    "plan_inputs",
    "plan_powers",
    "resolve_path",
    "typical_run_kw",
]

STEP_S = 900
"""The planner's step: a quarter hour, the settlement and capacity-tariff period."""
FIRM_MARGIN_STEPS = 4
"""Steps beyond the next scheduled re-plan in which a heat pump's minimum modulation binds
(`min_modulation_steps`): an hour, for a re-plan that comes late or fails."""


def min_modulation_steps(scenario: Scenario) -> int:
    """The plan's first steps in which a heat pump's compressor is 0 or at least its minimum
    modulation (`HeatPumpInputs.min_modulation_steps`): those the control cycle may follow
    before the next scheduled re-plan (`[cem.planner] replan_min`), and an hour more. Later steps
    are planned as the mean power of a compressor that cycles: they are re-planned before they
    are followed, and on/off binaries in every step make the solve several times slower (bench
    `cem_solve.py`, 96 steps, median: 0.08-0.11 s continuous, 0.48 s with `--modulating`, 0.13 s
    with the binaries in the first 8 steps)."""
    return math.ceil(scenario.cem.planner.replan_min * 60 / STEP_S) + FIRM_MARGIN_STEPS


TYPICAL_RUNS_KW: dict[ApplianceKind, tuple[float, ...]] = {
    # 40 °C cotton: heating first, then washing, rinsing and the final spin; about 1 kWh in 2 h
    ApplianceKind.WASHING_MACHINE: (2.0, 0.6, 0.2, 0.2, 0.2, 0.2, 0.4, 0.4),
    # eco 50 °C: main-wash heating, circulation, the hot final rinse; about 1 kWh in 1.5 h
    ApplianceKind.DISHWASHER: (1.8, 0.1, 0.1, 0.1, 1.8, 0.1),
}
"""Mean power per quarter hour of one run when the scenario gives no `run_profile_kw`; the
energies match the simulator's programmes (`sim/appliances/programme.py`: 0.6-0.9 kWh washing,
0.7-1.3 kWh dishwashing)."""


def typical_run_kw(cfg: ApplianceConfig) -> tuple[float, ...]:
    if cfg.run_profile_kw is not None:
        return cfg.run_profile_kw
    try:
        return TYPICAL_RUNS_KW[cfg.kind]
    except KeyError:
        raise ValueError(f"{cfg.name}: no typical run for a {cfg.kind.value}; set run_profile_kw") from None


@dataclass(frozen=True, slots=True)
class ScheduledLimit:
    """A grid operator's power limit over [start, end) (end None: until further notice), in W."""

    start: datetime
    end: datetime | None
    watts: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.watts) and self.watts >= 0):
            raise ValueError(f"ScheduledLimit.watts: expected W >= 0 (LPC-TS-009), found {self.watts!r}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"ScheduledLimit.end: expected after {self.start}, found {self.end}")


@dataclass(frozen=True, slots=True)
class LiveState:
    """What is measured now. Missing entries take the scenario's start values."""

    battery_soc: Mapping[str, float] = field(default_factory=dict)
    ev_soc: Mapping[str, float] = field(default_factory=dict)
    ev_plugged: Mapping[str, bool] = field(default_factory=dict)
    """Car connected now; a car missing here is taken as plugged when now lies between its
    scenario arrival and departure."""
    indoor_c: Mapping[str, float] = field(default_factory=dict)
    month_peak_kw: float | None = None
    """Highest 15-min import of the month so far (the meter's 1-0:1.6.0, or counted)."""
    load_history: PowerHistory | None = None
    """Measured base load (grid minus controlled devices) on a 15-min grid, for its forecast."""
    pv_measured_w: tuple[float, ...] = ()
    """Measured PV power of the quarter hours just before the start, oldest first."""
    import_limits: tuple[ScheduledLimit, ...] = ()
    export_limits: tuple[ScheduledLimit, ...] = ()
    appliances_done: frozenset[str] = frozenset()
    """Appliances whose run in the window open now has started or finished: their next window
    is planned."""


@dataclass(frozen=True, slots=True)
class PlanContext:
    """The inputs of one plan and what the caller should know about how they were made."""

    inputs: PlanInputs
    notes: tuple[str, ...]
    import_price_all_in: FloatArray
    """Import price per step with fees and VAT (what a kWh really costs)."""


def connection_w(scenario: Scenario) -> float:
    """The connection's import capacity: the meter's limiter or fuse supervision if set, else the
    usual Belgian/Dutch residential connection: 1 x 40 A or 3 x 25 A at 230 V."""
    m = scenario.meter
    volts = scenario.grid.voltage_v
    options = []
    if m.limiter_kw is not None:
        options.append(m.limiter_kw * 1000.0)
    if m.fuse_a is not None:
        options.append(m.fuse_a * volts * m.phases)
    if options:
        return min(options)
    return 40.0 * volts if m.phases == 1 else 3 * 25.0 * volts


def build_tariff(
    cfg: TariffConfig, prices: PriceSeries | None, at: datetime, *, annual_kwh: float = 3500.0
) -> Tariff:
    """The site's tariff in force at `at` from its `[tariff]` table and the day-ahead prices."""
    if cfg.kind is TariffKind.FIXED:
        fees = GridFees(
            capacity_eur_per_kw_year=cfg.capacity_eur_per_kw_year or 0.0, source="scenario [tariff]"
        )
        return Tariff(
            spot=None,
            import_formula=PriceFormula(0.0, cfg.import_eur_per_kwh),
            export_formula=PriceFormula(0.0, cfg.export_eur_per_kwh),
            fees=fees,
            name="fixed",
        )
    if prices is None:
        raise ValueError(
            f"tariff.prices: expected day-ahead prices for a {cfg.kind.value} tariff (a CSV file or URL,"
            " or --prices), found none"
        )
    if cfg.kind is TariffKind.NL_DYNAMIC:
        return dutch_dynamic_tariff(
            prices,
            supplier_markup_eur_per_kwh=cfg.supplier_markup_eur_per_kwh,
            net_metering=cfg.net_metering,
            export_markup_eur_per_kwh=cfg.export_discount_eur_per_kwh,
        )
    fees = fluvius_fees(cfg.distributor, at, annual_kwh=annual_kwh)
    if cfg.capacity_eur_per_kw_year is not None:
        fees = GridFees(
            offtake_eur_per_kwh=fees.offtake_eur_per_kwh,
            levies_eur_per_kwh=fees.levies_eur_per_kwh,
            injection_eur_per_kwh=fees.injection_eur_per_kwh,
            capacity_eur_per_kw_year=cfg.capacity_eur_per_kw_year,
            min_billed_peak_kw=fees.min_billed_peak_kw,
            capacity_cap_eur_per_kwh=fees.capacity_cap_eur_per_kwh,
            fixed_eur_per_year=fees.fixed_eur_per_year,
            vat=fees.vat,
            source=fees.source + " (capacity rate from the scenario)",
        )
    return belgian_dynamic_tariff(
        prices,
        fees,
        supplier_markup_eur_per_kwh=cfg.supplier_markup_eur_per_kwh,
        export_discount_eur_per_kwh=cfg.export_discount_eur_per_kwh,
        spot_factor=cfg.spot_factor,
    )


def _spot_filled(tariff: Tariff, start: datetime, n: int, notes: list[str]) -> FloatArray:
    """Spot price per step; a tail beyond the published prices repeats the prices 24 h earlier."""
    spot = tariff.spot
    if spot is None:
        return np.zeros(n)
    end = start + timedelta(seconds=n * STEP_S)
    gaps = spot.missing_intervals(min(start, spot.end), max(end, spot.start))
    first_gap = next((a for a, b in gaps if b > start and a < end), None)
    if first_gap is None:
        return spot.resample(start, n, STEP_S)
    known = max(0, int((first_gap - start).total_seconds() // STEP_S))
    if known == 0:
        raise ValueError(
            f"{spot.source or 'prices'}: no price for {start.isoformat()} (the series covers "
            f"{spot.start.isoformat()} .. {spot.end.isoformat()}; gaps: "
            + ", ".join(f"{a.isoformat()}..{b.isoformat()}" for a, b in gaps[:3])
            + ")"
        )
    out = np.empty(n)
    out[:known] = spot.resample(start, known, STEP_S)
    day = 86400 // STEP_S
    for k in range(known, n):
        out[k] = out[known - 1]
        for d in range(1, 8):
            if k - d * day >= 0:
                out[k] = out[k - d * day]
                break
            t = start + timedelta(seconds=k * STEP_S - d * 86400)
            if not spot.missing_intervals(t, t + timedelta(seconds=STEP_S)) and spot.start <= t:
                out[k] = spot.resample(t, 1, STEP_S)[0]
                break
    notes.append(
        f"prices known until {(start + timedelta(seconds=known * STEP_S)).isoformat()}; "
        f"the {n - known} steps after repeat the prices of 24 h earlier"
    )
    return out


def _steps_over(tl: Timeline, limits: tuple[ScheduledLimit, ...]) -> FloatArray | None:
    """Per-step ceiling: the lowest limit overlapping each step (NaN where none)."""
    if not limits:
        return None
    out = np.full(tl.n, np.nan)
    starts = [tl.time(k).astimezone(UTC) for k in range(tl.n)]
    for lim in limits:
        a = lim.start.astimezone(UTC)
        b = None if lim.end is None else lim.end.astimezone(UTC)
        for k, t0 in enumerate(starts):
            t1 = t0 + timedelta(seconds=tl.step_s)
            if t1 > a and (b is None or t0 < b):
                out[k] = lim.watts if math.isnan(out[k]) else min(out[k], lim.watts)
    return out


def _plugged_by_schedule(cfg: EVConfig, now: datetime) -> bool:
    t = now.timetz().replace(tzinfo=None)
    if cfg.arrival <= cfg.departure:
        inside = cfg.arrival <= t < cfg.departure
    else:
        inside = t >= cfg.arrival or t < cfg.departure
    if inside and cfg.weekdays_only:
        arrived = now.date() if t >= cfg.arrival else now.date() - timedelta(days=1)
        return arrived.weekday() < 5
    return inside


def _window_steps(
    tl: Timeline, window: tuple[time, time], local: datetime, duration: int, *, skip_current: bool
) -> tuple[int, int] | None:
    """The first occurrence of a daily local window, as [first step, end step), that is still
    open at `local` and leaves room for `duration` steps; with `skip_current` the window open
    now is passed over (its run is done). None when none begins inside the timeline."""
    a, b = window
    day = local.date()
    for offset in (-1, 0, 1, 2):
        d = day + timedelta(days=offset)
        w0 = datetime.combine(d, a, tzinfo=tl.zone)
        w1 = datetime.combine(d if b > a else d + timedelta(days=1), b, tzinfo=tl.zone)
        if w1 <= local or (skip_current and w0 <= local):
            continue
        first = 0
        if w0 > local:
            first = tl.step_at(w0)
            if tl.time(first) < w0:
                first += 1
        end = tl.step_at(w1)
        if first >= tl.n:
            return None
        if end - first >= duration:
            return first, end
    return None


def plan_inputs(
    scenario: Scenario,
    tariff: Tariff,
    start: datetime,
    *,
    horizon_steps: int | None = None,
    state: LiveState | None = None,
    cop_model: Callable[[HeatPumpConfig], CopModel] | None = None,
) -> PlanContext:
    """`PlanInputs` for the site from `start` (rounded down to the quarter hour) over the
    scenario's horizon (`[cem.planner] horizon_h`) or `horizon_steps` quarter hours.

    `cop_model` gives a heat pump's performance map (e.g. `HplibModel.load(cfg.model)` of the
    simulator); it is required when the scenario has a heat pump.
    """
    if start.tzinfo is None:
        raise ValueError(f"start: expected a timezone-aware time, found {start.isoformat()}")
    state = state or LiveState()
    zone = scenario.site.zone
    t0 = datetime.fromtimestamp(math.floor(start.timestamp() / STEP_S) * STEP_S, UTC)
    n = horizon_steps if horizon_steps is not None else scenario.cem.planner.horizon_h * 3600 // STEP_S
    if n < 1:
        raise ValueError(f"horizon: expected at least one step, found {n}")
    local0 = t0.astimezone(zone)
    tl = Timeline(local0, STEP_S, n)
    notes: list[str] = []

    spot = _spot_filled(tariff, t0, n, notes)
    fees = tariff.fees
    vat = 1.0 + fees.vat
    imp_all = (tariff.import_formula.apply(spot) + fees.offtake_eur_per_kwh + fees.levies_eur_per_kwh) * vat
    fee = np.full(n, (fees.offtake_eur_per_kwh + fees.levies_eur_per_kwh) * vat)
    exp = tariff.export_formula.apply(spot) - fees.injection_eur_per_kwh

    capacity = None
    if fees.capacity_eur_per_kw_year > 0:
        peak = state.month_peak_kw if state.month_peak_kw is not None else scenario.tariff.month_peak_kw
        month = (local0.year, local0.month)
        counts = np.array([(t.year, t.month) == month for t in tl.times()])
        capacity = CapacityTariff(
            fees.capacity_eur_per_kw_month * vat, max(peak or 0.0, fees.min_billed_peak_kw), counts
        )

    pvs = []
    for cfg in scenario.pv:
        fc = forecast_pv(
            (cfg,), scenario.site, t0, n, STEP_S, weather=scenario.weather, measured_w=state.pv_measured_w
        )
        pvs.append(PVInputs(cfg.name, np.asarray(fc.power_w, dtype=np.float64)))
    load = forecast_base_load(
        state.load_history, t0, n, STEP_S, household=scenario.household, timezone=scenario.site.timezone
    )
    if state.load_history is None:
        notes.append("base load from the standard profile (no measured history yet)")

    outdoor = None
    hps = []
    if scenario.heat_pump:
        if cop_model is None:
            raise ValueError("cop_model: expected a heat-pump performance map for the scenario's heat pump")
        outdoor = np.asarray(
            forecast_temperature(scenario.site, t0, n, STEP_S, weather=scenario.weather).temperature_c
        )
        firm = min_modulation_steps(scenario)
        for hcfg in scenario.heat_pump:
            hps.append(
                heat_pump_from_config(
                    hcfg, outdoor, cop_model(hcfg), indoor_c=state.indoor_c.get(hcfg.name),
                    min_modulation_steps=firm,
                )
            )  # fmt: skip

    terminal = scenario.cem.planner.battery_terminal == "start"
    bats = []
    for bcfg in scenario.battery:
        soc = state.battery_soc.get(bcfg.name, bcfg.soc)
        soc = min(max(soc, bcfg.soc_min), bcfg.soc_max)
        bats.append(
            battery_from_config(
                bcfg,
                soc=soc,
                terminal_soc=soc if terminal else None,
                wear_eur_per_kwh=scenario.cem.planner.battery_wear_eur_per_kwh,
            )
        )

    evs = []
    for ecfg in scenario.ev:
        plugged = state.ev_plugged.get(ecfg.name)
        if plugged is None:
            plugged = _plugged_by_schedule(ecfg, local0)
        evs.append(ev_from_config(ecfg, tl, soc=state.ev_soc.get(ecfg.name), plugged_now=plugged))

    apps = []
    for acfg in scenario.appliances:
        if acfg.run_window is None:
            continue
        profile = np.array(typical_run_kw(acfg)) * 1000.0
        window = _window_steps(
            tl, acfg.run_window, local0, profile.size, skip_current=acfg.name in state.appliances_done
        )
        if window is not None:
            apps.append(ApplianceInputs(acfg.name, window[0], window[1], profile))

    limits = GridLimits(
        connection_import_w=connection_w(scenario),
        connection_export_w=connection_w(scenario),
        import_max_w=_steps_over(tl, state.import_limits),
        export_max_w=_steps_over(tl, state.export_limits),
    )
    inputs = PlanInputs(
        start=local0,
        import_price=imp_all - fee,
        export_price=exp,
        grid_fee=fee,
        base_load_w=np.asarray(load.power_w, dtype=np.float64),
        step_s=STEP_S,
        outdoor_c=outdoor,
        pv=tuple(pvs),
        batteries=tuple(bats),
        evs=tuple(evs),
        heat_pumps=tuple(hps),
        appliances=tuple(apps),
        capacity=capacity,
        limits=limits,
    )
    return PlanContext(inputs, tuple(notes), imp_all)


def plan_powers(
    plan: Plan, now: datetime, *, min_curtail_w: float = 1.0
) -> tuple[tuple[str, float], ...] | None:
    """Each device's planned power in the step holding `now` (the control cycle's `Snapshot.plan`);
    None when `now` lies outside the plan.

    A PV inverter appears only in steps where the plan curtails it: the forecast is not a
    ceiling, so an uncurtailed step leaves the inverter free to produce what the sun gives.
    """
    tl = plan.timeline
    k = tl.step_at(now)
    if not 0 <= k < tl.n:
        return None
    out: list[tuple[str, float]] = []
    for b in plan.batteries:
        out.append((b.device_id, float(b.power_w[k])))
    for e in plan.evs:
        out.append((e.device_id, float(e.power_w[k])))
    for h in plan.heat_pumps:
        out.append((h.device_id, float(h.power_w[k])))
    for a in plan.appliances:
        out.append((a.device_id, float(a.power_w[k])))
    for p in plan.pv:
        if p.curtailed_w[k] >= min_curtail_w:
            out.append((p.device_id, float(p.power_w[k])))
    return tuple(out)


def resolve_path(text: str, base: Path | None) -> str:
    """A scenario path relative to the scenario file's folder; URLs unchanged."""
    if "://" in text or base is None or Path(text).is_absolute():
        return text
    return str(base / text)
