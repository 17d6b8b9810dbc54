"""§14a EnWG minimums: per-device guarantee, EMS total with GZF, and the allowance split."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gridedge.home.cem.minimums import (
    EVCC_GZF_TABLE,
    ems_total_minimum_w,
    guaranteed_minimum_w,
    simultaneity_factor,
)
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol

AT = datetime(2024, 6, 1, 12, tzinfo=UTC)


def dev(
    device_id: str,
    kind: DeviceKind,
    max_w: float,
    *,
    min_w: float = 0.0,
    guaranteed: float | None = None,
    wants: bool = True,
    online: bool = True,
) -> tuple[DeviceInfo, DeviceState]:
    info = DeviceInfo(
        device_id, kind, Protocol.SIM, ControlMode.POWER, min_w, max_w, guaranteed_min_w=guaranteed
    )
    return info, DeviceState(device_id, AT, power_w=0.0, online=online, wants_power=wants)


def ev(device_id: str = "ev", **kw: object) -> tuple[DeviceInfo, DeviceState]:
    return dev(device_id, DeviceKind.EV_CHARGER, 11000.0, min_w=1380.0, guaranteed=4200.0, **kw)  # type: ignore[arg-type]


def hp(device_id: str = "hp", **kw: object) -> tuple[DeviceInfo, DeviceState]:
    g = guaranteed_minimum_w(DeviceKind.HEAT_PUMP, 14000.0)
    return dev(device_id, DeviceKind.HEAT_PUMP, 14000.0, guaranteed=g, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- per device


@pytest.mark.parametrize(
    ("kind", "rated", "minimum"),
    [
        (DeviceKind.EV_CHARGER, 11000.0, 4200.0),
        (DeviceKind.EV_CHARGER, 22000.0, 4200.0),
        (DeviceKind.HEAT_PUMP, 9000.0, 4200.0),
        (DeviceKind.HEAT_PUMP, 11000.0, 4200.0),  # "above 11 kW" only
        (DeviceKind.HEAT_PUMP, 14000.0, 5600.0),  # 0.4 x rated (BK6-22-300)
        (DeviceKind.HEAT_PUMP, 20000.0, 8000.0),
        (DeviceKind.BATTERY, 10000.0, 4200.0),
        (DeviceKind.APPLIANCE, 3000.0, 3000.0),  # not a SteuVE: never dimmed below its rating
    ],
)
def test_guaranteed_minimum(kind: DeviceKind, rated: float, minimum: float) -> None:
    assert guaranteed_minimum_w(kind, rated) == pytest.approx(minimum)


def test_guaranteed_minimum_rejects_bad_rating() -> None:
    with pytest.raises(ValueError, match="rated_power_w: expected watts >= 0, found -1"):
        guaranteed_minimum_w(DeviceKind.HEAT_PUMP, -1.0)


# --------------------------------------------------------------------------- EMS total (evcc docs)


@pytest.mark.parametrize(("n", "total"), [(1, 4200.0), (2, 8400.0), (3, 11340.0), (4, 13440.0)])
def test_ems_total_matches_evcc_documentation_examples(n: int, total: float) -> None:
    """evcc-io/docs 14a-enwg-steuve.mdx: maxPower 8400 (2), 11340 (3, GZF 0.9), 13440 (4, GZF 0.8)."""
    assert ems_total_minimum_w([4200.0] * n) == pytest.approx(total)


def test_ems_total_uses_the_devices_own_minimums_and_table_edges() -> None:
    assert ems_total_minimum_w([]) == 0.0
    assert ems_total_minimum_w([4200.0, 5600.0]) == pytest.approx(9800.0)
    assert simultaneity_factor(7) == EVCC_GZF_TABLE[4]  # beyond the table: its last factor
    assert simultaneity_factor(2, {1: 1.0, 2: 0.8}) == 0.8
    with pytest.raises(ValueError, match="count: expected an integer >= 1, found 0"):
        simultaneity_factor(0)
    with pytest.raises(ValueError, match=r"minimums_w\[1\]"):
        ems_total_minimum_w([4200.0, float("nan")])
