"""A home battery behind its own inverter (AC-coupled), with a state of charge in kWh.

Energy bookkeeping is exact against what the household measures: every second the state of
charge moves by the power of the signature actually emitted, charging storing `efficiency` x the
AC energy and discharging taking AC energy / `efficiency` out of storage (one-way efficiency,
round trip its square, as EMHASS and most EMS models write it). Power is limited by
`charge_kw` / `discharge_kw` and by the room left between `soc_min` and `soc_max`: in the last
second before a bound the battery draws exactly what fills or empties it, so the bounds hold.

Modes:
- self-consumption (default without an energy manager): the inverter follows the meter's net
  power (`SiteContext.net_power_w`, last second) to zero, charging from surplus and covering
  import. It ignores a deadband of +-25 W and corrects 60 % of the error per second, at most half
  its rated power per second, so a step settles in three to five seconds, as commercial units do
  on a 1 s meter signal.
- setpoint (`set_power`, PowerSettable, positive charges): ramps to the setpoint at half the
  rated power per second; `set_power(None)` returns to self-consumption.
- idle: no power.

The inverter's signature is the grid-tied inverter spectrum of `gridedge.sim.pv` at unity power
factor; after a supply interruption it waits the EN 50549-1 observation time (60 s) before it
draws or delivers power again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Literal, cast

from gridedge.model.scenario import BatteryConfig
from gridedge.sim.electrical import NO_CHANGES, OFF, Change, Load, LoadKind, Signature, SiteContext, material
from gridedge.sim.pv import INVERTER_HARMONICS, RECONNECT_S

Mode = Literal["self-consumption", "setpoint", "idle"]
MODES: Final = ("self-consumption", "setpoint", "idle")

DEADBAND_W: Final = 25.0
GAIN: Final = 0.6
"""Share of the measured net power corrected per second in self-consumption."""
RAMP_SHARE_PER_S: Final = 0.5
"""Largest power step per second, as a share of the larger power rating."""


class Battery(Load):
    """An AC-coupled home battery from `BatteryConfig`."""

    def __init__(self, cfg: BatteryConfig, *, seed: int = 1) -> None:
        super().__init__(cfg.name)
        if cfg.soc_min > cfg.soc_max:
            raise ValueError(f"{cfg.name}: soc_min {cfg.soc_min} is above soc_max {cfg.soc_max}")
        self.cfg = cfg
        self.seed = seed
        self.capacity_kwh = cfg.capacity_kwh
        self.soc_kwh = cfg.soc * cfg.capacity_kwh
        self.efficiency = cfg.efficiency
        self.charge_w = cfg.charge_kw * 1000.0
        self.discharge_w = cfg.discharge_kw * 1000.0
        self.mode: Mode = cfg.mode
        self.setpoint_w = 0.0
        self.ac_charged_wh = 0.0
        """AC energy drawn while charging (from the emitted signatures)."""
        self.ac_discharged_wh = 0.0
        """AC energy delivered while discharging (positive)."""
        self._ramp_w = RAMP_SHARE_PER_S * max(self.charge_w, self.discharge_w)
        self._unit = Signature.from_power(
            1.0, phases=cfg.phases, power_factor=1.0, harmonics=INVERTER_HARMONICS, kind=LoadKind.POWER
        )
        self._p = 0.0
        self._sig_w = 0.0
        self._down = False
        self._wait_until = -math.inf

    @property
    def soc(self) -> float:
        """State of charge as a share of capacity."""
        return self.soc_kwh / self.capacity_kwh

    @property
    def power_w(self) -> float:
        """AC power of the signature last emitted (positive charges)."""
        return self._sig_w

    # --- control ---------------------------------------------------------------------------------

    def set_power(self, power_w: float | None, t: float) -> None:
        """AC setpoint in W, positive charges; None returns to self-consumption."""
        if power_w is None:
            self.mode = "self-consumption"
            return
        if not math.isfinite(power_w):
            raise ValueError(f"{self.name}: power setpoint {power_w} W is not a number")
        self.setpoint_w = power_w
        self.mode = "setpoint"

    def set_mode(self, mode: str, t: float) -> None:
        if mode not in MODES:
            raise ValueError(f"{self.name}: mode {mode!r} is not one of {', '.join(MODES)}")
        self.mode = cast(Mode, mode)

    def switch(self, on: bool, t: float) -> None:
        """Off: idle; on: back to the configured mode."""
        self.mode = self.cfg.mode if on else "idle"

    def command(self, action: str, value: float | None = None) -> None:
        if action == "setpoint":
            self.set_power(value, 0.0)
        elif action in ("on", "off"):
            self.switch(action == "on", 0.0)
        elif action in MODES:
            self.set_mode(action, 0.0)
        else:
            super().command(action, value)

    # --- Load ------------------------------------------------------------------------------------

    def _limits(self, dt: float) -> tuple[float, float]:
        """Largest charge and discharge power (W, both >= 0) for the next dt seconds."""
        room_wh = (self.cfg.soc_max * self.capacity_kwh - self.soc_kwh) * 1000.0
        left_wh = (self.soc_kwh - self.cfg.soc_min * self.capacity_kwh) * 1000.0
        hours = dt / 3600.0
        charge = min(self.charge_w, max(0.0, room_wh / self.efficiency / hours))
        discharge = min(self.discharge_w, max(0.0, left_wh * self.efficiency / hours))
        return charge, discharge

    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        dt = t1 - t0
        if dt <= 0:
            return NO_CHANGES
        changes: Sequence[Change] = NO_CHANGES
        if not (self.relay_closed and ctx.supply_ok):
            self._down = True
            changes = self._set(t0, 0.0)
        else:
            if self._down:
                self._down = False
                self._wait_until = t0 + RECONNECT_S
            charge, discharge = self._limits(dt)
            if t0 < self._wait_until or self.mode == "idle":
                want = 0.0
            elif self.mode == "setpoint":
                want = self.setpoint_w
            else:
                net = ctx.net_power_w
                want = self._p - GAIN * net if abs(net) > DEADBAND_W else self._p
            step = self._ramp_w * dt
            want = min(max(want, self._p - step), self._p + step)
            want = min(max(want, -discharge), charge)
            feasible = -discharge <= self._p <= charge
            if feasible and not material(self._p, want) and not (want == 0.0 and self._p != 0.0):
                want = self._p
            changes = self._set(t0, want)
        self._integrate(dt)
        return changes

    def _set(self, t0: float, p: float) -> Sequence[Change]:
        if p == self._p:
            return NO_CHANGES
        self._p = p
        self.signature = OFF if p == 0.0 else self._unit.scaled(p)
        self._sig_w = self.signature.power_w
        return (Change(t0, self.signature),)

    def _integrate(self, dt: float) -> None:
        wh = self._sig_w * dt / 3600.0
        if wh >= 0:
            self.ac_charged_wh += wh
            self.soc_kwh += wh * self.efficiency / 1000.0
        else:
            self.ac_discharged_wh -= wh
            self.soc_kwh += wh / self.efficiency / 1000.0
