"""The control loop: the I/O around the pure `ControlCycle`, once per period on the injected clock.

Input: the latest meter reading (`on_reading`, called by the meter port for every telegram, which
also runs the near-limit notifier at once, without waiting for the cycle), the device registry's
states, the active limits and the plan step, frozen into a `Snapshot`. Process: `ControlCycle`.
Output: setpoints to the devices' adapters, sent only when they changed (or every `keepalive_s`,
so a device that restarted gets its orders again), each as its own task with a timeout so a slow
device never delays the cycle or the others. A device that lost its ceiling (a limit lifted) gets
an empty setpoint that releases it. The decision is published on `site/<id>/cem/cycle`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gridedge.bus.envelope import Transport
from gridedge.clock import Clock
from gridedge.home.cem.cycle import ControlCycle, CycleDecision
from gridedge.home.cem.notify import ActiveLimits, NearLimitNotifier
from gridedge.home.cem.peak import PeakWatch
from gridedge.home.cem.snapshot import Comfort, DeviceView, GridPoint, Snapshot
from gridedge.home.devices.adapter import DeviceError
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.devices import Setpoint
from gridedge.model.reading import MeterReading

__all__ = ["ControlLoop", "LoopStats", "cycle_topic"]

log = logging.getLogger(__name__)

PlanSource = Callable[[datetime], tuple[tuple[str, float], ...] | None]
LimitSource = Callable[[float], ActiveLimits]


def cycle_topic(site_id: str) -> str:
    return f"site/{site_id}/cem/cycle"


@dataclass(slots=True)
class LoopStats:
    cycles: int = 0
    sent: int = 0
    failed: int = 0
    skipped_busy: int = 0
    late_cycles: int = 0
    seconds_over_import: float = 0.0
    seconds_over_export: float = 0.0
    errors: list[str] = field(default_factory=list)


def _same(a: Setpoint, b: Setpoint, tolerance_w: float) -> bool:
    def close(x: float | None, y: float | None) -> bool:
        if x is None or y is None:
            return x is y
        return abs(x - y) <= tolerance_w

    return close(a.power_w, b.power_w) and close(a.max_w, b.max_w) and close(a.min_w, b.min_w)


class ControlLoop:
    def __init__(
        self,
        *,
        clock: Clock,
        registry: DeviceRegistry,
        site_id: str,
        cycle: ControlCycle | None = None,
        transport: Transport | None = None,
        notifier: NearLimitNotifier | None = None,
        limits: LimitSource | None = None,
        plan: PlanSource | None = None,
        plan_grid: Callable[[datetime], float | None] | None = None,
        peak: Callable[[float], PeakWatch | None] | None = None,
        running: PlanSource | None = None,
        comfort: tuple[Comfort, ...] = (),
        period_s: float = 1.0,
        max_reading_age_s: float = 5.0,
        keepalive_s: float = 30.0,
        apply_timeout_s: float = 5.0,
        tolerance_w: float = 50.0,
    ) -> None:
        self.clock = clock
        self.registry = registry
        self.site_id = site_id
        self.cycle = cycle if cycle is not None else ControlCycle()
        self.transport = transport
        self.notifier = notifier
        self.limits: LimitSource = limits if limits is not None else (lambda t: ActiveLimits())
        self.plan: PlanSource = plan if plan is not None else (lambda now: None)
        self.plan_grid = plan_grid if plan_grid is not None else (lambda now: None)
        self.peak = peak if peak is not None else (lambda t: None)
        self.running: PlanSource = running if running is not None else (lambda now: None)
        self.comfort = comfort
        self.period_s = period_s
        self.max_reading_age_s = max_reading_age_s
        self.keepalive_s = keepalive_s
        self.apply_timeout_s = apply_timeout_s
        self.tolerance_w = tolerance_w
        self.stats = LoopStats()
        self.last_decision: CycleDecision | None = None
        self._reading: MeterReading | None = None
        self._reading_t = -math.inf
        self._sent: dict[str, tuple[Setpoint, float]] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}

    # ---- input

    @property
    def reading(self) -> MeterReading | None:
        """The latest telegram (None before the first)."""
        return self._reading

    def on_reading(self, reading: MeterReading) -> None:
        """Every decoded telegram: keep it for the next cycle and check the limits at once."""
        self._reading = reading
        self._reading_t = self.clock.monotonic()
        if self.notifier is not None:
            self.notifier.observe(reading, self.limits(self._reading_t))

    def snapshot(self) -> Snapshot:
        t = self.clock.monotonic()
        grid: GridPoint | None = None
        r = self._reading
        age = t - self._reading_t
        if r is not None and age <= self.max_reading_age_s and r.net_power_w is not None:
            currents = tuple(p.current_a for p in r.phases if p.current_a is not None)
            grid = GridPoint(r.net_power_w, currents, age)
        now = self.clock.now()
        devices = tuple(DeviceView(a.info, a.state()) for a in self.registry)
        return Snapshot(
            t=t,
            now=now,
            grid=grid,
            devices=devices,
            limits=self.limits(t),
            plan=self.plan(now),
            comfort=self.comfort,
            plan_grid_w=self.plan_grid(now),
            peak=self.peak(t),
            running_w=self.running(now) or (),
        )

    # ---- one cycle

    def step(self) -> CycleDecision:
        """Run one cycle now: snapshot, decide, start sending; returns the decision."""
        snap = self.snapshot()
        decision = self.cycle.process(snap)
        self.last_decision = decision
        self.stats.cycles += 1
        if decision.over_import_w > 0:
            self.stats.seconds_over_import += self.period_s
        if decision.over_export_w > 0:
            self.stats.seconds_over_export += self.period_s
        self._output(decision, snap.t)
        if self.transport is not None:
            self.transport.publish(cycle_topic(self.site_id), decision, source="cem")
        return decision

    def _output(self, decision: CycleDecision, t: float) -> None:
        wanted = {sp.device_id: sp for sp in decision.setpoints}
        for device_id in list(self._sent):
            if device_id not in wanted and device_id in self.registry:
                wanted[device_id] = Setpoint(device_id, reason="released")
        for device_id, sp in wanted.items():
            if device_id not in self.registry:
                continue
            last = self._sent.get(device_id)
            if last is not None and _same(last[0], sp, self.tolerance_w) and t - last[1] < self.keepalive_s:
                continue
            task = self._pending.get(device_id)
            if task is not None and not task.done():
                self.stats.skipped_busy += 1
                continue
            if sp.reason == "released" and sp.power_w is None and sp.max_w is None and sp.min_w is None:
                self._sent.pop(device_id, None)
            else:
                self._sent[device_id] = (sp, t)
            self._pending[device_id] = asyncio.get_running_loop().create_task(self._send(sp))

    async def _send(self, sp: Setpoint) -> None:
        try:
            adapter = self.registry.get(sp.device_id)
            await asyncio.wait_for(adapter.apply(sp), self.apply_timeout_s)
            self.stats.sent += 1
        except (DeviceError, KeyError, TimeoutError, OSError, ValueError) as exc:
            self.stats.failed += 1
            self._sent.pop(sp.device_id, None)  # send again next cycle
            msg = str(exc) if isinstance(exc, DeviceError) else f"{sp.device_id}: {exc or type(exc).__name__}"
            self.stats.errors.append(msg)
            del self.stats.errors[:-100]
            log.warning("setpoint not applied: %s", msg)

    # ---- the loop

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Cycle every `period_s` on the clock's grid until `stop` is set."""
        stop = stop if stop is not None else asyncio.Event()
        next_t = self.clock.monotonic()
        try:
            while not stop.is_set():
                self.step()
                next_t += self.period_s
                delay = next_t - self.clock.monotonic()
                if delay < 0:  # a cycle overran: skip the missed slots instead of bunching up
                    self.stats.late_cycles += 1
                    next_t = self.clock.monotonic()
                    delay = 0.0
                waiter = asyncio.ensure_future(stop.wait())
                sleeper = asyncio.ensure_future(self.clock.sleep(delay))
                try:
                    await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                    sleeper.cancel()
        finally:
            await self.drain()

    async def drain(self) -> None:
        """Wait for the setpoints still being sent."""
        pending = [t for t in self._pending.values() if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
