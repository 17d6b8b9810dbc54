"""home.cem.guard: sharing the budget by priority, and not wasting it on a device that cannot run."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridedge.home.cem.guard import LimitGuard, tiered_fill, water_fill
from gridedge.home.cem.notify import ActiveLimits
from gridedge.home.cem.orders import Orders
from gridedge.home.cem.snapshot import DeviceView, GridPoint, Snapshot
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol

T0 = datetime(2025, 1, 15, 18, tzinfo=UTC)

watts = st.floats(min_value=0, max_value=20_000, allow_nan=False)


@given(
    st.floats(min_value=-5_000, max_value=40_000, allow_nan=False),
    st.lists(st.tuples(watts, watts), min_size=1, max_size=6),
)
def test_one_tier_without_running_powers_is_the_plain_water_fill(
    budget: float, pairs: list[tuple[float, float]]
) -> None:
    demands = [max(a, b) for a, b in pairs]
    minimums = [min(a, b) for a, b in pairs]
    want, want_short = water_fill(budget, demands, minimums)
    got, short = tiered_fill(budget, demands, minimums, [0] * len(pairs))
    assert short == pytest.approx(want_short)
    assert got == pytest.approx(want, abs=1e-6)


@given(
    st.floats(min_value=0, max_value=40_000, allow_nan=False),
    st.lists(
        st.tuples(watts, st.integers(0, 2), st.sampled_from([0.0, 1380.0, 4140.0])), min_size=1, max_size=6
    ),
)
def test_tiers_and_running_powers_keep_the_budget_and_the_floors(
    budget: float, devs: list[tuple[float, int, float]]
) -> None:
    demands = [d for d, _, _ in devs]
    tiers = [t for _, t, _ in devs]
    running = [r for _, _, r in devs]
    minimums = [0.0] * len(devs)
    caps, short = tiered_fill(budget, demands, minimums, tiers, running)
    assert short == 0
    assert sum(caps) <= budget + 1e-6
    for c, r in zip(caps, running, strict=True):
        assert c <= 1e-6 or c >= r - 1e-6, "a ceiling the device cannot run at is never handed out"
    # a later tier gets power only once every earlier tier has all it asks for
    if not any(running):
        for i, j in itertools.permutations(range(len(devs)), 2):
            if tiers[j] > tiers[i] and caps[j] > 1e-6:
                assert caps[i] >= demands[i] - 1e-6, (caps, devs)


def test_priority_serves_the_first_device_first() -> None:
    caps, short = tiered_fill(10_000.0, [11_000.0, 3_000.0], [0.0, 0.0], [0, 1])
    assert short == 0 and caps == pytest.approx([10_000.0, 0.0])
    caps, _ = tiered_fill(10_000.0, [11_000.0, 3_000.0], [0.0, 0.0], [1, 0])
    assert caps == pytest.approx([7_000.0, 3_000.0])
    caps, _ = tiered_fill(10_000.0, [11_000.0, 3_000.0], [4_200.0, 0.0], [1, 0])  # §14a still first
    assert caps == pytest.approx([7_000.0, 3_000.0])
    caps, _ = tiered_fill(5_000.0, [11_000.0, 3_000.0], [4_200.0, 0.0], [1, 0])
    assert caps == pytest.approx([4_200.0, 800.0])


def test_a_car_that_cannot_run_on_its_share_gives_it_to_the_others() -> None:
    # even shares would give the car 2.5 kW, below its 6 A x 3 phases = 4.14 kW
    caps, short = tiered_fill(5_000.0, [11_000.0, 3_000.0], [0.0, 0.0], [0, 0], [4_140.0, 0.0])
    assert short == 0 and caps == pytest.approx([0.0, 5_000.0])
    # with room for both, the car runs
    caps, _ = tiered_fill(8_000.0, [11_000.0, 3_000.0], [0.0, 0.0], [0, 0], [4_140.0, 0.0])
    assert caps == pytest.approx([5_000.0, 3_000.0])


def _view(
    device_id: str, kind: DeviceKind, max_w: float, power: float, *, running: float = 0.0, min_w: float = 0.0
) -> DeviceView:
    info = DeviceInfo(
        device_id,
        kind,
        Protocol.SIM,
        ControlMode.POWER,
        min_w,
        max_w,
        guaranteed_min_w=0.0,
        min_running_w=running,
    )
    return DeviceView(info, DeviceState(device_id, T0, power))


def test_guard_priority_and_running_power_in_a_cycle() -> None:
    ev = _view("ev", DeviceKind.EV_CHARGER, 11_000.0, 0.0, running=4_140.0)
    boiler = _view("boiler", DeviceKind.APPLIANCE, 2_000.0, 0.0)
    snap = Snapshot(
        t=0.0, now=T0, grid=GridPoint(500.0), devices=(ev, boiler), limits=ActiveLimits(import_w=6_000.0)
    )
    orders = Orders()
    orders.propose("ev", 11_000.0, "plan")
    orders.propose("boiler", 2_000.0, "plan")
    LimitGuard(reserve_share=0.0).settle(snap, orders)
    # budget 5.5 kW: shared evenly, the car would get 3.5 kW < 4.14 kW: it gets 0, the boiler 2 kW
    assert orders.bounds("ev")[1] == pytest.approx(0.0)
    orders = Orders()
    orders.propose("ev", 11_000.0, "plan")
    orders.propose("boiler", 2_000.0, "plan")
    LimitGuard(reserve_share=0.0, priority=("ev",)).settle(snap, orders)
    # the car first: it takes the whole 5.5 kW, the boiler waits
    assert orders.bounds("ev")[1] == pytest.approx(5_500.0)
    assert orders.bounds("boiler")[1] == pytest.approx(0.0)


def test_a_stale_device_report_does_not_undo_the_curtailment() -> None:
    """The meter shows the curtailment a second before the inverter's own report does; taking that
    difference as household load would lift the curtailment again (and oscillate)."""
    guard = LimitGuard(reserve_share=0.0)
    limits = ActiveLimits(export_w=1_000.0)
    pv_before = _view("pv", DeviceKind.PV_INVERTER, 0.0, -4_100.0, min_w=-6_000.0)
    floors = []
    for t, net in ((0.0, -3_800.0), (1.0, -1_000.0), (2.0, -1_000.0)):
        snap = Snapshot(t=t, now=T0, grid=GridPoint(net), devices=(pv_before,), limits=limits)
        orders = Orders()
        guard.settle(snap, orders)
        floors.append(orders.bounds("pv")[0])
    assert floors == pytest.approx([-1_300.0] * 3)
    # without the window the second cycle would have believed a 3.1 kW household load
    naive = LimitGuard(reserve_share=0.0, window_s=0.0)
    orders = Orders()
    naive.settle(
        Snapshot(t=1.0, now=T0, grid=GridPoint(-1_000.0), devices=(pv_before,), limits=limits), orders
    )
    assert orders.bounds("pv")[0] == pytest.approx(-4_100.0)
