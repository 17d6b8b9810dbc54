"""The household's base load: a standard load profile scaled to the annual use, minute by minute.

The quarter-hour mean comes from the profile the `HouseholdConfig` names (Synergrid RLP0N, share
of annual energy per quarter hour on the Belgian wall clock; or BDEW H0 / H0-dynamic / H25, kW
per 1000 kWh/a in German standard time) times `annual_kwh`, mapped onto the sim date by
`gridedge.physics.profiles`. Within a quarter hour the power changes every minute by seeded,
positively correlated log-normal factors (sigma 0.35, lag-1 correlation 0.6) normalised to a mean
of exactly 1, so the profile's quarter-hour energy is kept while the meter still sees the
restless load of fridges, standby supplies, lighting and electronics that a 15-minute profile
averages out.

The power spreads over L1..L3 by `phase_shares` (all on L1 behind a single-phase meter) at the
configured power factor (lagging) with the mild odd-harmonic content of a mixed residential load,
whose electronics draw mostly 3rd and 5th harmonics (aggregate current THD about 14 %, an assumed
typical value for a home dominated by small electronics; the appliances modelled one by one carry
their own spectra).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import numpy as np

from gridedge.model.scenario import HouseholdConfig, SiteConfig
from gridedge.physics.profiles import LoadProfile, load_profile
from gridedge.physics.seeding import rng_for
from gridedge.sim.electrical import (
    NO_CHANGES,
    OFF,
    Change,
    H,
    Load,
    LoadKind,
    Signature,
    SiteContext,
    material,
)

MIXED_HARMONICS: Final = {
    3: (0.11, 170.0),
    5: (0.07, 20.0),
    7: (0.04, 200.0),
    9: (0.025, 40.0),
    11: (0.015, 220.0),
    13: (0.01, 60.0),
}
"""Mixed household load relative to the fundamental: THD about 14 %."""
SIGMA: Final = 0.35
RHO: Final = 0.6


def minute_factors(rng: np.random.Generator, n: int = 15) -> np.ndarray:
    """n correlated positive factors with a mean of exactly 1."""
    z = rng.standard_normal(n)
    x = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = RHO * acc + math.sqrt(1 - RHO * RHO) * z[i]
        x[i] = acc
    f = np.exp(SIGMA * x)
    out: np.ndarray = f / f.mean()
    return out


class BaseLoad(Load):
    """Profile-driven base load of a household, from `HouseholdConfig`."""

    def __init__(
        self,
        cfg: HouseholdConfig,
        site: SiteConfig | None = None,
        *,
        seed: int = 1,
        phases: int = 3,
        name: str = "base-load",
        profile: LoadProfile | None = None,
    ) -> None:
        super().__init__(name)
        if phases not in (1, 3):
            raise ValueError(f"{name}: a meter has 1 or 3 phases, not {phases}")
        self.cfg = cfg
        self.seed = seed
        self.phases = phases
        self.profile = profile if profile is not None else load_profile(cfg.profile, cfg.region)
        shares = (1.0, 0.0, 0.0) if phases == 1 else cfg.phase_shares
        cur = np.zeros((3, H), dtype=np.complex128)
        for p, share in enumerate(shares, start=1):
            if share > 0:
                cur += Signature.from_power(
                    share, phases=(p,), power_factor=cfg.power_factor, harmonics=MIXED_HARMONICS
                ).currents
        cur.setflags(write=False)
        self._unit = Signature(cur, LoadKind.POWER)
        self._epoch0: float | None = None if site is None else site.start_aware.timestamp()
        self._down = False
        self._quarter = -(10**12)
        self._quarter_w = 0.0
        self._factors = np.ones(15)
        self._next = -math.inf
        self._target = 0.0
        self._p = 0.0

    @property
    def power_w(self) -> float:
        """Power of the signature last emitted."""
        return self.signature.power_w

    def quarter_power_w(self, quarter: int, ctx: SiteContext) -> float:
        """Profile mean power (W) of the quarter hour number `quarter` (UTC epoch / 900)."""
        local = datetime.fromtimestamp(quarter * 900.0, UTC).astimezone(ctx.zone)
        return self.profile.watts_per_kwh(local) * self.cfg.annual_kwh

    def _minute(self, t: float, ctx: SiteContext) -> tuple[float, float]:
        """Target power for the minute holding t, and the sim time that minute ends."""
        if self._epoch0 is None:
            self._epoch0 = ctx.start.timestamp()
        epoch = self._epoch0 + t
        minute = math.floor(epoch / 60.0 + 1e-9)
        quarter = minute // 15
        if quarter != self._quarter:
            self._quarter = quarter
            self._quarter_w = self.quarter_power_w(quarter, ctx)
            self._factors = minute_factors(rng_for(self.seed, f"{self.name}/{quarter}"))
        w = self._quarter_w * float(self._factors[minute - quarter * 15])
        return w, (minute + 1) * 60.0 - self._epoch0

    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        if not (self.relay_closed and ctx.supply_ok):
            self._down = True
            if self.signature is OFF:
                return NO_CHANGES
            self._p = 0.0
            self.signature = OFF
            return (Change(t0, OFF),)
        if self._down:  # supply back: pick up the current minute at once
            self._down = False
            self._next = t0
        changes: list[Change] = []
        while self._next < t1:
            at = max(self._next, t0)
            target, self._next = self._minute(at, ctx)
            if target == self._p or not (material(self._p, target) or self.signature is OFF):
                continue
            self._p = target
            self.signature = OFF if target == 0.0 else self._unit.scaled(target)
            changes.append(Change(at, self.signature))
        return changes or NO_CHANGES
