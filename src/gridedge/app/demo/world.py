"""`DemoWorld`: the virtual neighbourhood behind `gridedge demo`, one process, one loop.

Everything runs on one `SimClock` and one `InProcessBus` (the embedded defaults, DESIGN.md):
the street's virtual sites (`sim.neighbourhood`), a `CemService` and a gateway per home, NILM on
the featured home's S1 cycle stream, the grid operator's `DsoService`, the embedded head-end on
SQLite, and the aggregator's VTN publishing prices (`app.demo.aggregator`).

The driver moves the world one simulated second at a time: play the user's queued actions
(`trigger`), step every site, publish the readings, advance the clock by one second (timers of
every service fire in order), wait for the setpoints sent and for any re-plan being solved in its
worker thread (so that a plan lands at the simulated time it was asked for), play the storyline
steps whose minute the clock reached (the 18:00 limit goes out at 18:00:00 and the next control
cycle applies it), and bump `version`.
`run` paces it at `speed` simulated seconds per wall second and reports the lag when the machine
cannot keep up; `advance` runs the same driver without pacing (tests). The clock is never
advanced from two places (no nested `SimClock.advance`).

Readers (`status`, `home`, `grid`) only copy state kept in memory: they never await, never touch
SQLite, and are safe to call from the web room between two driver steps.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time as _time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, time, timedelta

from gridedge.app.changes import Changes
from gridedge.app.demo.aggregator import DemoAggregator
from gridedge.app.demo.config import DemoConfig
from gridedge.app.demo.grid_side import GridSide
from gridedge.app.demo.homes import DemoHome
from gridedge.app.demo.storyline import Storyline
from gridedge.app.demo.street import (
    FAILSAFE_W,
    FEATURED_LIMIT_W,
    FEEDER_KW_PER_HOME,
    FEEDER_MIN_KW,
    build_street,
)
from gridedge.app.demo.views_builder import grid_view, home_view, price_curve
from gridedge.app.views import DemoStatus, GridView, HomeView, Level, PricePoint, UnknownSite
from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.rawlink import LinkEvent, LinkEventKind
from gridedge.clock import Clock, RealClock, SimClock
from gridedge.home.cem.openadr_link import OpenAdrSignals
from gridedge.model.scenario import EventAction, EventConfig
from gridedge.sim.neighbourhood import Neighbourhood, freeze_heap

__all__ = ["NEIGHBOUR_LIMIT_W", "DemoWorld"]

log = logging.getLogger(__name__)

NEIGHBOUR_LIMIT_W = 8000.0
"""The storyline's 18:00 limit on the other homes with a car or a heat pump."""
MAX_CATCH_UP_S = 5.0
"""Wall seconds of backlog the pacing loop tries to catch up before it lets the lag go."""


