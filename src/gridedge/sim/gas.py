"""Gas use of the household, for the gas meter on the electricity meter's M-Bus.

A gas-heated home spends most of its gas on space heating, roughly in proportion to heating
degree-hours below 15 °C outdoor (the base temperature of the Synergrid SLP for gas, S41/S31), and
the rest on hot water and cooking with morning and evening peaks. Annual use is spread that way:
`heating_share` of it over the year's degree-hours (about 48,000 K·h in Belgium and the
Netherlands), the rest over a daily profile. A boiler modulates, so the flow is smooth with a
little seeded noise.
"""

from __future__ import annotations

import math

from gridedge.model.scenario import GasMeterConfig
from gridedge.physics.seeding import rng_for
from gridedge.sim.electrical import SiteContext

_BASE_C = 15.0
_DEGREE_HOURS_PER_YEAR = 48_000.0
_HOURLY = (
    0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.8, 2.4, 1.6, 0.9, 0.7, 0.8,
    1.1, 0.9, 0.7, 0.7, 0.9, 1.4, 2.0, 1.9, 1.4, 1.1, 0.8, 0.6,
)  # fmt: skip
"""Relative hot-water and cooking use per local hour (mean 1)."""
_HOURLY_MEAN = sum(_HOURLY) / 24


class GasUse:
    """Cubic metres of gas used per second of sim time."""

    def __init__(self, config: GasMeterConfig, seed: int, heating_share: float = 0.75) -> None:
        self.config = config
        self.heating_share = heating_share
        self._rng = rng_for(seed, "gas")
        self._noise = 1.0
        self.total_m3 = 0.0

    def step(self, t0: float, t1: float, ctx: SiteContext) -> float:
        """Gas used over [t0, t1) in m3."""
        dt_h = (t1 - t0) / 3600.0
        annual = self.config.annual_m3
        temp = ctx.weather.temperature_c(t0) if ctx.weather is not None else 10.0
        heating = annual * self.heating_share * max(0.0, _BASE_C - temp) / _DEGREE_HOURS_PER_YEAR
        hour = ctx.local(t0).hour
        other = annual * (1 - self.heating_share) / 8760.0 * _HOURLY[hour] / _HOURLY_MEAN
        a = math.exp(-(t1 - t0) / 120.0)
        kick = 0.2 * math.sqrt(1 - a * a) * float(self._rng.standard_normal())
        self._noise = 1.0 + (self._noise - 1.0) * a + kick
        used = max(0.0, (heating + other) * self._noise) * dt_h
        self.total_m3 += used
        return used
