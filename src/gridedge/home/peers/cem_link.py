"""The energy manager on its home's peer network.

Two things make gridedge's energy manager (`home.cem`) a member of a Chain2Net-style home network:

* devices heard on the network join its `DeviceRegistry` (`PeerDirectory` with `RemoteDevice`s,
  protocol `chain2net`): the planner and the 1 s control cycle steer them as they steer an S2 heat
  pump or an OCPP charger, with `Modulate` orders answered by each device's signed `Reply`;
* the grid connection's real-time data goes out to the network (`EnergyData` of the peer device
  id `grid`: net power, import positive, and the import register), so that devices and displays
  can follow the home's own surplus, as Chain 2 lets user devices follow the meter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from gridedge.clock import TimerHandle
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.peers.addressing import Address
from gridedge.home.peers.messages import Announce, EnergyData, Role
from gridedge.home.peers.node import PeerNode
from gridedge.home.peers.remote import PeerDirectory
from gridedge.model.devices import DeviceState
from gridedge.model.reading import MeterReading

__all__ = ["GRID_DEVICE_ID", "CemPeerLink"]

GRID_DEVICE_ID = "grid"


class CemPeerLink:
    """`node` is the energy manager's member node (role manager) on the home network."""

    def __init__(
        self,
        node: PeerNode,
        registry: DeviceRegistry,
        reading: Callable[[], MeterReading | None],
        *,
        report_every_s: float = 1.0,
        report_to: Address | None = None,
        stale_after_s: float = 10.0,
    ) -> None:
        self.node = node
        self.directory = PeerDirectory(node, registry, stale_after_s=stale_after_s)
        self.reading = reading
        self.report_every_s = report_every_s
        self.report_to = report_to or Address.broadcast()
        self.reports = 0
        self._last: MeterReading | None = None
        self._timer: TimerHandle | None = None
        node.announcement = lambda: Announce(node.role or Role.MANAGER, node.groups)

    async def start(self) -> None:
        await self.directory.start()
        self._tick()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.node.close()

    def _tick(self) -> None:
        self._timer = self.node.clock.call_later(self.report_every_s, self._tick)
        reading = self.reading()
        if reading is None or reading is self._last or reading.net_power_w is None:
            return  # nothing new from the meter: say nothing rather than repeat a stale value
        self._last = reading
        state = DeviceState(
            GRID_DEVICE_ID,
            self.node.clock.now(),
            reading.net_power_w,
            energy_kwh=reading.energy_import_total_kwh,
        )
        self.node.spawn(self._send(EnergyData(state)))

    async def _send(self, data: EnergyData) -> None:
        with contextlib.suppress(ConnectionError):
            await self.node.send(self.report_to, data)
            self.reports += 1
