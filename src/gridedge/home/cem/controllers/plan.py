"""Follow the planner: each device gets the power the plan gives it for the current step."""

from __future__ import annotations

from gridedge.home.cem.orders import Orders
from gridedge.home.cem.snapshot import Snapshot


class PlanController:
    name = "plan"

    def run(self, snap: Snapshot, orders: Orders) -> None:
        if snap.plan is None:
            return
        for device_id, power_w in snap.plan:
            if snap.device(device_id) is not None:
                orders.propose(device_id, power_w, "plan")
