"""Live per-appliance state from identified events: on/off, power, energy, state steps.

Events alone do not say how long an appliance ran; pairing does. An off event is attributed to
the running appliance it fits best: on the same phase(s), preferring the label the recogniser
gave it, with a power closest to |delta P| (Hart, Proc. IEEE 80 (1992) 1870, §IV-B: matching
on- and off-events of equal magnitude). A negative step much smaller than the running power is a
state change of that appliance (a heat pump modulating down, a washing machine leaving its
heating phase), and so is a positive step of an appliance already running, unless it looks like
a fresh start of a one-state appliance whose off event was missed. Energy is integrated in
stream time, so replaying a recording gives the same figures whatever the wall clock does.

A running appliance is held per phase (a three-phase appliance's power is split as measured),
which lets `reconcile` drop appliances whose power the phase no longer carries: the safety net
for a missed off event.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

UNKNOWN_LABEL = "unknown"


class Transition(StrEnum):
    """What an event did to the appliance it was attributed to."""

    ON = "on"
    OFF = "off"
    STEP = "step"
    """A state change of an appliance already running (power up or down, still on)."""
    UNPAIRED = "unpaired"
    """A negative step with no running appliance on its phases to take it."""


@dataclass(frozen=True, slots=True)
class ApplianceState:
    """One appliance as the tracker sees it now (published on `site/<id>/nilm/appliances`)."""

    label: str
    power_w: float
    energy_wh: float
    """Energy since the tracker started, integrated in stream time."""
    on: bool
    phases: tuple[int, ...]
    """Phases it is running on (empty while off)."""


@dataclass(frozen=True, slots=True)
class Attribution:
    """Which appliance an event was given to and what it did."""

    label: str
    transition: Transition
    power_w: float
    """The appliance's power after the event."""
    score: float
    """How well the event fitted the appliance it was paired with, 0..1 (1 for a switch-on)."""


@dataclass(slots=True, eq=False)
class _Running:
    label: str
    power: FloatArray
    """(3,) W per phase."""
    events: list[int]
    ups: list[float]
    """Sizes of the positive steps that built its power (more than one: a multi-state appliance)."""

    @property
    def total(self) -> float:
        return float(self.power.sum())

    @property
    def phases(self) -> tuple[int, ...]:
        return tuple(int(p) for p in np.flatnonzero(np.abs(self.power) > 1e-9))


