"""Washing machine and dishwasher programmes (sources: `washing`, `dishwasher` in the catalog).

A programme is built at its start as a list of `Step`s (time from start, phase name, signature),
from the machine's physics: the heating phase lasts as long as the element needs to bring the
water, the load and the machine's own mass from the inlet temperature to the programme
temperature, E = (m_w c_w + m_load c_load + m_machine c_steel) dT / eta.

Washing machine (40 °C cotton, about 0.6-0.9 kWh): fill; heat while the drum tumbles; wash (the drum
turns about 12 s one way, rests 3 s, turns back; the motor load moves with the laundry's position,
about 150-250 W); drain; intermediate spin; two rinses with short spins; a final spin ramping to
about 400-600 W. Dishwasher (eco 50 °C or normal 65 °C, 0.7-1.3 kWh): prewash, main wash heated by
the element while the circulation pump runs, intermediate rinse, hot final rinse (the second
heating), drying by residual heat.

A power cut pauses the programme; when power returns it resumes where it stopped (the electronics
keep their state), so the remaining steps shift by the outage. The water's cooling during a long
outage is not modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.appliances.base import CMD, SwitchableAppliance
from gridedge.sim.appliances.catalog import CONTROLS, HEATING_ELEMENT, PUMP, WASHER_MOTOR, combine
from gridedge.sim.appliances.resistive import WATER_J_PER_KG_K
from gridedge.sim.electrical import OFF, Inrush, Signature, SiteContext

INLET_C = 15.0
"""Cold-water inlet temperature."""
HEATER_EFFICIENCY = 0.95
"""Share of the element's energy that heats water, load and drum (the rest leaves through the casing)."""


@dataclass(frozen=True, slots=True)
class Step:
    """From `t` seconds after the programme start, in `phase`, the machine draws `sig`."""

    t: float
    phase: str
    sig: Signature
    inrush: Inrush | None = None


class _Builder:
    def __init__(self) -> None:
        self.t = 0.0
        self.phase = ""
        self.steps: list[Step] = []

    def set(self, sig: Signature, inrush: Inrush | None = None) -> None:
        if self.steps and self.steps[-1].t == self.t:
            self.steps[-1] = Step(self.t, self.phase, sig, inrush or self.steps[-1].inrush)
        else:
            self.steps.append(Step(self.t, self.phase, sig, inrush))

    def hold(self, sig: Signature, seconds: float, inrush: Inrush | None = None) -> None:
        self.set(sig, inrush)
        self.t += seconds


def heating_seconds(power_w: float, delta_k: float, water_l: float, other_j_per_k: float) -> float:
    """Seconds the element needs to raise water (and `other_j_per_k` of load and machine) by `delta_k`."""
    if delta_k <= 0:
        return 0.0
    return (water_l * WATER_J_PER_KG_K + other_j_per_k) * delta_k / (power_w * HEATER_EFFICIENCY)


