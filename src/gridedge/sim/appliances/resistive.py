"""Resistive appliances: kettle, oven and storage water heater (sources in `catalog.SOURCES`).

All three draw a heating element's current: unity displacement, no harmonics of their own, a few
per cent more current while the element is cold (kk-lab: a water heater falls from 3554 W to
3450 W over five minutes). Their timing comes from heat balances:

- kettle: m c (T_target - T_tap) / (P eta) seconds, then about 20 s of boiling until the steam
  cut-out trips (`kettle-physics`); it does not resume after a power cut (modern cordless bases
  reset their electronics, the scenario brief's choice).
- oven: a first-order cavity (C about 7.2 kJ/K, UA about 5.6 W/K) preheats to the setpoint in about
  10 min, then the thermostat cycles the element about +-5 K around it (`oven`); the fan and lamp
  stay on. A mechanical thermostat resumes after a power cut.
- water heater: a fully mixed 150 l tank (stratification ignored) loses heat to the room and to hot
  water draws (cold water replaces what is drawn); its thermostat switches the element at the
  lower edge of a 6 K band and off at the setpoint (`water-heater`).
"""

from __future__ import annotations

import math
from typing import ClassVar

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances.base import AUX, CMD, SESSION, THERMO, SwitchableAppliance
from gridedge.sim.appliances.catalog import HEATING_ELEMENT, OVEN_AUX, combine
from gridedge.sim.appliances.thermal import relax, time_to
from gridedge.sim.electrical import OFF, Inrush, SiteContext

WATER_J_PER_KG_K = 4186.0
"""Specific heat capacity of water."""


def _element_inrush(sig_power_w: float) -> float:
    """Cold-element inrush peak: a few per cent (steel-sheathed NiCr has a small temperature coefficient)."""
    return 1.04 if sig_power_w > 0 else 1.0


class Kettle(SwitchableAppliance):
    """An electric kettle: one boil per use, sized from the water volume and temperature rise."""

    kind = ApplianceKind.KETTLE
    setpoint_range: ClassVar[tuple[float, float] | None] = (40.0, 100.0)
    setpoint_unit = "°C"

    def _configure(self) -> None:
        self.sig = HEATING_ELEMENT.signature(self.rated_w, self.phases)
        self.target_c = 100.0
        self.efficiency = float(self._rng.uniform(0.85, 0.92))
        """Share of the element's energy that ends up in the water (the rest heats the body and air)."""
        self.last_boil: tuple[float, float, float, float] | None = None
        """(volume l, start °C, target °C, seconds on) of the latest boil."""
        self._on_at = 0.0

    def _apply_setpoint(self, value: float, t: float, ctx: SiteContext) -> None:
        self.target_c = value

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        volume = float(min(max(self._rng.lognormal(math.log(0.9), 0.35), 0.3), 1.7))
        start_c = float(self._rng.uniform(10.0, 18.0))
        heat_s = volume * WATER_J_PER_KG_K * (self.target_c - start_c) / (self.rated_w * self.efficiency)
        boil_s = float(self._rng.uniform(12.0, 25.0)) if self.target_c >= 100.0 else 0.0
        on_s = max(heat_s, 0.0) + boil_s
        self.last_boil = (volume, start_c, self.target_c, on_s)
        self._on_at = t
        self._wobble_sig = self.sig
        self._emit(
            t, self.sig, Inrush.resistive(self.sig, peak=_element_inrush(self.rated_w), tau_cycles=25.0)
        )
        self._start_wobble(t, 0.001, 10.0, 25.0)
        self._at(t + on_s, self._finish)

    def _drift(self, t: float) -> float:
        return 0.003 * math.exp(-(t - self._on_at) / 60.0) - 0.003


