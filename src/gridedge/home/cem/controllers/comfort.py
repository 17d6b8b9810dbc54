"""Keep the household's needs whatever the plan says: the indoor band, the battery's reserve.

It runs after the plan, so it corrects it: a heat pump below its band is run at full power, one
above its band is stopped; a battery at its reserve is not discharged further. The limit guard
still has the last word (a §14a-dimmed heat pump keeps only its guaranteed minimum).
"""

from __future__ import annotations

from gridedge.home.cem.orders import Orders
from gridedge.home.cem.snapshot import Snapshot
from gridedge.model.devices import DeviceKind


class ComfortController:
    name = "comfort"

    def run(self, snap: Snapshot, orders: Orders) -> None:
        for need in snap.comfort:
            dev = snap.device(need.device_id)
            if dev is None or dev.state is None or not dev.state.online:
                continue
            st = dev.state
            temp = st.temperature_c
            if temp is not None and need.min_temperature_c is not None and temp < need.min_temperature_c:
                orders.propose(
                    dev.device_id,
                    dev.info.max_power_w,
                    f"comfort: {temp:.1f} °C below {need.min_temperature_c:.1f} °C",
                )
            elif temp is not None and need.max_temperature_c is not None and temp > need.max_temperature_c:
                orders.propose(
                    dev.device_id, 0.0, f"comfort: {temp:.1f} °C above {need.max_temperature_c:.1f} °C"
                )
            if (
                dev.info.kind is DeviceKind.BATTERY
                and need.min_soc is not None
                and st.soc is not None
                and st.soc <= need.min_soc
            ):
                why = f"reserve: state of charge {st.soc:.0%} at {need.min_soc:.0%}"
                orders.floor(dev.device_id, 0.0, why)
