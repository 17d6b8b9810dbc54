"""The capacity tariff's quarter hour in the control cycle: the allowance, the shedding order, the
battery on the plan's grid exchange."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridedge.home.cem.controllers import GridTargetController, PeakController
from gridedge.home.cem.cycle import ControlCycle
from gridedge.home.cem.orders import Orders
from gridedge.home.cem.peak import PeakWatch, Sheddable, quarter_allowance_w, shed
from gridedge.home.cem.site_state import SiteTracker
from gridedge.home.cem.snapshot import Comfort, DeviceView, GridPoint, Snapshot
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol
from gridedge.model.reading import MeterReading, P1Variant

T0 = datetime(2025, 1, 15, 18, 0, tzinfo=UTC)


def test_allowance_keeps_the_quarter_mean_under_the_cap() -> None:
    # 10 minutes at 2 kW under a 3 kW cap: the last 5 minutes may draw 5 kW
    w = PeakWatch(cap_w=3000.0, elapsed_s=600.0, imported_wh=2000.0 * 600 / 3600)
    assert quarter_allowance_w(w) == pytest.approx(5000.0)
    # already over: nothing is allowed (negative)
    assert quarter_allowance_w(PeakWatch(3000.0, 600.0, 900.0)) < 0
    assert quarter_allowance_w(PeakWatch(3000.0, 0.0, 0.0)) == pytest.approx(3000.0)
    with pytest.raises(ValueError, match="cap_w"):
        PeakWatch(-1.0, 0.0, 0.0)


@given(
    st.floats(0, 20_000),
    st.lists(
        st.tuples(st.floats(0, 11_000), st.floats(0, 11_000), st.sampled_from([0.0, 4140.0])),
        min_size=1,
        max_size=4,
    ),
)
def test_shed_takes_the_excess_in_order_and_respects_floors(
    excess: float, loads: list[tuple[float, float, float]]
) -> None:
    # a running device runs at or above its running minimum
    items = [Sheddable(max(p, r) if p > 0 else 0.0, min(f, max(p, r)), r) for p, f, r in loads]
    out = shed(excess, items)
    taken = sum(i.power_w - o for i, o in zip(items, out, strict=True))
    for i, o in zip(items, out, strict=True):
        assert o <= i.power_w + 1e-9
        assert o >= min(i.floor_w, i.power_w) - 1e-9 or (o == 0.0 and i.floor_w <= 0)
        assert o == 0.0 or o >= min(i.running_w, i.power_w) - 1e-9
    lowest = [0.0 if i.floor_w <= 0 else min(i.power_w, max(i.floor_w, i.running_w)) for i in items]
    room = sum(max(i.power_w - lo, 0.0) for i, lo in zip(items, lowest, strict=True))
    assert taken >= min(excess, room) - 1e-6
    # in order: a load gives something only when every earlier load gave all it could
    for k, (i, o) in enumerate(zip(items, out, strict=True)):
        if o < i.power_w - 1e-9:
            for j, oj in zip(items[:k], out[:k], strict=True):
                assert oj <= lowest[items.index(j)] + 1e-9 or oj == 0.0


def test_shed_pauses_a_car_below_6_a() -> None:
    assert shed(3000.0, [Sheddable(6000.0, 0.0, 4140.0), Sheddable(2000.0)]) == [0.0, 2000.0]
    assert shed(1000.0, [Sheddable(6000.0, 0.0, 4140.0), Sheddable(2000.0)]) == [5000.0, 2000.0]
    assert shed(3000.0, [Sheddable(6000.0, 6000.0, 4140.0), Sheddable(2000.0)]) == [6000.0, 0.0]


def _dev(device_id: str, kind: DeviceKind, lo: float, hi: float, power: float, **state: float) -> DeviceView:
    info = DeviceInfo(
        device_id, kind, Protocol.SIM, ControlMode.POWER, lo, hi,
        min_running_w=4140.0 if kind is DeviceKind.EV_CHARGER else 0.0,
    )  # fmt: skip
    return DeviceView(info, DeviceState(device_id, T0, power, **state))  # type: ignore[arg-type]


def _snap(net: float, devices: tuple[DeviceView, ...], **kw: object) -> Snapshot:
    return Snapshot(t=0.0, now=T0, grid=GridPoint(net), devices=devices, **kw)  # type: ignore[arg-type]


def test_battery_follows_the_plans_grid_exchange() -> None:
    bat = _dev("bat", DeviceKind.BATTERY, -5000.0, 5000.0, -1000.0, soc=0.5)
    # the plan wanted 500 W import with the battery at -1000 W; an unforeseen 1.2 kW load: 1.7 kW
    snap = _snap(1700.0, (bat,), plan=(("bat", -1000.0),), plan_grid_w=500.0)
    orders = Orders()
    orders.propose("bat", -1000.0, "plan")
    GridTargetController().run(snap, orders)
    assert orders.target("bat") == pytest.approx(-2200.0)
    # limited by the battery
    snap = _snap(9000.0, (bat,), plan=(("bat", -1000.0),), plan_grid_w=500.0)
    orders = Orders()
    orders.propose("bat", -1000.0, "plan")
    GridTargetController().run(snap, orders)
    assert orders.target("bat") == pytest.approx(-5000.0)


def test_peak_sheds_the_car_then_the_heat_pump_but_not_below_comfort() -> None:
    bat = _dev("bat", DeviceKind.BATTERY, -5000.0, 5000.0, -5000.0, soc=0.5)
    ev = _dev("ev", DeviceKind.EV_CHARGER, 0.0, 11_000.0, 6000.0)
    hp = _dev("hp", DeviceKind.HEAT_PUMP, 0.0, 2000.0, 2000.0, temperature_c=20.6)
    watch = PeakWatch(cap_w=4000.0, elapsed_s=0.0, imported_wh=0.0)
    comfort = (Comfort("hp", min_temperature_c=20.25, max_temperature_c=20.75),)
    # the battery already gives its all: 8 kW import against a 4 kW cap
    snap = _snap(8000.0, (bat, ev, hp), peak=watch, comfort=comfort)
    orders = Orders()
    PeakController().run(snap, orders)
    assert orders.target("ev") == pytest.approx(0.0)  # 6 kW - 4 kW = 2 kW < 4.14 kW: paused
    assert orders.target("hp") is None  # the car's pause was enough
    snap = _snap(11_000.0, (bat, ev, hp), peak=watch, comfort=comfort)
    orders = Orders()
    PeakController().run(snap, orders)
    # 7 kW over: the car stops (6 kW), the heat pump gives the last 1 kW
    assert orders.target("ev") == pytest.approx(0.0) and orders.target("hp") == pytest.approx(1000.0)
    cold = _dev("hp", DeviceKind.HEAT_PUMP, 0.0, 2000.0, 2000.0, temperature_c=20.1)
    orders = Orders()
    PeakController().run(_snap(11_000.0, (bat, ev, cold), peak=watch, comfort=comfort), orders)
    assert orders.target("hp") is None, "below its comfort minimum the heat pump keeps running"


def test_peak_lets_the_battery_discharge_first() -> None:
    bat = _dev("bat", DeviceKind.BATTERY, -5000.0, 5000.0, 0.0, soc=0.5)
    ev = _dev("ev", DeviceKind.EV_CHARGER, 0.0, 11_000.0, 6000.0)
    orders = Orders()
    PeakController().run(_snap(7000.0, (bat, ev), peak=PeakWatch(4000.0, 0.0, 0.0)), orders)
    assert orders.target("bat") == pytest.approx(-3000.0) and orders.target("ev") is None


def test_cycle_holds_the_quarter_under_the_cap_with_a_plan() -> None:
    bat = _dev("bat", DeviceKind.BATTERY, -5000.0, 5000.0, 0.0, soc=0.5)
    ev = _dev("ev", DeviceKind.EV_CHARGER, 0.0, 11_000.0, 4140.0)
    snap = _snap(
        4140.0 + 2500.0,  # the car as planned plus an unforeseen 2.5 kW oven
        (bat, ev),
        plan=(("bat", 0.0), ("ev", 4140.0)),
        plan_grid_w=4140.0,
        peak=PeakWatch(4140.0, 300.0, 4140.0 * 300 / 3600),
    )
    decision = ControlCycle().process(snap)
    sp = {s.device_id: s for s in decision.setpoints}
    assert sp["bat"].power_w == pytest.approx(-2500.0)  # the battery takes the oven
    assert sp["ev"].power_w == pytest.approx(4140.0)  # the car keeps its plan


def test_tracker_counts_the_quarters_import_energy() -> None:
    tracker = SiteTracker("Europe/Brussels")
    for s in range(300):  # five minutes at 3 kW, from 18:00:00
        r = MeterReading(P1Variant.EMUCS_H, "/FLU5", power_import_w=3000.0, power_export_w=0.0)
        tracker.observe(datetime.fromtimestamp(T0.timestamp() + s, UTC), r, ())
    w = tracker.watch(datetime.fromtimestamp(T0.timestamp() + 300, UTC), 4000.0)
    assert w.elapsed_s == pytest.approx(300.0)
    assert w.imported_wh == pytest.approx(3000.0 * 300 / 3600, rel=0.01)
    assert quarter_allowance_w(w) == pytest.approx((4000.0 * 0.25 - 250.0) * 3600 / 600, rel=0.01)
