"""The device registry: adapters announce themselves here, the control cycle reads them here.

A device appears when its protocol session is up (S2 handshake done, OCPP BootNotification
accepted, SunSpec models read) and disappears when it closes. Listeners hear both, so the
planner re-plans when a car's charger comes online.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gridedge.home.devices.adapter import DeviceAdapter
from gridedge.model.devices import DeviceInfo, DeviceKind, DeviceState

Listener = Callable[[DeviceInfo, bool], None]
"""Called with the device's info and True when it is added, False when it is removed."""


class DeviceRegistry:
    def __init__(self) -> None:
        self._adapters: dict[str, DeviceAdapter] = {}
        self._listeners: list[Listener] = []

    def add(self, adapter: DeviceAdapter) -> None:
        """Register an adapter; a second adapter with the same device id replaces the first
        (a device that reconnected)."""
        info = adapter.info
        self._adapters[info.device_id] = adapter
        for listener in list(self._listeners):
            listener(info, True)

    def remove(self, device_id: str) -> None:
        adapter = self._adapters.pop(device_id, None)
        if adapter is not None:
            for listener in list(self._listeners):
                listener(adapter.info, False)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Hear additions and removals; returns a function that stops listening."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def get(self, device_id: str) -> DeviceAdapter:
        try:
            return self._adapters[device_id]
        except KeyError:
            known = ", ".join(sorted(self._adapters)) or "none"
            raise KeyError(f"no device {device_id!r} (registered: {known})") from None

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._adapters

    def __iter__(self) -> Iterator[DeviceAdapter]:
        return iter(list(self._adapters.values()))

    def __len__(self) -> int:
        return len(self._adapters)

    def of_kind(self, kind: DeviceKind) -> list[DeviceAdapter]:
        return [a for a in self._adapters.values() if a.info.kind is kind]

    def states(self) -> dict[str, DeviceState | None]:
        """A snapshot of every device's latest state, for the control cycle's frozen input."""
        return {device_id: a.state() for device_id, a in self._adapters.items()}
