"""Motor appliances: the fridge compressor and the vacuum cleaner (sources in `catalog.SOURCES`).

Fridge: a compartment with a first-order heat balance, T' = (Ta - T) / tau - q while the compressor
runs. Its parameters are drawn per fridge from the cycle it should show at nominal conditions (on
16-24 min, off 32-45 min: duty about a third, source `fridge`), so door openings (a seeded 0.2-0.6 K
jump each, spontaneous uses) and the setpoint shift the real cycle the way they do in a kitchen. The
compressor starts with a locked-rotor inrush of about six times its running current that decays
within a few cycles, runs 8 % above its settled power for the first minutes (head pressure
building) and drifts by about 1 % while running. After a stop it waits three minutes before it
may start again (pressure equalisation); after a power cut it restarts if the thermostat calls.

Vacuum: a universal motor (`vacuum`, kk-lab, PLAID): spin-up surge, then a load that moves with the
nozzle (carpet, hard floor, a blocked hose) every few seconds. Its switch is mechanical, so after a
power cut it runs on while the user is still vacuuming.
"""

from __future__ import annotations

import math
from typing import ClassVar

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances.base import AUX, SESSION, THERMO, Appliance, SwitchableAppliance
from gridedge.sim.appliances.catalog import COMPRESSOR, UNIVERSAL_MOTOR
from gridedge.sim.appliances.thermal import relax, time_to
from gridedge.sim.electrical import OFF, Inrush, SiteContext

MIN_OFF_S = 180.0
"""Pressure-equalisation delay before a compressor may restart."""


class Fridge(Appliance):
    """A refrigerator: thermostat-driven compressor cycles; `setpoint` sets the compartment °C."""

    kind = ApplianceKind.FRIDGE
    setpoint_range: ClassVar[tuple[float, float] | None] = (1.0, 10.0)
    setpoint_unit = "°C"
    band_k = 1.0
    """The thermostat cuts in at setpoint + band and out at setpoint - band."""

    def _configure(self) -> None:
        self.sig = COMPRESSOR.signature(self.rated_w, self.phases)
        self.setpoint_c = 4.0
        self.ambient_c = 20.0 + float(self._rng.uniform(-1.5, 1.5))
        lo, hi = self.setpoint_c - self.band_k, self.setpoint_c + self.band_k
        t_off = float(self._rng.uniform(32.0, 45.0)) * 60.0
        t_on = float(self._rng.uniform(16.0, 24.0)) * 60.0
        self.tau_s = t_off / math.log((self.ambient_c - lo) / (self.ambient_c - hi))
        r = math.exp(t_on / self.tau_s)
        self.depression_k = self.ambient_c - (hi - r * lo) / (1.0 - r)
        """How far below ambient the compartment would settle with the compressor running all the time."""
        self.temp_c = self.setpoint_c
        self._temp_at = 0.0
        self.running = False
        self._run_start = -math.inf
        self._last_stop = -math.inf
        self.runs: list[tuple[float, float]] = []
        """(start, stop) of each finished compressor run, for duty-cycle statistics."""
        self._calling = False
        """The thermostat was calling for cooling when the power went."""

    def _eq(self) -> float:
        return self.ambient_c - (self.depression_k if self.running else 0.0)

    def temperature(self, t: float) -> float:
        return relax(self.temp_c, self._eq(), self.tau_s, t - self._temp_at)

    def _settle(self, t: float) -> None:
        self.temp_c = self.temperature(t)
        self._temp_at = t

    def _setup(self, t: float, ctx: SiteContext) -> None:
        # start somewhere in the cycle: a third of fridges are running at any moment
        self.temp_c = self.setpoint_c + float(self._rng.uniform(-self.band_k, self.band_k))
        self._temp_at = t
        if self._rng.random() < 0.33:
            self._start(t, inrush=False)
        self._thermostat(t)

    def _thermostat(self, t: float) -> None:
        """Act on the current temperature and schedule the next crossing."""
        self._settle(t)
        self._cancel(THERMO)
        if not self._powered:
            return
        lo, hi = self.setpoint_c - self.band_k, self.setpoint_c + self.band_k
        if self.running and self.temp_c <= lo:
            self._stop(t)
        elif not self.running and self.temp_c >= hi:
            ready = self._last_stop + MIN_OFF_S
            if t >= ready:
                self._start(t)
            else:
                self._at(ready, lambda at, ctx: self._thermostat(at), THERMO)
                return
        dt = time_to(self.temp_c, self._eq(), self.tau_s, lo if self.running else hi)
        if dt < math.inf:
            self._at(t + max(dt, 1e-3), lambda at, ctx: self._thermostat(at), THERMO)

    def _start(self, t: float, inrush: bool = True) -> None:
        self._settle(t)
        self.running = True
        self.active = True
        self._run_start = t if inrush else t - 600.0
        self._wobble_sig = self.sig
        start = self.sig.scaled(1.0 + self._drift(t))
        self._emit(
            t, start, Inrush.motor(start, peak=6.0, tau_cycles=4.0, power_factor=0.4) if inrush else None
        )
        self._start_wobble(t, 0.01, 20.0, 60.0)

    def _stop(self, t: float) -> None:
        self._settle(t)
        self.running = False
        self.active = False
        if self._run_start > -math.inf:
            self.runs.append((self._run_start, t))
        self._last_stop = t
        self._cancel(SESSION)
        self._wobble_sig = OFF
        self._emit(t, OFF)

    def _drift(self, t: float) -> float:
        return 0.08 * math.exp(-(t - self._run_start) / 120.0)

    def _spontaneous(self, t: float, ctx: SiteContext) -> None:
        """A door opening: warm air and new groceries raise the compartment by 0.2-0.6 K."""
        self._settle(t)
        self.temp_c += float(self._rng.uniform(0.2, 0.6))
        self.uses += 1
        self._thermostat(t)
        if self._usage is not None:
            self._at(self._usage.next_after(t, ctx), self._spontaneous, AUX)

    def _apply_setpoint(self, value: float, t: float, ctx: SiteContext) -> None:
        self.setpoint_c = value
        self._thermostat(t)

    def _power_lost(self, t: float, ctx: SiteContext) -> None:
        self._settle(t)
        was = self.running
        if self.running:
            self.running = False
            self.runs.append((self._run_start, t))
            self._last_stop = t
        self.active = False
        self._cancel(SESSION)
        self._cancel(THERMO)
        self._calling = was

    def _power_back(self, t: float, ctx: SiteContext) -> None:
        self._settle(t)
        if self._calling and self.temp_c > self.setpoint_c - self.band_k:
            # the thermostat contacts are still closed: restart once pressures have equalised
            ready = max(t, self._last_stop + MIN_OFF_S)
            self._at(ready, lambda at, ctx: self._restart(at), THERMO)
        else:
            self._thermostat(t)

    def _restart(self, t: float) -> None:
        self._settle(t)
        if self._powered and not self.running and self.temp_c > self.setpoint_c - self.band_k:
            self._start(t)
        self._thermostat(t)

    def duty_cycle(self, t0: float, t1: float) -> float:
        """Share of [t0, t1) the compressor ran (finished runs plus a run still going at t1)."""
        on = sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in self.runs)
        if self.running:
            on += max(0.0, t1 - max(self._run_start, t0))
        return on / (t1 - t0)