class Oven(SwitchableAppliance):
    """An electric oven: preheat, then thermostat cycling around the setpoint until switched off."""

    kind = ApplianceKind.OVEN
    setpoint_range: ClassVar[tuple[float, float] | None] = (50.0, 275.0)
    setpoint_unit = "°C"
    hysteresis_k = 5.0

    def _configure(self) -> None:
        aux_w = OVEN_AUX.power_w
        self.heater_w = max(self.rated_w - aux_w, 0.5 * self.rated_w)
        self.aux = OVEN_AUX.signature(None, self.phases)
        self.heating_sig = combine(HEATING_ELEMENT.signature(self.heater_w, self.phases), self.aux)
        self.capacity_j_per_k = 7200.0 * float(self._rng.uniform(0.85, 1.15))
        self.ua_w_per_k = 5.6 * float(self._rng.uniform(0.85, 1.15))
        self.ambient_c = 21.0
        self.setpoint_c = 180.0
        self.temp_c = self.ambient_c
        self._temp_at = 0.0
        self.heating = False
        self._end = math.inf
        self.switchings = 0
        """Element switchings by the thermostat (preheat included)."""

    @property
    def tau_s(self) -> float:
        return self.capacity_j_per_k / self.ua_w_per_k

    def _eq(self) -> float:
        return self.ambient_c + (self.heater_w / self.ua_w_per_k if self.heating else 0.0)

    def temperature(self, t: float) -> float:
        """Cavity temperature at `t` (valid from the last thermostat event on)."""
        return relax(self.temp_c, self._eq(), self.tau_s, t - self._temp_at)

    def _settle(self, t: float) -> None:
        self.temp_c = self.temperature(t)
        self._temp_at = t

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        self._settle(t)
        if not commanded:
            self.setpoint_c = float(self._rng.choice([160.0, 180.0, 180.0, 200.0, 220.0]))
        self._end = math.inf if commanded else t + float(self._rng.uniform(30.0, 75.0)) * 60.0
        self._run(t)

    def _run(self, t: float) -> None:
        """(Re)enter the session at `t`: fan and lamp on, the thermostat decides the element."""
        self.heating = False
        if self._end < math.inf:
            self._at(self._end, self._stop)
        self._wobble_sig = self.aux
        self._start_wobble(t, 0.002, 20.0, 40.0)
        self._thermostat(t)
        if not self.heating:
            self._emit(t, self.aux)

    def _thermostat(self, t: float) -> None:
        self._cancel(THERMO)
        temp = self.temp_c
        if not self.heating and temp <= self.setpoint_c - self.hysteresis_k:
            self._set_heating(t, True)
        elif self.heating and temp >= self.setpoint_c + self.hysteresis_k:
            self._set_heating(t, False)
        target = self.setpoint_c + (self.hysteresis_k if self.heating else -self.hysteresis_k)
        dt = time_to(self.temp_c, self._eq(), self.tau_s, target)
        if dt < math.inf:
            self._at(t + max(dt, 1e-3), self._cross, THERMO)

    def _cross(self, t: float, ctx: SiteContext) -> None:
        self._settle(t)
        self._set_heating(t, not self.heating)
        self._thermostat(t)

    def _set_heating(self, t: float, on: bool) -> None:
        self._settle(t)
        self.heating = on
        self.switchings += 1
        sig = self.heating_sig if on else self.aux
        self._wobble_sig = sig
        inrush = Inrush.resistive(sig, peak=_element_inrush(self.heater_w), tau_cycles=25.0) if on else None
        self._emit(t, sig, inrush)

    def _stop(self, t: float, ctx: SiteContext) -> None:
        self._settle(t)
        self.heating = False
        self._cancel(THERMO)
        self._end = math.inf
        self._finish(t, ctx)

    def _switch_off(self, t: float, ctx: SiteContext) -> None:
        if self.active:
            self._stop(t, ctx)

    def _apply_setpoint(self, value: float, t: float, ctx: SiteContext) -> None:
        self.setpoint_c = value
        if self.active and self._powered:
            self._settle(t)
            self._thermostat(t)

    def _power_lost(self, t: float, ctx: SiteContext) -> None:
        self._settle(t)
        self.heating = False
        self._cancel(SESSION)
        self._cancel(THERMO)

    def _power_back(self, t: float, ctx: SiteContext) -> None:
        self._settle(t)
        if self.active:
            if t >= self._end:
                self.active = False
                self._end = math.inf
            else:
                self._run(t)


