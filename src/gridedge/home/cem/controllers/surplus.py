"""Self-consumption where no plan speaks: the rule-based behaviour of evcc and most home batteries.

Only devices without a proposal are touched, so with a valid plan this controller does nothing.
The car follows one of evcc's charge modes: `now` (full power, what a plain wallbox does: the
default, so a car is never left empty because no plan exists), `minpv` (its lowest power plus any
surplus) or `pv` (only from PV surplus, from its lowest charging power, 6 A on its phases, and
paused below). The battery then soaks up or covers what is left, so the grid connection point
sits at zero. Heat pumps are left to their own thermostat.
"""

from __future__ import annotations

from enum import StrEnum

from gridedge.home.cem.orders import Orders
from gridedge.home.cem.snapshot import Snapshot
from gridedge.model.devices import DeviceKind


class EVMode(StrEnum):
    NOW = "now"
    MINPV = "minpv"
    PV = "pv"


class SurplusController:
    name = "surplus"

    def __init__(self, ev_mode: EVMode = EVMode.NOW) -> None:
        self.ev_mode = ev_mode

    def run(self, snap: Snapshot, orders: Orders) -> None:
        if snap.grid is None:
            return
        evs = [d for d in snap.of_kind(DeviceKind.EV_CHARGER) if orders.proposal(d.device_id) is None]
        batteries = [d for d in snap.of_kind(DeviceKind.BATTERY) if orders.proposal(d.device_id) is None]
        if not evs and not batteries:
            return
        # what the site would export with these devices idle (positive: surplus)
        surplus = -(snap.grid.net_power_w - sum(d.power_w for d in (*evs, *batteries)))
        for ev in evs:
            lowest = max(ev.info.min_running_w, ev.info.min_power_w, 1.0)
            if not ev.wants_power:
                orders.propose(ev.device_id, 0.0, "surplus: car not charging")
                continue
            if self.ev_mode is EVMode.NOW:
                orders.propose(ev.device_id, ev.info.max_power_w, "charge now (no plan)")
                surplus -= ev.info.max_power_w
            elif self.ev_mode is EVMode.MINPV or surplus >= lowest:
                p = min(max(surplus, lowest), ev.info.max_power_w)
                orders.propose(ev.device_id, p, f"surplus: {surplus:.0f} W of PV surplus")
                surplus -= p
            else:
                orders.propose(ev.device_id, 0.0, f"surplus: {max(surplus, 0):.0f} W, below {lowest:.0f} W")
        for bat in batteries:
            p = min(max(surplus, bat.info.min_power_w), bat.info.max_power_w)
            orders.propose(bat.device_id, p, "self-consumption")
            surplus -= p