class Vacuum(SwitchableAppliance):
    """A canister vacuum cleaner: 8-25 min sessions with short pauses; commanded on runs until off."""

    kind = ApplianceKind.VACUUM

    def _configure(self) -> None:
        self.sig = UNIVERSAL_MOTOR.signature(self.rated_w, self.phases)
        self._end = math.inf
        self._want_on = False
        """The user's switch position within the session."""
        self._loop = 0

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        if commanded:
            self._end = math.inf
            self._motor_on(t, ctx)
            return
        self._end = t + float(self._rng.uniform(8.0, 25.0)) * 60.0
        # pauses: moving furniture, changing rooms
        on_at = t
        for _ in range(int(self._rng.integers(0, 4))):
            off_at = on_at + float(self._rng.uniform(60.0, 400.0))
            on_at = off_at + float(self._rng.uniform(10.0, 60.0))
            if on_at >= self._end:
                break
            self._at(off_at, self._motor_off)
            self._at(on_at, self._motor_on)
        self._motor_on(t, ctx)
        self._at(self._end, self._finish_session)

    def _motor_on(self, t: float, ctx: SiteContext) -> None:
        self._want_on = True
        if not self._powered:
            return
        self._loop += 1
        # spin-up: kk-lab's first second averages about 20 % above the settled power
        self._emit(t, self.sig, Inrush.motor(self.sig, peak=1.8, tau_cycles=40.0, power_factor=0.6))
        self._load_variation(t, self._loop)

    def _load_variation(self, t: float, loop: int) -> None:
        def tick(at: float, ctx: SiteContext) -> None:
            if loop == self._loop and self._want_on and self._powered:
                f = 1.0 + 0.04 * float(self._rng.standard_normal())
                self._emit(at, self.sig.scaled(min(max(f, 0.85), 1.1)))
                self._load_variation(at, loop)

        self._at(t + float(self._rng.uniform(1.5, 4.0)), tick)

    def _motor_off(self, t: float, ctx: SiteContext) -> None:
        self._want_on = False
        self._loop += 1
        self._emit(t, OFF)

    def _finish_session(self, t: float, ctx: SiteContext) -> None:
        self._want_on = False
        self._end = math.inf
        self._finish(t, ctx)

    def _switch_off(self, t: float, ctx: SiteContext) -> None:
        if self.active:
            self._finish_session(t, ctx)

    def _power_lost(self, t: float, ctx: SiteContext) -> None:
        """The switch stays on: the session's pauses and end stay planned, the motor stops."""
        self._loop += 1

    def _power_back(self, t: float, ctx: SiteContext) -> None:
        if self.active and self._want_on and t < self._end:
            self._motor_on(t, ctx)
