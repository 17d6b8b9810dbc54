"""The household engine: sums every load's current, cycle by cycle, into what the meter sees.

Each second the household asks the grid for the frequency and the source voltage of the mains
cycles that start in that second, advances every load, and builds per-cycle harmonic phasors of
the current on L1..L3 (`CycleBlock`). Only changes cost work: steady loads are kept as running
sums per `LoadKind` (resistive currents scale with the voltage, regulated ones inversely), a
change lands on the first cycle that starts at or after its time, and an inrush adds its decaying
extra current over the cycles that follow. The voltage at the meter is the source voltage minus
the drop across the source impedance at each harmonic, so switching a kettle dips the voltage
the way it does in a real house (and a NILM detector can see it).

A small seeded jitter of each phase current, per run of cycles, stands for the load fluctuations no model
captures. Ground truth per load (`Load.energy_wh`) is integrated from the signature power at
nominal voltage over the time the load was supplied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridedge.physics.seeding import rng_for
from gridedge.sim.electrical import (
    HARMONICS,
    NOMINAL_V,
    OFF,
    ComplexArray,
    FloatArray,
    H,
    Inrush,
    Load,
    Signature,
    SiteContext,
)
from gridedge.sim.grid import GridSupply

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_INTERRUPTION = 0.05
"""A phase below 5 % of nominal is interrupted (IEC 61000-4-30 §5.5): loads on it draw nothing."""


@dataclass(slots=True)
class CycleBlock:
    """The mains cycles that started within one second, as harmonic phasors in the absolute frame.

    `voltage[r, p, k]` and `current[r, p, k]` are RMS phasors of harmonic HARMONICS[k] on phase p
    during the cycles of run r (`repeat[r]` identical cycles in a row: a steady second is one run);
    the time signal is x(t) = Im(sqrt(2) * sum_k X_k exp(j h_k theta)), with
    theta = 2 pi f (t - starts[c]). `previous_*` hold the cycle that started before `starts[0]`,
    which still runs at the beginning of the second.
    """

    t0: float
    t1: float
    frequency_hz: float
    starts: FloatArray
    voltage: ComplexArray
    current: ComplexArray
    repeat: IntArray
    """Runs of identical cycles: run r covers `repeat[r]` cycles; voltage and current are per run."""
    previous_start: float
    previous_frequency_hz: float
    previous_voltage: ComplexArray
    previous_current: ComplexArray

    @property
    def period_s(self) -> float:
        return 1.0 / self.frequency_hz

    @property
    def cycles(self) -> int:
        return int(self.starts.size)

    def per_cycle(self) -> tuple[ComplexArray, ComplexArray]:
        """Voltage and current expanded to one row per cycle, shape (n, 3, H)."""
        if self.voltage.shape[0] == self.cycles:
            return self.voltage, self.current
        return np.repeat(self.voltage, self.repeat, axis=0), np.repeat(self.current, self.repeat, axis=0)


@dataclass(frozen=True, slots=True)
class SteadySecond:
    """A second with no change after its first cycle, no inrush and no voltage event: one run of
    cycles at the household's running totals, left for `steady_blocks` to compute."""

    household: Household
    t0: float
    t1: float
    frequency_hz: float
    starts: FloatArray
    magnitude: FloatArray
    """Source RMS voltage per phase (3,)."""
    alive: BoolArray
    cycles: int


@dataclass(slots=True)
class _Active:
    owner: int
    extra: ComplexArray
    tau: float
    start: int
    end: int


