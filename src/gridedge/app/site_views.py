"""The home view's parts that do not depend on where the site runs: the demo's virtual homes
(`app.demo.views_builder`) and the real site of `gridedge run` (`app.run.control`) both build their
`HomeView` from these.

Everything reads state kept in memory (the energy manager's limit machines, tracker, last control
decision, device adapters' last states): no awaiting, no SQLite, no blocking, so the web room may
call them between two steps of the loop. The one exception is building a tariff (`build_tariff`
may read the distributor's fee table): `tariff_prices` takes a tariff already built.

`SiteJournal` keeps, from one site's bus, what the dashboard shows and the services do not keep
themselves: the latest notifications, when the grid operator's last heartbeat came, and the
measured grid power per quarter hour next to what each plan aimed at.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from gridedge.app.views import (
    DeviceView,
    Level,
    LimitView,
    Notification,
    PeakView,
    PlanPoint,
    PowerFlow,
    PricePoint,
)
from gridedge.bus.envelope import CallbackSubscription, Envelope, Transport
from gridedge.home.cem.grid_link import topic as lpc_topic
from gridedge.home.cem.notify import NearLimit, NearLimitLevel, near_limit_topic
from gridedge.home.cem.service import CemService, PlanSummary, meter_topic, plan_topic
from gridedge.home.devices.adapter import DeviceAdapter
from gridedge.model.devices import DeviceKind, DeviceState
from gridedge.model.limits import Direction, LimitState, LpcState
from gridedge.model.reading import MeterReading
from gridedge.model.tariff import Tariff

__all__ = [
    "NOTES_KEPT",
    "QUARTER_S",
    "SiteJournal",
    "device_kind",
    "device_views",
    "limit_view",
    "peak_view",
    "plan_points",
    "power_flow",
    "quarter_start",
    "tariff_prices",
]

QUARTER_S = 900
NOTES_KEPT = 50

_KIND = {
    DeviceKind.PV_INVERTER: "pv",
    DeviceKind.BATTERY: "battery",
    DeviceKind.EV_CHARGER: "ev",
    DeviceKind.HEAT_PUMP: "heat_pump",
    DeviceKind.APPLIANCE: "appliance",
    DeviceKind.OTHER: "other",
}


def device_kind(kind: DeviceKind) -> str:
    """The dashboard's name of a device kind (`DeviceView.kind`)."""
    return _KIND.get(kind, "other")


def quarter_start(at: datetime) -> datetime:
    """The start of the quarter hour `at` lies in."""
    return at - timedelta(seconds=at.timestamp() % QUARTER_S, microseconds=at.microsecond)


