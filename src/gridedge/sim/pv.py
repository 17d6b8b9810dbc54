"""A grid-tied PV system: pvlib physics once per sim day, a cheap look-up every second.

The available AC power per minute of each sim day comes from `gridedge.physics.solar` (solar
position, plane-of-array irradiance, cell temperature, PVWatts DC and inverter), the same model
the energy manager forecasts with. Between the minutes the AC power is interpolated linearly, so
a passing cloud edge shows as a ramp over a minute or two.

Electrically the inverter injects current at unity power factor (the usual setting of small
inverters; EN 50549-1 leaves the reactive-power mode to the grid operator) as
negative power spread evenly over its phases, with a small harmonic spectrum: about 2.3 % THD,
within the 5 % total-rated-current-distortion limit and the per-order limits of IEEE 1547-2018
Table 26 (odd h < 11: 4 %, 11 <= h < 17: 2 %). After an interruption of its supply it waits the
60 s observation time and ramps its output up at 10 % of rated power per minute
(EN 50549-1:2019 §4.10, reconnection after tripping).

`set_power` (PowerSettable) is a limit on generation in W (curtailment, e.g. a SunSpec
WMaxLim or an export limit): it acts from the next second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from gridedge.model.scenario import PVConfig, SiteConfig
from gridedge.physics.solar import PVArray, day_ac_power
from gridedge.physics.weather import DAY_S, ClearSkyWeather, Weather
from gridedge.sim.electrical import (
    NO_CHANGES,
    OFF,
    Change,
    Load,
    LoadKind,
    Signature,
    SiteContext,
    material,
)

FloatArray = npt.NDArray[np.float64]

INVERTER_HARMONICS: Final = {
    3: (0.015, 190.0),
    5: (0.012, 20.0),
    7: (0.009, 200.0),
    9: (0.006, 30.0),
    11: (0.005, 210.0),
    13: (0.004, 40.0),
    15: (0.003, 220.0),
    17: (0.002, 50.0),
    19: (0.002, 230.0),
}
"""Current harmonics of a grid-tied inverter relative to the fundamental, (ratio, angle in degrees):
THD about 2.3 %, below the IEEE 1547-2018 Table 26 limits."""

RECONNECT_S: Final = 60.0
"""EN 50549-1 §4.10: observation time before reconnecting after a trip."""
RAMP_PER_S: Final = 0.10 / 60.0
"""EN 50549-1 §4.10: after reconnection at most 10 % of rated power per minute."""


class PVSystem(Load):
    """A PV array and its inverter, from `PVConfig` at the site's location."""

    def __init__(
        self, cfg: PVConfig, site: SiteConfig, weather: Weather | None = None, *, seed: int = 1
    ) -> None:
        """`weather` defaults to the `SiteContext`'s at the first step (clear sky if it has none)."""
        super().__init__(cfg.name)
        self.cfg = cfg
        self.seed = seed
        self.latitude = site.latitude
        self.longitude = site.longitude
        self.array = PVArray.from_config(cfg, site)
        self.pdc0_w = self.array.pdc0_w
        self.pac_max_w = self.array.pac_max_w
        self.limit_w: float | None = None
        self.on = True
        self._weather = weather
        self._epoch0 = site.start_aware.timestamp()
        self._unit = Signature.from_power(
            -1.0, phases=cfg.phases, power_factor=1.0, harmonics=INVERTER_HARMONICS, kind=LoadKind.POWER
        )
        self._day = -(10**9)
        self._ac: FloatArray = np.zeros(1441)
        self._p = 0.0
        self._down = False
        self._restart_at: float | None = None

    # --- control ---------------------------------------------------------------------------------

    def set_power(self, power_w: float | None, t: float) -> None:
        """Limit generation to `power_w` W (None lifts the limit)."""
        if power_w is not None and (not math.isfinite(power_w) or power_w < 0):
            raise ValueError(f"{self.name}: generation limit {power_w} W must be a finite value >= 0")
        self.limit_w = power_w

    def switch(self, on: bool, t: float) -> None:
        """Inverter on or off (off: no generation, e.g. a maintenance switch)."""
        self.on = on

    def command(self, action: str, value: float | None = None) -> None:
        if action == "setpoint":
            self.set_power(value, 0.0)
        elif action in ("on", "off"):
            self.switch(action == "on", 0.0)
        else:
            super().command(action, value)

    # --- physics ---------------------------------------------------------------------------------

    def day_ac_power(self, day: int, weather: Weather) -> FloatArray:
        """Available AC power (W, positive) every 60 s over sim day `day` (1441 points)."""
        return day_ac_power(self.array, weather, self._epoch0, day)

    def available_w(self, t: float, ctx: SiteContext | None = None) -> float:
        """AC power the array could deliver at sim time t, before any limit (W, positive)."""
        day = math.floor(t / DAY_S)
        if day != self._day:
            self._ac = self.day_ac_power(day, self._weather_for(ctx))
            self._day = day
        x = (t - day * DAY_S) / 60.0
        i = min(int(x), 1439)
        a = self._ac
        return float(a[i] + (a[i + 1] - a[i]) * (x - i))

    def _weather_for(self, ctx: SiteContext | None) -> Weather:
        if self._weather is None:
            if ctx is not None and ctx.weather is not None:
                self._weather = ctx.weather
            else:
                start = datetime.fromtimestamp(self._epoch0, UTC)
                self._weather = ClearSkyWeather(self.latitude, self.longitude, start, cloudiness=0.0)
        return self._weather

    # --- Load ------------------------------------------------------------------------------------

    @property
    def power_w(self) -> float:
        """Power of the signature last emitted (negative: generating)."""
        return -self._p

    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        if not (self.relay_closed and ctx.supply_ok):
            self._down = True
            self._restart_at = None
            return self._emit(t0, 0.0)
        if self._down:  # supply back: observation time, then a ramp
            self._down = False
            self._restart_at = t0 + RECONNECT_S
        p = self.available_w(t0, ctx) if self.on else 0.0
        if self.limit_w is not None:
            p = min(p, self.limit_w)
        if self._restart_at is not None:
            p = min(p, max(0.0, (t0 - self._restart_at) * RAMP_PER_S * self.pac_max_w))
            if t0 - self._restart_at >= 1.0 / RAMP_PER_S:
                self._restart_at = None
        return self._emit(t0, p)

    def _emit(self, t0: float, p: float) -> Sequence[Change]:
        if p == self._p or not (material(self._p, p) or (p == 0.0 and self._p != 0.0)):
            return NO_CHANGES
        self._p = p
        self.signature = OFF if p == 0.0 else self._unit.scaled(p)
        return (Change(t0, self.signature),)
