"""One household of the demo: virtual site, energy manager, gateway, (NILM), and what it noticed.

Each home runs the project's real home-side services on the shared in-process bus and the shared
`SimClock`: a `CemService` driving the virtual site's devices through `sim.devices.direct`
adapters (meter readings arrive on `site/<id>/meter/reading`, as in `gridedge cem` without a
port), and a `GatewayService` that turns the same readings into sealed records for the head-end
(`InlineDb`: SQLite on the loop, since a thread is invisible to simulated time). The featured
home also runs NILM on its S1 cycle stream (`app.demo.nilm`).

What the dashboard shows and the services do not keep themselves is kept by the home's
`SiteJournal` (`app.site_views`, as for `gridedge run`'s site): the last notifications
(near-limit notices, LPC state changes, plans, storyline steps, NILM's appliances), when the grid
operator's last heartbeat came, and the measured grid power per quarter hour next to what each
plan aimed at.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gridedge.app.demo.nilm import HomeNilm
from gridedge.app.site_views import SiteJournal
from gridedge.app.views import Level, PricePoint
from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.rawlink import InProcessRawLink
from gridedge.clock import Clock
from gridedge.grid.hes.keys import MeterKeys
from gridedge.home.cem.managed import DeviceParking
from gridedge.home.cem.openadr_link import OpenAdrSignals
from gridedge.home.cem.service import CemService, meter_topic
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.gateway.consent import ConsentRegistry
from gridedge.home.gateway.db import open_db
from gridedge.home.gateway.service import GatewayConfig, GatewayService, InlineDb
from gridedge.model.devices import Setpoint
from gridedge.model.scenario import Scenario
from gridedge.sim.devices.direct import DirectAdapter, direct_adapters
from gridedge.sim.site import SiteSecond, VirtualSite

__all__ = ["DemoHome"]


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
        zone = ZoneInfo(scenario.site.timezone)  # the view shows the home's wall time
        self.journal = SiteJournal(
            self.site_id, bus, lambda: clock.now().astimezone(zone), clock.monotonic, plan_notes=featured
        )
        """Notifications, the last heartbeat, measured and planned grid power per quarter hour (the
        featured home also notes every new plan)."""
        self.prices: tuple[PricePoint, ...] = ()
        """Today's all-in prices of this home's contract (set by the world when prices change)."""
        self.last_second: SiteSecond | None = None

    # ---- bus

    def start(self) -> None:
        self.journal.start()
        self._unfollow = self.gateway.follow_bus(self.bus, meter_topic(self.site_id))

    def close(self) -> None:
        self.journal.close()
        if self.nilm is not None:
            self.nilm.close()
        self._unfollow()
        self.parking.close()

    def note(self, level: Level, text: str) -> None:
        self.journal.note(level, text)

    def forget_before(self, day: datetime) -> None:
        """Drop quarter hours before `day` (a new day began)."""
        self.journal.forget_before(day)

    # ---- each second

    def on_second(self, sec: SiteSecond) -> None:
        """Publish the second's meter reading (the CEM, the gateway, the DSO and the journal read
        it on the bus), feed NILM and note the appliances it saw switching on."""
        self.last_second = sec
        reading = sec.reading
        if reading is not None:
            self.bus.publish(meter_topic(self.site_id), reading, source="meter")
        if self.nilm is not None:
            self.nilm.feed(sec.block)
            for text in self.nilm.take_notes(self.clock.monotonic()):
                self.journal.note(Level.INFO, text)

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
