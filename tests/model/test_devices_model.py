from datetime import UTC, datetime

import pytest

from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol, Setpoint


def test_setpoint_target_is_clipped_to_bounds() -> None:
    assert Setpoint("ev", power_w=11_000, max_w=7_000).target() == 7_000
    assert Setpoint("pv", power_w=-6_000, min_w=-2_500).target() == -2_500
    assert Setpoint("bat", power_w=1_000, max_w=5_000, min_w=-5_000).target() == 1_000
    assert Setpoint("hp", max_w=3_000).target() is None


def test_setpoint_rejects_crossed_bounds() -> None:
    with pytest.raises(ValueError, match="ev: min_w 5000 > max_w 4000"):
        Setpoint("ev", max_w=4_000, min_w=5_000)


def test_device_info_validates_power_range_and_minimum() -> None:
    with pytest.raises(ValueError, match="min_power_w 11000 > max_power_w 0"):
        DeviceInfo("ev", DeviceKind.EV_CHARGER, Protocol.OCPP16, ControlMode.POWER, 11_000, 0)
    with pytest.raises(ValueError, match="guaranteed_min_w -1"):
        DeviceInfo(
            "ev", DeviceKind.EV_CHARGER, Protocol.SIM, ControlMode.POWER, 0, 11_000, guaranteed_min_w=-1
        )
    with pytest.raises(ValueError, match="device_id is empty"):
        DeviceInfo("", DeviceKind.EV_CHARGER, Protocol.SIM, ControlMode.POWER, 0, 11_000)


def test_state_defaults_say_online_and_wanting_power() -> None:
    s = DeviceState("hp", datetime(2025, 1, 1, tzinfo=UTC), 1_200.0)
    assert s.online and s.wants_power and s.soc is None
