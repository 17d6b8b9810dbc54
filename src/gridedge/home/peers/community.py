"""An energy community on peer networks: each home's manager and the community's controller.

Two kinds of network, each with its own roster and keys (`roster`): every home has a *home
network* (its devices and its manager), and the community has a *community network* (the homes'
managers and the controller). A home's devices never talk to the community directly, and the
community sees of a home only what its manager reports.

`HomeManager` (a home's manager; OpenEMS-style fixed cycle, every `cycle_s`):

1. input: the meter's net power (`observe_meter`) and the devices' data (`PeerDirectory`);
2. process: the power that managed devices may draw is the home's own PV surplus plus the share
   the community offered, within each device's range and operating points, only for devices that
   want power (the end user's needs), in priority order (`priority`), and never more than the home's
   import limit (`max_import_w`: its fuse or contracted power);
3. output: `Modulate` orders to devices whose target changed by more than `deadband_w`, and a
   `HomeSummary` to the controller: net power, how much more it could absorb, what it takes on the
   offer.

`CommunityController` (the REC operator's node, every `cycle_s`): collects the latest summary of
every home (ignoring summaries older than `stale_after_s`), divides the surplus with
`sharing.share_surplus`, and sends each home a `ShareOffer` valid for `offer_valid_s`. A home whose
offer lapses (controller gone, network down) falls back to its own surplus only: a lost controller
can never make a home import more.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gridedge.clock import Clock, TimerHandle
from gridedge.home.devices.adapter import DeviceError
from gridedge.home.peers.addressing import Address
from gridedge.home.peers.device import operating_point
from gridedge.home.peers.messages import HomeSummary, Modulate, Role, ShareOffer
from gridedge.home.peers.node import PeerNode, Received
from gridedge.home.peers.remote import PeerDirectory, RemoteDevice
from gridedge.home.peers.sharing import HomeNeed, SharePlan, share_surplus
from gridedge.model.devices import ControlMode, DeviceKind

__all__ = ["DEFAULT_PRIORITY", "HISTORY", "CommunityController", "HomeManager", "HomeTotals"]

HISTORY = 1800
"""Cycles of history the controller keeps (an hour at the default 2 s)."""

_log = logging.getLogger(__name__)

DEFAULT_PRIORITY: tuple[DeviceKind, ...] = (
    DeviceKind.APPLIANCE,
    DeviceKind.EV_CHARGER,
    DeviceKind.HEAT_PUMP,
    DeviceKind.BATTERY,
)
"""Which devices get surplus first: a switchable appliance (water heater) and the car before the
heat pump and the battery (the battery can take what is left; it also serves the evening)."""


@dataclass(slots=True)
class HomeTotals:
    """Energy the manager accounted, from its cycles (for tests, the dashboard and the bench)."""

    cycles: int = 0
    shared_wh: float = 0.0
    export_wh: float = 0.0
    import_wh: float = 0.0
    commands: int = 0
    refused: int = 0


class HomeManager:
    """A home's manager on its home network (`directory`) and, optionally, a community network."""

    def __init__(
        self,
        directory: PeerDirectory,
        community: PeerNode | None = None,
        *,
        controller: str = "controller",
        max_import_w: float = 6900.0,
        cycle_s: float = 2.0,
        deadband_w: float = 100.0,
        priority: tuple[DeviceKind, ...] = DEFAULT_PRIORITY,
    ) -> None:
        self.directory = directory
        self.community = community
        self.controller = controller
        self.max_import_w = max_import_w
        self.cycle_s = cycle_s
        self.deadband_w = deadband_w
        self.priority = priority
        self.totals = HomeTotals()
        self.net_w: float | None = None
        self.offer_w = 0.0
        self._offer_until: datetime | None = None
        self.targets: dict[str, float | None] = {}
        """The last order each managed device obeyed (None: its own control)."""
        self.shared_w = 0.0
        self.absorb_w = 0.0
        self.min_share_w = 0.0
        self._timer: TimerHandle | None = None
        self._busy = False
        if community is not None:
            community.on(ShareOffer, self._on_offer)

    @property
    def clock(self) -> Clock:
        return self.directory.node.clock

    def observe_meter(self, net_w: float) -> None:
        """The grid connection's net power now (import positive), from the meter port."""
        self.net_w = net_w

    def _on_offer(self, received: Received[ShareOffer]) -> None:
        if received.sender != self.controller:
            return
        self.offer_w = received.message.absorb_w
        self._offer_until = received.message.until

    def offer_now(self) -> float:
        until = self._offer_until
        if until is None or self.clock.now() >= until:
            return 0.0
        return self.offer_w

    async def start(self) -> None:
        await self.directory.start()
        if self.community is not None:
            await self.community.start()
        self._timer = self.clock.call_later(self.cycle_s, self._tick)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.directory.node.close()
        if self.community is not None:
            await self.community.close()

    def _tick(self) -> None:
        self._timer = self.clock.call_later(self.cycle_s, self._tick)
        if not self._busy:
            self.directory.node.spawn(self.cycle())

    def _managed(self) -> list[RemoteDevice]:
        order = {kind: n for n, kind in enumerate(self.priority)}
        devices = [
            d for d in self.directory
            if d.info.kind in order and d.info.control in (ControlMode.POWER, ControlMode.MODES)
            and d.info.max_power_w > 0
        ]  # fmt: skip
        return sorted(devices, key=lambda d: (order[d.info.kind], d.peer_id))

    def plan(self) -> tuple[dict[str, float | None], float, float]:
        """The targets for the managed devices now (None: back to the device's own control), the
        power taken on the offer and how much more the home could absorb (the process step of
        the cycle; no I/O). Also sets `min_share_w`.

        The home without its managed devices is the meter's net power less what they draw or
        give now, signs kept: a battery discharging 3 kW into a 500 W load is not 2.5 kW of PV
        surplus. A device that can also produce (a battery) gets a charging target only from
        surplus; otherwise it is handed back to its own control, which discharges it into the
        evening load, rather than held at 0 W."""
        net = self.net_w if self.net_w is not None else 0.0
        managed = self._managed()
        online = {d.peer_id: s for d in managed if (s := d.state()) is not None and s.online}
        base = net - sum(s.power_w for s in online.values())
        offer = self.offer_now()
        budget = max(0.0, -base) + offer
        budget = min(budget, max(0.0, self.max_import_w - base))
        targets: dict[str, float | None] = {}
        headroom = 0.0
        used = 0.0
        smallest: list[float] = []
        for d in managed:
            s = online.get(d.peer_id)
            if s is None:
                continue  # silent: no order it could answer (a command would only time out)
            producer = d.info.min_power_w < 0
            if not s.wants_power:
                targets[d.peer_id] = None if producer else 0.0
                continue
            steps = [w for w in d.info.steps_w if w > 0]
            smallest.append(min(steps) if steps else d.info.min_running_w)
            top = operating_point(d.info, d.info.max_power_w)
            give = max(operating_point(d.info, min(budget, top)), 0.0)
            if give > budget + 1e-9:  # the device cannot run this low: leave it off
                give = 0.0
            targets[d.peer_id] = None if producer and give <= 0.0 else give
            budget -= give
            used += give
            headroom += max(0.0, top - give)
        local = max(0.0, -base)
        shared = min(offer, max(0.0, used - local))
        after = base + used
        absorb = max(0.0, min(headroom, self.max_import_w - after))
        # the least share worth offering: what the most divisible wanting device needs to run,
        # less what the home's own surplus already gives
        self.min_share_w = max(0.0, min(smallest, default=0.0) - local)
        return targets, shared, absorb

    async def cycle(self) -> None:
        self._busy = True
        try:
            await self._cycle()
        finally:
            self._busy = False

    async def _cycle(self) -> None:
        targets, shared, absorb = self.plan()
        self.totals.cycles += 1
        net = self.net_w or 0.0
        dt_h = self.cycle_s / 3600.0
        self.totals.shared_wh += shared * dt_h
        if net < 0:
            self.totals.export_wh += -net * dt_h
        else:
            self.totals.import_wh += net * dt_h
        for peer_id in [p for p in self.targets if p not in targets]:
            del self.targets[peer_id]  # offline or gone: order it afresh when it is back
        for peer_id, watts in targets.items():
            known = peer_id in self.targets
            previous = self.targets.get(peer_id)
            if watts is None:
                if known and previous is None:
                    continue  # already under its own control
                command = Modulate(reason="own control")
            else:
                if (
                    previous is not None
                    and abs(previous - watts) < self.deadband_w
                    and not (watts == 0 < previous)
                ):
                    continue
                command = Modulate(power_w=watts, reason="surplus")
            device = self.directory.get(peer_id)
            if device is None:
                continue
            self.totals.commands += 1
            try:
                await device.command(command)
                self.targets[peer_id] = watts
            except (DeviceError, ConnectionError) as e:
                self.totals.refused += 1
                self.targets.pop(peer_id, None)
                _log.info("%s: %s", self.directory.node.peer_id, e)
        self.shared_w, self.absorb_w = shared, absorb
        if self.community is not None:
            summary = HomeSummary(self.clock.now(), net, absorb, shared, min_share_w=self.min_share_w)
            with contextlib.suppress(ConnectionError):
                await self.community.send(Address.peer(self.controller), summary)

    async def release(self) -> None:
        """Hand every managed device back to its own control (the manager stops steering)."""
        for device in self._managed():
            with contextlib.suppress(DeviceError, ConnectionError):
                await device.command(Modulate(reason="released"))
        self.targets.clear()