class ApplianceTracker:
    """Running appliances, their power and energy, updated from identified events.

    `typical_power_w(label)` (e.g. `ApplianceLibrary.typical_power_w`) lets a repeated switch-on
    of a one-state appliance be recognised as a new run rather than a second state.
    """

    def __init__(self, *, off_tolerance: float = 0.3, min_power_w: float = 5.0) -> None:
        if not 0 < off_tolerance < 1:
            raise ValueError(f"off_tolerance must be in (0, 1), got {off_tolerance}")
        self.off_tolerance = off_tolerance
        self.min_power_w = min_power_w
        self._running: list[_Running] = []
        self._energy: dict[str, float] = {}
        self._by_event: dict[int, tuple[_Running, FloatArray, Transition]] = {}
        self._t: float | None = None

    @property
    def time(self) -> float | None:
        return self._t

    def advance(self, t: float) -> None:
        """Integrate every running appliance's energy up to stream time `t`."""
        if self._t is not None and t > self._t:
            dt_h = (t - self._t) / 3600.0
            for r in self._running:
                self._energy[r.label] = self._energy.get(r.label, 0.0) + r.total * dt_h
        if self._t is None or t > self._t:
            self._t = t

    def apply(
        self,
        event_id: int,
        t: float,
        label: str,
        delta_phase_w: FloatArray | tuple[float, float, float],
        *,
        typical_power_w: float | None = None,
    ) -> Attribution:
        """Attribute one event (`delta_phase_w`: (3,) W per phase) at stream time `t`."""
        delta = np.asarray(delta_phase_w, dtype=np.float64)
        if delta.shape != (3,) or not np.all(np.isfinite(delta)):
            raise ValueError(f"delta_phase_w: expected 3 finite per-phase watts, found {delta!r}")
        self.advance(t)
        total = float(delta.sum())
        phases = set(np.flatnonzero(np.abs(delta) > 1e-9).tolist())
        if total > 0:
            return self._on(event_id, label, delta, total, phases, typical_power_w)
        return self._off(event_id, label, delta, total, phases)

    def _on(
        self,
        event_id: int,
        label: str,
        delta: FloatArray,
        total: float,
        phases: set[int],
        typical: float | None,
    ) -> Attribution:
        if label != UNKNOWN_LABEL:
            for r in self._running:
                if r.label != label or not phases & set(r.phases):
                    continue
                fresh = typical is not None and abs(total - typical) <= self.off_tolerance * typical
                if fresh and r.total >= (1 - self.off_tolerance) * typical:  # type: ignore[operator]
                    # a one-state appliance starting again: its off event was missed
                    self._by_event[event_id] = (r, delta - r.power, Transition.ON)
                    r.power = delta.copy()
                    r.ups = [total]
                    r.events.append(event_id)
                    return Attribution(label, Transition.ON, r.total, 1.0)
                r.power = r.power + delta
                r.events.append(event_id)
                r.ups.append(total)
                self._by_event[event_id] = (r, delta, Transition.STEP)
                return Attribution(label, Transition.STEP, r.total, 1.0)
        r = _Running(label, delta.copy(), [event_id], [total])
        self._energy.setdefault(label, 0.0)
        self._running.append(r)
        self._by_event[event_id] = (r, delta, Transition.ON)
        return Attribution(label, Transition.ON, r.total, 1.0)

    def _off(
        self, event_id: int, label: str, delta: FloatArray, total: float, phases: set[int]
    ) -> Attribution:
        size = -total
        best: _Running | None = None
        best_cost = np.inf
        for r in self._running:
            if not phases & set(r.phases) or r.total <= 0:
                continue
            cost = abs(r.total - size) / max(r.total, size)
            if r.label == label and label != UNKNOWN_LABEL:
                cost *= 0.5
            if cost < best_cost:
                best, best_cost = r, cost
        if best is None:
            return Attribution(label, Transition.UNPAIRED, 0.0, 0.0)
        score = float(max(0.0, 1.0 - best_cost))
        left = best.total - size
        if len(best.ups) > 1:  # multi-state: off only when no state's worth of power is left
            off = left < max(self.min_power_w, self.off_tolerance * min(best.ups))
        else:
            off = size >= (1 - self.off_tolerance) * best.total or left < self.min_power_w
        if off:
            self._running.remove(best)
            best.events.append(event_id)
            self._by_event[event_id] = (best, -best.power.copy(), Transition.OFF)
            best.power = np.zeros(3)
            return Attribution(best.label, Transition.OFF, 0.0, score)
        best.power = best.power + delta
        best.events.append(event_id)
        self._by_event[event_id] = (best, delta, Transition.STEP)
        return Attribution(best.label, Transition.STEP, best.total, score)

    def revise(self, event_id: int, delta_phase_w: FloatArray | tuple[float, float, float]) -> None:
        """An event's steps were measured again once settled: correct the power it set."""
        got = self._by_event.get(event_id)
        if got is None:
            return
        r, old, how = got
        new = np.asarray(delta_phase_w, dtype=np.float64)
        if how is Transition.OFF or r not in self._running:
            return
        r.power = r.power + (new - old)
        self._by_event[event_id] = (r, new, how)
        if r.total < self.min_power_w:
            self._running.remove(r)

    def cancel(self, event_id: int) -> None:
        """A provisional event turned out to be a transient (its power came back): undo it."""
        got = self._by_event.pop(event_id, None)
        if got is None:
            return
        r, old, how = got
        if how is Transition.OFF:
            if r not in self._running:
                r.power = -old
                self._running.append(r)
            return
        self._undo(event_id, r, old)

    def _undo(self, event_id: int, r: _Running, old: FloatArray) -> None:
        if event_id in r.events:
            r.events.remove(event_id)
        if r not in self._running:
            return
        if not r.events:
            self._running.remove(r)
            return
        total = float(old.sum())
        r.power = r.power - old
        if total in r.ups:
            r.ups.remove(total)
        if r.total < self.min_power_w:
            self._running.remove(r)

    def reattribute(
        self,
        event_id: int,
        label: str,
        delta_phase_w: FloatArray | tuple[float, float, float],
        *,
        typical_power_w: float | None = None,
    ) -> Attribution | None:
        """A switch-on (positive step) identified again, from its refined signature, as `label`:
        undo what the first identification made of it and attribute it afresh. None when the
        event is not a positive step the tracker still holds."""
        got = self._by_event.get(event_id)
        delta = np.asarray(delta_phase_w, dtype=np.float64)
        if got is None or got[2] is Transition.OFF or delta.shape != (3,) or float(delta.sum()) <= 0:
            return None
        r, old, _ = got
        del self._by_event[event_id]
        self._undo(event_id, r, old)
        phases = set(np.flatnonzero(np.abs(delta) > 1e-9).tolist())
        return self._on(event_id, label, delta, float(delta.sum()), phases, typical_power_w)

    def relabel(self, event_id: int, label: str) -> None:
        """The appliance switched on by `event_id` was re-identified as `label`."""
        got = self._by_event.get(event_id)
        if got is None or got[2] is not Transition.ON or got[0] not in self._running:
            return
        got[0].label = label
        self._energy.setdefault(label, 0.0)

    def reconcile(self, t: float, phase_power_w: FloatArray | tuple[float, float, float]) -> list[str]:
        """Switch off appliances that the measured per-phase power cannot be carrying any more.

        When the appliances tracked on a phase add up to more than the phase draws (by the
        `off_tolerance` share of the smallest candidate), the one closest to the excess is
        taken as switched off unseen. Returns the labels switched off.
        """
        measured = np.asarray(phase_power_w, dtype=np.float64)
        self.advance(t)
        dropped: list[str] = []
        for ph in range(3):
            while True:
                on_phase = [r for r in self._running if r.power[ph] > 0]
                excess = sum(float(r.power[ph]) for r in on_phase) - float(measured[ph])
                cands = [
                    r for r in on_phase if excess > max(self.min_power_w, self.off_tolerance * r.power[ph])
                ]
                if not cands:
                    break
                r = min(cands, key=lambda x: abs(float(x.power[ph]) - excess))
                self._running.remove(r)
                dropped.append(r.label)
        return dropped

    def power_w(self, label: str) -> float:
        """Current power of every running appliance with this label."""
        return sum(r.total for r in self._running if r.label == label)

    def states(self) -> list[ApplianceState]:
        """Every appliance seen so far, running or not, sorted by label."""
        out: list[ApplianceState] = []
        for label in sorted(self._energy):
            running = [r for r in self._running if r.label == label]
            phases = sorted({p for r in running for p in r.phases})
            power = sum(r.total for r in running)
            out.append(ApplianceState(label, power, self._energy[label], bool(running), tuple(phases)))
        return out
