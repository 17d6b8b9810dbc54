"""The manager's side of a home network: devices heard on the network, as `DeviceAdapter`s.

`PeerDirectory` listens to `Announce` and `EnergyData` and keeps one `RemoteDevice` per device
peer. A `RemoteDevice` is a `gridedge.home.devices.adapter.DeviceAdapter` (protocol
`chain2net`), so gridedge's energy manager can put it in its `DeviceRegistry` and steer a peer
device exactly as it steers an S2 heat pump or an OCPP charger: `apply` sends a `Modulate` and
returns when the device replied, raising `DeviceError` with the device's answer otherwise.

A device that has not reported for `stale_after_s` is reported offline; one removed from the
roster is dropped from the directory and the registry as soon as the new roster is adopted. A peer
whose id is already taken in the registry by another device (an S2 heat pump, an OCPP charger) is
refused and listed in `collisions`: it must not take that device's place and its orders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator

from gridedge.home.devices.adapter import DeviceError
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.peers.addressing import Address
from gridedge.home.peers.messages import Announce, Discover, EnergyData, Modulate, Reply, Role, Switch
from gridedge.home.peers.node import PeerNode, PeerTimeout, Received
from gridedge.model.devices import DeviceInfo, DeviceState, Protocol, Setpoint

__all__ = ["PeerDirectory", "RemoteDevice"]

_log = logging.getLogger(__name__)


class RemoteDevice:
    """A device peer seen from a manager: info from its announcement, state from its data."""

    def __init__(self, node: PeerNode, peer_id: str, info: DeviceInfo, stale_after_s: float) -> None:
        self.node = node
        self.peer_id = peer_id
        self._info = dataclasses.replace(info, device_id=peer_id, protocol=Protocol.CHAIN2NET)
        self._state: DeviceState | None = None
        self._heard = -1e18
        self.stale_after_s = stale_after_s
        self.last_reply: Reply | None = None

    def __repr__(self) -> str:
        return f"<RemoteDevice {self.peer_id} {self._info.kind.value}>"

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def state(self) -> DeviceState | None:
        if self._state is None:
            return None
        if self.node.clock.monotonic() - self._heard > self.stale_after_s:
            return dataclasses.replace(self._state, online=False)
        return self._state

    def _update(self, info: DeviceInfo | None, state: DeviceState | None) -> None:
        if info is not None:
            self._info = dataclasses.replace(info, device_id=self.peer_id, protocol=Protocol.CHAIN2NET)
        if state is not None:
            self._state = dataclasses.replace(state, device_id=self.peer_id)
            self._heard = self.node.clock.monotonic()

    async def command(self, message: Switch | Modulate, *, timeout_s: float | None = None) -> Reply:
        """Send a command and return the device's reply; `DeviceError` if it refused or is silent."""
        try:
            reply = await self.node.request(self.peer_id, message, timeout_s=timeout_s)
        except PeerTimeout as e:
            raise DeviceError(self.peer_id, str(e)) from None
        self.last_reply = reply
        if not reply.ok:
            raise DeviceError(self.peer_id, f"refused {message.KIND}: {reply.detail}")
        return reply

    async def apply(self, setpoint: Setpoint) -> None:
        await self.command(Modulate(setpoint.power_w, None, setpoint.max_w, setpoint.min_w, setpoint.reason))


class PeerDirectory:
    """The devices of a network as a manager node hears them; optionally mirrored in a registry."""

    def __init__(
        self, node: PeerNode, registry: DeviceRegistry | None = None, *, stale_after_s: float = 10.0
    ) -> None:
        self.node = node
        self.registry = registry
        self.stale_after_s = stale_after_s
        self._devices: dict[str, RemoteDevice] = {}
        self._asked: set[str] = set()
        self.collisions: list[str] = []
        """Peer ids refused because the registry already holds another device of that id."""
        self.listeners: list[Callable[[RemoteDevice, DeviceState], object]] = []
        node.on(Announce, self._on_announce)
        node.on(EnergyData, self._on_data)
        node.on_roster.append(lambda _roster: self._prune())

    def __iter__(self) -> Iterator[RemoteDevice]:
        return iter(list(self._devices.values()))

    def __len__(self) -> int:
        return len(self._devices)

    def get(self, peer_id: str) -> RemoteDevice | None:
        return self._devices.get(peer_id)

    async def start(self) -> None:
        """Start the node; on every (re)connection it asks every member to announce itself."""
        self.node.on_connect.append(self.discover)
        await self.node.start()

    def discover(self) -> None:
        """Ask every member to announce itself (now, if the link is up)."""
        self.node.spawn(self._discover())

    async def _discover(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.node.send(Address.broadcast(), Discover())

    def _on_announce(self, received: Received[Announce]) -> None:
        a = received.message
        if received.role is not Role.DEVICE or a.device is None:
            return
        device = self._devices.get(received.sender)
        if device is not None:
            device._update(a.device, None)
            return
        if self.registry is not None and received.sender in self.registry:
            # an S2 heat pump or OCPP charger of that id is already steered: a peer must not take
            # its place (and its limits with it)
            if received.sender not in self.collisions:
                self.collisions.append(received.sender)
                _log.warning("%s: peer device %r refused: the registry already has a device of that id",
                             self.node.peer_id, received.sender)  # fmt: skip
            return
        device = RemoteDevice(self.node, received.sender, a.device, self.stale_after_s)
        self._devices[received.sender] = device
        self._asked.discard(received.sender)
        if self.registry is not None:
            self.registry.add(device)

    def _on_data(self, received: Received[EnergyData]) -> None:
        device = self._devices.get(received.sender)
        if device is None:
            if received.role is Role.DEVICE and received.sender not in self._asked:
                self._asked.add(received.sender)  # data before its announcement: ask it, once
                self.node.spawn(self._ask(received.sender))
            return
        device._update(None, received.message.state)
        for listener in self.listeners:
            listener(device, received.message.state)

    async def _ask(self, peer_id: str) -> None:
        with contextlib.suppress(ConnectionError):
            await self.node.send(Address.peer(peer_id), Discover())

    def _prune(self) -> None:
        """Drop the devices the newest roster no longer lists (from the registry too)."""
        for peer_id in [p for p in self._devices if self.node.roster.member(p) is None]:
            device = self._devices.pop(peer_id)
            if (
                self.registry is not None
                and peer_id in self.registry
                and self.registry.get(peer_id) is device
            ):
                self.registry.remove(peer_id)
