"""A device on the peer network: any `DeviceAdapter` (S2, OCPP, SunSpec, the simulator) published
as a Chain2Net-style peer.

It announces its capabilities (`Announce` with its `DeviceInfo`), reports its real-time energy data
(`EnergyData`) every `report_every_s` to its report address (broadcast, a group, or its manager),
and obeys `Switch` and `Modulate` commands from managers and controllers by calling the adapter.

The end user's needs come first (brochure: "All use cases are subject to the constraint to
satisfy the end user's needs"): a command to consume more is refused while the device reports
that it does not want power (a full car, a warm house), and every target is clipped to the
device's announced range and operating points before it reaches the adapter. The `Reply` says
what the device will run at.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from gridedge.clock import TimerHandle
from gridedge.home.devices.adapter import DeviceAdapter, DeviceError
from gridedge.home.peers.addressing import Address
from gridedge.home.peers.messages import Announce, EnergyData, Modulate, ProfileSlot, Reply, Role, Switch
from gridedge.home.peers.node import PeerNode, Received
from gridedge.model.devices import ControlMode, DeviceInfo, Setpoint

__all__ = ["PeerDevice", "operating_point"]

_log = logging.getLogger(__name__)


def operating_point(info: DeviceInfo, watts: float) -> float:
    """The power the device can really run at for a requested `watts`: within its range, on one of
    its steps (the highest not above the request; off, 0 W, below the lowest step when its range
    includes 0), and 0 below its lowest running power. Never more than asked for, unless the
    device cannot draw that little at all (its range or every step lies above the request)."""
    w = min(max(watts, info.min_power_w), info.max_power_w)
    if info.steps_w:
        fitting = [s for s in info.steps_w if s <= w + 1e-9]
        if fitting:
            return max(fitting)
        return 0.0 if info.min_power_w <= 0.0 else min(info.steps_w)
    if 0 < w < info.min_running_w:
        return 0.0
    return w


def _clip(info: DeviceInfo, bound: float | None) -> float | None:
    return None if bound is None else min(max(bound, info.min_power_w), info.max_power_w)


class PeerDevice:
    """Publishes `adapter` on `node`'s network and obeys commands addressed to it."""

    def __init__(
        self,
        node: PeerNode,
        adapter: DeviceAdapter,
        *,
        report_every_s: float = 1.0,
        report_to: Address | None = None,
        profile: Callable[[], tuple[ProfileSlot, ...]] | None = None,
    ) -> None:
        self.node = node
        self.adapter = adapter
        self.report_every_s = report_every_s
        self.report_to = report_to or Address.broadcast()
        self.profile = profile
        self.commands = 0
        self.refused = 0
        self._last_obeyed: dict[str, int] = {}  # sender -> sequence of the last command obeyed
        self._timer: TimerHandle | None = None
        node.announcement = self.announcement
        node.on(Switch, self._on_switch)
        node.on(Modulate, self._on_modulate)

    @property
    def info(self) -> DeviceInfo:
        return self.adapter.info

    def announcement(self) -> Announce:
        return Announce(self.node.role or Role.DEVICE, self.node.groups, self.adapter.info)

    async def start(self) -> None:
        """Start the node (which announces the device on every connection) and the reports."""
        await self.node.start()
        self._tick()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.node.close()

    def _tick(self) -> None:
        self._timer = self.node.clock.call_later(self.report_every_s, self._tick)
        self.node.spawn(self.report())

    async def report(self) -> None:
        """Publish the adapter's latest state now (nothing before its first state)."""
        state = self.adapter.state()
        if state is None:
            return
        slots = self.profile() if self.profile is not None else ()
        with contextlib.suppress(ConnectionError):
            await self.node.send(self.report_to, EnergyData(state, slots))

    # --- commands -------------------------------------------------------------------------------

    def _target(self, command: Switch | Modulate) -> Setpoint:
        info, state = self.adapter.info, self.adapter.state()
        now_w = state.power_w if state is not None else 0.0
        if isinstance(command, Switch):
            if not command.on:
                return Setpoint(
                    info.device_id, power_w=0.0, max_w=0.0, reason=command.reason or "switched off"
                )
            on_w = max(info.steps_w) if info.steps_w else info.max_power_w
            if info.control is ControlMode.POWER and not info.steps_w:
                # a modulable device switched on runs under its own control again (a heat pump's
                # thermostat, a battery's self-consumption): the reply carries no power
                return Setpoint(info.device_id, reason=command.reason or "switched on")
            return Setpoint(info.device_id, power_w=on_w, reason=command.reason or "switched on")
        if command.power_w is None and command.delta_w is None:
            # bounds alone, within what the device can do (a floor is consumption it is made to draw)
            lo, hi = _clip(info, command.min_w), _clip(info, command.max_w)
            return Setpoint(info.device_id, max_w=hi, min_w=lo, reason=command.reason)
        wanted = command.power_w if command.power_w is not None else now_w + (command.delta_w or 0.0)
        if command.max_w is not None:
            wanted = min(wanted, command.max_w)
        if command.min_w is not None:
            wanted = max(wanted, command.min_w)
        return Setpoint(info.device_id, power_w=operating_point(info, wanted), reason=command.reason)

    async def _obey(self, received: Received[Switch] | Received[Modulate]) -> Reply:
        self.commands += 1
        info, state = self.adapter.info, self.adapter.state()
        if info.control is ControlMode.NONE:
            self.refused += 1
            return Reply(received.sequence, False, f"{info.device_id} is measured only")
        # a command older than one already obeyed from the same sender (sequence numbers increase
        # per sender over all its addresses) must not override it: a group order held back on the
        # way, arriving after a newer unicast one
        last = self._last_obeyed.get(received.sender)
        if last is not None and received.sequence <= last:
            self.refused += 1
            return Reply(received.sequence, False, f"stale: #{received.sequence} after #{last}")
        target = self._target(received.message)
        now_w = state.power_w if state is not None else 0.0
        floor = target.min_w if target.min_w is not None and target.min_w > 0 else None
        asked = target.power_w if target.power_w is not None else floor
        more = asked is not None and asked > max(now_w, 0.0) + 1.0
        if more and state is not None and not state.wants_power:
            self.refused += 1
            return Reply(received.sequence, False, f"{info.device_id} does not want power now", now_w)
        try:
            await self.adapter.apply(target)
        except DeviceError as e:
            self.refused += 1
            return Reply(received.sequence, False, str(e), now_w)
        self._last_obeyed[received.sender] = received.sequence
        return Reply(received.sequence, True, "", target.power_w)

    async def _on_switch(self, received: Received[Switch]) -> Reply:
        return await self._obey(received)

    async def _on_modulate(self, received: Received[Modulate]) -> Reply:
        return await self._obey(received)
