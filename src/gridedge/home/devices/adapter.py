"""The one interface every device adapter implements, whatever protocol is behind it.

evcc's capability style narrowed to what the control cycle needs: an adapter announces its
`DeviceInfo`, keeps the latest `DeviceState` (updated by its protocol's own messages, read
without I/O), and accepts a `Setpoint`. `apply` returns once the order is sent and acknowledged
by the device's protocol (S2 ReceptionStatus OK, OCPP SetChargingProfile Accepted, Modbus write
response), or raises `DeviceError` saying what the device answered.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gridedge.model.devices import DeviceInfo, DeviceState, Setpoint


class DeviceError(RuntimeError):
    """A device refused or did not answer an order; the message names the device and the answer."""

    def __init__(self, device_id: str, message: str) -> None:
        super().__init__(f"{device_id}: {message}")
        self.device_id = device_id


@runtime_checkable
class DeviceAdapter(Protocol):
    @property
    def info(self) -> DeviceInfo: ...

    def state(self) -> DeviceState | None:
        """The latest state the device reported; None before the first report."""
        ...

    async def apply(self, setpoint: Setpoint) -> None: ...
