"""From the running world's state to the dashboard's typed views (`gridedge.app.views`).

The site-independent parts (power flow from device states, LPC countdowns, plan against measured,
capacity peak, devices, prices of a tariff) live in `gridedge.app.site_views`, shared with
`gridedge run`'s `SiteControl`; this module feeds them a `DemoHome` and builds the grid view of the
demo's street. Pure copying and arithmetic on state kept in memory: no awaiting, no SQLite, no
blocking, so the web room may call the readers between two driver steps. The one exception is
`price_curve`, which reads the distributor's fee table: the world runs it in a thread when prices
change and keeps the result on the home. The times shown are the simulated clock's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from gridedge.app import site_views
from gridedge.app.demo.aggregator import DemoAggregator
from gridedge.app.demo.grid_side import FEEDER_ID, GridSide
from gridedge.app.demo.homes import DemoHome
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
from gridedge.model.limits import Direction, LpcState

__all__ = ["grid_view", "home_view", "limit_view", "power_flow", "price_curve"]


def power_flow(home: DemoHome) -> PowerFlow:
    """Live powers from the virtual site's devices (W; PV as generated, battery + charging)."""
    devices = ((a.info.kind, a.state()) for a in home.adapters.values())
    return site_views.power_flow(home.journal.grid_w, devices)


def limit_view(home: DemoHome) -> LimitView:
    """The LPC machine's state and its countdowns (`site_views.limit_view`)."""
    return site_views.limit_view(home.cem, home.journal.last_heartbeat)


def price_curve(aggregator: DemoAggregator, home: DemoHome, zone: ZoneInfo) -> tuple[PricePoint, ...]:
    """Today's all-in import and export prices per quarter hour, from the aggregator's spot
    series through the home's own contract (`[tariff]`, as the energy manager prices it).

    May read the distributor's fee table: the driver calls it when prices change and keeps the
    result on the home (`DemoHome.prices`), readers only copy that."""
    signals = aggregator.signals
    if signals is None or signals.prices is None:
        return ()
    now = home.clock.now()
    tariff = build_tariff(
        home.scenario.tariff, signals.prices, now, annual_kwh=home.scenario.household.annual_kwh
    )
    return site_views.tariff_prices(tariff, now, zone)


def plan_points(home: DemoHome, zone: ZoneInfo) -> tuple[PlanPoint, ...]:
    """Today's quarter hours: what the plan in force aimed at, what the meter measured."""
    return site_views.plan_points(home.journal.planned, home.journal.measured, home.clock.now(), zone)


def peak_view(home: DemoHome) -> PeakView:
    return site_views.peak_view(home.cem)


def devices(home: DemoHome) -> tuple[DeviceView, ...]:
    return site_views.device_views(home.cem, home.adapters.values(), home.parking.managed)


def home_view(home: DemoHome, zone: ZoneInfo) -> HomeView:
    return HomeView(
        site_id=home.site_id,
        name=home.name,
        now=home.clock.now().astimezone(zone),
        flow=power_flow(home),
        plan=plan_points(home, zone),
        prices=home.prices,
        limit=limit_view(home),
        notifications=tuple(home.journal.notes),
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