def _day(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    day = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    return day, datetime.combine(day.date() + timedelta(days=1), time(0), tzinfo=zone)


def power_flow(grid_w: float | None, devices: Iterable[tuple[DeviceKind, DeviceState | None]]) -> PowerFlow:
    """The live flow from the meter's net power and the devices' last states (device powers are
    consumer-signed: PV negative while it generates, a battery positive while it charges)."""
    pv = battery = ev = hp = 0.0
    battery_soc: float | None = None
    ev_soc: float | None = None
    for kind, state in devices:
        if state is None:
            continue
        p = state.power_w if math.isfinite(state.power_w) else 0.0
        if kind is DeviceKind.PV_INVERTER:
            pv += -p
        elif kind is DeviceKind.BATTERY:
            battery += p
            battery_soc = state.soc
        elif kind is DeviceKind.EV_CHARGER:
            ev += p
            ev_soc = state.soc if state.connected is not False else None
        elif kind is DeviceKind.HEAT_PUMP:
            hp += p
    grid = grid_w if grid_w is not None else 0.0
    return PowerFlow(grid, pv, battery, ev, hp, grid + pv - battery - ev - hp, battery_soc, ev_soc)


def limit_view(cem: CemService, last_heartbeat: float | None) -> LimitView:
    """The LPC machine's state and its countdowns (LPC-911: failsafe 120 s after the last
    heartbeat, `last_heartbeat` on the clock's monotonic scale; the limit's or the failsafe's
    remaining duration)."""
    grid = cem.grid
    t = cem.clock.monotonic()
    lpc = grid.report(Direction.CONSUMPTION)
    lpp = grid.report(Direction.PRODUCTION)
    if lpc is None:
        return LimitView(LpcState.UNLIMITED_AUTONOMOUS.value, None, None, None, None, None)
    age = None if last_heartbeat is None else max(t - last_heartbeat, 0.0)
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


def tariff_prices(tariff: Tariff, now: datetime, zone: ZoneInfo) -> tuple[PricePoint, ...]:
    """Today's all-in import and export prices per quarter hour (local day of `zone`), as far as
    the tariff's price series covers it."""
    day, end = _day(now, zone)
    start = day
    spot = tariff.spot
    if spot is not None:
        first = spot.start
        last = first + timedelta(seconds=spot.step_s * len(spot.values))
        start = max(day, quarter_start(first + timedelta(seconds=QUARTER_S - 1e-3)))
        end = min(end, quarter_start(last))
    n = int((end - start).total_seconds() // QUARTER_S)
    if n <= 0:
        return ()
    try:
        steps = tariff.resample(start, n, QUARTER_S)
    except ValueError:  # a gap inside the series (PriceGapError)
        return ()
    return tuple(
        PricePoint(
            start + timedelta(seconds=QUARTER_S * k),
            float(steps.import_eur_per_kwh[k]),
            float(steps.export_eur_per_kwh[k]),
        )
        for k in range(n)
        if math.isfinite(steps.import_eur_per_kwh[k]) and math.isfinite(steps.export_eur_per_kwh[k])
    )


def plan_points(
    planned: dict[datetime, float],
    measured: dict[datetime, tuple[float, int]],
    now: datetime,
    zone: ZoneInfo,
) -> tuple[PlanPoint, ...]:
    """Today's quarter hours: what the plan in force aimed at (`planned`, W), what the meter
    measured (`measured`: sum of net W and seconds counted); quarters without a plan are left out."""
    day, end = _day(now, zone)
    slots = sorted({q for q in (*planned, *measured) if day <= q < end})
    current = quarter_start(now)
    out = []
    for q in slots:
        aim = planned.get(q)
        got = measured.get(q)
        actual = None if got is None or q > current or got[1] <= 0 else got[0] / got[1]
        if aim is not None:
            out.append(PlanPoint(q, aim, actual))
    return tuple(out)


def peak_view(cem: CemService) -> PeakView:
    """The running quarter hour's average import and the month's peak (capacity tariff), kW."""
    now = cem.clock.now()
    watch = cem.tracker.watch(now, 0.0)
    quarter_kw = watch.imported_wh / watch.elapsed_s * 3.6 if watch.elapsed_s > 0 else 0.0
    month = cem.tracker.month_peak_kw or 0.0
    return PeakView(quarter_kw, max(month, 0.0))


def device_views(
    cem: CemService, adapters: Iterable[DeviceAdapter], managed: Callable[[str], bool]
) -> tuple[DeviceView, ...]:
    """Each device with its last power, and the setpoint the last control decision gave it while
    the energy manager steers it (`managed`)."""
    decision = cem.loop.last_decision
    setpoints = {sp.device_id: sp for sp in decision.setpoints} if decision is not None else {}
    out = []
    for adapter in adapters:
        did = adapter.info.device_id
        state = adapter.state()
        sp = setpoints.get(did)
        is_managed = managed(did)
        target = None
        if sp is not None and is_managed:
            target = sp.target()
            if target is None:
                target = sp.max_w
        out.append(
            DeviceView(
                did,
                device_kind(adapter.info.kind),
                0.0 if state is None else state.power_w,
                True if state is None else state.online,
                is_managed,
                target,
            )
        )
    return tuple(out)


class SiteJournal:
    """What one site's bus tells the dashboard over time: notifications (LPC state changes,
    near-limit notices, plans that gave way), the grid operator's last heartbeat, and per quarter
    hour the measured net grid power and the plan's aim. `start` subscribes, `close` stops."""

    def __init__(self, site_id: str, transport: Transport, clock_now: Callable[[], datetime],
                 clock_monotonic: Callable[[], float], *, plan_notes: bool = False) -> None:  # fmt: skip
        self.site_id = site_id
        self.transport = transport
        self._now = clock_now
        self._monotonic = clock_monotonic
        self.plan_notes = plan_notes
        """Also note every new plan (not only when needs give way or are met again)."""
        self.notes: deque[Notification] = deque(maxlen=NOTES_KEPT)
        self.last_heartbeat: float | None = None
        self.grid_w: float | None = None
        self.last_reading: float | None = None
        """When the newest meter reading came (monotonic clock)."""
        self.measured: dict[datetime, tuple[float, int]] = {}
        self.planned: dict[datetime, float] = {}
        self.changed: Callable[[], None] = lambda: None
        """Called after anything the journal keeps changed."""
        self._lpc_state: LpcState | None = None
        self._relaxations: tuple[str, ...] = ()
        self._subs: list[CallbackSubscription] = []

    def start(self) -> None:
        sid, lpc = self.site_id, Direction.CONSUMPTION
        bus = self.transport
        self._subs = [
            bus.subscribe_callback(lpc_topic(sid, lpc, "state"), self._on_state, LimitState),
            bus.subscribe_callback(lpc_topic(sid, lpc, "heartbeat"), self._on_heartbeat),
            bus.subscribe_callback(plan_topic(sid), self._on_plan, PlanSummary),
            bus.subscribe_callback(near_limit_topic(sid), self._on_near_limit, NearLimit),
            bus.subscribe_callback(meter_topic(sid), self._on_reading, MeterReading),
        ]

    def close(self) -> None:
        for s in self._subs:
            s.close()
        self._subs.clear()

    def note(self, level: Level, text: str) -> None:
        self.notes.appendleft(Notification(self._now(), level, text))
        self.changed()

    def forget_before(self, day: datetime) -> None:
        for book in (self.measured, self.planned):
            for q in [q for q in book if q < day]:
                del book[q]

    def _on_reading(self, env: Envelope[MeterReading]) -> None:
        net = env.payload.net_power_w
        if net is None or not math.isfinite(net):
            return
        self.grid_w = net
        self.last_reading = self._monotonic()
        q = quarter_start(self._now())
        total, n = self.measured.get(q, (0.0, 0))
        self.measured[q] = (total + net, n + 1)
        if len(self.measured) > 4 * 24 * 2:  # two days of quarters at most
            self.forget_before(quarter_start(self._now()) - timedelta(days=1))
        self.changed()

    def _on_state(self, env: Envelope[LimitState]) -> None:
        st = env.payload
        if st.state is self._lpc_state:
            return
        self._lpc_state = st.state
        level = {
            LpcState.LIMITED: Level.WARNING,
            LpcState.FAILSAFE: Level.ALARM,
            LpcState.INIT: Level.WARNING,
        }.get(st.state, Level.INFO)
        limit = f", {st.effective_limit_w / 1000:.1f} kW" if st.effective_limit_w is not None else ""
        self.note(level, f"grid limit: {st.state.value}{limit} ({st.reason})")

    def _on_heartbeat(self, env: Envelope[object]) -> None:
        self.last_heartbeat = self._monotonic()
        self.changed()

    def _on_near_limit(self, env: Envelope[NearLimit]) -> None:
        n = env.payload
        if n.level is NearLimitLevel.CLEAR:
            level = Level.INFO
        else:
            level = Level.ALARM if n.level is NearLimitLevel.OVER else Level.WARNING
        self.note(level, n.message())

    def _on_plan(self, env: Envelope[PlanSummary]) -> None:
        summary = env.payload
        plan = summary.plan
        now_q = quarter_start(self._now())
        for k, at in enumerate(plan.times):
            if at >= now_q:
                self.planned[at] = float(plan.grid_import_w[k] - plan.grid_export_w[k])
        if summary.relaxations != self._relaxations:
            self._relaxations = summary.relaxations
            if summary.relaxations:
                self.note(Level.WARNING, "plan: " + "; ".join(summary.relaxations))
            else:
                self.note(Level.INFO, "plan: every need is met again")
        elif self.plan_notes:
            self.note(Level.INFO, f"new plan: {summary.cost_eur:.2f} EUR over {summary.steps // 4} h, "
                                  f"peak {summary.peak_kw:.1f} kW ({summary.status})")  # fmt: skip
        self.changed()
