"""From the running world's state to the dashboard's typed views (`gridedge.app.views`).

Pure copying and arithmetic on state kept in memory: no awaiting, no SQLite, no blocking, so the
web room may call the readers between two driver steps. The one exception is `price_curve`, which
reads the distributor's fee table: the world runs it in a thread when prices change and keeps the
result on the home. The times shown are the simulated clock's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from gridedge.app.demo.aggregator import DemoAggregator
from gridedge.app.demo.grid_side import FEEDER_ID, GridSide
from gridedge.app.demo.homes import DemoHome, quarter_of
from gridedge.app.views import (
    DeviceView,
    FeederView,
    GridView,
    HomeView,
    LimitView,
    PeakView,
    PlanPoint,
    PowerFlow,
    PricePoint,
    SiteSummary,
)
from gridedge.home.cem.planning import build_tariff
from gridedge.model.devices import DeviceKind
from gridedge.model.limits import Direction, LpcState
from gridedge.sim.battery import Battery
from gridedge.sim.ev import EVCharger
from gridedge.sim.heatpump import HeatPump
from gridedge.sim.pv import PVSystem

__all__ = ["grid_view", "home_view", "limit_view", "power_flow", "price_curve"]

_KIND = {
    DeviceKind.PV_INVERTER: "pv",
    DeviceKind.BATTERY: "battery",
    DeviceKind.EV_CHARGER: "ev",
    DeviceKind.HEAT_PUMP: "heat_pump",
    DeviceKind.APPLIANCE: "appliance",
    DeviceKind.OTHER: "other",
}


def power_flow(home: DemoHome) -> PowerFlow:
    """Live powers from the virtual site's devices (W; PV as generated, battery + charging)."""
    pv = battery = ev = hp = 0.0
    battery_soc: float | None = None
    ev_soc: float | None = None
    for load in home.site.household.loads:
        if isinstance(load, PVSystem):
            pv += -load.power_w
        elif isinstance(load, Battery):
            battery += load.power_w
            battery_soc = load.soc
        elif isinstance(load, EVCharger):
            ev += load.power_w
            ev_soc = load.soc if load.present else None
        elif isinstance(load, HeatPump):
            hp += load.power_w
    grid = home.grid_w if home.grid_w is not None else 0.0
    house = grid + pv - battery - ev - hp
    return PowerFlow(grid, pv, battery, ev, hp, house, battery_soc, ev_soc)


def limit_view(home: DemoHome) -> LimitView:
    """The LPC machine's state and its countdowns (LPC-911: failsafe 120 s after the last
    heartbeat; the limit's or the failsafe's remaining duration)."""
    grid = home.cem.grid
    t = home.clock.monotonic()
    lpc = grid.report(Direction.CONSUMPTION)
    lpp = grid.report(Direction.PRODUCTION)
    if lpc is None:
        return LimitView(LpcState.UNLIMITED_AUTONOMOUS.value, None, None, None, None, None)
    age = None if home.last_heartbeat is None else max(t - home.last_heartbeat, 0.0)
    failsafe_in = None
    machine = grid.machines[Direction.CONSUMPTION]
    if lpc.state in (LpcState.UNLIMITED_CONTROLLED, LpcState.LIMITED) and age is not None:
        failsafe_in = max(machine.config.heartbeat_timeout_s - age, 0.0)
    ends = None
    if lpc.state is LpcState.LIMITED:
        expires = machine.limit_expires_at(t)
        ends = None if expires is None else max(expires - t, 0.0)
    elif lpc.state is LpcState.FAILSAFE:
        ends = max(lpc.since + lpc.failsafe.duration_min_s - t, 0.0)
    return LimitView(
        lpc.state.value,
        lpc.effective_limit_w,
        None if lpp is None else lpp.effective_limit_w,
        age,
        failsafe_in,
        ends,
    )


