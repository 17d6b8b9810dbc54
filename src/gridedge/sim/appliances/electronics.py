"""Electronic loads: TV, laptop charger, LED lighting and the microwave oven.

Switched-mode supplies without power factor correction (LED drivers, laptop chargers, TVs up to
75 W) draw their current in a short pulse before each voltage peak: large odd harmonics, a slightly
leading fundamental, true power factor 0.5-0.7, and a capacitive inrush when the bulk capacitor
charges (`led-driver`, PLAID CFL class, IEC 61000-3-2 class C/D thresholds). TVs above 75 W must
meet class D limits and carry active PFC (pf above 0.95). All are regulated: constant power.

The microwave's magnetron is fed by a leakage transformer: near-unity power factor at full power,
a 3rd harmonic of about a fifth; below full power it cycles the magnetron on and off over a 30 s
period while the fan, lamp and turntable keep drawing about 40 W (`microwave`).
"""

from __future__ import annotations

import math
from typing import ClassVar

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances.base import SwitchableAppliance
from gridedge.sim.appliances.catalog import (
    LAPTOP_SUPPLY,
    LED_LAMPS,
    MAGNETRON,
    MICROWAVE_IDLE,
    PFC_TV_SUPPLY,
    PFC_TV_THRESHOLD_W,
    SMALL_TV_SUPPLY,
    combine,
)
from gridedge.sim.electrical import Inrush, Signature, SiteContext


def _capacitive(sig: Signature, peak: float = 8.0) -> Inrush:
    """Bulk-capacitor charging through the NTC limiter: a spike lasting under a cycle."""
    return Inrush.capacitive(sig, peak=peak, tau_cycles=0.7)


class Television(SwitchableAppliance):
    """A TV: evening sessions; the backlight follows the picture, so power moves by about 8 %."""

    kind = ApplianceKind.TV

    def _configure(self) -> None:
        supply = PFC_TV_SUPPLY if self.rated_w > PFC_TV_THRESHOLD_W else SMALL_TV_SUPPLY
        self.has_pfc = supply is PFC_TV_SUPPLY
        self.sig = supply.signature(self.rated_w, self.phases)

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        self._wobble_sig = self.sig
        self._emit(t, self.sig, _capacitive(self.sig))
        self._start_wobble(t, 0.08, 5.0, 20.0)
        if not commanded:
            hours = float(min(max(self._rng.lognormal(math.log(1.8), 0.6), 0.3), 5.0))
            self._at(t + hours * 3600.0, self._finish)


class Laptop(SwitchableAppliance):
    """A laptop on its charger: charging plus use, then use only once the battery is full.

    The charger restarts by itself after a power cut (the laptop ran on its battery meanwhile).
    """

    kind = ApplianceKind.LAPTOP

    def _configure(self) -> None:
        self.sig = LAPTOP_SUPPLY.signature(self.rated_w, self.phases)
        self.use_only = self.sig.scaled(0.45)
        self._end = math.inf
        self._full_at = math.inf

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        hours = float(min(max(self._rng.lognormal(math.log(1.5), 0.6), 0.3), 6.0))
        self._end = math.inf if commanded else t + hours * 3600.0
        self._full_at = t + float(self._rng.uniform(20.0, 90.0)) * 60.0
        self._run(t)

    def _run(self, t: float) -> None:
        sig = self.sig if t < self._full_at else self.use_only
        self._wobble_sig = sig
        self._emit(t, sig, _capacitive(sig, peak=12.0))
        self._start_wobble(t, 0.12, 5.0, 20.0)
        if self._full_at > t:
            self._at(self._full_at, self._battery_full)
        if self._end < math.inf:
            self._at(self._end, self._finish)

    def _battery_full(self, t: float, ctx: SiteContext) -> None:
        self._wobble_sig = self.use_only
        self._emit(t, self.use_only)

    def _power_lost(self, t: float, ctx: SiteContext) -> None:
        self._cancel()

    def _power_back(self, t: float, ctx: SiteContext) -> None:
        if self.active:
            if t >= self._end:
                self.active = False
            else:
                self._run(t)


