"""Which devices the energy manager steers: the home owner may park one, the grid comes first.

A parked device is taken out of the service's `DeviceRegistry` (the planner and the control cycle
no longer see it, so it gets no setpoints and runs on its own); un-parking puts the same adapter
back. While the grid operator's limit or the failsafe applies (LPC/LPP limited or failsafe,
§14a EnWG, VDE-AR-E 2829-6), parking is refused and devices parked before are put back under
management (`restore_under_limit`), since a device outside the limit guard's reach could break
the limit. The one implementation of the switch: the demo's dashboard, `gridedge run` and
`gridedge cem`'s Home Assistant switches (cli_cem `ManagedDevices`) all use this class.
"""

from __future__ import annotations

import asyncio
import logging

from gridedge.home.cem.service import CemService
from gridedge.home.devices.adapter import DeviceAdapter
from gridedge.model.devices import DeviceInfo
from gridedge.model.limits import Direction, LpcState

__all__ = ["DeviceParking", "grid_limited"]

log = logging.getLogger(__name__)


def grid_limited(service: CemService) -> str | None:
    """Which grid limit applies now (LPC/LPP limited or failsafe), or None."""
    for direction in (Direction.CONSUMPTION, Direction.PRODUCTION):
        report = service.grid.report(direction)
        if report is not None and report.state in (LpcState.LIMITED, LpcState.FAILSAFE):
            return f"{direction.value} {report.state.value}"
    return None


class DeviceParking:
    """Parked devices of one `CemService`: `set_managed(device_id, managed)`."""

    def __init__(self, service: CemService, *, who: str = "") -> None:
        self.service = service
        self.parked: dict[str, DeviceAdapter] = {}
        self.names: dict[str, str | None] = {}
        """The scenario's name of each parked device (None: not in the scenario), taken when parked."""
        self.who = who
        """Who switches, for the log lines (e.g. "Home Assistant"; default: the site's id)."""
        self._stop = service.registry.listen(self._on_device)

    def close(self) -> None:
        self._stop()

    def managed(self, device_id: str) -> bool:
        return device_id not in self.parked

    def _on_device(self, info: DeviceInfo, added: bool) -> None:
        """A parked device that reconnects (a new adapter) is parked again at once."""
        did = info.device_id
        if added and did in self.parked:
            registry = self.service.registry
            self.parked[did] = registry.get(did)

            def park_again() -> None:
                if did in registry and did in self.parked:
                    registry.remove(did)

            asyncio.get_running_loop().call_soon(park_again)

    def set_managed(self, device_id: str, managed: bool) -> str | None:
        """Park (`managed=False`) or take back a device; None when done, else why not."""
        registry = self.service.registry
        if managed:
            adapter = self.parked.pop(device_id, None)
            self.names.pop(device_id, None)
            if adapter is not None and device_id not in registry:
                registry.add(adapter)
                log.info("%s: %s is managed again", self._by(), device_id)
            return None if adapter is not None or device_id in registry else f"no device {device_id!r}"
        if device_id in self.parked:
            return None
        if device_id not in registry:
            return f"no device {device_id!r}"
        limited = grid_limited(self.service)
        if limited is not None:
            return f"refused while the grid operator's limit applies ({limited})"
        self.parked[device_id] = registry.get(device_id)
        self.names[device_id] = self.service.binding.by_id.get(device_id)
        registry.remove(device_id)
        log.warning("%s: %s is no longer managed (it runs on its own)", self._by(), device_id)
        return None

    def _by(self) -> str:
        return self.who or self.service.site_id

    def restore_under_limit(self) -> list[str]:
        """Put every parked device back under management while a grid limit applies."""
        if not self.parked or grid_limited(self.service) is None:
            return []
        back = []
        for did, adapter in list(self.parked.items()):
            del self.parked[did]
            self.names.pop(did, None)
            if did not in self.service.registry:
                self.service.registry.add(adapter)
            back.append(did)
            log.warning("%s: a grid limit applies: %s is managed again", self._by(), did)
        return back
