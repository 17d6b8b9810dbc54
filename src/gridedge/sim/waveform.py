"""Sampled voltage and current waveforms, as the meter's ADCs (and the S1 port) see them.

e-MUCS H Ed. 1.3 §4.2.3 gives two sampling modes: a fixed rate per second (e.g. 4000 Hz, the
sampling clock runs free of the mains) and a fixed number of samples per network period (52 per
period gives 2600 Hz at 50 Hz; the sampling clock follows the mains frequency). Both are
synthesised here from the household's per-cycle harmonic phasors:
x(t) = Im(sqrt(2) * sum_h X_h exp(j h theta(t))), theta = 2 pi f (t - cycle start).

Harmonics at or above half the sampling rate are left out, as the meter's anti-aliasing filter
would remove them. Seeded Gaussian noise stands for the ADC and sensor noise.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from gridedge.model.scenario import S1Config, S1Sampling
from gridedge.physics.seeding import rng_for
from gridedge.sim.electrical import HARMONICS, ComplexArray, FloatArray
from gridedge.sim.household import CycleBlock

_SQRT2 = math.sqrt(2.0)


@dataclass(slots=True)
class Samples:
    """One second of samples: `voltage_v` and `current_a` shape (3, N), `neutral_a` shape (N,)."""

    t0: float
    times: FloatArray
    dt_s: float
    """Sampling interval; constant within one second in both modes."""
    voltage_v: FloatArray
    current_a: FloatArray
    neutral_a: FloatArray
    frequency_hz: float
    """The mains frequency of this second (what the S1 frame's frequency field carries)."""

    @property
    def count(self) -> int:
        return int(self.times.size)


class WaveformSynth:
    """Turns `CycleBlock`s into samples at the S1 port's rate, second after second."""

    def __init__(
        self,
        config: S1Config,
        *,
        seed: int = 1,
        noise_v: float = 0.05,
        noise_a: float = 0.003,
        neutral: bool = True,
    ) -> None:
        self.config = config
        self.per_period = config.sampling is S1Sampling.PER_PERIOD
        self.rate_hz = config.rate_hz
        self.samples_per_period = config.samples_per_period
        self.noise_v = noise_v
        self.noise_a = noise_a
        self.neutral = neutral
        self._rng = rng_for(seed, "adc")
        self._next_sample = 0

    def _orders(self, frequency_hz: float) -> int:
        """How many of HARMONICS lie below the Nyquist limit."""
        nyquist = self.samples_per_period / 2 if self.per_period else self.rate_hz / (2 * frequency_hz)
        return int(np.count_nonzero(nyquist > HARMONICS))

    def samples(self, block: CycleBlock) -> Samples:
        """The samples taken during `block`'s second."""
        if self.per_period:
            v, i, times, dt = self._per_period(block)
        else:
            v, i, times, dt = self._per_second(block)
        if self.noise_v:
            v = v + self.noise_v * self._rng.standard_normal(v.shape)
        if self.noise_a:
            i = i + self.noise_a * self._rng.standard_normal(i.shape)
        neutral = i.sum(axis=0) if self.neutral else np.zeros(times.size)
        return Samples(block.t0, times, dt, v, i, neutral, block.frequency_hz)

    def _per_period(self, block: CycleBlock) -> tuple[FloatArray, FloatArray, FloatArray, float]:
        m = self.samples_per_period
        n = block.cycles
        k = self._orders(block.frequency_hz)
        theta = 2 * math.pi * np.arange(m) / m
        e = _SQRT2 * np.exp(1j * np.outer(HARMONICS[:k], theta))  # (k, m)
        dt = 1.0 / (m * block.frequency_hz)
        times = (block.starts[:, None] + np.arange(m)[None, :] * dt).reshape(-1)
        vc, ic = block.per_cycle()
        v = (vc[:, :, :k] @ e).imag.transpose(1, 0, 2).reshape(3, n * m)
        i = (ic[:, :, :k] @ e).imag.transpose(1, 0, 2).reshape(3, n * m)
        return v, i, times, dt

    def _per_second(self, block: CycleBlock) -> tuple[FloatArray, FloatArray, FloatArray, float]:
        r = self.rate_hz
        first = max(self._next_sample, math.ceil(block.t0 * r - 1e-9))
        last = math.ceil(block.t1 * r - 1e-9)
        self._next_sample = last
        times = np.arange(first, last) / r
        starts = np.concatenate(([block.previous_start], block.starts))
        freqs = np.full(starts.size, block.frequency_hz)
        freqs[0] = block.previous_frequency_hz
        idx = np.searchsorted(starts, times, side="right") - 1
        np.clip(idx, 0, None, out=idx)
        theta = 2 * math.pi * freqs[idx] * (times - starts[idx])
        k = self._orders(block.frequency_hz)
        e = _harmonic_powers(np.exp(1j * theta), k)
        vc, ic = block.per_cycle()
        vx: ComplexArray = np.concatenate((block.previous_voltage[None, :, :k], vc[:, :, :k]))
        ix: ComplexArray = np.concatenate((block.previous_current[None, :, :k], ic[:, :, :k]))
        v = _synth(vx, idx, e)
        i = _synth(ix, idx, e)
        return v, i, times, 1.0 / r


def _harmonic_powers(e1: ComplexArray, k: int) -> ComplexArray:
    """sqrt(2) exp(j h theta) for the first k odd orders, by repeated multiplication (no exp per order)."""
    out = np.empty((e1.size, k), dtype=np.complex128)
    out[:, 0] = e1 * _SQRT2
    e2 = e1 * e1
    for j in range(1, k):
        out[:, j] = out[:, j - 1] * e2
    return out


def _synth(phasors: ComplexArray, idx: np.ndarray, e: ComplexArray) -> FloatArray:
    """Im(sum_h X[idx[s], p, h] e[s, h]) per phase, cycle by cycle (the samples of one cycle share X)."""
    out = np.empty((3, idx.size))
    bounds = np.flatnonzero(np.diff(idx)) + 1
    edges = np.concatenate(([0], bounds, [idx.size]))
    for a, b in itertools.pairwise(edges):
        if b > a:
            out[:, a:b] = (phasors[idx[a]] @ e[a:b].T).imag
    return out