class Household:
    """Loads behind one meter, on `phases` (1 or 3) phases, supplied by `grid`."""

    def __init__(
        self,
        loads: Sequence[Load],
        grid: GridSupply,
        ctx: SiteContext,
        *,
        phases: int = 3,
        seed: int = 1,
        jitter: float = 0.002,
        gate: Callable[[Load], bool] | None = None,
    ) -> None:
        names = [ld.name for ld in loads]
        if len(set(names)) != len(names):
            raise ValueError(f"load names must be unique, got {names}")
        self.loads = list(loads)
        self.grid = grid
        self.ctx = ctx
        self.phases = phases
        self.jitter = jitter
        self.connected = True
        """False while the meter's breaker is open: the whole house is cut off."""
        self._gate = gate
        self._rng = rng_for(seed, "household")
        self._rotation = grid.rotation
        self._tot = np.zeros((2, 3, H), dtype=np.complex128)
        self._effective: list[Signature] = [OFF] * len(self.loads)
        self._since: list[float] = [0.0] * len(self.loads)
        self._active: list[_Active] = []
        self._next_start = 0.0
        self._cycle = 0
        self._frequency = grid.config.frequency_hz
        self._prev_start = -1.0 / self._frequency
        self._prev_v: ComplexArray = grid.source(np.full((1, 3), grid.nominal_v))[0]
        if phases == 1:
            self._prev_v[1:] = 0
        self._prev_i: ComplexArray = np.zeros((3, H), dtype=np.complex128)

    def load(self, name: str) -> Load:
        for ld in self.loads:
            if ld.name == name:
                return ld
        raise KeyError(f"no load named {name!r}; loads: {', '.join(x.name for x in self.loads)}")

    def _rotated(self, sig: Signature) -> ComplexArray:
        return sig.currents * self._rotation

    def _account(self, i: int, at: float) -> None:
        """Book load i's ground-truth energy up to `at` at its effective power."""
        eff = self._effective[i]
        if not eff.is_zero:
            self.loads[i].energy_wh += eff.power_w * (at - self._since[i]) / 3600.0
        self._since[i] = at

    def _magnitudes(self, starts: FloatArray, level: FloatArray) -> FloatArray:
        mags = self.grid.magnitudes(starts, level)
        if self.phases == 1:
            mags[:, 1:] = 0.0
        return mags

    def step(self, t0: float, t1: float) -> CycleBlock:
        """Advance every load over [t0, t1) and return the cycles that start in it."""
        got = self.begin(t0, t1)
        return got if isinstance(got, CycleBlock) else steady_blocks((got,))[0]

    def begin(self, t0: float, t1: float) -> CycleBlock | SteadySecond:
        """Advance every load over [t0, t1): the second's cycles, or, for the common steady second,
        what `steady_blocks` needs to compute it together with other households' steady seconds."""
        grid = self.grid
        f = grid.frequency()
        first = self._next_start
        n = max(0, math.ceil((t1 - first) * f - 1e-9))
        starts: FloatArray = first + np.arange(n, dtype=np.float64) * (1.0 / f)
        self._next_start = first + n / f
        level = grid.level()
        if self.phases == 1:
            level[1:] = 0.0
        dead = _INTERRUPTION * grid.nominal_v
        # voltage events (and the hour after them) take the per-cycle path below
        mags = self._magnitudes(starts, level) if grid.events else None
        ctx = self.ctx
        if not n:
            ctx.supply_ok = self.connected
        elif mags is not None:
            ctx.supply_ok = self.connected and bool((mags[0] > dead).any())
        else:
            ctx.supply_ok = self.connected and max(level.tolist()) > dead

        before: list[ComplexArray] = []
        steps: list[tuple[int, ComplexArray, int]] = []
        inrushes: list[tuple[int, Inrush, int]] = []

        def apply(i: int, at: float, new: Signature, inrush: Inrush | None) -> None:
            old = self._effective[i]
            if new is old:
                return
            self._account(i, at)
            if not before:
                before.append(self._tot.copy())
            c = int(np.searchsorted(starts, at, side="left"))
            if not old.is_zero:
                d = -self._rotated(old)
                self._tot[old.kind] += d
                if c < n:
                    steps.append((c, d, int(old.kind)))
            if not new.is_zero:
                d = self._rotated(new)
                self._tot[new.kind] += d
                if c < n:
                    steps.append((c, d, int(new.kind)))
            self._effective[i] = new
            for a in self._active:
                if a.owner == i:  # a load that changes again ends its inrush
                    a.end = min(a.end, self._cycle + c)
            if inrush is not None and not new.is_zero:
                inrushes.append((c, inrush, i))

        gate = self._gate
        for i, ld in enumerate(self.loads):
            supplied = ctx.supply_ok and (gate is None or gate(ld))
            if supplied != ld.relay_closed:
                ld.relay_closed = supplied
                apply(i, t0, ld.signature if supplied else OFF, None)
            for ch in ld.advance(t0, t1, ctx):
                if ld.relay_closed:
                    apply(i, ch.at, ch.signature, ch.inrush)
                else:
                    apply(i, ch.at, OFF, None)

        base = self._cycle
        for c, inrush, owner in inrushes:
            end = base + c + inrush.cycles()
            self._active.append(_Active(owner, self._rotated(inrush.extra), inrush.tau_cycles, base + c, end))
        if n > 0 and mags is None and not self._active and all(st[0] == 0 for st in steps):
            return SteadySecond(self, t0, t1, f, starts, level, level > dead, n)
        if mags is None:
            mags = self._magnitudes(starts, level)
        alive = mags > dead
        z, p = before[0] if before else self._tot
        # runs of identical cycles: break wherever a load changes, an inrush decays or the voltage moves
        marks: set[int] = {0}
        marks.update(c for c, _, _ in steps)
        for a in self._active:
            lo, hi = max(a.start, base) - base, min(a.end, base + n) - base
            if hi > lo:
                marks.update(range(lo, hi + 1))
        if n > 1:
            moved = np.flatnonzero((mags[1:] != mags[:-1]).any(axis=1)) + 1
            marks.update(moved.tolist())
        bounds = np.array(sorted(m for m in marks if m < n) or [0], dtype=np.int64)
        m = bounds.size
        repeat = np.diff(np.append(bounds, max(n, 1)))
        per_kind = np.empty((2, m, 3, H), dtype=np.complex128)
        per_kind[0] = z
        per_kind[1] = p
        for c, d, kind in steps:
            per_kind[kind, int(np.searchsorted(bounds, c)) :] += d
        extra = np.zeros((m, 3, H), dtype=np.complex128)
        if self._active:
            still: list[_Active] = []
            for a in self._active:
                lo, hi = max(a.start, base), min(a.end, base + n)
                if hi > lo:
                    k = np.arange(lo, hi)
                    j = np.searchsorted(bounds, k - base)
                    extra[j] += np.exp(-(k - a.start) / a.tau)[:, None, None] * a.extra
                if a.end > base + n:
                    still.append(a)
            self._active = still

        run_mags = mags[bounds] if n else np.full((1, 3), self.grid.nominal_v)
        run_alive = alive[bounds] if n else np.ones((1, 3), dtype=bool)
        source = self.grid.source(run_mags)
        scale = np.where(run_alive, run_mags / NOMINAL_V, 1.0)[:, :, None]
        current = per_kind[0] * scale + per_kind[1] / scale + extra
        # second pass: loads follow the voltage at their terminals, not at the transformer
        v1 = source[:, :, 0] - self.grid.impedance[0] * current[:, :, 0]
        w = np.where(run_alive, v1 / np.where(run_alive, source[:, :, 0], 1.0), 1.0)
        aw = np.abs(w)[:, :, None]
        turn = np.exp(1j * np.angle(w)[:, :, None] * HARMONICS)
        current = (per_kind[0] * (scale * aw) + per_kind[1] / (scale * aw) + extra) * turn
        if self.jitter and n:
            current *= 1.0 + self.jitter * self._rng.standard_normal((m, 3, 1))
        current *= run_alive[:, :, None]
        voltage = source - self.grid.impedance * current
        block = CycleBlock(
            t0,
            t1,
            f,
            starts,
            voltage,
            current,
            repeat,
            self._prev_start,
            self._frequency,
            self._prev_v,
            self._prev_i,
        )
        if n:
            self._prev_start = float(starts[-1])
            self._prev_v = voltage[-1]
            self._prev_i = current[-1]
        self._frequency = f
        self._cycle += n
        return block

    def settle(self, t: float) -> None:
        """Book every load's ground-truth energy up to `t` (call before reading `energy_wh`)."""
        for i in range(len(self.loads)):
            self._account(i, t)


