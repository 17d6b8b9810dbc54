"""Induction hob: four zones, power levels 1..9, pulsing at the low levels (sources: `induction`).

Each zone's resonant inverter runs from a rectifier with only a small film capacitor, so its input
current follows the mains (near-unity pf, harmonics inside the class A limits) and the power is
regulated. The inverter cannot run continuously below about a third of a zone's maximum, so levels
1-4 pulse the zone at that minimum with a duty cycle over a 2 s period (0.5 Hz, as measured on one
hob in the cited B-field report). On a three-phase meter a hob above 3.7 kW is wired 2N~: zones
1-2 on the configured phase, zones 3-4 on the next one.

Sessions: boil on one zone at level 9, then simmer at 3-5; sometimes a second zone fries at 6-7.
`on` switches zone 1 at the last level set (default 7) until `off`; `setpoint` sets zone 1's level
(0 switches it off). The electronics reset after a power cut.
"""

from __future__ import annotations

from typing import ClassVar

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances.base import SwitchableAppliance
from gridedge.sim.appliances.catalog import INDUCTION_ZONE, combine
from gridedge.sim.electrical import OFF, Signature, SiteContext

LEVEL_FRACTION = (0.0, 0.05, 0.09, 0.15, 0.24, 0.36, 0.48, 0.62, 0.78, 1.0)
"""Share of a zone's maximum at levels 0..9 [M]."""
MIN_CONTINUOUS = 0.30
"""Lowest share a zone's inverter holds continuously; below it the zone pulses."""
PULSE_PERIOD_S = 2.0


class InductionHob(SwitchableAppliance):
    """An induction hob of `rated_w` over four equal zones."""

    kind = ApplianceKind.INDUCTION_HOB
    setpoint_range: ClassVar[tuple[float, float] | None] = (0.0, 9.0)
    setpoint_unit = "(power level)"
    zones = 4

    def _configure(self) -> None:
        self.zone_w = self.rated_w / self.zones
        first = self.phases[0]
        two_phase = len(self.phases) > 1
        self.zone_phase = [self.phases[1] if two_phase and z >= 2 else first for z in range(self.zones)]
        self.levels = [0] * self.zones
        self._pulse_on = [False] * self.zones
        self._pulse_gen = [0] * self.zones
        self._sigs: dict[tuple[int, int], Signature] = {}
        self.default_level = 7

    def _zone_sig(self, zone: int, share: float) -> Signature:
        key = (self.zone_phase[zone], round(share * 1000))
        sig = self._sigs.get(key)
        if sig is None:
            sig = INDUCTION_ZONE.signature(self.zone_w * share, (self.zone_phase[zone],))
            self._sigs[key] = sig
        return sig

    def _draw(self, zone: int) -> float:
        """Share of zone maximum the zone draws right now."""
        frac = LEVEL_FRACTION[self.levels[zone]]
        if frac == 0.0:
            return 0.0
        if frac >= MIN_CONTINUOUS:
            return frac
        return MIN_CONTINUOUS if self._pulse_on[zone] else 0.0

    def _update(self, t: float) -> None:
        parts = [self._zone_sig(z, s) for z in range(self.zones) if (s := self._draw(z)) > 0]
        sig = combine(*parts) if parts else OFF
        self._wobble_sig = sig
        self._emit(t, sig)

    def set_level(self, zone: int, level: int, t: float) -> None:
        """Set `zone` (0-based) to `level` 0..9 at `t`, starting or stopping its pulsing."""
        self.levels[zone] = level
        self._pulse_gen[zone] += 1
        frac = LEVEL_FRACTION[level]
        if 0.0 < frac < MIN_CONTINUOUS:
            self._pulse_on[zone] = True
            self._pulse(zone, t, self._pulse_gen[zone], frac / MIN_CONTINUOUS)
        self._update(t)

    def _pulse(self, zone: int, t: float, gen: int, duty: float) -> None:
        on_s = duty * PULSE_PERIOD_S

        def off(at: float, ctx: SiteContext) -> None:
            if gen == self._pulse_gen[zone]:
                self._pulse_on[zone] = False
                self._update(at)

        def on(at: float, ctx: SiteContext) -> None:
            if gen == self._pulse_gen[zone]:
                self._pulse_on[zone] = True
                self._update(at)
                self._pulse(zone, at, gen, duty)

        self._at(t + on_s, off)
        self._at(t + PULSE_PERIOD_S, on)

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        self._start_wobble(t, 0.01, 4.0, 12.0)
        if commanded:
            self.set_level(0, self.default_level, t)
            return
        # boil, then simmer; sometimes a second zone fries
        boil_s = float(self._rng.uniform(3.0, 8.0)) * 60.0
        simmer_s = float(self._rng.uniform(8.0, 25.0)) * 60.0
        simmer = int(self._rng.integers(3, 6))
        self.set_level(0, 9, t)
        self._at(t + boil_s, lambda at, c: self.set_level(0, simmer, at))
        end = t + boil_s + simmer_s
        if self._rng.random() < 0.5:
            start = t + float(self._rng.uniform(0.0, boil_s + simmer_s / 2))
            fry_s = float(self._rng.uniform(6.0, 15.0)) * 60.0
            level = int(self._rng.integers(6, 8))
            zone = int(self._rng.integers(1, self.zones))
            self._at(start, lambda at, c: self.set_level(zone, level, at))
            self._at(start + fry_s, lambda at, c: self.set_level(zone, 0, at))
            end = max(end, start + fry_s)
        self._at(end, self._finish)

    def _finish(self, t: float, ctx: SiteContext) -> None:
        self._reset()
        super()._finish(t, ctx)

    def _reset(self) -> None:
        for z in range(self.zones):
            self.levels[z] = 0
            self._pulse_gen[z] += 1
            self._pulse_on[z] = False

    def _apply_setpoint(self, value: float, t: float, ctx: SiteContext) -> None:
        level = round(value)
        if level > 0:
            self.default_level = level
        if level == 0:
            self.set_level(0, 0, t)
            if not any(self.levels) and self.active:
                self._finish(t, ctx)
        elif self.active:
            self.set_level(0, level, t)
        elif self._powered:
            self._begin(t, ctx, commanded=True)

    def _power_lost(self, t: float, ctx: SiteContext) -> None:
        self._reset()
        super()._power_lost(t, ctx)

    @property
    def power_share(self) -> float:
        """Mean share of the hob's maximum the current levels ask for (pulsing averaged)."""
        return sum(LEVEL_FRACTION[lv] for lv in self.levels) / self.zones
