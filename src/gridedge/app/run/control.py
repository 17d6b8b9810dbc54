"""`SiteControl`: the dashboard of one real, running site (`gridedge run` with `[web]`).

It implements `gridedge.app.views.DemoControl` over the site's `CemService` (and, when they run,
the S1 port's appliance recognition and the gateway), so `gridedge.web.app.create_app` serves the
same dashboard as `gridedge demo`, showing this home:

* the home view is built with the demo's own site-independent parts (`app.site_views`): the power
  flow from the meter and the devices the energy manager knows, plan against measured per quarter
  hour, today's prices of the contract the planner used, the LPC limit state and its countdowns,
  notifications, NILM appliances, the capacity peak, and the devices with their managed switch;
* the grid view is reduced to what a home knows: its own site, no feeder, the limits the grid
  operator sent it, the gateway's WAN alarms;
* the home owner's actions work: parking a device (`home.cem.managed.DeviceParking`, refused while
  a grid limit applies, as the Home Assistant switch) and naming an appliance NILM found;
* the grid operator's actions (limits, heartbeats) come over MQTT or OpenADR, never from this
  dashboard, and a real site has no storyline and no speed: those raise `ValueError` with the
  reason (the web room answers 409 with it).

Readers copy state kept in memory; `run(stop)` is the once-a-second housekeeping (devices parked
before a grid limit are put back, prices follow new plans, a new day starts the day's figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gridedge.app import site_views
from gridedge.app.changes import Changes
from gridedge.app.site_nilm import SiteNilm
from gridedge.app.views import (
    Alarm,
    DemoStatus,
    GridView,
    HomeView,
    IssuedLimit,
    Level,
    PricePoint,
    SiteSummary,
    UnknownSite,
)
from gridedge.bus.envelope import CallbackSubscription, Envelope
from gridedge.bus.rawlink import LinkEvent, LinkEventKind
from gridedge.home.cem.grid_link import topic as lpc_topic
from gridedge.home.cem.managed import DeviceParking
from gridedge.home.devices.adapter import DeviceAdapter
from gridedge.model.limits import Direction, LpcState, PowerLimit

if TYPE_CHECKING:
    from gridedge.home.cem.service import CemService
    from gridedge.home.gateway.service import GatewayService
    from gridedge.home.nilm.engine import NilmEngine

__all__ = ["GRID_ACTIONS", "SiteControl"]

GRID_ACTIONS = "limits come from the grid operator over MQTT/OpenADR, not from this dashboard"
HEARTBEATS = "heartbeats come from the grid operator over MQTT, not from this dashboard"
NO_STORY = "a real site has no storyline (that is `gridedge demo`)"
NO_SPEED = "a real site runs in real time: its speed cannot be changed (that is `gridedge demo`)"
LIMITS_KEPT = 50
ALARMS_KEPT = 50


class SiteControl:
    """Implements `gridedge.app.views.DemoControl` for the one site `service` runs."""

    def __init__(
        self,
        service: CemService,
        *,
        nilm: NilmEngine | None = None,
        gateway: GatewayService | None = None,
        parking: DeviceParking | None = None,
    ) -> None:
        self.service = service
        self.site_id = service.site_id
        self.name = service.scenario.site.name or service.site_id
        self.zone = ZoneInfo(service.scenario.site.timezone)
        self.clock = service.clock
        self.gateway = gateway
        self.parking = parking if parking is not None else DeviceParking(service)
        self._own_parking = parking is None
        self.nilm = SiteNilm(nilm) if nilm is not None else None
        self.journal = site_views.SiteJournal(
            self.site_id, service.transport, self._now, self.clock.monotonic
        )
        self.journal.changed = self._bump
        self.prices: tuple[PricePoint, ...] = ()
        self.limits: list[IssuedLimit] = []
        self.alarms: list[Alarm] = []
        self._devices: dict[str, None] = {}
        """Device ids in the order first seen (the dashboard's order stays put when one is parked)."""
        self.changes = Changes()
        self._subs: list[CallbackSubscription] = []
        self._remove_link: Callable[[], None] | None = None
        self._plans_priced = -1
        self._day: datetime | None = None
        self._started = False

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Listen to the site's bus (and the gateway's link); idempotent."""
        if self._started:
            return
        self._started = True
        self.journal.start()
        bus = self.service.transport
        for direction in (Direction.CONSUMPTION, Direction.PRODUCTION):
            on_limit = functools.partial(self._on_limit, direction)
            self._subs.append(
                bus.subscribe_callback(lpc_topic(self.site_id, direction, "limit"), on_limit, PowerLimit)
            )
        if self.gateway is not None:
            self._remove_link = self.gateway.link.add_listener(self._on_link_event)
        self._day = self._midnight()

    def close(self) -> None:
        self.journal.close()
        for s in self._subs:
            s.close()
        self._subs.clear()
        if self._remove_link is not None:
            self._remove_link()
            self._remove_link = None
        if self.nilm is not None:
            self.nilm.close()
        if self._own_parking:
            self.parking.close()
        self._started = False

    async def run(self, stop: asyncio.Event) -> None:
        """Once a second until `stop`: the housekeeping the views need (then `close`)."""
        self.start()
        try:
            while not stop.is_set():
                self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            self.close()

    def tick(self) -> None:
        """Put parked devices back under a grid limit (§14a EnWG: the limit guard must reach them),
        price a new plan's day, start a new day's figures, note NILM's appliances."""
        for did in self.parking.restore_under_limit():
            self.journal.note(Level.WARNING, f"a grid limit applies: {did} is managed by gridedge again")
            self.service.request_replan()
        midnight = self._midnight()
        new_day = self._day is not None and midnight != self._day
        if new_day:
            self._day = midnight
            self.journal.forget_before(midnight - timedelta(days=1))
            if self.nilm is not None:
                self.nilm.new_day()
        if new_day or self.service.plans_made != self._plans_priced:
            self._plans_priced = self.service.plans_made
            self._price()
        if self.nilm is not None:
            for text in self.nilm.take_notes(self.clock.monotonic()):
                self.journal.note(Level.INFO, text)
        self._bump()

    def _midnight(self) -> datetime:
        return datetime.combine(self.clock.now().astimezone(self.zone).date(), time(0), tzinfo=self.zone)

    def _price(self) -> None:
        """Today's prices of the contract the planner priced its last plan with (a tariff already
        built: no file is read here)."""
        tariff = self.service.tariff  # the tariff of the plan in force
        if tariff is not None:
            self.prices = site_views.tariff_prices(tariff, self.clock.now(), self.zone)

    # ------------------------------------------------------------------ bus

    def _on_limit(self, direction: Direction, env: Envelope[PowerLimit]) -> None:
        """A limit the grid operator sent (LPC or LPP, by its topic), as the grid view lists them."""
        lim = env.payload
        self.limits.insert(
            0,
            IssuedLimit(
                self._now(), self.site_id, direction.value, lim.value_w if lim.active else None,
                lim.duration_s or None, f"grid operator ({env.source})",
            ),
        )  # fmt: skip
        del self.limits[LIMITS_KEPT:]
        self._bump()

    def _on_link_event(self, event: LinkEvent) -> None:
        if event.kind is LinkEventKind.DISCONNECTED:
            text, level = f"gateway link down: {event.detail}", Level.WARNING
            self.journal.note(level, text)
        elif event.kind is LinkEventKind.CONNECTED:
            text, level = f"gateway link up: {event.detail}", Level.INFO
        else:
            return
        self.alarms.insert(0, Alarm(self._now(), self.site_id, "wan", level, text))
        del self.alarms[ALARMS_KEPT:]
        self._bump()

    # ------------------------------------------------------------------ DemoControl: reading

    @property
    def version(self) -> int:
        return self.changes.version

    def _bump(self) -> None:
        self.changes.bump()

    async def wait_change(self, after: int, timeout_s: float) -> int:
        return await self.changes.wait(after, timeout_s)

    def _now(self) -> datetime:
        """The site's wall time: every time in its views is in its own zone."""
        return self.clock.now().astimezone(self.zone)

    def status(self) -> DemoStatus:
        return DemoStatus(self._now(), 1.0, (), (self.site_id,))

    def _check(self, site_id: str) -> None:
        if site_id != self.site_id:
            raise UnknownSite(site_id)

    def _adapters(self) -> list[DeviceAdapter]:
        """The registry's devices and the parked ones, in the order first seen."""
        by_id: dict[str, DeviceAdapter] = {a.info.device_id: a for a in self.service.registry}
        for did, adapter in self.parking.parked.items():
            by_id.setdefault(did, adapter)
        for did in by_id:
            self._devices.setdefault(did, None)
        return [by_id[did] for did in self._devices if did in by_id]

    def home(self, site_id: str) -> HomeView:
        self._check(site_id)
        cem = self.service
        adapters = self._adapters()
        return HomeView(
            site_id=self.site_id,
            name=self.name,
            now=self._now(),
            flow=site_views.power_flow(self.journal.grid_w, ((a.info.kind, a.state()) for a in adapters)),
            plan=site_views.plan_points(
                self.journal.planned, self.journal.measured, self.clock.now(), self.zone
            ),
            prices=self.prices,
            limit=site_views.limit_view(cem, self.journal.last_heartbeat),
            notifications=tuple(self.journal.notes),
            appliances=self.nilm.shares() if self.nilm is not None else (),
            peak=site_views.peak_view(cem),
            devices=site_views.device_views(cem, adapters, self.parking.managed),
            has_nilm=self.nilm is not None,
        )

    def grid(self) -> GridView:
        """What a home knows of the grid: itself, the limits it was sent, its gateway's alarms."""
        now = self._now()
        lpc = self.service.grid.report(Direction.CONSUMPTION)
        t = self.clock.monotonic()
        got = self.journal.last_reading
        age = None if got is None else max(t - got, 0.0)
        beat = self.journal.last_heartbeat
        timeout = self.service.grid.machines[Direction.CONSUMPTION].config.heartbeat_timeout_s
        site = SiteSummary(
            self.site_id, self.name, "", self.journal.grid_w,
            LpcState.UNLIMITED_AUTONOMOUS.value if lpc is None else lpc.state.value,
            None if lpc is None else lpc.effective_limit_w, age, self.nilm is not None,
        )  # fmt: skip
        committed = 0
        if self.gateway is not None:
            committed = self.gateway.counters.acked
        return GridView(
            now=now,
            sites=(site,),
            feeders=(),
            limits=tuple(self.limits),
            alarms=tuple(self.alarms),
            records_committed=committed,
            heartbeat_enabled=beat is not None and t - beat < timeout,
        )

    # ------------------------------------------------------------------ DemoControl: acting

    def issue_limit(self, site_id: str, import_w: float, duration_s: float | None, by: str) -> None:
        self._check(site_id)
        raise ValueError(GRID_ACTIONS)

    def clear_limit(self, site_id: str, by: str) -> None:
        self._check(site_id)
        raise ValueError(GRID_ACTIONS)

    def stop_heartbeat(self, site_ids: Sequence[str] | None, by: str) -> None:
        raise ValueError(HEARTBEATS)

    def resume_heartbeat(self, site_ids: Sequence[str] | None, by: str) -> None:
        raise ValueError(HEARTBEATS)

    def trigger(self, key: str, by: str) -> None:
        raise ValueError(NO_STORY)

    def set_speed(self, speed: float) -> None:
        raise ValueError(NO_SPEED)

    def set_managed(self, site_id: str, device_id: str, managed: bool, by: str) -> None:
        """Park a device (the energy manager stops steering it: it runs on its own) or take it
        back. KeyError: no such device; ValueError: refused while the grid operator's limit or the
        failsafe applies (§14a EnWG: a device outside the limit guard's reach could break it)."""
        self._check(site_id)
        why = self.parking.set_managed(device_id, managed)
        if why is not None:
            if why.startswith("no device"):
                raise KeyError(f"{why} at site {site_id!r}")
            self.journal.note(Level.WARNING, f"{by}: {device_id} stays managed: {why}")
            raise ValueError(f"{device_id}: {why}")
        what = "managed by gridedge again" if managed else "parked: runs on its own"
        self.journal.note(Level.INFO, f"{by}: {device_id} {what}")
        self.service.request_replan()

    def label_appliance(self, site_id: str, appliance_id: str, label: str, by: str) -> None:
        self._check(site_id)
        if self.nilm is None:
            raise KeyError(f"site {site_id!r} has no NILM (no S1 port with nilm = true)")
        name = label.strip()
        if not name:
            raise ValueError("label: expected a name, found an empty string")
        self.nilm.label(appliance_id, name)
        self.journal.note(Level.INFO, f"{by}: NILM appliance {appliance_id!r} named {name!r}")
