"""Direct adapters: the energy manager drives the virtual household's devices by method call.

They satisfy `gridedge.home.devices.adapter.DeviceAdapter` structurally (the sim room does not
import home), so the control cycle can be tested in simulated time on the virtual household
without protocol round trips; the S2, OCPP and SunSpec virtual devices in this package test the
same control through the real protocols. A setpoint is translated the way those protocols would:
a car gets a pilot current (IEC 61851: 6 A or more, else paused), a battery an AC setpoint, a heat
pump a power ceiling (§14a dimming), a PV inverter a generation limit. The §14a minimums are the
energy manager's business (`home.cem.minimums`), so the adapters announce none.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol, Setpoint
from gridedge.sim.battery import Battery
from gridedge.sim.electrical import Load
from gridedge.sim.ev import EVCharger
from gridedge.sim.heatpump import HeatPump
from gridedge.sim.pv import PVSystem
from gridedge.sim.site import VirtualSite

__all__ = ["DirectAdapter", "direct_adapters"]

NOMINAL_V = 230.0


class DirectAdapter:
    def __init__(self, site: VirtualSite, load: Load) -> None:
        self.site = site
        self.load = load
        self._info = self._describe(load)
        self.applied: list[Setpoint] = []

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def _now(self) -> datetime:
        return (self.site.ctx.start + timedelta(seconds=self.site.t)).astimezone(UTC)

    @staticmethod
    def _describe(load: Load) -> DeviceInfo:
        name = load.name
        if isinstance(load, EVCharger):
            c = load.cfg
            per_amp = NOMINAL_V * c.phases
            top = c.max_current_a * per_amp
            return DeviceInfo(
                name, DeviceKind.EV_CHARGER, Protocol.SIM, ControlMode.POWER, 0.0, top,
                phases=(1, 2, 3) if c.phases == 3 else (1,),
                min_running_w=c.min_current_a * per_amp,
            )  # fmt: skip
        if isinstance(load, Battery):
            b = load.cfg
            charge = b.charge_kw * 1000.0
            return DeviceInfo(
                name, DeviceKind.BATTERY, Protocol.SIM, ControlMode.POWER, -b.discharge_kw * 1000.0, charge,
                phases=tuple(b.phases),
            )  # fmt: skip
        if isinstance(load, HeatPump):
            rated = load.hp.electric_w(-7.0, load.flow_c) + load.hp.standby_w
            return DeviceInfo(
                name, DeviceKind.HEAT_PUMP, Protocol.SIM, ControlMode.POWER, 0.0, rated,
                phases=tuple(load.cfg.phases),
            )  # fmt: skip
        if isinstance(load, PVSystem):
            return DeviceInfo(
                name, DeviceKind.PV_INVERTER, Protocol.SIM, ControlMode.POWER, -load.pac_max_w, 0.0,
                phases=tuple(load.cfg.phases),
            )  # fmt: skip
        raise TypeError(f"{name}: no direct adapter for a {type(load).__name__}")

    def state(self) -> DeviceState | None:
        d = self.load
        at = self._now()
        if isinstance(d, EVCharger):
            wants = d.present and d.enabled and d.soc < d.cfg.target_soc
            return DeviceState(d.name, at, d.power_w, soc=d.soc, connected=d.present, wants_power=wants)
        if isinstance(d, Battery):
            return DeviceState(d.name, at, d.power_w, soc=d.soc, wants_power=d.soc < d.cfg.soc_max)
        if isinstance(d, HeatPump):
            wants = d.enabled and (d.running or d.indoor_c < d.setpoint_c + d.band_k / 2)
            return DeviceState(d.name, at, d.power_w, temperature_c=d.indoor_c, wants_power=wants)
        if isinstance(d, PVSystem):
            return DeviceState(d.name, at, d.power_w, wants_power=False)
        return None

    async def apply(self, setpoint: Setpoint) -> None:
        self.applied.append(setpoint)
        d, t = self.load, self.site.t
        target = setpoint.target()
        if isinstance(d, EVCharger):
            watts = target if target is not None else setpoint.max_w
            amps = d.cfg.max_current_a if watts is None else watts / (NOMINAL_V * d.phases)
            amps = math.floor(min(amps, d.cfg.max_current_a) * 10) / 10
            d.set_current(amps if amps >= d.cfg.min_current_a else 0.0, t)
        elif isinstance(d, Battery):
            if target is None and setpoint.max_w is None and setpoint.min_w is None:
                d.set_power(None, t)
            else:
                p = target if target is not None else d.power_w
                lo = setpoint.min_w if setpoint.min_w is not None else -math.inf
                hi = setpoint.max_w if setpoint.max_w is not None else math.inf
                d.set_power(min(max(p, lo), hi), t)
        elif isinstance(d, HeatPump):
            ceiling = setpoint.max_w if target is None else target
            lifted = ceiling is None or ceiling >= self._info.max_power_w
            d.limit_power(None if lifted or ceiling is None else max(ceiling, 0.0), t)
        elif isinstance(d, PVSystem):
            floor = setpoint.min_w if target is None else target
            d.set_power(None if floor is None else max(-floor, 0.0), t)


def direct_adapters(site: VirtualSite) -> list[DirectAdapter]:
    """One adapter per controllable device of the site (cars, batteries, heat pumps, PV)."""
    return [
        DirectAdapter(site, load)
        for load in site.household.loads
        if isinstance(load, EVCharger | Battery | HeatPump | PVSystem)
    ]
