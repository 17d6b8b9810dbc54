"""The energy manager's link to the grid operator: LPC/LPP messages from the bus into the limit
machines, the machines' heartbeat and state back onto the bus.

Topics, per site and use case (`lpc` for consumption, `lpp` for production):

* in, from the Energy Guard: `site/<id>/<uc>/heartbeat` (`Heartbeat`), `site/<id>/<uc>/limit`
  (`PowerLimit`), `site/<id>/<uc>/failsafe` (`FailsafeValues`). A payload may be the model object
  (in-process) or its JSON mapping (MQTT, OpenADR bridges); a mapping is checked with the model's
  `from_dict`, so a bad field is rejected with its name and never reaches the machine.
* out, from this Controllable System: `site/<id>/<uc>/cs-heartbeat` (`Heartbeat`, every 60 s,
  LPC-TS-007), `site/<id>/<uc>/state` (`LimitState`, on every transition and every write),
  `site/<id>/<uc>/rejected` (`Rejected`, a write or message the machine refused, and why; the type
  lives in `gridedge.model.limits` so that the bus codec carries it, and is re-exported here).

Time comes from the injected clock: `run` sleeps until the machines' next deadline, so the 120 s
heartbeat timeout (LPC-911/912) fires at 120 s of the clock whatever else is happening, and a
test drives it with `SimClock` in milliseconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

from gridedge.bus.envelope import CallbackSubscription, Envelope, Transport
from gridedge.clock import Clock
from gridedge.home.cem.failsafe_store import FailsafeStore
from gridedge.home.cem.limits import LimitConfig, LimitMachine, WriteResult
from gridedge.home.cem.notify import ActiveLimits
from gridedge.home.cem.planning import ScheduledLimit
from gridedge.model.cem_config import LimitsConfig
from gridedge.model.limits import (
    Direction,
    FailsafeValues,
    Heartbeat,
    LimitState,
    LimitValueError,
    PowerLimit,
    Rejected,
    Transition,
)

__all__ = ["GridLink", "Rejected", "grid_topics", "limit_configs", "topic"]

log = logging.getLogger(__name__)

_Msg = TypeVar("_Msg", Heartbeat, PowerLimit, FailsafeValues)

_UC = {Direction.CONSUMPTION: "lpc", Direction.PRODUCTION: "lpp"}


def topic(site_id: str, direction: Direction, leaf: str) -> str:
    return f"site/{site_id}/{_UC[direction]}/{leaf}"


def grid_topics(site_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The topics that cross to the grid operator: (in, out), for a bridge to a broker."""
    inbound = tuple(topic(site_id, d, leaf) for d in Direction for leaf in ("heartbeat", "limit", "failsafe"))
    outbound = tuple(
        topic(site_id, d, leaf) for d in Direction for leaf in ("state", "cs-heartbeat", "rejected")
    )
    return inbound, outbound


def limit_configs(cfg: LimitsConfig) -> dict[Direction, LimitConfig]:
    """The machines' settings from the scenario's `[cem.limits]`; LPP only with a failsafe
    production limit (there is no safe universal feed-in default)."""
    common = {
        "failsafe_duration_min_s": cfg.failsafe_duration_h * 3600.0,
        "on_failsafe_expiry": cfg.on_failsafe_expiry,
    }
    out = {
        Direction.CONSUMPTION: LimitConfig(
            failsafe_limit_w=cfg.failsafe_consumption_kw * 1000.0,
            nominal_max_w=cfg.nominal_max_kw * 1000.0,
            **common,  # type: ignore[arg-type]
        )
    }
    if cfg.failsafe_production_kw is not None:
        out[Direction.PRODUCTION] = LimitConfig(
            failsafe_limit_w=cfg.failsafe_production_kw * 1000.0,
            nominal_max_w=cfg.nominal_max_kw * 1000.0,
            **common,  # type: ignore[arg-type]
        )
    return out


