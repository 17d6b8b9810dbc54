"""One household of the demo: virtual site, energy manager, gateway, (NILM), and what it noticed.

Each home runs the project's real home-side services on the shared in-process bus and the shared
`SimClock`: a `CemService` driving the virtual site's devices through `sim.devices.direct`
adapters (meter readings arrive on `site/<id>/meter/reading`, as in `gridedge cem` without a
port), and a `GatewayService` that turns the same readings into sealed records for the head-end
(`InlineDb`: SQLite on the loop, since a thread is invisible to simulated time). The featured
home also runs NILM on its S1 cycle stream (`app.demo.nilm`).

The home keeps what the dashboard shows and the services do not keep themselves: the last
notifications (near-limit notices, LPC state changes, plans, storyline steps, NILM events), when
the grid operator's last heartbeat came, and the measured grid power per quarter hour next to
what each plan aimed at.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path

from gridedge.app.demo.nilm import HomeNilm
from gridedge.app.views import Level, Notification, PricePoint
from gridedge.bus.envelope import CallbackSubscription, Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.rawlink import InProcessRawLink
from gridedge.clock import Clock
from gridedge.grid.hes.keys import MeterKeys
from gridedge.home.cem.grid_link import topic as lpc_topic
from gridedge.home.cem.managed import DeviceParking
from gridedge.home.cem.notify import NearLimit, NearLimitLevel, near_limit_topic
from gridedge.home.cem.openadr_link import OpenAdrSignals
from gridedge.home.cem.service import CemService, PlanSummary, meter_topic, plan_topic
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.gateway.consent import ConsentRegistry
from gridedge.home.gateway.db import open_db
from gridedge.home.gateway.service import GatewayConfig, GatewayService, InlineDb
from gridedge.home.nilm.engine import ApplianceEvent
from gridedge.home.nilm.tracker import UNKNOWN_LABEL
from gridedge.model.devices import Setpoint
from gridedge.model.limits import Direction, LimitState, LpcState
from gridedge.model.scenario import Scenario
from gridedge.sim.devices.direct import DirectAdapter, direct_adapters
from gridedge.sim.site import SiteSecond, VirtualSite

__all__ = ["DemoHome", "quarter_of"]

QUARTER_S = 900
NOTES_KEPT = 50
NILM_NOTE_EVERY_S = 900.0


def quarter_of(at: datetime) -> datetime:
    ts = at.timestamp()
    return at - timedelta(seconds=ts % QUARTER_S, microseconds=at.microsecond)


class DemoHome:
    """A household and its services; `on_second` takes each simulated second of its site."""

    def __init__(
        self,
        scenario: Scenario,
        site: VirtualSite,
        *,
        clock: Clock,
        bus: InProcessBus,
        data_dir: Path,
        keys: MeterKeys,
        signals: OpenAdrSignals,
        featured: bool,
    ) -> None:
        self.scenario = scenario
        self.site = site
        self.site_id = scenario.cem.site_id
        self.name = scenario.site.name
        self.featured = featured
        self.clock = clock
        self.bus = bus
        self.meter_id = scenario.meter.equipment_id
        registry = DeviceRegistry()
        self.adapters: dict[str, DirectAdapter] = {}
        for adapter in direct_adapters(site):
            registry.add(adapter)
            self.adapters[adapter.info.device_id] = adapter
        self.cem = CemService(
            scenario, clock=clock, transport=bus, registry=registry, base_dir=data_dir, openadr=signals,
            replan_min_interval_s=60.0 if featured else 900.0,
        )  # fmt: skip
        self.parking = DeviceParking(self.cem)
        key = keys.provision(self.meter_id)
        conn = open_db(data_dir / f"gateway-{self.site_id}.db", synchronous="NORMAL")
        ConsentRegistry(conn).grant("all", "hes", by="demo: the household consented", now=clock.now())
        self.link = InProcessRawLink(bus, clock, name=f"gateway-{self.site_id}")
        self.gateway = GatewayService(
            GatewayConfig(self.meter_id), clock=clock, link=self.link, conn=conn, key=key, db=InlineDb()
        )
        self.nilm = HomeNilm(self.site_id, scenario, bus) if featured else None
        self.notes: deque[Notification] = deque(maxlen=NOTES_KEPT)
        self.prices: tuple[PricePoint, ...] = ()
        """Today's all-in prices of this home's contract (set by the world when prices change)."""
        self.last_heartbeat: float | None = None
        self.last_second: SiteSecond | None = None
        self.grid_w: float | None = None
        self.measured: dict[datetime, tuple[float, int]] = {}
        """Quarter-hour start -> (sum of net W, seconds)."""
        self.planned: dict[datetime, float] = {}
        """Quarter-hour start -> the grid power the plan in force at the time aimed at (W)."""
        self._lpc_state: LpcState | None = None
        self._nilm_noted: dict[str, float] = {}
        self._relaxations: tuple[str, ...] = ()
        self._subs: list[CallbackSubscription] = []

    # ---- bus

    def start(self) -> None:
        sid = self.site_id
        lpc = Direction.CONSUMPTION
        self._subs = [
            self.bus.subscribe_callback(lpc_topic(sid, lpc, "state"), self._on_state, LimitState),
            self.bus.subscribe_callback(lpc_topic(sid, lpc, "heartbeat"), self._on_heartbeat),
            self.bus.subscribe_callback(plan_topic(sid), self._on_plan, PlanSummary),
            self.bus.subscribe_callback(near_limit_topic(sid), self._on_near_limit, NearLimit),
        ]
        self._unfollow = self.gateway.follow_bus(self.bus, meter_topic(sid))

    def close(self) -> None:
        for s in self._subs:
            s.close()
        self._subs.clear()
        self._unfollow()
        self.parking.close()

    def note(self, level: Level, text: str) -> None:
        self.notes.appendleft(Notification(self.clock.now(), level, text))

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
        self.last_heartbeat = self.clock.monotonic()

    def _on_near_limit(self, env: Envelope[NearLimit]) -> None:
        n = env.payload
        level = Level.INFO if n.level is NearLimitLevel.CLEAR else (
            Level.ALARM if n.level is NearLimitLevel.OVER else Level.WARNING
        )  # fmt: skip
        self.note(level, n.message())

    def _on_plan(self, env: Envelope[PlanSummary]) -> None:
        summary = env.payload
        plan = summary.plan
        now_q = quarter_of(self.clock.now())
        for k, at in enumerate(plan.times):
            if at >= now_q:
                self.planned[at] = float(plan.grid_import_w[k] - plan.grid_export_w[k])
        if summary.relaxations != self._relaxations:
            self._relaxations = summary.relaxations
            if summary.relaxations:
                self.note(Level.WARNING, "plan: " + "; ".join(summary.relaxations))
            else:
                self.note(Level.INFO, "plan: every need is met again")
        elif self.featured:
            self.note(Level.INFO, f"new plan: {summary.cost_eur:.2f} EUR over {summary.steps // 4} h, "
                                  f"peak {summary.peak_kw:.1f} kW ({summary.status})")  # fmt: skip

    def on_nilm(self, events: list[ApplianceEvent]) -> None:
        """Appliances switching on, as NILM named them; at most one note per appliance every
        `NILM_NOTE_EVERY_S` (a cycling heat pump or fridge would drown every other notification)."""
        now = self.clock.monotonic()
        for ev in events:
            if not ev.final or ev.cancelled or not ev.on:
                continue
            if now - self._nilm_noted.get(ev.label, -math.inf) < NILM_NOTE_EVERY_S:
                continue
            self._nilm_noted[ev.label] = now
            if ev.label == UNKNOWN_LABEL:
                self.note(
                    Level.INFO,
                    f"NILM: an appliance it does not know switched on ({ev.delta_p_w:+.0f} W): name it",
                )
            else:
                self.note(
                    Level.INFO, f"NILM: {ev.label} on ({ev.delta_p_w:+.0f} W, {ev.confidence:.0%} sure)"
                )

    def forget_before(self, day: datetime) -> None:
        """Drop quarter hours before `day` (a new day began)."""
        for book in (self.measured, self.planned):
            for q in [q for q in book if q < day]:
                del book[q]

    # ---- each second

    def on_second(self, sec: SiteSecond) -> None:
        """Publish the second's meter reading (the CEM, the gateway and the DSO read it on the
        bus), count it in its quarter hour, feed NILM."""
        self.last_second = sec
        reading = sec.reading
        if reading is not None:
            self.bus.publish(meter_topic(self.site_id), reading, source="meter")
            net = reading.net_power_w
            if net is not None and math.isfinite(net):
                self.grid_w = net
                q = quarter_of(self.clock.now())
                total, n = self.measured.get(q, (0.0, 0))
                self.measured[q] = (total + net, n + 1)
        if self.nilm is not None:
            self.on_nilm(self.nilm.feed(sec.block))

    # ---- the owner's switch

    def set_managed(self, device_id: str, managed: bool) -> str | None:
        """Park or take back a device (None: done, else why not). A parked device is released to
        its own behaviour: the car charges at full current, the battery follows the meter, the
        heat pump its thermostat."""
        why = self.parking.set_managed(device_id, managed)
        if why is None and not managed:
            adapter = self.adapters.get(device_id)
            if adapter is not None:
                task = asyncio.ensure_future(adapter.apply(Setpoint(device_id, reason="parked by the owner")))
                task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
        return why

    # ---- running

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.ensure_future(self.cem.run(stop)), asyncio.ensure_future(self.gateway.run(stop))]
        try:
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
            self.close()