class ProgrammeAppliance(SwitchableAppliance):
    """A machine that runs a programme (`gridedge.sim.control.Programmable`, and Switchable:
    `on` starts it, `off` aborts it); `setpoint` sets the programme temperature."""

    temperatures: ClassVar[tuple[float, ...]] = ()
    temperature_weights: ClassVar[tuple[float, ...]] = ()

    def _configure(self) -> None:
        self.controls = CONTROLS.signature(None, self.phases)
        self.heater = HEATING_ELEMENT.signature(self.rated_w, self.phases)
        self.temperature_c = self.temperatures[int(np.argmax(self.temperature_weights))]
        self._temp_set = False
        self.programme: list[Step] = []
        self.phase = "idle"
        self.phase_log: list[tuple[float, str]] = []
        """(sim time, phase) as the running programme entered each phase."""
        self._idx = 0
        self._origin = 0.0
        self._paused_at = 0.0

    def start_programme(self, t: float) -> None:
        """Start the programme at sim time `t` (ignored while one runs)."""
        self._at(t, lambda at, ctx: self._switch_on(at, ctx), CMD)

    def _apply_setpoint(self, value: float, t: float, ctx: SiteContext) -> None:
        self.temperature_c = value
        self._temp_set = True

    def build(self, temperature_c: float) -> list[Step]:
        """The programme's steps at `temperature_c` (draws its random parts from the appliance's stream)."""
        raise NotImplementedError

    def _use(self, t: float, ctx: SiteContext, commanded: bool) -> None:
        if not commanded and not self._temp_set:
            w = np.asarray(self.temperature_weights)
            self.temperature_c = float(self._rng.choice(self.temperatures, p=w / w.sum()))
        self.programme = self.build(self.temperature_c)
        self.phase_log = []
        self._origin = t
        self._idx = 0
        self._run(t, None)

    def _run(self, t: float, ctx: SiteContext | None) -> None:
        prog = self.programme
        while self._idx < len(prog) and self._origin + prog[self._idx].t <= t + 1e-9:
            step = prog[self._idx]
            if step.phase != self.phase or not self.phase_log:
                self.phase = step.phase
                self.phase_log.append((t, step.phase))
            self._emit(t, step.sig, step.inrush)
            self._idx += 1
        if self._idx < len(prog):
            self._at(self._origin + prog[self._idx].t, self._run)
        else:
            self.phase = "idle"
            self.active = False

    def _finish(self, t: float, ctx: SiteContext) -> None:
        self.phase = "idle"
        super()._finish(t, ctx)

    def _power_lost(self, t: float, ctx: SiteContext) -> None:
        self._paused_at = t
        self._cancel()

    def _power_back(self, t: float, ctx: SiteContext) -> None:
        if not self.active or self._idx == 0:
            return
        self._origin += t - self._paused_at
        current = self.programme[self._idx - 1]
        self._emit(t, current.sig, current.inrush)
        self._at(self._origin + self.programme[self._idx].t, self._run)

    @property
    def programme_energy_wh(self) -> float:
        """Energy of the built programme at nominal voltage (Wh)."""
        total = 0.0
        for a, b in zip(self.programme, self.programme[1:], strict=False):
            total += a.sig.power_w * (b.t - a.t)
        return total / 3600.0