class WaterHeater(SwitchableAppliance):
    """A storage water heater: tank heat balance, hot-water draws, a thermostat with a 6 K band.

    Spontaneous uses are draws of hot water (a shower, the sink); `switch(False)` disables the
    element (the tank keeps cooling), `setpoint` sets the thermostat.
    """

    kind = ApplianceKind.WATER_HEATER
    setpoint_range: ClassVar[tuple[float, float] | None] = (30.0, 75.0)
    setpoint_unit = "°C"
    band_k = 6.0

    def _configure(self) -> None:
        self.sig = HEATING_ELEMENT.signature(self.rated_w, self.phases)
        self.volume_l = 150.0
        self.capacity_j_per_k = self.volume_l * WATER_J_PER_KG_K
        self.ua_w_per_k = 1.6
        """About 1.5 kWh a day of standing loss at 60 °C in an 18 °C room."""
        self.ambient_c = 18.0
        self.inlet_c = 10.0
        self.setpoint_c = 60.0
        self.temp_c = self.setpoint_c
        self._temp_at = 0.0
        self.heating = False
        self.enabled = True
        self.drawn_l = 0.0
        """Hot water drawn since start (litres)."""
        self.drawn_heat_j = 0.0
        """Heat that left with the drawn water, counted from the inlet temperature."""
        self.heatings = 0
        """Times the thermostat switched the element on."""
        self._heat_on_at = 0.0

    @property
    def tau_s(self) -> float:
        return self.capacity_j_per_k / self.ua_w_per_k

    def _eq(self) -> float:
        return self.ambient_c + (self.rated_w / self.ua_w_per_k if self.heating else 0.0)

    def temperature(self, t: float) -> float:
        return relax(self.temp_c, self._eq(), self.tau_s, t - self._temp_at)

    def _settle(self, t: float) -> None:
        self.temp_c = self.temperature(t)
        self._temp_at = t

    def _setup(self, t: float, ctx: SiteContext) -> None:
        self.temp_c = self.setpoint_c - float(self._rng.uniform(0.0, self.band_k))
        self._temp_at = t
        self._thermostat(t)

    def _can_heat(self) -> bool:
        return self.enabled and self._powered

    def _thermostat(self, t: float) -> None:
        self._settle(t)
        self._cancel(THERMO)
        if self.heating and (not self._can_heat() or self.temp_c >= self.setpoint_c):
            self._set_heating(t, False)
        elif not self.heating and self._can_heat() and self.temp_c <= self.setpoint_c - self.band_k:
            self._set_heating(t, True)
        if self.heating:
            target = self.setpoint_c
        elif self._can_heat():
            target = self.setpoint_c - self.band_k
        else:
            return
        dt = time_to(self.temp_c, self._eq(), self.tau_s, target)
        if dt < math.inf:
            self._at(t + max(dt, 1e-3), lambda at, ctx: self._thermostat(at), THERMO)

    def _set_heating(self, t: float, on: bool) -> None:
        self._settle(t)
        self.heating = on
        self.active = on
        if on:
            self.heatings += 1
            self._heat_on_at = t
            self._wobble_sig = self.sig
            self._emit(
                t, self.sig, Inrush.resistive(self.sig, peak=_element_inrush(self.rated_w), tau_cycles=25.0)
            )
            self._start_wobble(t, 0.002, 20.0, 40.0)
        else:
            self._cancel(SESSION)
            self._wobble_sig = OFF
            self._emit(t, OFF)

    def _drift(self, t: float) -> float:
        # kk-lab: 3554 W at switch-on settling to 3450 W (-3 %) over about five minutes
        return 0.03 * math.exp(-(t - self._heat_on_at) / 100.0)

    def _spontaneous(self, t: float, ctx: SiteContext) -> None:
        self.uses += 1
        self._draw(float(min(max(self._rng.lognormal(math.log(10.0), 0.8), 2.0), 80.0)), t)
        if self._usage is not None:
            self._at(self._usage.next_after(t, ctx), self._spontaneous, AUX)

    def draw(self, litres: float, t: float) -> None:
        """Draw `litres` of hot water at sim time `t` (queued like a command)."""
        self._at(t, lambda at, ctx: self._draw(litres, at), CMD)

    def _draw(self, litres: float, t: float) -> None:
        """Cold inlet water replaces what is drawn; the tank is taken as fully mixed."""
        self._settle(t)
        v = min(max(litres, 0.0), self.volume_l)
        self.drawn_heat_j += v * WATER_J_PER_KG_K * (self.temp_c - self.inlet_c)
        self.temp_c = (self.temp_c * (self.volume_l - v) + self.inlet_c * v) / self.volume_l
        self.drawn_l += v
        self._thermostat(t)

    def _switch_on(self, t: float, ctx: SiteContext) -> None:
        self.enabled = True
        self._thermostat(t)

    def _switch_off(self, t: float, ctx: SiteContext) -> None:
        self.enabled = False
        self._thermostat(t)

    def _apply_setpoint(self, value: float, t: float, ctx: SiteContext) -> None:
        self.setpoint_c = value
        self._thermostat(t)

    def _power_lost(self, t: float, ctx: SiteContext) -> None:
        self._settle(t)
        self.heating = False
        self.active = False
        self._cancel(SESSION)
        self._cancel(THERMO)

    def _power_back(self, t: float, ctx: SiteContext) -> None:
        self._thermostat(t)
