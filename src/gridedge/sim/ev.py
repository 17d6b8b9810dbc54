"""An electric vehicle and its wallbox (IEC 61851-1 mode 3 AC charging).

The car arrives every day at `arrival` (local wall time; only Monday-Friday with
`weekdays_only`) with `arrival_soc` and leaves at `departure` (the next day when that is earlier
in the day). If the scenario starts inside a stay, the car is there with `arrival_soc`. Scripted
`command("arrive", soc)` and `command("depart")` move it too.

The wallbox signals a current limit per phase with the control pilot (IEC 61851-1 Annex A: 6 A
minimum; `set_current(0)` pauses, anything between 0 and `min_current_a` is refused). Without an
energy manager it offers `max_current_a` from arrival on, as a plain wallbox does. The car draws
the offered current (at most its own `max_current_a`), constant-current up to 80 % state of
charge and then tapering linearly to a quarter of it at 100 %, and stops at `target_soc`. Its
on-board charger has active power-factor correction: power factor 0.99, current THD about 3 %,
and a soft start (current rises at 3 A/s; it follows a lower pilot at 10 A/s, well inside the
5 s the standard allows). Switching between 1 and 3 phases (`PhaseSwitchable`) interrupts
charging for 15 s, as contactor-switching wallboxes do.

Energy: the battery stores `efficiency` x the AC energy of the signatures emitted, and the last
second before `target_soc` draws exactly what is missing, so the state of charge ends on target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from gridedge.model.scenario import EVConfig, SiteConfig
from gridedge.sim.electrical import (
    NO_CHANGES,
    NOMINAL_V,
    OFF,
    Change,
    Load,
    LoadKind,
    Signature,
    SiteContext,
    material,
)

POWER_FACTOR: Final = 0.99
HARMONICS: Final = {
    3: (0.018, 185.0),
    5: (0.014, 15.0),
    7: (0.010, 195.0),
    9: (0.006, 25.0),
    11: (0.004, 200.0),
}
"""On-board charger with active PFC (IEC 61000-3-2 / -3-12 compliant): THD about 2.6 %."""
TAPER_FROM: Final = 0.8
TAPER_END: Final = 0.25
"""Current at 100 % state of charge as a share of the constant-current value."""
RAMP_UP_A_PER_S: Final = 3.0
RAMP_DOWN_A_PER_S: Final = 10.0
PHASE_SWITCH_PAUSE_S: Final = 15.0


def taper(soc: float) -> float:
    """Share of the constant-current charging current the battery accepts at `soc`."""
    if soc <= TAPER_FROM:
        return 1.0
    return max(TAPER_END, 1.0 - (1.0 - TAPER_END) * (soc - TAPER_FROM) / (1.0 - TAPER_FROM))


class EVCharger(Load):
    """A wallbox with a car that comes and goes, from `EVConfig`."""

    def __init__(self, cfg: EVConfig, site: SiteConfig | None = None, *, seed: int = 1) -> None:
        """The schedule runs on `site`'s start and time zone (else the `SiteContext`'s)."""
        super().__init__(cfg.name)
        if cfg.min_current_a > cfg.max_current_a:
            raise ValueError(
                f"{cfg.name}: min_current_a {cfg.min_current_a} above max_current_a {cfg.max_current_a}"
            )
        self.cfg = cfg
        self.seed = seed
        self.capacity_kwh = cfg.capacity_kwh
        self.efficiency = cfg.efficiency
        self.present = False
        self.soc_kwh = cfg.arrival_soc * cfg.capacity_kwh
        self.pilot_a = cfg.max_current_a
        """Current the wallbox offers per phase (0: paused)."""
        self.enabled = True
        self.phases: int = cfg.phases
        self.current_a = 0.0
        """Current the car draws per phase."""
        self.ac_wh = 0.0
        """AC energy drawn (from the emitted signatures)."""
        self.stored_wh = 0.0
        """Energy stored in the car's battery."""
        self._units = {
            n: Signature.from_power(
                1.0,
                phases=(1, 2, 3)[:n],
                power_factor=POWER_FACTOR,
                leading=True,
                harmonics=HARMONICS,
                kind=LoadKind.POWER,
            )
            for n in (1, 3)
        }
        self._p = 0.0
        self._sig_w = 0.0
        self._pause_until = -math.inf
        self._site = site
        self._start: datetime | None = None
        self._zone: ZoneInfo | None = None
        self._events: list[tuple[float, str]] = []
        self._next_day: date | None = None

    @property
    def soc(self) -> float:
        return self.soc_kwh / self.capacity_kwh

    @property
    def power_w(self) -> float:
        """AC power of the signature last emitted."""
        return self._sig_w

    # --- control ---------------------------------------------------------------------------------

    def set_current(self, current_a: float, t: float) -> None:
        """Pilot current limit per phase in A; 0 pauses; values above `max_current_a` are capped."""
        lo = self.cfg.min_current_a
        if not math.isfinite(current_a) or current_a < 0 or 0 < current_a < lo:
            raise ValueError(
                f"{self.name}: charging current {current_a} A refused: IEC 61851 needs 0 (pause) "
                f"or {lo:g}..{self.cfg.max_current_a:g} A"
            )
        self.pilot_a = min(current_a, self.cfg.max_current_a)

    def set_phases(self, phases: int, t: float) -> None:
        """Charge on 1 or 3 phases (3 only if the wallbox is wired for it)."""
        if phases not in (1, 3):
            raise ValueError(f"{self.name}: {phases} phases: a wallbox charges on 1 or 3")
        if phases > self.cfg.phases:
            raise ValueError(f"{self.name}: wired for {self.cfg.phases} phase(s), cannot charge on {phases}")
        if phases != self.phases:  # the wallbox opens its contactor, switches, and starts again
            self.phases = phases
            self.current_a = 0.0
            self._pause_until = t + PHASE_SWITCH_PAUSE_S

    def switch(self, on: bool, t: float) -> None:
        """Enable or disable charging (the pilot current is kept)."""
        self.enabled = on

    def arrive(self, soc: float | None = None) -> None:
        """The car is plugged in (no-op if it already is)."""
        if self.present:
            return
        if soc is not None and not 0.0 <= soc <= 1.0:
            raise ValueError(f"{self.name}: arrival state of charge {soc} outside 0..1")
        self.present = True
        self.soc_kwh = (self.cfg.arrival_soc if soc is None else soc) * self.capacity_kwh
        self.current_a = 0.0

    def depart(self) -> None:
        self.present = False
        self.current_a = 0.0

    def command(self, action: str, value: float | None = None) -> None:
        if action == "arrive":
            self.arrive(value)
        elif action == "depart":
            self.depart()
        elif action == "setpoint" and value is not None:
            self.set_current(value, 0.0)
        elif action in ("on", "off"):
            self.switch(action == "on", 0.0)
        else:
            super().command(action, value)

    # --- schedule --------------------------------------------------------------------------------

    def _stay(self, day: date) -> tuple[float, float] | None:
        """Sim times of the arrival on `day` and the departure that follows, None if no arrival."""
        if self.cfg.weekdays_only and day.weekday() >= 5:
            return None
        assert self._start is not None
        arrive = datetime.combine(day, self.cfg.arrival, tzinfo=self._zone)
        leave_day = day if self.cfg.departure > self.cfg.arrival else day + timedelta(days=1)
        leave = datetime.combine(leave_day, self.cfg.departure, tzinfo=self._zone)
        return (arrive - self._start).total_seconds(), (leave - self._start).total_seconds()

    def _extend(self) -> None:
        """Add a week of scheduled arrivals and departures to the event list."""
        assert self._next_day is not None
        for k in range(7):
            stay = self._stay(self._next_day + timedelta(days=k))
            if stay is not None:
                self._events.append((stay[0], "arrive"))
                self._events.append((stay[1], "depart"))
        self._events.sort()
        self._next_day += timedelta(days=7)

    def _start_schedule(self, ctx: SiteContext) -> None:
        if self._site is not None:
            self._start, self._zone = self._site.start_aware, self._site.zone
        else:
            self._start, self._zone = ctx.start, ctx.zone
        self._next_day = self._start.astimezone(self._zone).date() - timedelta(days=2)
        self._extend()
        past = [e for e in self._events if e[0] <= 0.0]
        if past and past[-1][1] == "arrive":
            self.arrive()
        self._events = [e for e in self._events if e[0] > 0.0]

    def _due(self, t0: float, ctx: SiteContext) -> None:
        if self._start is None:
            self._start_schedule(ctx)
        while True:
            if len(self._events) < 2:
                self._extend()
            at, what = self._events[0]
            if at > t0:
                return
            self._events.pop(0)
            if what == "arrive":
                self.arrive()
            else:
                self.depart()

    # --- Load ------------------------------------------------------------------------------------

    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        dt = t1 - t0
        self._due(t0, ctx)
        if dt <= 0:
            return NO_CHANGES
        powered = self.relay_closed and ctx.supply_ok
        room_wh = (self.cfg.target_soc * self.capacity_kwh - self.soc_kwh) * 1000.0
        want_a = 0.0
        if self.present and powered and self.enabled and t0 >= self._pause_until and room_wh > 0:
            want_a = min(self.pilot_a, self.cfg.max_current_a) * taper(self.soc)
        if not powered or not self.present:
            self.current_a = 0.0
        elif want_a > self.current_a:
            self.current_a = min(want_a, self.current_a + RAMP_UP_A_PER_S * dt)
        else:
            self.current_a = max(want_a, self.current_a - RAMP_DOWN_A_PER_S * dt)
        p = self.phases * NOMINAL_V * self.current_a * POWER_FACTOR
        p = min(p, max(0.0, room_wh / self.efficiency * 3600.0 / dt))
        if p != 0.0 and not material(self._p, p) and self._p * self.efficiency * dt / 3600.0 <= room_wh:
            p = self._p
        changes = self._set(t0, p)
        wh = self._sig_w * dt / 3600.0
        self.ac_wh += wh
        self.stored_wh += wh * self.efficiency
        self.soc_kwh += wh * self.efficiency / 1000.0
        return changes

    def _set(self, t0: float, p: float) -> Sequence[Change]:
        unit = self._units[self.phases]
        if p == self._p:
            return NO_CHANGES
        self._p = p
        self.signature = OFF if p == 0.0 else unit.scaled(p)
        self._sig_w = self.signature.power_w
        return (Change(t0, self.signature),)