def _shared_or_stacked(arrays: list[ComplexArray]) -> ComplexArray:
    """One array with a leading axis over the homes: a broadcast view when they all share one."""
    first = arrays[0]
    if all(a is first for a in arrays):
        return first[None]
    return np.stack(arrays)


def steady_blocks(seconds: Sequence[SteadySecond]) -> list[CycleBlock]:
    """The blocks of many households' steady seconds, computed together as (N, 3, H) arrays.

    This is the street's hot path: the arithmetic of a steady second (source voltage, the loads'
    response to it, the voltage at each meter, jitter) runs once per street-second over all the
    homes instead of once per home. Each household's own generator still draws its jitter, in the
    same order as on its own, so a home behaves the same alone or in a street.
    """
    if not seconds:
        return []
    homes = [s.household for s in seconds]
    tot = np.stack([hh._tot for hh in homes])
    z, p = tot[:, 0], tot[:, 1]
    mag = np.stack([s.magnitude for s in seconds])
    alive = np.stack([s.alive for s in seconds])
    unit = _shared_or_stacked([hh.grid.unit for hh in homes])
    zh = _shared_or_stacked([hh.grid.impedance for hh in homes])
    source = mag[:, :, None] * unit
    scale = (np.where(alive, mag, NOMINAL_V) / NOMINAL_V)[:, :, None]
    current = z * scale + p / scale
    v1 = source[:, :, 0] - zh[:, :1] * current[:, :, 0]
    w = np.where(alive, v1 / np.where(alive, source[:, :, 0], 1.0), 1.0)
    factor = np.abs(w)[:, :, None] * scale
    turn = np.exp(np.angle(w)[:, :, None] * (1j * HARMONICS))
    current = (z * factor + p / factor) * turn
    noise = np.zeros((len(homes), 3, 1))
    for k, hh in enumerate(homes):
        if hh.jitter:
            noise[k] = hh.jitter * hh._rng.standard_normal((3, 1))
    current *= 1.0 + noise
    current *= alive[:, :, None]
    voltage = source - zh[:, None, :] * current
    blocks: list[CycleBlock] = []
    for k, (sec, hh) in enumerate(zip(seconds, homes, strict=True)):
        v = voltage[k]
        i = current[k]
        run = np.array([sec.cycles])
        prev = (hh._prev_start, hh._frequency, hh._prev_v, hh._prev_i)
        blocks.append(CycleBlock(sec.t0, sec.t1, sec.frequency_hz, sec.starts, v[None], i[None], run, *prev))
        hh._prev_start = float(sec.starts[-1])
        hh._prev_v = v
        hh._prev_i = i
        hh._frequency = sec.frequency_hz
        hh._cycle += sec.cycles
    return blocks
