"""The grid operator's Energy Guard as a service: site links, feeder congestion, fault location,
on any bus `Transport` (the in-process bus or `gridedge.bus.mqtt.MqttTransport`).

It subscribes, per configured site and use case, to `site/<id>/<lpc|lpp>/{cs-heartbeat,state,
rejected}` and to the site's meter readings (`site/<id>/meter/reading`), and publishes
`heartbeat`, `limit` and `failsafe` (the model types of `gridedge.model.limits`, registered in the
bus codec, so they cross MQTT). The decisions are made by the pure parts:

* `site_link.SiteLink`: heartbeats every 60 s, limits with durations, failsafe values, and a
  heartbeat + failsafe values + limit at once when a site (re)appears (LPC-913);
* `congestion.FeederCongestion`: fair §14a-respecting limits when a feeder is overloaded;
* `faults.locate_faults`: the section at fault from the meters' voltage dips.

Time comes only from the injected clock: `run` sleeps on it until the next heartbeat, limit expiry
or feeder check, so a test drives hours of operation with `SimClock` in milliseconds. Messages are
published with the configured `source` name; signing them is the transport layer's business.
Feeder status and fault locations go out as plain JSON objects on `grid/dso/feeder/<id>/status`
and `.../fault` (type "json" on the wire), for dashboards and the head-end.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gridedge.bus.envelope import CallbackSubscription, Envelope, Transport
from gridedge.clock import Clock
from gridedge.grid.dso.config import DsoConfig, FeederConfig
from gridedge.grid.dso.congestion import CongestionStep, FeederCongestion
from gridedge.grid.dso.faults import FaultLocation, VoltageDip, locate_faults
from gridedge.grid.dso.site_link import LinkStatus, Rejection, Send, SiteLink
from gridedge.grid.dso.topics import feeder_topic, meter_topic, topic
from gridedge.model.limits import Direction, FailsafeValues, Heartbeat, LimitState, LimitValueError
from gridedge.model.reading import MeterReading

__all__ = ["CONGESTION", "OPERATOR", "DsoService", "run_dso"]

log = logging.getLogger(__name__)

OPERATOR = "operator"
"""Request name of limits set with `issue_limit` (by a person or another system)."""
CONGESTION = "congestion"
"""Request name of limits set by feeder congestion management."""

_MAX_SLEEP_S = 3600.0


class DsoService:
    """The Energy Guard of every configured site, and the manager of every configured feeder."""

    FAULTS_KEPT = 256

    def __init__(self, transport: Transport, clock: Clock, config: DsoConfig) -> None:
        self.transport = transport
        self.clock = clock
        self.config = config
        t0 = clock.monotonic()
        self.links: dict[tuple[str, Direction], SiteLink] = {}
        for sc in config.sites:
            self.links[(sc.site_id, Direction.CONSUMPTION)] = SiteLink(
                sc.site_id, Direction.CONSUMPTION, sc.failsafe, t0, config.timing
            )
            if sc.failsafe_production is not None:
                self.links[(sc.site_id, Direction.PRODUCTION)] = SiteLink(
                    sc.site_id, Direction.PRODUCTION, sc.failsafe_production, t0, config.timing
                )
        self.feeders: dict[str, FeederCongestion] = {
            f.feeder_id: FeederCongestion(f.spec) for f in config.feeders
        }
        self._feeder_cfg: dict[str, FeederConfig] = {f.feeder_id: f for f in config.feeders}
        self._next_check = {f.feeder_id: t0 for f in config.feeders}
        self._loads: dict[str, tuple[float, float]] = {}  # site -> (net watts, at)
        self.faults: deque[FaultLocation] = deque(maxlen=self.FAULTS_KEPT)
        """The last fault locations, oldest first."""
        self.malformed = 0
        """Messages from sites that could not be read (wrong payload type or bad fields)."""
        self.sent = 0
        self._subs: list[CallbackSubscription] = []
        self._wake = asyncio.Event()

    # ---- bus

    def start(self) -> None:
        """Subscribe to the sites' topics (idempotent)."""
        if self._subs:
            return
        handlers: dict[str, Callable[[str, Direction, Envelope[object]], None]] = {
            "cs-heartbeat": self._on_cs_heartbeat,
            "state": self._on_state,
            "rejected": self._on_rejected,
        }
        for site, d in self.links:
            for leaf, handler in handlers.items():
                cb = functools.partial(handler, site, d)
                self._subs.append(self.transport.subscribe_callback(topic(site, d, leaf), cb))
        for sc in self.config.sites:
            cb_meter = functools.partial(self._on_meter, sc.site_id)
            self._subs.append(self.transport.subscribe_callback(meter_topic(sc.site_id), cb_meter))

    def close(self) -> None:
        """Unsubscribe (the transport stays open)."""
        for s in self._subs:
            s.close()
        self._subs.clear()

    # ---- commands

    def issue_limit(
        self, site_id: str, direction: Direction, value_w: float, duration_s: float | None = None
    ) -> None:
        """Limit `site_id`'s consumption or production to `value_w` for `duration_s` seconds
        (None: until `clear_limit`). Congestion limits, if lower, still win."""
        link = self._link(site_id, direction)
        self._publish(link, link.request_limit(OPERATOR, value_w, duration_s, self.clock.monotonic()))

    def clear_limit(self, site_id: str, direction: Direction) -> None:
        """Withdraw the operator's limit (a deactivated limit is sent if nothing else applies)."""
        link = self._link(site_id, direction)
        self._publish(link, link.clear_limit(OPERATOR, self.clock.monotonic()))

    def set_failsafe(self, site_id: str, direction: Direction, limit_w: float, duration_min_s: float) -> None:
        """New failsafe limit and Failsafe Duration Minimum (2-24 h, LPC-TS-015) for the site."""
        link = self._link(site_id, direction)
        values = FailsafeValues(limit_w, duration_min_s, direction)
        self._publish(link, link.set_failsafe(values, self.clock.monotonic()))

    def stop_heartbeat(self, site_id: str, direction: Direction | None = None) -> None:
        """Fall silent towards the site (both use cases unless `direction`): it goes to failsafe
        120 s after our last heartbeat (LPC-911/912). For demonstrations and tests."""
        for link in self._links_of(site_id, direction):
            self._publish(link, link.stop_heartbeat(self.clock.monotonic()))

    def resume_heartbeat(self, site_id: str, direction: Direction | None = None) -> None:
        """Speak again: heartbeat, failsafe values and the limit in force at once (LPC-916)."""
        for link in self._links_of(site_id, direction):
            self._publish(link, link.resume_heartbeat(self.clock.monotonic()))

    def report_load(self, site_id: str, net_w: float) -> None:
        """A site's load at its connection point (import positive), for its feeder's congestion
        check; meter readings on the bus arrive here too."""
        if not math.isfinite(net_w):
            raise ValueError(f"net_w: expected a finite number of watts, found {net_w!r}")
        self._loads[site_id] = (float(net_w), self.clock.monotonic())

    def locate_faults(
        self,
        feeder_id: str,
        events: Iterable[VoltageDip],
        *,
        unavailable: Iterable[str] = (),
        window_s: float = 2.0,
    ) -> tuple[FaultLocation, ...]:
        """Locate faults on `feeder_id` from its meters' voltage dips; kept in `faults` and
        published on `grid/dso/feeder/<id>/fault`."""
        fc = self._feeder_cfg.get(feeder_id)
        if fc is None:
            raise KeyError(f"unknown feeder {feeder_id!r}")
        if fc.topology is None:
            raise ValueError(f"feeder {feeder_id!r} has no topology (sections and meters) configured")
        found = locate_faults(fc.topology, events, window_s=window_s, unavailable=unavailable)
        for loc in found:
            self.faults.append(loc)
            log.warning(
                "feeder %s: fault at section %s (confidence %.2f, %d meters)",
                feeder_id, loc.section_id, loc.confidence, len(loc.meters),
            )  # fmt: skip
            if self.config.publish_reports:
                self.transport.publish(
                    feeder_topic(feeder_id, "fault"), _fault_json(feeder_id, loc), source=self.config.source
                )
        return found

    # ---- views

    def status(self, site_id: str, direction: Direction = Direction.CONSUMPTION) -> LinkStatus:
        return self._link(site_id, direction).status(self.clock.monotonic())

    def feeder_step(self, feeder_id: str) -> CongestionStep | None:
        """The last congestion step of `feeder_id` (None before the first check)."""
        return self.feeders[feeder_id].last

    def load(self, site_id: str) -> float | None:
        got = self._loads.get(site_id)
        return None if got is None else got[0]

    # ---- time

    def next_deadline(self) -> float | None:
        times = [d for link in self.links.values() if (d := link.next_deadline()) is not None]
        times.extend(self._next_check.values())
        return min(times) if times else None

    def tick(self) -> None:
        """Do whatever is due now: heartbeats, limit expiries, feeder checks."""
        t = self.clock.monotonic()
        for link in self.links.values():
            self._publish(link, link.tick(t))
        for fid, due in self._next_check.items():
            if t >= due:
                self._check_feeder(fid, t)
                self._next_check[fid] = t + self.feeders[fid].spec.check_period_s

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe and work until `stop` is set (then unsubscribe)."""
        self.start()
        try:
            while not stop.is_set():
                self.tick()
                self._wake.clear()  # the deadlines below already see what tick changed
                deadline = self.next_deadline()
                delay = _MAX_SLEEP_S if deadline is None else max(0.0, deadline - self.clock.monotonic())
                sleeper = asyncio.ensure_future(self.clock.sleep(min(delay, _MAX_SLEEP_S)))
                waker = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait({sleeper, waker, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for f in (sleeper, waker, stopper):
                        f.cancel()
        finally:
            self.close()

    # ---- internals

    def _link(self, site_id: str, direction: Direction) -> SiteLink:
        link = self.links.get((site_id, Direction(direction)))
        if link is None:
            known = sorted({s for s, _ in self.links})
            raise KeyError(f"no {Direction(direction).use_case} link for site {site_id!r} (sites: {known})")
        return link

    def _links_of(self, site_id: str, direction: Direction | None) -> list[SiteLink]:
        if direction is not None:
            return [self._link(site_id, direction)]
        links = [link for (s, _), link in self.links.items() if s == site_id]
        if not links:
            raise KeyError(f"unknown site {site_id!r}")
        return links

    def _publish(self, link: SiteLink, sends: list[Send]) -> None:
        for s in sends:
            log.debug("%s %s: %s (%s)", link.site_id, s.leaf, s.payload, s.reason)
            self.transport.publish(
                topic(link.site_id, link.direction, s.leaf), s.payload, source=self.config.source
            )
            self.sent += 1
        self._wake.set()  # deadlines may have moved: `run` recomputes its sleep

    def _check_feeder(self, feeder_id: str, t: float) -> None:
        ctrl = self.feeders[feeder_id]
        loads = {s.site_id: self._loads[s.site_id][0] for s in ctrl.spec.sites if s.site_id in self._loads}
        step = ctrl.step(t, loads)
        duration = ctrl.spec.limit_duration_s
        for site_id, watts in step.set_limits.items():
            link = self._link(site_id, Direction.CONSUMPTION)
            self._publish(link, link.request_limit(CONGESTION, watts, duration, t))
        for site_id in step.lift:
            link = self._link(site_id, Direction.CONSUMPTION)
            self._publish(link, link.clear_limit(CONGESTION, t))
        if step.engaged:
            log.warning("feeder %s congested: %.0f W > %.0f W", feeder_id, step.load_w, ctrl.spec.capacity_w)
        if step.released:
            log.info("feeder %s: congestion over, limits lifted", feeder_id)
        if not step.feasible and step.result is not None:
            log.error(
                "feeder %s: the §14a minimums alone exceed the capacity by %.0f W; minimums kept",
                feeder_id, step.result.shortfall_w,
            )  # fmt: skip
        changed = step.engaged or step.released or step.set_limits or step.lift
        if self.config.publish_reports and (changed or not step.feasible):
            self.transport.publish(
                feeder_topic(feeder_id, "status"), _step_json(ctrl, step), source=self.config.source
            )

    # ---- what the sites say

    def _on_cs_heartbeat(self, site_id: str, direction: Direction, env: Envelope[object]) -> None:
        p = env.payload
        try:
            hb = p if isinstance(p, Heartbeat) else Heartbeat.from_dict(p)
        except LimitValueError as exc:
            self._malformed(env, str(exc))
            return
        link = self.links[(site_id, direction)]
        self._publish(link, link.on_cs_heartbeat(hb, self.clock.monotonic()))

    def _on_state(self, site_id: str, direction: Direction, env: Envelope[object]) -> None:
        if not isinstance(env.payload, LimitState):
            self._malformed(env, f"expected a LimitState, found {type(env.payload).__name__}")
            return
        link = self.links[(site_id, direction)]
        self._publish(link, link.on_state(env.payload, self.clock.monotonic()))

    def _on_rejected(self, site_id: str, direction: Direction, env: Envelope[object]) -> None:
        t = self.clock.monotonic()
        rejection = _rejection(env, t)
        log.warning(
            "site %s rejected %s from %s: %s", site_id, rejection.topic, rejection.source, rejection.reason
        )
        link = self.links[(site_id, direction)]
        self._publish(link, link.on_rejected(rejection, t))

    def _on_meter(self, site_id: str, env: Envelope[object]) -> None:
        p = env.payload
        net = p.net_power_w if isinstance(p, MeterReading) else None
        if net is None and isinstance(p, int | float) and not isinstance(p, bool):
            net = float(p)
        if net is None or not math.isfinite(net):
            return  # a telegram without power values: nothing for the feeder
        self.report_load(site_id, net)

    def _malformed(self, env: Envelope[object], why: str) -> None:
        self.malformed += 1
        log.warning("%s from %s not understood: %s", env.topic, env.source, why)


def _rejection(env: Envelope[object], t: float) -> Rejection:
    """The site's `Rejected` (home.cem.grid_link; grid may not import it, so read by shape) or
    its JSON mapping."""
    p: Any = env.payload
    if isinstance(p, Mapping):
        return Rejection(t, str(p.get("topic", "")), str(p.get("source", "")), str(p.get("reason", p)))
    if all(hasattr(p, a) for a in ("topic", "source", "reason")):
        return Rejection(t, str(p.topic), str(p.source), str(p.reason))
    return Rejection(t, "", "", str(p))


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _step_json(ctrl: FeederCongestion, step: CongestionStep) -> dict[str, object]:
    result = step.result
    return {
        "feeder": step.feeder_id,
        "at": step.at,
        "load_w": step.load_w,
        "capacity_w": ctrl.spec.capacity_w,
        "congested": step.congested,
        "engaged": step.engaged,
        "released": step.released,
        "feasible": step.feasible,
        "shortfall_w": 0.0 if result is None else result.shortfall_w,
        "level_w": None if result is None else _num(result.level_w),
        "floors_w": ctrl.spec.floors_w,
        "limits_w": dict(ctrl.limits),
        "lifted": list(step.lift),
        "missing": list(step.missing),
    }


def _fault_json(feeder_id: str, loc: FaultLocation) -> dict[str, object]:
    return {
        "feeder": feeder_id,
        "section": loc.section_id,
        "confidence": loc.confidence,
        "path": list(loc.path),
        "start": loc.start,
        "end": loc.end,
        "phases": list(loc.phases),
        "ambiguous_with": list(loc.ambiguous_with),
        "behind": list(loc.behind),
        "meters": [
            {
                "meter": m.meter_id,
                "section": m.section_id,
                "t": m.t,
                "depth_pct": m.depth_pct,
                "duration_s": m.duration_s,
                "phase": m.phase,
                "weight": m.weight,
            }
            for m in loc.meters
        ],
        "unknown_meters": list(loc.unknown_meters),
    }


async def run_dso(transport: Transport, clock: Clock, config: DsoConfig, stop: asyncio.Event) -> None:
    """Entry point for `gridedge grid dso`: run the Energy Guard of `config` on `transport`
    until `stop` is set. The caller owns (opens and closes) the transport."""
    await DsoService(transport, clock, config).run(stop)