class WashingMachine(ProgrammeAppliance):
    """A front-loading washing machine; rated power is its heater's."""

    kind = ApplianceKind.WASHING_MACHINE
    setpoint_range: ClassVar[tuple[float, float] | None] = (20.0, 90.0)
    setpoint_unit = "°C"
    temperatures = (30.0, 40.0, 60.0)
    temperature_weights = (0.3, 0.5, 0.2)

    def _motor(self, watts: float) -> Signature:
        return WASHER_MOTOR.signature(watts, self.phases)

    def _tumble(self, b: _Builder, seconds: float, extra: Signature | None = None) -> None:
        """Drum turns ~12 s, rests ~3 s, turns back; the load moves with the laundry's position."""
        base = combine(self.controls, extra) if extra is not None else self.controls
        end = b.t + seconds
        rng = self._rng
        while b.t < end:
            level = float(rng.uniform(150.0, 250.0))
            turn = self._motor(level)
            b.hold(combine(base, turn), 4.0, Inrush.motor(turn, peak=2.5, tau_cycles=5.0, power_factor=0.5))
            for _ in range(2):
                b.hold(combine(base, self._motor(level * float(rng.uniform(0.8, 1.2)))), 4.0)
            b.hold(base, float(rng.uniform(2.5, 4.0)))

    def _drain(self, b: _Builder) -> None:
        b.phase = "drain"
        b.hold(combine(self.controls, PUMP.signature(35.0, self.phases)), 60.0)

    def _spin(self, b: _Builder, name: str, peak_w: float, hold_s: float) -> None:
        b.phase = name
        ramp = 8
        for i in range(1, ramp + 1):
            m = self._motor(120.0 + (peak_w - 120.0) * i / ramp)
            b.hold(
                combine(self.controls, m), 15.0, Inrush.motor(m, peak=2.0, tau_cycles=5.0) if i == 1 else None
            )
        steps = int(hold_s // 10)
        for _ in range(steps):
            b.hold(combine(self.controls, self._motor(peak_w * float(self._rng.uniform(0.95, 1.05)))), 10.0)
        b.hold(self.controls, 30.0)  # coasting down

    def build(self, temperature_c: float) -> list[Step]:
        rng = self._rng
        b = _Builder()
        water_l = float(rng.uniform(12.0, 16.0))
        load_kg = float(rng.uniform(3.0, 7.0))
        b.phase = "fill"
        b.hold(self.controls, float(rng.uniform(60.0, 90.0)))
        self._tumble(b, float(rng.uniform(60.0, 120.0)))
        heat_s = heating_seconds(
            self.rated_w, temperature_c - INLET_C, water_l, load_kg * 1340.0 + 8.0 * 500.0
        )
        if heat_s > 0:
            b.phase = "heat"
            self._tumble(b, heat_s, self.heater)
        b.phase = "wash"
        self._tumble(b, float(rng.uniform(15.0, 25.0)) * 60.0)
        self._drain(b)
        self._spin(b, "spin", float(rng.uniform(300.0, 380.0)), 60.0)
        for i in range(2):
            b.phase = "rinse"
            b.hold(self.controls, 90.0)
            self._tumble(b, float(rng.uniform(4.0, 6.0)) * 60.0)
            self._drain(b)
            if i == 0:
                self._spin(b, "spin", float(rng.uniform(280.0, 350.0)), 60.0)
        self._spin(b, "final-spin", float(rng.uniform(420.0, 580.0)), float(rng.uniform(240.0, 360.0)))
        b.phase = "end"
        b.set(OFF)
        return b.steps


class Dishwasher(ProgrammeAppliance):
    """A dishwasher; rated power is its heater's. Eco 50 °C or normal 65 °C programmes."""

    kind = ApplianceKind.DISHWASHER
    setpoint_range: ClassVar[tuple[float, float] | None] = (40.0, 75.0)
    setpoint_unit = "°C"
    temperatures = (50.0, 65.0)
    temperature_weights = (0.6, 0.4)
    thermal_mass_j_per_k = 15000.0
    """Dishes, racks and the tub [M]."""

    def _configure(self) -> None:
        super()._configure()
        self.circulation = combine(self.controls, PUMP.signature(60.0, self.phases))
        self.drain_sig = combine(self.controls, PUMP.signature(30.0, self.phases))
        self._pump_inrush = Inrush.motor(PUMP.signature(60.0, self.phases), peak=3.0, tau_cycles=5.0)

    def _circulate(self, b: _Builder, seconds: float) -> None:
        end = b.t + seconds
        while b.t < end:
            b.hold(self.circulation.scaled(float(self._rng.uniform(0.97, 1.03))), min(30.0, end - b.t))

    def _fill_drain(self, b: _Builder, fill: bool) -> None:
        if fill:
            b.hold(self.controls, 60.0)
        else:
            b.hold(self.drain_sig, 60.0)

    def _heat(self, b: _Builder, from_c: float, to_c: float, water_l: float) -> None:
        secs = heating_seconds(self.rated_w, to_c - from_c, water_l, self.thermal_mass_j_per_k)
        if secs > 0:
            b.phase = "heat"
            b.hold(combine(self.circulation, self.heater), secs, Inrush.resistive(self.heater, peak=1.04))

    def build(self, temperature_c: float) -> list[Step]:
        rng = self._rng
        b = _Builder()
        water_l = float(rng.uniform(3.0, 4.5))
        b.phase = "prewash"
        self._fill_drain(b, True)
        b.set(self.circulation, self._pump_inrush)
        self._circulate(b, 300.0)
        self._fill_drain(b, False)
        b.phase = "main-wash"
        self._fill_drain(b, True)
        self._heat(b, INLET_C, temperature_c, water_l)
        b.phase = "main-wash"
        self._circulate(b, float(rng.uniform(20.0, 35.0)) * 60.0)
        self._fill_drain(b, False)
        b.phase = "rinse"
        self._fill_drain(b, True)
        self._circulate(b, 300.0)
        self._fill_drain(b, False)
        b.phase = "final-rinse"
        self._fill_drain(b, True)
        rinse_c = max(temperature_c, 65.0) + float(rng.uniform(0.0, 5.0))
        self._heat(b, INLET_C + 10.0, rinse_c, water_l)
        b.phase = "final-rinse"
        self._circulate(b, 600.0)
        self._fill_drain(b, False)
        b.phase = "dry"
        b.hold(self.controls.scaled(0.5), float(rng.uniform(30.0, 45.0)) * 60.0)
        b.phase = "end"
        b.set(OFF)
        return b.steps


def phase_sequence(log: Sequence[tuple[float, str]]) -> list[str]:
    """Phase names of a `phase_log` with repeats merged."""
    out: list[str] = []
    for _, name in log:
        if not out or out[-1] != name:
            out.append(name)
    return out
