"""When people use their appliances: a seeded non-homogeneous Poisson process per appliance.

Starts follow an hourly time-of-day profile per kind (local wall time, so daylight-saving days stay
right): kettles in the morning and evening (Murray et al., Applied Energy 2016, source
`kettle-use`), washing machines in the daytime, TVs in the evening, lighting after dark. The
profiles are relative weights; the rate integrates to `uses_per_day` over a day. Lighting is also
suppressed while the weather reports daylight (global irradiance above 200 W/m²).

Sampling inverts the integrated rate hour by hour: draw E ~ Exp(1) and walk forward until the
accumulated intensity reaches E. Exact for a piecewise-constant rate and one draw per start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import numpy as np

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.electrical import SiteContext

_K = ApplianceKind


def _profile(*weights: float) -> tuple[float, ...]:
    if len(weights) != 24:
        raise ValueError(f"a profile needs 24 hourly weights, got {len(weights)}")
    total = sum(weights)
    return tuple(w * 24.0 / total for w in weights)


# fmt: off
PROFILES: Final[Mapping[ApplianceKind, tuple[float, ...]]] = MappingProxyType(
    {
        _K.KETTLE: _profile(
            0.2, 0.1, 0.05, 0.05, 0.1, 0.3, 1.5, 3, 2.6, 1.6, 1.4, 1.2,  # 00-11 h
            1.4, 1.3, 1.2, 1.4, 1.6, 1.8, 1.6, 1.7, 1.8, 1.5, 1, 0.5,  # 12-23 h
        ),
        _K.OVEN: _profile(
            0, 0, 0, 0, 0, 0, 0.1, 0.2, 0.2, 0.2, 0.4, 0.8,  # 00-11 h
            1.2, 0.6, 0.3, 0.4, 1.2, 3.5, 3.5, 1.5, 0.5, 0.2, 0.1, 0,  # 12-23 h
        ),
        _K.WATER_HEATER: _profile(
            0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 2.5, 3, 2, 1.2, 0.8, 0.8,  # 00-11 h
            0.8, 0.7, 0.6, 0.6, 0.8, 1.2, 1.6, 1.8, 1.8, 1.6, 1, 0.5,  # 12-23 h
        ),
        _K.FRIDGE: _profile(
            0.1, 0.05, 0.05, 0.05, 0.05, 0.2, 0.8, 1.6, 1.4, 0.9, 0.8, 1,  # 00-11 h
            1.8, 1.3, 0.8, 0.8, 1.1, 1.8, 2.2, 1.6, 1.1, 0.9, 0.6, 0.3,  # 12-23 h
        ),
        _K.WASHING_MACHINE: _profile(
            0, 0, 0, 0, 0, 0.1, 0.3, 0.8, 1.6, 2.2, 2.2, 1.8,  # 00-11 h
            1.4, 1.3, 1.3, 1.2, 1.1, 1, 1, 1, 0.8, 0.5, 0.2, 0.05,  # 12-23 h
        ),
        _K.DISHWASHER: _profile(
            0.05, 0, 0, 0, 0, 0, 0.1, 0.4, 0.8, 0.9, 0.7, 0.5,  # 00-11 h
            0.5, 1.4, 1.4, 0.8, 0.6, 0.6, 0.9, 1.8, 2.6, 2.4, 1.4, 0.4,  # 12-23 h
        ),
        _K.TV: _profile(
            0.2, 0.1, 0, 0, 0, 0, 0.2, 0.4, 0.4, 0.3, 0.3, 0.3,  # 00-11 h
            0.5, 0.5, 0.4, 0.4, 0.6, 1, 2, 3.2, 3.5, 2.6, 1.3, 0.5,  # 12-23 h
        ),
        _K.LAPTOP: _profile(
            0.1, 0, 0, 0, 0, 0, 0.2, 0.6, 1.5, 2, 1.8, 1.4,  # 00-11 h
            1, 1.6, 1.6, 1.4, 1.2, 1, 0.8, 1.2, 1.4, 1.2, 0.6, 0.2,  # 12-23 h
        ),
        _K.LED_LIGHTING: _profile(
            0.2, 0.05, 0, 0, 0.1, 0.5, 1.6, 1.8, 0.6, 0.2, 0.1, 0.1,  # 00-11 h
            0.1, 0.1, 0.1, 0.2, 0.6, 1.6, 3, 3.2, 2.6, 1.8, 1, 0.4,  # 12-23 h
        ),
        _K.INDUCTION_HOB: _profile(
            0, 0, 0, 0, 0, 0, 0.2, 0.4, 0.3, 0.2, 0.3, 1.2,  # 00-11 h
            2.2, 0.8, 0.2, 0.2, 0.6, 3, 3.5, 1.5, 0.5, 0.2, 0.1, 0,  # 12-23 h
        ),
        _K.VACUUM: _profile(
            0, 0, 0, 0, 0, 0, 0, 0.3, 1, 2, 2.4, 2.2,  # 00-11 h
            1, 1.2, 1.8, 1.8, 1.4, 1, 0.6, 0.4, 0.2, 0, 0, 0,  # 12-23 h
        ),
        _K.MICROWAVE: _profile(
            0.1, 0, 0, 0, 0, 0.1, 0.5, 1.2, 1, 0.6, 0.6, 0.9,  # 00-11 h
            2.4, 1.6, 0.6, 0.6, 0.9, 2, 2.6, 1.8, 1.2, 0.9, 0.6, 0.2,  # 12-23 h
        ),
    }
)
# fmt: on
"""Relative start rate per local hour (mean 1). Shapes are modelling choices [M] that follow the
qualitative findings of the time-use literature (kettle: source `kettle-use`)."""

_MAX_STEPS: Final = 24 * 400
"""Give up after 400 days without a start (a tiny `uses_per_day`)."""


class UsageProcess:
    """Spontaneous starts of one appliance: `next_after(t, ctx)` is the next start after t."""

    def __init__(self, kind: ApplianceKind, uses_per_day: float, rng: np.random.Generator) -> None:
        if uses_per_day < 0:
            raise ValueError(f"uses_per_day must be >= 0, got {uses_per_day}")
        self.kind = kind
        self.uses_per_day = uses_per_day
        self._rng = rng
        self._rate = tuple(w * uses_per_day / 86400.0 for w in PROFILES[kind])
        """Starts per second in each local hour."""
        self._daylight_sensitive = kind is ApplianceKind.LED_LIGHTING

    def _factor(self, t: float, ctx: SiteContext) -> float:
        if self._daylight_sensitive and ctx.weather is not None:
            ghi = ctx.weather.irradiance(t)[0]
            return 0.05 if ghi > 200.0 else 1.0
        return 1.0

    def next_after(self, t: float, ctx: SiteContext) -> float:
        """Sim time of the next start after `t` (inf if the rate is zero)."""
        if self.uses_per_day <= 0:
            return math.inf
        need = float(self._rng.exponential())
        for _ in range(_MAX_STEPS):
            local = ctx.local(t)
            into = local.minute * 60 + local.second + local.microsecond * 1e-6
            span = 3600.0 - into
            rate = self._rate[local.hour] * self._factor(t, ctx)
            if rate * span >= need:
                return t + need / rate
            need -= rate * span
            t += span
        return math.inf
