"""The energy manager as a long-running service: meter in, grid limits in, plan, control, devices out.

`CemService` wires the parts, each of which does one job elsewhere:

* the meter port (`ports.p1` readers, or readings on the bus `site/<id>/meter/reading` when the
  scenario names no port: the demo, tests) feeds `ControlLoop.on_reading` (near-limit notices
  at once) and the `SiteTracker` (quarter-hour history, the month's peak);
* the grid operator's LPC/LPP messages on the bus drive the limit machines (`GridLink`), which
  send the CS heartbeat and time out to failsafe on the injected clock;
* devices connect over their own protocols: S2 (CEM WebSocket server), OCPP 1.6J/2.0.1 (local
  CSMS), SunSpec Modbus TCP (polled); they land in the `DeviceRegistry` and are bound to the
  scenario's device names (`DeviceBinding`);
* the planner re-plans every `replan_min` on the quarter-hour grid and at once after events (a
  device appearing, a limit changing), in a worker thread so the 1 s cycle never waits for the
  solver; the plan is published on `site/<id>/cem/plan`;
* the control loop (`ControlLoop`) runs the 1 s input-process-output cycle over all of it.

Everything waits on the injected `Clock`, so the same service runs in real time (`gridedge cem`)
and in simulated time under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gridedge.bus.envelope import Transport
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import Clock
from gridedge.home.cem.compressor import CompressorTimer
from gridedge.home.cem.controllers import (
    ComfortController,
    GridTargetController,
    PeakController,
    PlanController,
    SurplusController,
)
from gridedge.home.cem.controllers.surplus import EVMode
from gridedge.home.cem.cycle import ControlCycle
from gridedge.home.cem.failsafe_store import FailsafeStore
from gridedge.home.cem.grid_link import GridLink, limit_configs
from gridedge.home.cem.guard import LimitGuard
from gridedge.home.cem.loop import ControlLoop
from gridedge.home.cem.notify import ActiveLimits, NearLimitConfig, NearLimitNotifier
from gridedge.home.cem.openadr_link import OpenAdrSignals, merge_active
from gridedge.home.cem.overload import OverloadLimit, overload_topic
from gridedge.home.cem.peak import PeakWatch
from gridedge.home.cem.planner import CopModel, Plan, Planner, SolverOptions, Timeline
from gridedge.home.cem.planner.inputs import FloatArray
from gridedge.home.cem.planning import (
    PlanContext,
    ScheduledLimit,
    build_tariff,
    plan_inputs,
    plan_powers,
    resolve_path,
)
from gridedge.home.cem.site_state import DeviceBinding, SiteTracker
from gridedge.home.cem.snapshot import Comfort
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.devices import DeviceInfo, DeviceKind
from gridedge.model.limits import Direction
from gridedge.model.overload import OverloadWarning
from gridedge.model.reading import MeterReading
from gridedge.model.scenario import HeatPumpConfig, Scenario
from gridedge.model.tariff import PriceSeries, Tariff
from gridedge.physics.hplib import HplibModel

__all__ = ["CemService", "PlanSummary", "meter_topic", "plan_topic"]

log = logging.getLogger(__name__)

PriceLoader = Callable[[], PriceSeries | None]


def meter_topic(site_id: str) -> str:
    return f"site/{site_id}/meter/reading"


def plan_topic(site_id: str) -> str:
    return f"site/{site_id}/cem/plan"


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """What the service publishes after each plan: when, how it went, what it costs, what gave way."""

    made_at: datetime
    start: datetime
    steps: int
    status: str
    fallback: bool
    solve_time_s: float
    cost_eur: float
    peak_kw: float
    relaxations: tuple[str, ...]
    notes: tuple[str, ...]
    plan: Plan


class CemService:
    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: Clock,
        transport: Transport | None = None,
        registry: DeviceRegistry | None = None,
        base_dir: Path | None = None,
        prices: PriceLoader | None = None,
        openadr: OpenAdrSignals | None = None,
        cop_model: Callable[[HeatPumpConfig], CopModel] | None = None,
        replan_min_interval_s: float = 60.0,
    ) -> None:
        self.scenario = scenario
        cfg = scenario.cem
        self.cfg = cfg
        self.clock = clock
        self.transport: Transport = transport if transport is not None else InProcessBus(clock=clock)
        self.registry = registry if registry is not None else DeviceRegistry()
        self.base_dir = base_dir
        self.site_id = cfg.site_id
        self._prices = prices
        self.openadr = openadr
        self.overload = OverloadLimit()
        self._cop = cop_model if cop_model is not None else _hplib
        self.replan_min_interval_s = replan_min_interval_s
        self.binding = DeviceBinding(scenario)
        self.tracker = SiteTracker(scenario.site.timezone, month_peak_kw=scenario.tariff.month_peak_kw)
        store = FailsafeStore(Path(resolve_path(cfg.limits.failsafe_store, base_dir)))
        self.grid = GridLink(
            site_id=self.site_id,
            clock=clock,
            transport=self.transport,
            configs=limit_configs(cfg.limits),
            store=store,
        )
        share = cfg.near_limit_share
        self.notifier = NearLimitNotifier(
            self.site_id,
            self.transport,
            NearLimitConfig(share=share, clear_share=share * 0.95, step_share=0.05),
        )
        self.guard = LimitGuard()
        self.compressors = CompressorTimer()
        cycle = ControlCycle(
            [
                PlanController(),
                ComfortController(),
                self.compressors,
                GridTargetController(),
                PeakController(),
                SurplusController(EVMode(cfg.ev_mode.value)),
            ],
            self.guard,
        )
        self.loop = ControlLoop(
            clock=clock,
            registry=self.registry,
            site_id=self.site_id,
            cycle=cycle,
            transport=self.transport,
            notifier=self.notifier,
            limits=self._limits_now,
            plan=self._plan_now,
            plan_grid=self._plan_grid_now,
            peak=self._peak_now,
            running=self._running_now,
            period_s=cfg.period_s,
        )
        self.planner = Planner(
            SolverOptions(time_limit_s=cfg.planner.time_limit_s, mip_rel_gap=cfg.planner.mip_gap)
        )
        self.plan: Plan | None = None
        self._running: tuple[Timeline, dict[str, FloatArray]] | None = None
        """The last plan's model of each heat pump's lowest running power per step (W)."""
        self.last_summary: PlanSummary | None = None
        self.plans_made = 0
        self.replanning = 0
        """Re-plans in progress (a solve runs in a thread, in real time: simulated-time tests wait
        for it before moving the clock, so that a plan lands at the time it was asked for)."""
        self.plan_errors: list[str] = []
        self.readings = 0
        self._tariff: Tariff | None = None
        self._prices_loaded: float = -math.inf
        self._adr_prices: PriceSeries | None = None
        self._replan = asyncio.Event()
        self._plugged: frozenset[str] = frozenset()
        self._servers: list[Callable[[], object]] = []
        self.urls: dict[str, str] = {}
        """Where devices connect: 's2' and 'ocpp' server URLs, once `run` has started them."""
        self.started = asyncio.Event()
        self._stop_listen = self.registry.listen(self._on_device)
        for adapter in list(self.registry):
            self._on_device(adapter.info, True)

    # ---- devices

    def _on_device(self, info: DeviceInfo, added: bool) -> None:
        if added:
            name = self.binding.bind(info)
            log.info("device %s (%s over %s) %s", info.device_id, info.kind.value, info.protocol.value,
                     f"is the scenario's {name!r}" if name else "is not in the scenario")  # fmt: skip
        else:
            self.binding.unbind(info.device_id)
        self.tracker.set_pv_devices(a.info.device_id for a in self.registry.of_kind(DeviceKind.PV_INVERTER))
        self.loop.comfort = self._comfort()
        self.guard.priority = tuple(
            rid for name in self.cfg.priority if (rid := self.binding.registry_id(name)) is not None
        )
        self._replan.set()

    def _comfort(self) -> tuple[Comfort, ...]:
        """The scenario's needs the comfort controller guards, in registry ids."""
        out = []
        for hp in self.scenario.heat_pump:
            rid = self.binding.registry_id(hp.name)
            if rid is not None:
                half = hp.band_k / 2
                out.append(
                    Comfort(
                        rid, min_temperature_c=hp.setpoint_c - half, max_temperature_c=hp.setpoint_c + half
                    )
                )
        for bat in self.scenario.battery:
            rid = self.binding.registry_id(bat.name)
            if rid is not None:
                out.append(Comfort(rid, min_soc=bat.soc_min))
        return tuple(out)

    # ---- meter

    def on_reading(self, reading: MeterReading) -> None:
        """Every decoded telegram."""
        self.readings += 1
        self.loop.on_reading(reading)
        states = [a.state() for a in self.registry]
        self.tracker.observe(self.clock.now(), reading, states)
        plugged = frozenset(s.device_id for s in states if s is not None and s.connected)
        if plugged != self._plugged:  # a car arrived or left: its session changed, re-plan
            self._plugged = plugged
            self._replan.set()

    # ---- plan

    def _plan_now(self, now: datetime) -> tuple[tuple[str, float], ...] | None:
        plan = self.plan
        if plan is None:
            return None
        powers = plan_powers(plan, now)
        if powers is None:
            return None
        out = []
        for name, watts in powers:
            rid = self.binding.registry_id(name)
            if rid is not None:
                out.append((rid, watts))
        return tuple(out)

    def _running_now(self, now: datetime) -> tuple[tuple[str, float], ...] | None:
        """Each heat pump's lowest running power now (minimum modulation x its maximum at the
        forecast outdoor temperature, from the last plan's inputs), in registry ids."""
        running = self._running
        if running is None:
            return None
        tl, by_name = running
        k = min(max(tl.step_at(now), 0), tl.n - 1)
        out = []
        for name, watts in by_name.items():
            rid = self.binding.registry_id(name)
            if rid is not None:
                out.append((rid, float(watts[k])))
        return tuple(out)

    def _plan_grid_now(self, now: datetime) -> float | None:
        plan = self.plan
        if plan is None:
            return None
        k = plan.timeline.step_at(now)
        if not 0 <= k < plan.n:
            return None
        return float(plan.grid_import_w[k] - plan.grid_export_w[k])

    @property
    def tariff(self) -> Tariff | None:
        """The tariff the plan in force was made with (None before the first plan)."""
        return self._tariff

    def _peak_now(self, t: float) -> PeakWatch | None:
        """The quarter hour in progress when the tariff bills the monthly peak; the cap is the
        month's billed peak so far (at least the minimum billed), or the plan's import when the
        plan chose to raise it."""
        tariff = self._tariff
        if tariff is None or tariff.fees.capacity_eur_per_kw_year <= 0:
            return None
        now = self.clock.now()
        cap = max(self.tracker.month_peak_kw or 0.0, tariff.fees.min_billed_peak_kw) * 1000.0
        planned = self._plan_grid_now(now)
        if planned is not None:
            cap = max(cap, planned)
        return self.tracker.watch(now, cap)

    def _limits_now(self, t: float) -> ActiveLimits:
        """The grid operator's LPC/LPP limits, the service provider's OpenADR capacity limits and
        the meter's overload countdown (`overload.py`): the lowest applies."""
        limits = self.grid.active(t)
        now = self.clock.now()
        if self.openadr is not None:
            limits = merge_active(limits, self.openadr.active(now))
        meter = self.overload.import_limit_w(now)
        if meter is not None:
            merged = merge_active(limits, ActiveLimits(meter, None))
            limits = ActiveLimits(merged.import_w, merged.export_w, hard_import=True)
        return limits

    def _scheduled(self, direction: Direction, now: datetime) -> tuple[ScheduledLimit, ...]:
        limits = self.grid.scheduled(direction, now)
        if self.openadr is not None:
            limits += self.openadr.scheduled(direction, now)
        return limits

    def _tariff_at(self, now: datetime) -> Tariff:
        t = self.clock.monotonic()
        adr = self.openadr.prices() if self.openadr is not None else None
        stale = t - self._prices_loaded >= 900.0 or (adr is not None and adr is not self._adr_prices)
        if self._tariff is None or stale:
            self._adr_prices = adr
            # the service provider's prices while the VEN has any, else the configured source
            prices = adr if adr is not None else (self._prices() if self._prices is not None else None)
            self._tariff = build_tariff(
                self.scenario.tariff, prices, now, annual_kwh=self.scenario.household.annual_kwh
            )
            self._prices_loaded = t
        return self._tariff

    async def replan(self) -> PlanSummary | None:
        """Plan from now on; the solve runs in a worker thread. None when the inputs could not be
        built (no prices for now, ...): the error is logged and kept in `plan_errors`, and the
        cycle keeps the previous plan (or its rules) meanwhile."""
        self.replanning += 1
        try:
            return await self._replan_now()
        finally:
            self.replanning -= 1

    def request_replan(self) -> None:
        """Re-plan soon (new prices arrived by another path than the VEN's, a device parked...):
        at once, but not more often than `replan_min_interval_s`, like the service's own events."""
        self._replan.set()

    def plan_context(self, now: datetime) -> PlanContext:
        """The planner's inputs at `now`: tariff (the VEN's prices when it has any), live device
        states, forecasts, and the grid operator's and service provider's limits. Blocking (the
        tariff may be loaded): call it in a thread from the event loop."""
        tariff = self._tariff_at(now)
        states = self.registry.states()
        infos = {a.info.device_id: a.info for a in self.registry}
        state = self.tracker.live_state(
            self.binding,
            states,
            infos,
            import_limits=self._scheduled(Direction.CONSUMPTION, now),
            export_limits=self._scheduled(Direction.PRODUCTION, now),
        )
        return plan_inputs(self.scenario, tariff, now, state=state, cop_model=self._cop)

    def adopt_plan(self, plan: Plan, *, made_at: datetime, notes: tuple[str, ...] = ()) -> PlanSummary:
        """Follow `plan` from now on (a re-plan, or a flexibility offer that was dispatched) and
        publish its summary."""
        self.plan = plan
        self.plans_made += 1
        summary = PlanSummary(
            made_at=made_at,
            start=plan.timeline.start,
            steps=plan.n,
            status=plan.status.value,
            fallback=plan.fallback,
            solve_time_s=plan.solve_time_s,
            cost_eur=plan.cost.total,
            peak_kw=plan.peak_kw,
            relaxations=tuple(r.message for r in plan.relaxations),
            notes=notes,
            plan=plan,
        )
        self.last_summary = summary
        self.transport.publish(plan_topic(self.site_id), summary, source="cem")
        log.info("plan %s from %s: %s, %.2f s, %.2f EUR%s", self.plans_made, summary.start.isoformat(),
                 summary.status, summary.solve_time_s, summary.cost_eur,
                 "; " + "; ".join(summary.relaxations) if summary.relaxations else "")  # fmt: skip
        return summary

    async def _replan_now(self) -> PlanSummary | None:
        now = self.clock.now()
        try:
            ctx = await asyncio.to_thread(self.plan_context, now)
        except (ValueError, OSError) as exc:
            msg = f"{now.isoformat()}: no plan: {exc}"
            self.plan_errors.append(msg)
            del self.plan_errors[:-50]
            log.warning("%s", msg)
            return None
        plan = await asyncio.to_thread(self.planner.plan, ctx.inputs)
        self._running = (
            ctx.inputs.timeline,
            {
                hp.device_id: hp.min_modulation * hp.max_electric_w
                for hp in ctx.inputs.heat_pumps
                if hp.min_modulation is not None
            },
        )
        return self.adopt_plan(plan, made_at=now, notes=ctx.notes)

    def _next_replan_delay(self) -> float:
        """Seconds to the next multiple of `replan_min` on the wall clock (quarter-hour grid), plus
        the configured offset (`PlannerConfig.replan_offset_s`)."""
        period = self.cfg.planner.replan_min * 60
        ts = self.clock.now().timestamp() - self.cfg.planner.replan_offset_s
        return period - ts % period

    async def _planning(self, stop: asyncio.Event) -> None:
        last = -math.inf
        while not stop.is_set():
            self._replan.clear()
            self.grid.changed.clear()
            last = self.clock.monotonic()
            await self.replan()
            delay = self._next_replan_delay()
            timer = asyncio.ensure_future(self.clock.sleep(delay))
            events = [
                asyncio.ensure_future(self._replan.wait()),
                asyncio.ensure_future(self.grid.changed.wait()),
                asyncio.ensure_future(stop.wait()),
            ]
            try:
                done, _ = await asyncio.wait({timer, *events}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for f in (timer, *events):
                    f.cancel()
            if stop.is_set():
                return
            if timer not in done:  # an event: re-plan soon, but not more than once a minute
                wait = last + self.replan_min_interval_s - self.clock.monotonic()
                if wait > 0:
                    await _sleep_or_stop(self.clock, wait, stop)

    # ---- device servers

    async def start_devices(self) -> None:
        """Start the S2 and OCPP servers and connect the SunSpec devices the scenario names."""
        cfg = self.cfg
        if cfg.s2 is not None:
            from gridedge.home.devices.s2.server import S2CemServer

            s2 = S2CemServer(self.registry, self.clock, host=cfg.s2.host, port=cfg.s2.port)
            await s2.start()
            self._servers.append(s2.close)
            self.urls["s2"] = s2.url
        if cfg.ocpp is not None:
            from gridedge.home.devices.ocpp import OcppCsms

            csms = OcppCsms(self.registry, self.clock, host=cfg.ocpp.host, port=cfg.ocpp.port)
            await csms.start()
            self._servers.append(csms.stop)
            self.urls["ocpp"] = csms.url

    async def _sunspec(self, stop: asyncio.Event) -> None:
        """Connect each SunSpec device, poll it every cycle period, reconnect with back-off."""
        if not self.cfg.sunspec:
            return
        await asyncio.gather(
            *(self._sunspec_one(d.device, d.host, d.port, d.unit, stop) for d in self.cfg.sunspec)
        )

    async def _sunspec_one(self, name: str, host: str, port: int, unit: int, stop: asyncio.Event) -> None:
        from gridedge.home.devices.adapter import DeviceError
        from gridedge.home.devices.sunspec.adapter import SunSpecAdapter

        kind = (
            DeviceKind.BATTERY
            if any(b.name == name for b in self.scenario.battery)
            else DeviceKind.PV_INVERTER
        )
        backoff = 1.0
        while not stop.is_set():
            adapter: SunSpecAdapter | None = None
            try:
                adapter = await SunSpecAdapter.open(
                    host, port, self.clock, device_id=name, unit_id=unit, kind=kind
                )
                await adapter.poll()
                self.registry.add(adapter)
                backoff = 1.0
                while not stop.is_set():
                    await adapter.poll()
                    await _sleep_or_stop(self.clock, max(1.0, self.cfg.period_s), stop)
            except (DeviceError, OSError, TimeoutError) as exc:
                log.warning("sunspec %s at %s:%d: %s; retrying in %.0f s", name, host, port, exc, backoff)
            finally:
                if adapter is not None:
                    if name in self.registry:
                        self.registry.remove(name)
                    await adapter.close()
            await _sleep_or_stop(self.clock, backoff, stop)
            backoff = min(backoff * 2, 60.0)

    # ---- meter input

    async def _meter(self, stop: asyncio.Event) -> None:
        port = self.cfg.meter
        if port is None:
            sub = self.transport.subscribe_callback(
                meter_topic(self.site_id), lambda env: self.on_reading(env.payload), MeterReading
            )
            try:
                await stop.wait()
            finally:
                sub.close()
            return
        from gridedge.ports.p1.pipeline import TelegramEvent, TelegramPipeline
        from gridedge.ports.p1.readers import (
            DSMR_5_SERIAL,
            ChunkSource,
            FileReader,
            Pace,
            SerialReader,
            TcpReader,
            parse_host_port,
        )

        keys = tags = None
        if port.key is not None:  # Luxembourg Smarty: the published authentication key
            from gridedge.ports.dlms import LUXEMBOURG_SMARTY_AUTHENTICATION_KEY, SecurityKeys, TagPolicy

            keys = SecurityKeys(bytes.fromhex(port.key), LUXEMBOURG_SMARTY_AUTHENTICATION_KEY)
            tags = TagPolicy.REQUIRE
        source: ChunkSource
        if port.serial is not None:
            source = SerialReader(port.serial, DSMR_5_SERIAL)
        elif port.tcp is not None:
            host, p = parse_host_port(port.tcp)
            source = TcpReader(host, p)
        else:
            assert port.file is not None
            source = FileReader(
                resolve_path(port.file, self.base_dir), pace=Pace.ORIGINAL, apdus=keys is not None,
                hex_dump=None if keys is not None else False,
            )  # fmt: skip
        pipeline = TelegramPipeline(keys=keys, tag_policy=tags)
        chunks = source.chunks()

        async def consume() -> None:
            async for event in pipeline.events(chunks):
                if isinstance(event, TelegramEvent):
                    self.on_reading(event.reading)
                    self.transport.publish(meter_topic(self.site_id), event.reading, source="meter")
                else:
                    log.warning("meter: %s", event)

        task = asyncio.ensure_future(consume())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        if task.done() and port.file is not None and not stop.is_set():
            log.info("meter: the capture %s is replayed to its end: stopping", port.file)
            stop.set()

    # ---- the whole service

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; then stop every part and close the servers."""
        self.grid.start()
        overloads = self.transport.subscribe_callback(
            overload_topic(self.site_id), lambda env: self.overload.on_warning(env.payload), OverloadWarning
        )
        await self.start_devices()
        for name, url in self.urls.items():
            log.info("%s devices connect to %s", name, url)
        self.started.set()
        tasks = [
            asyncio.ensure_future(self.grid.run(stop)),
            asyncio.ensure_future(self._meter(stop)),
            asyncio.ensure_future(self._planning(stop)),
            asyncio.ensure_future(self._sunspec(stop)),
            asyncio.ensure_future(self.loop.run(stop)),
        ]
        try:
            done, _ = await asyncio.wait({*tasks, asyncio.ensure_future(stop.wait())},
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            for t in done:
                if t in tasks and t.exception() is not None:
                    stop.set()
                    raise t.exception()  # type: ignore[misc]
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.grid.close()
            overloads.close()
            self._stop_listen()
            for close in reversed(self._servers):
                result = close()
                if asyncio.iscoroutine(result):
                    await result


async def _sleep_or_stop(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        stopper.cancel()


def _hplib(cfg: HeatPumpConfig) -> CopModel:
    """The scenario's hplib model: the heat pump's performance map by default."""
    return HplibModel.load(cfg.model)
