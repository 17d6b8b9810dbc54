"""The event machinery every appliance shares: timers, power loss, commands and spontaneous use.

An appliance is a small discrete-event process. It keeps a heap of timed items, either a `Change`
of its signature or a callback that moves its physics on (a thermostat crossing, a door opening,
the next step of a programme). `advance(t0, t1, ctx)` pops what falls in [t0, t1) and returns the
changes in time order; when nothing is due and the supply did not change it returns `NO_CHANGES`
after two comparisons, which is what lets a thousand households of ten appliances run at ten
times real time.

Items belong to a channel with a generation number, so cancelling a session (the kettle switched
off) drops its pending items lazily without searching the heap. Commands are queued as callbacks
at their time, so they take effect in order with everything else, at sub-second precision.

Power: the household sets `relay_closed` (meter relay or breaker) and `ctx.supply_ok`. When either
drops, the appliance emits OFF once and calls `_power_lost`; on return `_power_back` decides what a
real device does (a kettle stays off, a fridge restarts, a washing machine resumes).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from typing import ClassVar

from gridedge.model.scenario import ApplianceKind
from gridedge.physics.seeding import rng_for
from gridedge.sim.appliances.catalog import CATALOG, KindSpec
from gridedge.sim.appliances.usage import UsageProcess
from gridedge.sim.electrical import NO_CHANGES, OFF, Change, Inrush, Load, Signature, SiteContext

Callback = Callable[[float, SiteContext], None]

SESSION = 0
"""Channel of the current use (a boil, a programme, a TV evening): cancelled when it stops."""
USE = 1
"""Channel of the spontaneous-use process."""
AUX = 2
"""Channel of background physics that outlives sessions (fridge doors, tank draws)."""
CMD = 3
"""Channel of queued commands: never cancelled."""
THERMO = 4
"""Channel of a thermostat's next crossing: rescheduled whenever the temperature jumps."""
_CHANNELS = 5