@dataclass(slots=True)
class _Latest:
    summary: HomeSummary
    heard: float


@dataclass(slots=True)
class CommunityStats:
    cycles: int = 0
    offers_sent: int = 0
    last_plan: SharePlan | None = None
    history: deque[tuple[datetime, float, float]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    """(time, community net W, W offered) of the last `HISTORY` cycles."""


class CommunityController:
    """The community's controller node: shares PV surplus among member homes (module docstring)."""

    def __init__(
        self,
        node: PeerNode,
        *,
        cycle_s: float = 2.0,
        offer_valid_s: float = 10.0,
        stale_after_s: float = 10.0,
        margin_w: float = 100.0,
        weights: Mapping[str, float] | None = None,
        on_plan: Callable[[SharePlan], object] | None = None,
    ) -> None:
        if node.role is not Role.CONTROLLER:
            raise ValueError(f"{node.peer_id} is not the controller in roster v{node.roster.version}")
        self.node = node
        self.cycle_s = cycle_s
        self.offer_valid_s = offer_valid_s
        self.stale_after_s = stale_after_s
        self.margin_w = margin_w
        self.weights = dict(weights or {})
        self.on_plan = on_plan
        self.stats = CommunityStats()
        self._homes: dict[str, _Latest] = {}
        self._offered: dict[str, float] = {}
        self._timer: TimerHandle | None = None
        self._busy = False
        node.on(HomeSummary, self._on_summary)

    def _on_summary(self, received: Received[HomeSummary]) -> None:
        self._homes[received.sender] = _Latest(received.message, self.node.clock.monotonic())

    def needs(self) -> list[HomeNeed]:
        """The fresh summaries of member homes. What a home says it takes on its offer counts only
        up to the offer it was sent: the shared pool is rebuilt from those claims each cycle, so one
        home claiming more would make the others import."""
        now = self.node.clock.monotonic()
        return [
            HomeNeed(home, latest.summary.net_w, latest.summary.absorb_w,
                     min(max(latest.summary.shared_w, 0.0), self._offered.get(home, 0.0)),
                     self.weights.get(home, 1.0), latest.summary.min_share_w)
            for home, latest in sorted(self._homes.items())
            if now - latest.heard <= self.stale_after_s and self.node.roster.member(home) is not None
        ]  # fmt: skip

    async def start(self) -> None:
        await self.node.start()
        self._timer = self.node.clock.call_later(self.cycle_s, self._tick)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.node.close()

    def _tick(self) -> None:
        self._timer = self.node.clock.call_later(self.cycle_s, self._tick)
        if not self._busy:  # a slow broker: skip a cycle rather than overlap two
            self.node.spawn(self.cycle())

    async def cycle(self) -> SharePlan:
        self._busy = True
        try:
            return await self._cycle()
        finally:
            self._busy = False

    async def _cycle(self) -> SharePlan:
        plan = share_surplus(self.needs(), margin_w=self.margin_w)
        until = self.node.clock.now() + timedelta(seconds=self.offer_valid_s)
        for home, watts in plan.offers.items():
            offer = round(watts, 1)
            self._offered[home] = offer
            with contextlib.suppress(ConnectionError):
                await self.node.send(Address.peer(home), ShareOffer(offer, until))
                self.stats.offers_sent += 1
        self.stats.cycles += 1
        self.stats.last_plan = plan
        self.stats.history.append((self.node.clock.now(), plan.community_net_w, plan.offered_w))
        if self.on_plan is not None:
            self.on_plan(plan)
        return plan