class GridLink:
    """The LPC (and LPP) machines of one site, fed from and reporting to the bus."""

    def __init__(
        self,
        *,
        site_id: str,
        clock: Clock,
        transport: Transport,
        configs: dict[Direction, LimitConfig],
        store: FailsafeStore | None = None,
        source: str = "cem",
    ) -> None:
        self.site_id = site_id
        self.clock = clock
        self.transport = transport
        self.source = source
        t0 = clock.monotonic()
        self.machines = {d: LimitMachine(d, t0, cfg, store) for d, cfg in configs.items()}
        self.rejected = 0
        self.changed = asyncio.Event()
        """Set on every transition or accepted write (the planner re-plans); the reader clears it."""
        self._subs: list[CallbackSubscription] = []
        self._wake = asyncio.Event()
        self._counter = 0

    # ---- the limits in force

    def active(self, t: float) -> ActiveLimits:
        """The limits the control cycle applies at monotonic time `t`."""
        lpc = self.machines.get(Direction.CONSUMPTION)
        lpp = self.machines.get(Direction.PRODUCTION)
        return ActiveLimits(
            import_w=lpc.effective_limit_w(t) if lpc is not None else None,
            export_w=lpp.effective_limit_w(t) if lpp is not None else None,
        )

    def scheduled(self, direction: Direction, now: datetime) -> tuple[ScheduledLimit, ...]:
        """The limit in force now as the planner's ceiling: until its expiry when it carries a
        duration, else until further notice (the failsafe limit included)."""
        m = self.machines.get(direction)
        if m is None:
            return ()
        t = self.clock.monotonic()
        w = m.effective_limit_w(t)
        if w is None:
            return ()
        end = None
        expires = m.limit_expires_at(t)
        if expires is not None and expires > t:
            end = now + timedelta(seconds=expires - t)
        return (ScheduledLimit(now, end, w),)

    def report(self, direction: Direction) -> LimitState | None:
        m = self.machines.get(direction)
        return None if m is None else m.report(self.clock.monotonic())

    # ---- bus input

    def start(self) -> None:
        """Subscribe to the Energy Guard's topics."""
        handlers: tuple[tuple[str, Callable[[Direction, Envelope[object]], None]], ...] = (
            ("heartbeat", self._on_heartbeat),
            ("limit", self._on_limit),
            ("failsafe", self._on_failsafe),
        )
        for d in self.machines:
            for leaf, handler in handlers:
                sub = self.transport.subscribe_callback(
                    topic(self.site_id, d, leaf), functools.partial(handler, d)
                )
                self._subs.append(sub)

    def close(self) -> None:
        for s in self._subs:
            s.close()
        self._subs.clear()

    def _reject(self, env: Envelope[object], direction: Direction, reason: str) -> None:
        self.rejected += 1
        log.warning("%s from %s rejected: %s", env.topic, env.source, reason)
        self.transport.publish(
            topic(self.site_id, direction, "rejected"),
            Rejected(env.topic, env.source, reason),
            source=self.source,
        )

    def _parse(self, direction: Direction, env: Envelope[object], kind: type[_Msg]) -> _Msg | None:
        """The payload as `kind`: the model object itself, or its JSON mapping checked by
        `from_dict`, whose direction defaults to the topic's use case; None (rejected) otherwise."""
        p = env.payload
        if isinstance(p, kind):
            return p
        try:
            if isinstance(p, Mapping) and kind is not Heartbeat:
                p = {"direction": direction.value, **p}
            return kind.from_dict(p)
        except LimitValueError as exc:
            self._reject(env, direction, str(exc))
            return None

    def _on_heartbeat(self, direction: Direction, env: Envelope[object]) -> None:
        if self._parse(direction, env, Heartbeat) is None:
            return
        t = self.clock.monotonic()
        self._after(direction, self.machines[direction].heartbeat(t), t)

    def _on_limit(self, direction: Direction, env: Envelope[object]) -> None:
        limit = self._parse(direction, env, PowerLimit)
        if limit is not None:
            t = self.clock.monotonic()
            self._written(direction, env, self.machines[direction].write_limit(limit, t), t)

    def _on_failsafe(self, direction: Direction, env: Envelope[object]) -> None:
        values = self._parse(direction, env, FailsafeValues)
        if values is not None:
            t = self.clock.monotonic()
            self._written(direction, env, self.machines[direction].write_failsafe(values, t), t)

    def _written(self, direction: Direction, env: Envelope[object], result: WriteResult, t: float) -> None:
        if not result.accepted:
            self._reject(env, direction, result.reason)
        self._after(direction, list(result.transitions), t, force=result.accepted)

    def _after(
        self,
        direction: Direction,
        transitions: list[Transition],
        t: float,
        force: bool = False,
        wake: bool = True,
    ) -> None:
        for tr in transitions:
            log.info("%s transition %d: %s -> %s (%s)", _UC[tr.direction], tr.number, tr.from_state.value,
                     tr.to_state.value, tr.reason)  # fmt: skip
        if transitions or force:
            self.transport.publish(
                topic(self.site_id, direction, "state"),
                self.machines[direction].report(t),
                source=self.source,
            )
            self.changed.set()
        if wake:
            self._wake.set()  # a message moved the deadlines: `run` recomputes its sleep

    # ---- timers and own heartbeat

    def tick(self) -> None:
        """Fire due timeouts and send the CS heartbeat when due."""
        t = self.clock.monotonic()
        for d, m in self.machines.items():
            self._after(d, m.tick(t), t, wake=False)
            if m.heartbeat_due(t):
                self._counter += 1
                self.transport.publish(
                    topic(self.site_id, d, "cs-heartbeat"), Heartbeat(self._counter), source=self.source
                )
                m.heartbeat_sent(t)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick at every deadline of the machines until `stop` is set."""
        while not stop.is_set():
            self._wake.clear()
            self.tick()
            deadlines = [d for m in self.machines.values() if (d := m.next_deadline()) is not None]
            delay = max(0.0, min(deadlines) - self.clock.monotonic()) if deadlines else math.inf
            sleeper = asyncio.ensure_future(self.clock.sleep(min(delay, 3600.0)))
            waker = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({sleeper, waker, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for f in (sleeper, waker, stopper):
                    f.cancel()