def price_curve(aggregator: DemoAggregator, home: DemoHome, zone: ZoneInfo) -> tuple[PricePoint, ...]:
    """Today's all-in import and export prices per quarter hour, from the aggregator's spot
    series through the home's own contract (`[tariff]`, as the energy manager prices it).

    May read the distributor's fee table: the driver calls it when prices change and keeps the
    result on the home (`DemoHome.prices`), readers only copy that."""
    signals = aggregator.signals
    if signals is None or signals.prices is None:
        return ()
    now = home.clock.now()
    day = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    tariff = build_tariff(
        home.scenario.tariff, signals.prices, now, annual_kwh=home.scenario.household.annual_kwh
    )
    n = round(((day + timedelta(days=1)) - day).total_seconds() / 900)
    steps = tariff.resample(day, n, 900)
    return tuple(
        PricePoint(
            day + timedelta(seconds=900 * k),
            float(steps.import_eur_per_kwh[k]),
            float(steps.export_eur_per_kwh[k]),
        )
        for k in range(n)
        if math.isfinite(steps.import_eur_per_kwh[k]) and math.isfinite(steps.export_eur_per_kwh[k])
    )


def plan_points(home: DemoHome, zone: ZoneInfo) -> tuple[PlanPoint, ...]:
    """Today's quarter hours: what the plan in force aimed at, what the meter measured."""
    now = home.clock.now()
    day = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    end = day + timedelta(days=1)
    slots = sorted({q for q in (*home.planned, *home.measured) if day <= q < end})
    current = quarter_of(now)
    out = []
    for q in slots:
        planned = home.planned.get(q)
        got = home.measured.get(q)
        actual = None if got is None or q > current else got[0] / got[1]
        if planned is not None:  # every quarter since the start has a plan (it starts on the quarter)
            out.append(PlanPoint(q, planned, actual))
    return tuple(out)


def peak_view(home: DemoHome) -> PeakView:
    now = home.clock.now()
    watch = home.cem.tracker.watch(now, 0.0)
    quarter_kw = watch.imported_wh / watch.elapsed_s * 3.6 if watch.elapsed_s > 0 else 0.0
    month = home.cem.tracker.month_peak_kw or 0.0
    return PeakView(quarter_kw, max(month, 0.0))


def devices(home: DemoHome) -> tuple[DeviceView, ...]:
    decision = home.cem.loop.last_decision
    setpoints = {sp.device_id: sp for sp in decision.setpoints} if decision is not None else {}
    out = []
    for did, adapter in home.adapters.items():
        state = adapter.state()
        sp = setpoints.get(did)
        managed = home.parking.managed(did)
        target = None
        if sp is not None and managed:
            target = sp.target()
            if target is None:
                target = sp.max_w
        out.append(
            DeviceView(
                did,
                _KIND.get(adapter.info.kind, "other"),
                0.0 if state is None else state.power_w,
                True if state is None else state.online,
                managed,
                target,
            )
        )
    return tuple(out)


def home_view(home: DemoHome, zone: ZoneInfo) -> HomeView:
    return HomeView(
        site_id=home.site_id,
        name=home.name,
        now=home.clock.now(),
        flow=power_flow(home),
        plan=plan_points(home, zone),
        prices=home.prices,
        limit=limit_view(home),
        notifications=tuple(home.notes),
        appliances=home.nilm.shares() if home.nilm is not None else (),
        peak=peak_view(home),
        devices=devices(home),
        has_nilm=home.nilm is not None,
    )


def grid_view(grid: GridSide, homes: Sequence[DemoHome], now: datetime) -> GridView:
    sites = []
    for h in homes:
        sample = grid.newest(h.site_id)
        lpc = h.cem.grid.report(Direction.CONSUMPTION)
        sites.append(
            SiteSummary(
                h.site_id,
                h.name,
                FEEDER_ID,
                None if sample is None else sample.net_w,
                LpcState.UNLIMITED_AUTONOMOUS.value if lpc is None else lpc.state.value,
                None if lpc is None else lpc.effective_limit_w,
                None if sample is None else max((now - sample.time).total_seconds(), 0.0),
                h.nilm is not None,
            )
        )
    feeder = FeederView(FEEDER_ID, grid.feeder_load_w(), grid.capacity_w, tuple(grid.history))
    return GridView(
        now=now,
        sites=tuple(sites),
        feeders=(feeder,),
        limits=tuple(grid.limits),
        alarms=tuple(grid.alarms),
        records_committed=grid.hes.committed,
        heartbeat_enabled=grid.heartbeat_enabled,
    )
