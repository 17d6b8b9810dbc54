"""An air/water (or brine/water) heat pump heating a house, with hplib's performance maps.

Performance (hplib, Tjaden, Hoops & Rösken, RE-Lab-Projects/hplib, doi:10.5281/zenodo.5521597;
regression on Heat Pump Keymark test points, columns documented in its README): with the source
temperature T_in, the flow temperature T_out and the outdoor temperature T_amb (T_amb = T_in
for air/water units, groups 1 and 4),

    COP  = p1_COP * T_in + p2_COP * T_out + p3_COP + p4_COP * T_amb
    P_el = P_el_h_ref * (p1_P_el_h * T_in + p2_P_el_h * T_out + p3_P_el_h + p4_P_el_h * T_amb)
    P_th = P_el * COP

and, for regulated units, P_el is not taken below 25 % of its value at T_in = -7 °C (the floor
hplib's simulation applies to regulated units); the COP is taken as at least 1 (hplib switches to
a heating rod there).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Final

from gridedge.model.scenario import HeatPumpConfig, SiteConfig
from gridedge.physics.profiles import hplib_row
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
BRINE_C: Final = 3.0
"""Brine temperature of a ground loop in the heating season (groups 2 and 5)."""
WATER_SOURCE_C: Final = 10.0
"""Ground-water source temperature (groups 3 and 6)."""


@dataclass(frozen=True, slots=True)
class HplibModel:
    """One row of the hplib database: reference powers and regression parameters (heating)."""

    manufacturer: str
    model: str
    group: int
    p_el_ref_w: float
    p_th_ref_w: float
    p_el: tuple[float, float, float, float]
    cop_p: tuple[float, float, float, float]
    standby_w: float

    @staticmethod
    def from_row(row: Mapping[str, object]) -> HplibModel:
        def num(key: str) -> float:
            v = row[key]
            if not isinstance(v, Real) or not math.isfinite(v):
                raise ValueError(f"hplib model {row['Model']!r}: column {key!r} is {v!r}, not a number")
            return float(v)

        psb = row.get("PSB [W]")
        model = HplibModel(
            str(row["Manufacturer"]),
            str(row["Model"]),
            int(num("Group")),
            num("P_el_h_ref [W]"),
            num("P_th_h_ref [W]"),
            (num("p1_P_el_h [1/°C]"), num("p2_P_el_h [1/°C]"), num("p3_P_el_h [-]"), num("p4_P_el_h [1/°C]")),
            (num("p1_COP [-]"), num("p2_COP [-]"), num("p3_COP [-]"), num("p4_COP [-]")),
            float(psb) if isinstance(psb, Real) and math.isfinite(psb) else 0.0,
        )
        if model.group not in range(1, 7):
            raise ValueError(f"hplib model {model.model!r}: group {model.group} is not 1..6")
        return model

    @staticmethod
    def load(model: str) -> HplibModel:
        """The named model from the corpus database (ValueError with close matches if absent)."""
        return HplibModel.from_row(hplib_row(model))

    @property
    def regulated(self) -> bool:
        return self.group in (1, 2, 3)

    def source_c(self, outdoor_c: float) -> float:
        """T_in of hplib: outdoor air, brine or ground water."""
        if self.group in (1, 4):
            return outdoor_c
        return BRINE_C if self.group in (2, 5) else WATER_SOURCE_C

    def cop(self, outdoor_c: float, flow_c: float) -> float:
        """hplib COP (not below 1)."""
        p1, p2, p3, p4 = self.cop_p
        t_in = self.source_c(outdoor_c)
        return max(1.0, p1 * t_in + p2 * flow_c + p3 + p4 * outdoor_c)

    def electric_w(self, outdoor_c: float, flow_c: float) -> float:
        """hplib electrical power at the operating point, with the 25 % floor of regulated units."""
        p1, p2, p3, p4 = self.p_el
        t_in = self.source_c(outdoor_c)
        p = self.p_el_ref_w * (p1 * t_in + p2 * flow_c + p3 + p4 * outdoor_c)
        if self.regulated:
            # hplib's floor: 25 % of the -7 °C value (air: T_in = T_amb = -7; brine: T_amb = -7)
            t_in_ref = -7.0 if self.group == 1 else t_in
            t_amb_ref = outdoor_c if self.group == 3 else -7.0
            floor = 0.25 * self.p_el_ref_w * (p1 * t_in_ref + p2 * flow_c + p3 + p4 * t_amb_ref)
            p = max(p, floor)
        return max(p, 0.0)

    def thermal_w(self, outdoor_c: float, flow_c: float) -> float:
        """hplib thermal power at the operating point."""
        return self.electric_w(outdoor_c, flow_c) * self.cop(outdoor_c, flow_c)

    def capacity_w(self, outdoor_c: float, flow_c: float) -> float:
        """Thermal capacity of the simulated compressor (see module docstring)."""
        p = self.thermal_w(outdoor_c, flow_c)
        return max(p, self.thermal_w(-7.0, flow_c)) if self.regulated else p


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
