"""The life of one charge point's connection to the CSMS, common to OCPP 1.6J and 2.0.1.

BootNotification accepted -> an `OcppAdapter` joins the registry (after the answer is sent, so the
charger knows it is accepted before any order reaches it, OCPP 1.6 §4.2 / 2.0.1 B01.FR.05);
connection closed -> it leaves. A charger with no configuration is answered Rejected and never
registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gridedge.clock import Clock
from gridedge.home.devices.ocpp.adapter import OcppAdapter, ProfileChannel
from gridedge.home.devices.ocpp.config import OcppChargerConfig
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.devices import Protocol as Wire


@dataclass(slots=True)
class Session:
    """What the CSMS hands each connection."""

    charge_point_id: str
    protocol: Wire
    config: OcppChargerConfig | None
    """None: not a charger gridedge knows; its BootNotification is rejected."""
    clock: Clock
    registry: DeviceRegistry
    heartbeat_interval_s: int
    new_transaction_id: Callable[[], int]
    adapter: OcppAdapter | None = None
    registered: bool = False

    def boot(self, channel: ProfileChannel, vendor: str, model: str) -> bool:
        """A BootNotification: True to accept. A second boot on one connection (a reboot without
        reconnecting) replaces the adapter, as the charger forgot its profiles and transaction."""
        if self.config is None:
            return False
        if self.adapter is not None:
            self.adapter.close()
        self.adapter = OcppAdapter(
            self.charge_point_id, self.protocol, self.config, self.clock, channel, vendor=vendor, model=model
        )
        self.registered = False
        return True

    def after_boot(self) -> None:
        if self.adapter is not None and not self.registered:
            self.registry.add(self.adapter)
            self.registered = True

    def gone(self) -> None:
        """The connection closed: unregister, unless a newer connection of the same charger
        already replaced this adapter in the registry."""
        adapter = self.adapter
        if adapter is None:
            return
        adapter.close()
        device_id = adapter.info.device_id
        if self.registered and device_id in self.registry and self.registry.get(device_id) is adapter:
            self.registry.remove(device_id)
        self.registered = False
