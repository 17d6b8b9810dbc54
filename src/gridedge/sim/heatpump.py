"""An air/water (or brine/water) heat pump heating a house, with hplib's performance maps.

Performance: the hplib map of `gridedge.physics.hplib` (COP and electrical power from the source,
flow and outdoor temperatures; the planner forecasts with the same map).

The EN 14825 test points above -7 °C are measured at part load (load ratios 54/35/15 % at
+2/+7/+12 °C), so for a regulated unit the regression describes the unit following its heating
curve, not its capacity. The simulated compressor therefore has a thermal capacity of
max(P_th(T), P_th(-7 °C)) and modulates between `min_modulation` and 1 of it at the hplib COP;
an on/off unit (groups 4-6) runs at the hplib operating point. The controller is weather
compensated (feed-forward UA x (setpoint - outdoor), as a heating curve does) plus a
proportional term with a two-hour closed-loop time constant. When the demand falls below the
minimum modulation the unit cycles: it starts below setpoint - band/2 (or as soon as the demand
reaches the minimum), stops above setpoint + band/2 after at least `MIN_RUN_S`, and waits
`MIN_OFF_S` before the next start (anti-short-cycle timer, also after a power cut). The
compressor's inverter soft-starts over 60 s; the controller draws the `PSB` standby power of
the database at all times while supplied.

The house is one thermal mass: C dT/dt = P_th - UA (T_in - T_out), integrated exactly over each
step (exponential solution), so C x (T_end - T_start) = heat delivered - heat lost to the
outdoors holds to rounding; heat delivered is COP x the compressor's share of the emitted power.

Electrical signature: a three-phase unit has a six-pulse diode rectifier with DC-link choke and
no PFC (the common design for three-phase compressor drives): current THD about 37 %, 5th and
7th harmonics dominant, no triplens, displacement factor 0.98 (ABB Technical Guide No. 6,
"Guide to harmonics with AC drives", six-pulse rectifier with DC choke). A single- or two-phase
unit has an active PFC front end, as IEC 61000-3-2 class A requires at this power: THD about 5 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from gridedge.model.scenario import HeatPumpConfig, SiteConfig
from gridedge.physics.hplib import HplibModel
from gridedge.physics.weather import Weather
from gridedge.sim.electrical import NO_CHANGES, OFF, Change, Load, LoadKind, Signature, SiteContext, material

SIX_PULSE_HARMONICS: Final = {
    5: (0.33, 180.0),
    7: (0.13, 180.0),
    11: (0.075, 0.0),
    13: (0.05, 0.0),
    17: (0.035, 180.0),
    19: (0.025, 180.0),
    23: (0.02, 0.0),
    25: (0.015, 0.0),
}
"""Six-pulse rectifier with DC choke; signs of the ideal quasi-square wave (-1/5, -1/7, +1/11, ...)."""
PFC_HARMONICS: Final = {
    3: (0.035, 180.0),
    5: (0.025, 0.0),
    7: (0.015, 180.0),
    9: (0.01, 0.0),
    11: (0.008, 180.0),
}
"""Active PFC front end: THD about 4.7 %."""
SOFT_START_S: Final = 60.0
MIN_RUN_S: Final = 600.0
MIN_OFF_S: Final = 300.0
CONTROL_TAU_S: Final = 7200.0
"""Closed-loop time constant of the proportional term."""


class HeatPump(Load):
    """A heat pump and the house it heats, from `HeatPumpConfig`."""

    def __init__(
        self,
        cfg: HeatPumpConfig,
        site: SiteConfig | None = None,
        weather: Weather | None = None,
        *,
        seed: int = 1,
        model: HplibModel | None = None,
    ) -> None:
        """Outdoor temperature from `weather`, else the `SiteContext`'s (7 °C without any); `site` is
        accepted for a uniform device constructor (the house model needs no location)."""
        super().__init__(cfg.name)
        self.cfg = cfg
        self.seed = seed
        self.site = site
        self.weather = weather
        self.hp = model if model is not None else HplibModel.load(cfg.model)
        self.indoor_c = cfg.indoor_c
        self.setpoint_c = cfg.setpoint_c
        self.band_k = cfg.band_k
        self.flow_c = cfg.supply_c
        self.ua_w_per_k = cfg.heat_loss_w_per_k
        self.capacity_j_per_k = cfg.thermal_capacity_kwh_per_k * 3.6e6
        self.enabled = True
        self.limit_w: float | None = None
        """Ceiling on electrical power (§14a dimming); None: none."""
        self.running = False
        self.modulation = 0.0
        """Share of the thermal capacity the compressor is asked for (0 when off)."""
        self.outdoor_c = math.nan
        self.cop = self.hp.cop(7.0, self.flow_c)
        """COP at the current operating point."""
        self.heat_w = 0.0
        """Thermal output over the last step."""
        self.heat_delivered_wh = 0.0
        self.heat_lost_wh = 0.0
        self.electric_wh = 0.0
        """Electrical energy of the emitted signatures (compressor + standby)."""
        kind = LoadKind.POWER
        three = len(set(cfg.phases)) == 3
        self._unit = Signature.from_power(
            1.0,
            phases=cfg.phases,
            power_factor=0.98 if three else 0.99,
            harmonics=SIX_PULSE_HARMONICS if three else PFC_HARMONICS,
            kind=kind,
        )
        self._standby = self.hp.standby_w
        self._standby_sig = (
            Signature.from_power(self._standby, phases=cfg.phases[:1], power_factor=0.6, kind=kind)
            if self._standby > 0
            else OFF
        )
        self._p = 0.0
        self._sig_w = 0.0
        self._started = -math.inf
        self._stopped = -math.inf
        self._minute = -(10**9)
        self._capacity = 0.0
        self._decay_dt = math.nan
        self._decay = 1.0
        self._tau = self.capacity_j_per_k / self.ua_w_per_k

    # --- control ---------------------------------------------------------------------------------

    def set_temperature(self, setpoint_c: float, t: float) -> None:
        if not (math.isfinite(setpoint_c) and 5.0 <= setpoint_c <= 30.0):
            raise ValueError(f"{self.name}: indoor setpoint {setpoint_c} °C outside 5..30 °C")
        self.setpoint_c = setpoint_c

    def limit_power(self, max_w: float | None, t: float) -> None:
        """Dim the compressor: electrical power at most `max_w` W (None lifts the ceiling). Below
        the lowest modulation's power the compressor stops (standby stays)."""
        if max_w is not None and (not math.isfinite(max_w) or max_w < 0):
            raise ValueError(f"{self.name}: power ceiling {max_w} W must be a finite value >= 0")
        self.limit_w = max_w

    def switch(self, on: bool, t: float) -> None:
        """Heating on or off (off stops the compressor at once; the controller stays on standby)."""
        self.enabled = on

    def command(self, action: str, value: float | None = None) -> None:
        if action == "setpoint" and value is not None:
            self.set_temperature(value, 0.0)
        elif action in ("on", "off"):
            self.switch(action == "on", 0.0)
        else:
            super().command(action, value)

    # --- Load ------------------------------------------------------------------------------------

    @property
    def power_w(self) -> float:
        return self._sig_w

    def _operating_point(self, t: float, ctx: SiteContext) -> None:
        minute = math.floor(t / 60.0)
        if minute == self._minute:
            return
        self._minute = minute
        weather = self.weather if self.weather is not None else ctx.weather
        out = weather.temperature_c(t) if weather is not None else 7.0
        self.outdoor_c = out
        self.cop = self.hp.cop(out, self.flow_c)
        self._capacity = self.hp.capacity_w(out, self.flow_c)

    def _control(self, t0: float) -> float:
        """Compressor modulation for the coming step (0 = off)."""
        lo = self.setpoint_c - self.band_k / 2
        hi = self.setpoint_c + self.band_k / 2
        error = self.setpoint_c - self.indoor_c
        demand = (
            self.ua_w_per_k * (self.setpoint_c - self.outdoor_c)
            + self.capacity_j_per_k / CONTROL_TAU_S * error
        )
        share = demand / self._capacity if self._capacity > 0 else 0.0
        floor = self.cfg.min_modulation if self.hp.regulated else 1.0
        if not self.enabled:
            self._stop(t0)
        elif self.running:
            if self.indoor_c >= hi and share < floor and t0 - self._started >= MIN_RUN_S:
                self._stop(t0)
        elif t0 - self._stopped >= MIN_OFF_S and (
            self.indoor_c <= lo or (share >= floor and self.indoor_c < hi)
        ):
            self.running = True
            self._started = t0
        if not self.running:
            return 0.0
        m = 1.0 if not self.hp.regulated else min(1.0, max(floor, share))
        return m * min(1.0, (t0 - self._started) / SOFT_START_S)

    def _stop(self, t0: float) -> None:
        if self.running:
            self.running = False
            self._stopped = t0

    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        dt = t1 - t0
        if dt <= 0:
            return NO_CHANGES
        self._operating_point(t0, ctx)
        if not (self.relay_closed and ctx.supply_ok):
            if self.running:
                self._stop(t0)
            else:
                self._stopped = max(self._stopped, t0)  # anti-short-cycle counts from the power's return
            self.modulation = 0.0
            changes = self._set(t0, 0.0, powered=False)
        else:
            self.modulation = self._control(t0)
            p = self.modulation * self._capacity / self.cop
            if self.limit_w is not None and p > self.limit_w - self._standby:
                ceiling = max(self.limit_w - self._standby, 0.0)
                floor_m = self.cfg.min_modulation if self.hp.regulated else 1.0
                full = self._capacity / self.cop
                if full > 0 and ceiling / full >= floor_m:
                    self.modulation = ceiling / full
                    p = ceiling
                else:
                    self.modulation, p = 0.0, 0.0
            changes = self._set(t0, p, powered=True)
        self._integrate(dt)
        return changes

    def _set(self, t0: float, p: float, *, powered: bool) -> Sequence[Change]:
        sig: Signature | None
        if not powered:
            sig, p = OFF, 0.0
        elif p > 0.0:
            if self._p > 0.0 and not material(self._p, p):
                return NO_CHANGES
            sig = None
        else:
            sig = self._standby_sig
        if sig is self.signature:
            return NO_CHANGES
        if sig is None:
            sig = self._unit.scaled(p + self._standby)
        self._p = p
        self.signature = sig
        self._sig_w = sig.power_w
        return (Change(t0, sig),)

    def _integrate(self, dt: float) -> None:
        compressor_w = self._sig_w - self._standby if self._p > 0 else 0.0
        self.heat_w = self.cop * compressor_w
        self.electric_wh += self._sig_w * dt / 3600.0
        if dt != self._decay_dt:
            self._decay_dt = dt
            self._decay = math.exp(-dt / self._tau)
        t_eq = self.outdoor_c + self.heat_w / self.ua_w_per_k
        t_new = t_eq + (self.indoor_c - t_eq) * self._decay
        delivered = self.heat_w * dt / 3600.0
        self.heat_delivered_wh += delivered
        self.heat_lost_wh += delivered - self.capacity_j_per_k * (t_new - self.indoor_c) / 3600.0
        self.indoor_c = t_new
