"""Hold the capacity tariff's quarter hour under the month's peak when an unforeseen load comes.

Runs after the plan and the grid target: when the grid power these orders lead to is above what
the quarter hour still allows (`home.cem.peak.quarter_allowance_w`), the batteries discharge
further first, then the car's charging is lowered (paused below 6 A on its phases), then the
heat pumps down to 0 while the house is inside its comfort band. A device below its comfort
minimum is left alone: comfort comes before the bill. The excess the flexible loads cannot take
is left to the meter: the month's peak rises, and the next plan counts with it.
"""

from __future__ import annotations

from gridedge.home.cem.controllers.grid_target import expected_net_w
from gridedge.home.cem.orders import Orders
from gridedge.home.cem.peak import Sheddable, quarter_allowance_w, shed
from gridedge.home.cem.snapshot import DeviceView, Snapshot
from gridedge.model.devices import DeviceKind


class PeakController:
    name = "peak"

    def run(self, snap: Snapshot, orders: Orders) -> None:
        if snap.peak is None:
            return
        net = expected_net_w(snap, orders)
        if net is None:
            return
        allowed = quarter_allowance_w(snap.peak)
        excess = net - max(allowed, 0.0)
        if excess <= 0:
            return
        why = f"peak: {net:.0f} W, {allowed:.0f} W left in the quarter hour"
        excess = orders.discharge(snap.of_kind(DeviceKind.BATTERY), excess, why)
        if excess <= 0:
            return
        loads: list[DeviceView] = [*snap.of_kind(DeviceKind.EV_CHARGER), *snap.of_kind(DeviceKind.HEAT_PUMP)]
        current = []
        for d in loads:
            t = orders.target(d.device_id)
            current.append(d.power_w if t is None else t)
        sheddable = [
            Sheddable(p, floor_w=p if self._needed(snap, d) else 0.0, running_w=d.info.min_running_w)
            for d, p in zip(loads, current, strict=True)
        ]
        for d, before, after in zip(loads, current, shed(excess, sheddable), strict=True):
            if after < before - 1.0:
                orders.propose(d.device_id, after, why)

    @staticmethod
    def _needed(snap: Snapshot, d: DeviceView) -> bool:
        """A heat pump with the house below its comfort minimum keeps its power."""
        if d.info.kind is not DeviceKind.HEAT_PUMP or d.state is None:
            return False
        temp = d.state.temperature_c
        for need in snap.comfort:
            if need.device_id == d.device_id and need.min_temperature_c is not None and temp is not None:
                return temp <= need.min_temperature_c
        return False