class LedLighting(SwitchableAppliance):
    """A room's LED lamps (`rated_w` for all of them): some lamps on, now and then one more or fewer.

    After a power cut the lamps come back on (the wall switches are still on).
    """

    kind = ApplianceKind.LED_LIGHTING
    lamps = 4

    def _configure(self) -> None:
        self.per_lamp = LED_LAMPS.signature(self.rated_w / self.lamps, self.phases)
        self.on_lamps = 0
        self._end = math.inf

    def _sig(self) -> Signature:
        return self.per_lamp.scaled(float(self.on_lamps))

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        if commanded:
            self.on_lamps = self.lamps
            self._end = math.inf
        else:
            self.on_lamps = int(self._rng.integers(1, self.lamps + 1))
            hours = float(min(max(self._rng.lognormal(math.log(1.5), 0.7), 0.2), 6.0))
            self._end = t + hours * 3600.0
        self._run(t)

    def _run(self, t: float) -> None:
        sig = self._sig()
        self._wobble_sig = sig
        self._emit(t, sig, _capacitive(sig, peak=10.0))
        self._start_wobble(t, 0.004, 30.0, 90.0)
        if self._end < math.inf:
            self._at(self._end, self._finish)
            self._at(t + float(self._rng.uniform(600.0, 2400.0)), self._flip)

    def _flip(self, t: float, ctx: SiteContext) -> None:
        """Someone switches one more lamp on, or one off."""
        if self.on_lamps <= 1 or (self.on_lamps < self.lamps and self._rng.random() < 0.5):
            self.on_lamps += 1
            inrush: Inrush | None = _capacitive(self.per_lamp, peak=10.0)
        else:
            self.on_lamps -= 1
            inrush = None
        sig = self._sig()
        self._wobble_sig = sig
        self._emit(t, sig, inrush)
        self._at(t + float(self._rng.uniform(600.0, 2400.0)), self._flip)

    def _power_lost(self, t: float, ctx: SiteContext) -> None:
        self._cancel()

    def _power_back(self, t: float, ctx: SiteContext) -> None:
        if self.active:
            if t >= self._end:
                self.active = False
            else:
                self._run(t)


class Microwave(SwitchableAppliance):
    """A microwave oven: a heating time at a power level 1..10; below 10 the magnetron cycles.

    Power level l runs the magnetron l/10 of each 30 s period (at least 2 s: the filament needs
    them to heat, Panasonic service manual). The electronic timer resets after a power cut.
    """

    kind = ApplianceKind.MICROWAVE
    setpoint_range: ClassVar[tuple[float, float] | None] = (1.0, 10.0)
    setpoint_unit = "(power level)"
    period_s = 30.0

    def _configure(self) -> None:
        self.idle = MICROWAVE_IDLE.signature(None, self.phases)
        magnetron_w = max(self.rated_w - MICROWAVE_IDLE.power_w, 0.5 * self.rated_w)
        self.full = combine(MAGNETRON.signature(magnetron_w, self.phases), self.idle)
        self.level = 10
        self._level_set = False
        self._end = math.inf

    def _apply_setpoint(self, value: float, t: float, ctx: SiteContext) -> None:
        self.level = round(value)
        self._level_set = True
        if self.active:
            self._restart(t)

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        if not commanded and not self._level_set:
            defrost = self._rng.random() < 0.2
            self.level = 3 if defrost else 10
        seconds = float(
            self._rng.uniform(180.0, 600.0) if self.level <= 4 else self._rng.uniform(30.0, 360.0)
        )
        self._end = t + seconds
        self._restart(t)

    def _restart(self, t: float) -> None:
        self._cancel()
        self._at(self._end, self._finish)
        self._start_wobble(t, 0.015, 5.0, 15.0)
        self._cycle(t, None)

    def _cycle(self, t: float, ctx: SiteContext | None) -> None:
        """Magnetron on for level/10 of a period, then idle for the rest (the load heats: +-1.5 %)."""
        on_s = self.period_s if self.level >= 10 else max(self.level / 10.0 * self.period_s, 2.0)
        self._wobble_sig = self.full
        # magnetising inrush of the high-voltage transformer
        self._emit(t, self.full, Inrush.motor(self.full, peak=4.0, tau_cycles=2.0, power_factor=0.3))
        if on_s < self.period_s:
            self._at(t + on_s, self._idle_phase)
            self._at(t + self.period_s, self._cycle)

    def _idle_phase(self, t: float, ctx: SiteContext) -> None:
        self._wobble_sig = self.idle
        self._emit(t, self.idle)