class Appliance(Load):
    """Base of all appliances: see the module docstring."""

    kind: ClassVar[ApplianceKind]
    setpoint_range: ClassVar[tuple[float, float] | None] = None
    """Valid `setpoint` values, None when the appliance has no setpoint."""
    setpoint_unit: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        *,
        seed: int,
        phases: Sequence[int] = (1,),
        power_w: float | None = None,
        uses_per_day: float | None = None,
    ) -> None:
        super().__init__(name)
        self.spec: KindSpec = CATALOG[self.kind]
        self.rated_w = float(self.spec.power_w if power_w is None else power_w)
        if self.rated_w <= 0:
            raise ValueError(f"{name}: power_w must be positive, got {self.rated_w}")
        self.phases = tuple(phases)
        upd = self.spec.uses_per_day if uses_per_day is None else uses_per_day
        self.uses_per_day = float(upd)
        self._rng = rng_for(seed, f"appliance:{name}")
        self._usage = UsageProcess(self.kind, upd, rng_for(seed, f"usage:{name}")) if upd > 0 else None
        self._heap: list[tuple[float, int, int, int, Change | Callback]] = []
        self._seq = 0
        self._gen = [0] * _CHANNELS
        self._next = -math.inf
        """Earliest pending item; -inf until the first advance has set the appliance up."""
        self._powered = True
        self._started = False
        self._now = 0.0
        """End of the last advance: the time a `command` takes effect."""
        self.uses = 0
        """Sessions started so far (spontaneous and commanded)."""
        self.active = False
        """A session is running (boiling, a programme, the TV on)."""
        self._wobble_sig: Signature = OFF
        self._wobble = (0.0, 1.0, 1.0)
        self._configure()

    @classmethod
    def spec_power_w(cls) -> float:
        """The kind's typical rated power (catalog)."""
        return CATALOG[cls.kind].power_w

    def _configure(self) -> None:
        """Kind-specific state, drawn from `self._rng` (override; runs at the end of __init__)."""

    # --- timers --------------------------------------------------------------------------------

    def _push(self, t: float, item: Change | Callback, chan: int) -> None:
        heapq.heappush(self._heap, (t, self._seq, chan, self._gen[chan], item))
        self._seq += 1
        if t < self._next:
            self._next = t

    def _at(self, t: float, fn: Callback, chan: int = SESSION) -> None:
        """Run `fn(at, ctx)` when sim time reaches `t`."""
        self._push(t, fn, chan)

    def _emit(self, t: float, sig: Signature, inrush: Inrush | None = None, chan: int = SESSION) -> None:
        """Draw `sig` from `t` on (dropped while unpowered: the device cannot draw then)."""
        if self._powered:
            self._push(t, Change(t, sig, inrush), chan)

    def _cancel(self, chan: int = SESSION) -> None:
        self._gen[chan] += 1

    # --- the Load interface --------------------------------------------------------------------

    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        if t1 <= self._next and (self.relay_closed and ctx.supply_ok) is self._powered:
            self._now = t1
            return NO_CHANGES
        return self._advance_slow(t0, t1, ctx)

    def _advance_slow(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        out: list[Change] = []
        if not self._started:
            self._started = True
            self._next = math.inf
            self._setup(t0, ctx)
            if self._usage is not None:
                self._at(self._usage.next_after(t0, ctx), self._spontaneous, USE)
        powered = bool(self.relay_closed and ctx.supply_ok)
        if powered is not self._powered:
            self._powered = powered
            if not powered:
                self._power_lost(t0, ctx)
                if not self.signature.is_zero:
                    self.signature = OFF
                    out.append(Change(t0, OFF))
            else:
                self._power_back(t0, ctx)
        heap = self._heap
        gen = self._gen
        while heap and heap[0][0] < t1:
            at, _, chan, g, item = heapq.heappop(heap)
            if g != gen[chan]:
                continue
            at = max(at, t0)
            if isinstance(item, Change):
                if not self._powered:
                    continue
                if item.at != at:
                    item = Change(at, item.signature, item.inrush)
                if item.signature is not self.signature:
                    self.signature = item.signature
                    out.append(item)
            else:
                item(at, ctx)
        self._next = heap[0][0] if heap else math.inf
        self._now = t1
        return out if out else NO_CHANGES

    # --- hooks ---------------------------------------------------------------------------------

    def _setup(self, t: float, ctx: SiteContext) -> None:
        """First advance: initial state (a fridge somewhere in its cycle, a warm tank)."""

    def _spontaneous(self, t: float, ctx: SiteContext) -> None:
        """A spontaneous use is due: start a session unless busy or unpowered; plan the next."""
        if self._powered and not self.active:
            self._begin(t, ctx, commanded=False)
        if self._usage is not None:
            self._at(self._usage.next_after(t, ctx), self._spontaneous, USE)

    def _begin(self, t: float, ctx: SiteContext, *, commanded: bool) -> None:
        self.active = True
        self.uses += 1
        self._use(t, ctx, commanded)

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        """Start one session; `commanded` sessions last until switched off where that makes sense."""

    def _finish(self, t: float, ctx: SiteContext) -> None:
        """The session ends by itself (the kettle's cut-out, the end of a programme)."""
        self._cancel(SESSION)
        self.active = False
        self._emit(t, OFF)

    def _power_lost(self, t: float, ctx: SiteContext) -> None:
        """Default: the session ends for good (the kettle, the TV, the microwave)."""
        self._cancel(SESSION)
        self.active = False

    def _power_back(self, t: float, ctx: SiteContext) -> None:
        """Default: nothing restarts by itself."""

    # --- steady-state jitter ------------------------------------------------------------------

    def _start_wobble(self, t: float, sigma: float, lo_s: float, hi_s: float) -> None:
        """Redraw `_wobble_sig` x (1 + drift + sigma N) every U(lo_s, hi_s) s while the session runs.

        Real steady states are not flat (element warm-up, compressor head pressure, picture
        content); a change every few tens of seconds shows that without costing a change a cycle.
        """
        self._wobble = (sigma, lo_s, hi_s)
        self._at(t + float(self._rng.uniform(lo_s, hi_s)), self._wobble_tick)

    def _wobble_tick(self, t: float, ctx: SiteContext) -> None:
        base = self._wobble_sig
        sigma, lo_s, hi_s = self._wobble
        if not base.is_zero:
            f = 1.0 + self._drift(t) + sigma * float(self._rng.standard_normal())
            self._emit(t, base.scaled(min(max(f, 0.5), 1.5)))
        self._at(t + float(self._rng.uniform(lo_s, hi_s)), self._wobble_tick)

    def _drift(self, t: float) -> float:
        """Deterministic relative drift of the steady state at `t` (override)."""
        return 0.0

    # --- commands ------------------------------------------------------------------------------

    def command(self, action: str, value: float | None = None) -> None:
        """Route a scripted event ("on", "off", "start", "setpoint") to the matching interface.

        Takes effect at the end of the last advanced second; unknown or unsupported actions raise
        ValueError naming the appliance and the action.
        """
        t = self._now
        switch = getattr(self, "switch", None)
        start = getattr(self, "start_programme", None)
        if action in ("on", "off") and switch is not None:
            switch(action == "on", t)
        elif action == "start" and start is not None:
            start(t)
        elif action == "setpoint" and self.setpoint_range is not None:
            self.set_setpoint(value, t)
        else:
            raise ValueError(f"{self.name} ({self.kind}): action {action!r} is not supported")

    def set_setpoint(self, value: float | None, t: float) -> None:
        """Thermostat or power level, checked against `setpoint_range`, effective at `t`."""
        rng = self.setpoint_range
        if rng is None:
            raise ValueError(f"{self.name} ({self.kind}): action 'setpoint' is not supported")
        if value is None or not math.isfinite(value) or not rng[0] <= value <= rng[1]:
            span = f"{rng[0]:g}..{rng[1]:g} {self.setpoint_unit}"
            raise ValueError(f"{self.name} ({self.kind}): setpoint {value!r} outside {span}")
        v = float(value)
        self._at(t, lambda at, ctx: self._apply_setpoint(v, at, ctx), CMD)

    def _apply_setpoint(self, value: float, t: float, ctx: SiteContext) -> None:
        """Apply a validated setpoint at `t` (override)."""


class SwitchableAppliance(Appliance):
    """An appliance with an on/off control (`gridedge.sim.control.Switchable`)."""

    def switch(self, on: bool, t: float) -> None:
        """Switch on or off at sim time `t` (queued; takes effect in order at the next advance)."""
        self._at(t, lambda at, ctx: self._switch_on(at, ctx) if on else self._switch_off(at, ctx), CMD)

    def _switch_on(self, t: float, ctx: SiteContext) -> None:
        if self._powered and not self.active:
            self._begin(t, ctx, commanded=True)

    def _switch_off(self, t: float, ctx: SiteContext) -> None:
        if self.active:
            self._finish(t, ctx)
