"""Textbook single-cycle appliance currents, for tests and demonstrations of the recogniser.

Three load classes that the literature separates by their V-I trajectory (Lam, Fung & Lee, IEEE
Trans. Consumer Electronics 53 (2007) 653): resistive (current in phase, a straight line),
inductive/motor (lagging current, an ellipse; some 3rd harmonic from iron saturation) and
capacitor-input rectifier (switch-mode supplies: narrow current pulses at the voltage peaks, odd
harmonics with slowly decaying magnitude). Each is a finite Fourier series (orders <= 15), so it
is exactly band-limited and can be sampled at any rate above 30 points per cycle.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from gridedge.home.nilm.signature import FloatArray


class LoadKind(Enum):
    RESISTIVE = "resistive"
    INDUCTIVE = "inductive"
    RECTIFIER = "rectifier"


_HARMONICS: dict[LoadKind, tuple[tuple[int, float, float], ...]] = {
    # (order, amplitude relative to the fundamental, phase lag of the order's own sine, rad)
    LoadKind.RESISTIVE: ((1, 1.0, 0.0),),
    LoadKind.INDUCTIVE: ((1, 1.0, np.pi / 3), (3, 0.08, np.pi / 3), (5, 0.02, 0.0)),
    # pulses centred on the voltage peaks: odd sines all in phase at t = T/4
    LoadKind.RECTIFIER: tuple((k, float(np.exp(-(k - 1) / 8.0)), 0.0) for k in range(1, 16, 2)),
}


def synthetic_cycle(
    kind: LoadKind,
    points_per_cycle: int,
    *,
    power_w: float,
    v_rms: float = 230.0,
    start_deg: float = 0.0,
    noise_a: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(voltage, current) over one cycle sampled at `points_per_cycle`, starting `start_deg` into
    the voltage cycle; the current draws `power_w` of active power (consumer sign)."""
    theta = 2 * np.pi * np.arange(points_per_cycle) / points_per_cycle + np.deg2rad(start_deg)
    v = np.sqrt(2) * v_rms * np.sin(theta)
    shape = np.zeros(points_per_cycle)
    for order, amp, lag in _HARMONICS[kind]:
        if kind is LoadKind.RECTIFIER:
            # odd cosines about the voltage peak: all +1 at theta = pi/2, all -1 at 3 pi/2
            shape += amp * np.cos(order * (theta - np.pi / 2))
        else:
            shape += amp * np.sin(order * theta - lag)
    p_unit = float(np.mean(v * shape))
    i = shape * (power_w / p_unit)
    if noise_a > 0:
        gen = rng if rng is not None else np.random.default_rng(0)
        i = i + gen.normal(0.0, noise_a, points_per_cycle)
    return v, i