class DemoWorld:
    """Implements `gridedge.app.views.DemoControl`."""

    def __init__(self, config: DemoConfig, *, wall: Clock | None = None) -> None:
        """`wall`: the clock simulated time is paced against (the real one by default; tests pace
        against a `SimClock`)."""
        self.config = config
        self.wall: Clock = wall if wall is not None else RealClock()
        self._repace = asyncio.Event()
        """Set by `set_speed`: the pacing loop's wait ends at once."""
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.zone = config.zone
        self.clock = SimClock(config.start)
        self.bus = InProcessBus(self.clock)
        self.scenarios = build_street(config)
        self.hood = Neighbourhood(self.scenarios)
        self.signals = OpenAdrSignals()
        self.aggregator = DemoAggregator(self.clock, config.data_dir / "vtn.db", self.zone)
        self.grid_side = GridSide(
            self.scenarios, clock=self.clock, bus=self.bus, data_dir=config.data_dir, zone=self.zone,
            capacity_w=max(FEEDER_KW_PER_HOME * config.homes, FEEDER_MIN_KW) * 1000.0, failsafe_w=FAILSAFE_W,
        )  # fmt: skip
        self.homes: list[DemoHome] = [
            DemoHome(
                sc,
                site,
                clock=self.clock,
                bus=self.bus,
                data_dir=config.data_dir,
                keys=self.grid_side.keys,
                signals=self.signals,
                featured=n == 0,
            )
            for n, (sc, site) in enumerate(zip(self.scenarios, self.hood.sites, strict=True))
        ]
        self._by_id = {h.site_id: h for h in self.homes}
        for h in self.homes:
            h.link.add_listener(functools.partial(self._on_link_event, h))
        self.story = Storyline(start=config.start, auto=config.storyline)
        self._speed = float(config.speed)
        self.changes = Changes()
        self._actions: deque[tuple[str, Callable[[], Awaitable[None] | None]]] = deque()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._closed = False
        self._day = config.start.astimezone(self.zone).date()
        self.seconds = 0
        """Simulated seconds the driver has stepped."""
        self.lag_s = 0.0
        """Simulated seconds the pacing loop is behind its target (0 when it keeps up)."""
        self.step_wall_s = 0.0
        """Wall time of the last driver step."""
        self.ready = asyncio.Event()
        """Set once every energy manager has its first plan (or gave up on it) and the world runs."""
        self.startup_s: float | None = None
        self._anchor: tuple[float, int] = (0.0, 0)
        self._lag_reported = -math.inf

    # ------------------------------------------------------------------ DemoControl: reading

    @property
    def version(self) -> int:
        return self.changes.version

    def _bump(self) -> None:
        self.changes.bump()

    async def wait_change(self, after: int, timeout_s: float) -> int:
        return await self.changes.wait(after, timeout_s)

    def status(self) -> DemoStatus:
        return DemoStatus(
            self.clock.now().astimezone(self.zone), self._speed, self.story.steps(), tuple(self._by_id),
            lag_s=self.lag_s,
        )

    def _home(self, site_id: str) -> DemoHome:
        home = self._by_id.get(site_id)
        if home is None:
            raise UnknownSite(site_id)
        return home

    def home(self, site_id: str) -> HomeView:
        return home_view(self._home(site_id), self.zone)

    def grid(self) -> GridView:
        return grid_view(self.grid_side, self.homes, self.clock.now().astimezone(self.zone))

    # ------------------------------------------------------------------ DemoControl: acting

    def issue_limit(self, site_id: str, import_w: float, duration_s: float | None, by: str) -> None:
        home = self._home(site_id)
        self.grid_side.issue_limit(site_id, import_w, duration_s, by)
        span = "" if duration_s is None else f" for {duration_s / 60:.0f} min"
        home.note(Level.WARNING, f"{by}: grid operator limits import to {import_w / 1000:.1f} kW{span}")
        self._bump()

    def clear_limit(self, site_id: str, by: str) -> None:
        home = self._home(site_id)
        self.grid_side.clear_limit(site_id, by)
        home.note(Level.INFO, f"{by}: grid operator lifts the import limit")
        self._bump()

    def _sites(self, site_ids: Sequence[str] | None) -> list[str]:
        if site_ids is None:
            return list(self._by_id)
        for sid in site_ids:
            self._home(sid)
        return list(site_ids)

    def stop_heartbeat(self, site_ids: Sequence[str] | None, by: str) -> None:
        sites = self._sites(site_ids)
        self.grid_side.stop_heartbeat(sites)
        for sid in sites:
            self._by_id[sid].note(
                Level.WARNING, f"{by}: the grid operator's heartbeats stop (LPC-911: failsafe in 120 s)"
            )
        self._bump()

    def resume_heartbeat(self, site_ids: Sequence[str] | None, by: str) -> None:
        sites = self._sites(site_ids)
        self.grid_side.resume_heartbeat(sites)
        for sid in sites:
            self._by_id[sid].note(Level.INFO, f"{by}: the grid operator's heartbeats resume (LPC-916)")
        self._bump()

    def trigger(self, key: str, by: str) -> None:
        """Play a storyline step at the next simulated second (KeyError: no such step)."""
        step = self.story.step(key)
        self._actions.append((f"{step.key} by {by}", lambda: self._play(step.key, by)))

    def set_managed(self, site_id: str, device_id: str, managed: bool, by: str) -> None:
        """Park a device (the energy manager stops steering it) or take it back. KeyError: no such
        device; ValueError: refused, while the grid operator's limit or the failsafe applies
        (§14a EnWG: a device outside the limit guard's reach could break the limit)."""
        home = self._home(site_id)
        why = home.set_managed(device_id, managed)
        if why is not None:
            if why.startswith("no device"):
                raise KeyError(why)
            home.note(Level.WARNING, f"{by}: {device_id} stays managed: {why}")
            self._bump()
            raise ValueError(f"{device_id}: {why}")
        else:
            what = "managed by gridedge again" if managed else "parked: runs on its own"
            home.note(Level.INFO, f"{by}: {device_id} {what}")
            home.cem.request_replan()
        self._bump()

    def label_appliance(self, site_id: str, appliance_id: str, label: str, by: str) -> None:
        home = self._home(site_id)
        if home.nilm is None:
            raise KeyError(f"site {site_id!r} has no NILM (no S1 port)")
        name = label.strip()
        if not name:
            raise ValueError("label: expected a name, found an empty string")
        home.nilm.label(appliance_id, name)
        home.note(Level.INFO, f"{by}: NILM appliance {appliance_id!r} named {name!r}")
        self._bump()

    def set_speed(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed: expected sim seconds per second > 0, found {speed!r}")
        self._speed = float(speed)
        self._anchor = (self.wall.monotonic(), self.seconds)
        self._repace.set()
        self._bump()

    def _on_link_event(self, home: DemoHome, event: LinkEvent) -> None:
        """The gateway's WAN link (its `WanMonitor` logs it too): an outage is a WAN alarm."""
        if self._closed:
            return
        if event.kind is LinkEventKind.DISCONNECTED:
            home.note(Level.WARNING, f"gateway link down: {event.detail}")
            self.grid_side.wan_alarm(home.site_id, Level.WARNING, f"gateway link down: {event.detail}")
        elif event.kind is LinkEventKind.CONNECTED and self.ready.is_set():
            self.grid_side.wan_alarm(home.site_id, Level.INFO, f"gateway link up: {event.detail}")

    # ------------------------------------------------------------------ the storyline

    def _note_all(self, level: Level, text: str) -> None:
        for h in self.homes:
            h.note(level, text)

    async def _play(self, key: str, by: str) -> None:
        step = self.story.step(key)
        self.story.mark_done(key)
        log.info("storyline: %s (%s)", step.label, by)
        self._note_all(Level.INFO, f"storyline: {step.label} ({by})")
        featured = self.homes[0]
        limited = [h.site_id for h in self.homes[1:] if h.scenario.ev or h.scenario.heat_pump]
        if key == "morning_peak":
            kettle = EventConfig(at="07:00", target="kettle", action=EventAction.ON, duration="3min")
            for h in self.homes[::3]:
                h.site.apply(kettle, h.site.t)
        elif key == "price_spike":
            await self._publish_prices(spike=True)
        elif key == "dso_limit":
            self.issue_limit(featured.site_id, FEATURED_LIMIT_W, None, by)
            for sid in limited:
                self.issue_limit(sid, NEIGHBOUR_LIMIT_W, None, by)
        elif key == "heartbeat_loss":
            self.stop_heartbeat(None, by)
        elif key == "restore":
            self.resume_heartbeat(None, by)
            self.issue_limit(featured.site_id, FEATURED_LIMIT_W, 2 * 3600.0, by)
        elif key == "limit_lifted":
            for sid in [featured.site_id, *limited]:
                self.clear_limit(sid, by)

    async def _publish_prices(self, *, spike: bool) -> None:
        """Today's (and tomorrow's) PRICE events through the VTN; every VEN gets the signals."""
        today = self.clock.now().astimezone(self.zone).date()
        await self.aggregator.publish(today + timedelta(days=1), spike=False)
        signals = await self.aggregator.publish(today, spike=spike)
        self.signals.update(signals)

        def curves() -> list[tuple[PricePoint, ...]]:  # reads the distributor's fee table: a thread
            return [price_curve(self.aggregator, h, self.zone) for h in self.homes]

        for h, prices in zip(self.homes, await asyncio.to_thread(curves), strict=True):
            h.prices = prices
            h.cem.request_replan()
        if spike:
            self._note_all(
                Level.WARNING, "aggregator: evening price spike 17:30-20:30 (OpenADR PRICE update)"
            )

    # ------------------------------------------------------------------ the driver

    async def start(self) -> None:
        """Build the grid side, publish the day's prices, start every service; returns once
        every energy manager has made its first plan (`ready`)."""
        if self._started:
            return
        self._started = True
        t0 = _time.perf_counter()
        await self.grid_side.init()
        await self._publish_prices(spike=False)
        for h in self.homes:
            h.start()
        self._tasks.append(asyncio.ensure_future(self.grid_side.dso.run(self._stop)))
        self._tasks.append(asyncio.ensure_future(self.grid_side.hes.run(self._stop)))
        for h in self.homes:
            self._tasks.append(asyncio.ensure_future(h.run(self._stop)))
        for _ in range(10):
            await asyncio.sleep(0)
        deadline = _time.monotonic() + 120.0
        while _time.monotonic() < deadline:
            self._raise_failed()
            if all(h.cem.plans_made or h.cem.plan_errors for h in self.homes) and not self._replanning():
                break
            await asyncio.sleep(0.01)
        freeze_heap()
        self.startup_s = _time.perf_counter() - t0
        log.info("demo: %d homes ready in %.1f s", len(self.homes), self.startup_s)
        self.ready.set()
        self._bump()

    def _replanning(self) -> bool:
        return any(h.cem.replanning for h in self.homes)

    def _raise_failed(self) -> None:
        for t in self._tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise RuntimeError("a demo service failed") from t.exception()

    async def _settle(self) -> None:
        """Setpoints sent and re-plans solved before simulated time moves on."""
        for h in self.homes:
            await h.cem.loop.drain()
        while self._replanning():
            await asyncio.sleep(0.002)
            self._raise_failed()

    async def step(self) -> None:
        """One simulated second of the whole world."""
        w0 = _time.perf_counter()
        now = self.clock.now()
        while self._actions:
            _, action = self._actions.popleft()
            result = action()
            if result is not None:
                await result
        day = now.astimezone(self.zone).date()
        if day != self._day:
            self._day = day
            await self._publish_prices(spike=False)
            midnight = datetime.combine(day, time(0), tzinfo=self.zone)
            for h in self.homes:
                h.forget_before(midnight - timedelta(days=1))
                if h.nilm is not None:
                    h.nilm.new_day()
        for home, sec in zip(self.homes, self.hood.step(), strict=True):
            home.on_second(sec)
        await self.clock.advance(1.0)
        await self._settle()
        for s in self.story.due(self.clock.now().astimezone(self.zone)):
            await self._play(s.key, "storyline")  # at its minute, seen by the next cycle
        for h in self.homes:
            for did in h.parking.restore_under_limit():  # §14a: the limit guard must reach it
                h.note(Level.WARNING, f"a grid limit applies: {did} is managed by gridedge again")
        self.seconds += 1
        self.grid_side.note_load(self.clock.now().astimezone(self.zone))
        self._raise_failed()
        self.step_wall_s = _time.perf_counter() - w0
        self._bump()

    async def advance(self, seconds: int) -> None:
        """Step the world `seconds` simulated seconds as fast as it goes (tests, benchmarks)."""
        if not self._started:
            await self.start()
        for _ in range(int(seconds)):
            await self.step()

    async def run(self, stop: asyncio.Event) -> None:
        """Run paced at `speed` until `stop` is set; then close everything."""
        try:
            await self.start()
            self._anchor = (self.wall.monotonic(), self.seconds)
            while not stop.is_set():
                wall0, sim0 = self._anchor
                target = sim0 + (self.wall.monotonic() - wall0) * self._speed
                behind = target - self.seconds
                if behind >= 1.0:
                    await self.step()
                    if behind > MAX_CATCH_UP_S * self._speed:  # cannot keep up: let the backlog go
                        self.lag_s = behind
                        self._anchor = (self.wall.monotonic(), self.seconds)
                        self._report_lag()
                    else:
                        self.lag_s = max(behind - 1.0, 0.0)
                    await asyncio.sleep(0)  # let the web room read between steps
                else:
                    self.lag_s = 0.0
                    await self._wall_sleep((1.0 - behind) / self._speed, stop)
        finally:
            await self.close()

    async def _wall_sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Sleep on the wall clock, or until `stop` or a new speed."""
        self._repace.clear()
        waits = {asyncio.ensure_future(self.wall.sleep(seconds)), asyncio.ensure_future(stop.wait()),
                 asyncio.ensure_future(self._repace.wait())}  # fmt: skip
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def _report_lag(self) -> None:
        """Say (at most once a minute) that the machine cannot run the world at `speed`."""
        now = self.wall.monotonic()
        if now - self._lag_reported < 60.0:
            return
        self._lag_reported = now
        rate = 1.0 / self.step_wall_s if self.step_wall_s > 0 else math.inf
        log.warning(
            "demo: cannot keep up with %g x real time (about %.0f x possible, %.0f sim s behind): "
            "running as fast as it can",
            self._speed, rate, self.lag_s,
        )  # fmt: skip

    async def close(self) -> None:
        """Stop every service and close the stores (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._tasks:
            # the services sleep on the simulated clock: let their stop checks run
            _, pending = await asyncio.wait(self._tasks, timeout=30.0)
            for t in pending:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.grid_side.dso.close()
        await self.grid_side.close()
        self.aggregator.close()
        self._bump()
