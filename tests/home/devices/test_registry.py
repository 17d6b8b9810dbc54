from datetime import UTC, datetime

import pytest

from gridedge.home.devices.adapter import DeviceAdapter
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol, Setpoint


class _Fake:
    def __init__(self, device_id: str, kind: DeviceKind, power_w: float) -> None:
        self._info = DeviceInfo(device_id, kind, Protocol.SIM, ControlMode.POWER, 0, 11_000)
        self._state = DeviceState(device_id, datetime(2025, 1, 1, tzinfo=UTC), power_w)
        self.applied: list[Setpoint] = []

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def state(self) -> DeviceState | None:
        return self._state

    async def apply(self, setpoint: Setpoint) -> None:
        self.applied.append(setpoint)


def test_registry_announces_adds_and_removals_and_snapshots_states() -> None:
    reg = DeviceRegistry()
    heard: list[tuple[str, bool]] = []
    stop = reg.listen(lambda info, added: heard.append((info.device_id, added)))
    ev = _Fake("ev", DeviceKind.EV_CHARGER, 7_000)
    hp = _Fake("hp", DeviceKind.HEAT_PUMP, 1_500)
    assert isinstance(ev, DeviceAdapter)
    reg.add(ev)
    reg.add(hp)
    assert len(reg) == 2 and "ev" in reg
    assert [a.info.device_id for a in reg.of_kind(DeviceKind.HEAT_PUMP)] == ["hp"]
    states = reg.states()
    assert states["ev"] is not None and states["ev"].power_w == 7_000
    reg.remove("ev")
    reg.remove("ev")  # a second removal is harmless and silent
    stop()
    reg.remove("hp")
    assert heard == [("ev", True), ("hp", True), ("ev", False)]
    with pytest.raises(KeyError, match="no device 'ev' \\(registered: none\\)"):
        reg.get("ev")


def test_reconnecting_device_replaces_its_adapter() -> None:
    reg = DeviceRegistry()
    first, second = _Fake("ev", DeviceKind.EV_CHARGER, 1), _Fake("ev", DeviceKind.EV_CHARGER, 2)
    reg.add(first)
    reg.add(second)
    assert len(reg) == 1 and reg.get("ev") is second
