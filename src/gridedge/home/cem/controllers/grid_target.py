"""Keep the grid exchange the plan counted on: the battery absorbs what the forecast missed.

The plan fixes each device's power for the quarter hour from forecasts; the household's real
load and the PV differ second by second. Following the plan's battery power to the watt would
send every forecast error to the grid, and with it a new monthly peak or a missed export. So
the battery aims at the plan's *grid* power instead (a grid-following battery, as home battery
controllers do in self-consumption mode, with the plan's exchange as the set point): its power
moves by the difference between the planned and the expected grid power, within its limits.
"""

from __future__ import annotations

from gridedge.home.cem.orders import Orders
from gridedge.home.cem.snapshot import Snapshot
from gridedge.model.devices import DeviceKind


def expected_net_w(snap: Snapshot, orders: Orders) -> float | None:
    """The grid power once this cycle's orders are applied: measured, plus each ordered device's
    change from its measured power."""
    if snap.grid is None:
        return None
    net = snap.grid.net_power_w
    for d in snap.devices:
        target = orders.target(d.device_id)
        if target is not None and d.state is not None and d.state.online:
            net += target - d.power_w
    return net


class GridTargetController:
    name = "grid-target"

    def run(self, snap: Snapshot, orders: Orders) -> None:
        if snap.plan_grid_w is None:
            return
        net = expected_net_w(snap, orders)
        if net is None:
            return
        bats = [
            b
            for b in snap.of_kind(DeviceKind.BATTERY)
            if b.state is not None and b.state.online and orders.proposal(b.device_id) is not None
        ]
        if not bats:
            return
        error = snap.plan_grid_w - net  # > 0: the site draws less than planned, the battery may charge more
        span = sum(b.info.max_power_w - b.info.min_power_w for b in bats) or 1.0
        for b in bats:
            now = orders.target(b.device_id)
            assert now is not None
            share = (b.info.max_power_w - b.info.min_power_w) / span
            want = min(max(now + error * share, b.info.min_power_w), b.info.max_power_w)
            orders.propose(b.device_id, want, f"grid target {snap.plan_grid_w:.0f} W")
