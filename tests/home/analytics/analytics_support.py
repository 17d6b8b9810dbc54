"""Synthetic three-phase test signals for the analytics tests (closed-form, not from the code under test)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from gridedge.model.waveform import WaveformChunk

SQ2 = math.sqrt(2.0)


def three_phase(
    rate: float,
    f: float,
    seconds: float,
    *,
    v_rms: float = 230.0,
    i_rms: float = 10.0,
    phi: float = 0.5,
    harm_v: Mapping[int, float] | None = None,
    harm_i: Mapping[int, float] | None = None,
    envelope: Callable[[np.ndarray], np.ndarray] | None = None,
    leakage_a: float = 0.0,
    start: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """V (3, n), I (3, n), IN (n,): sines with harmonic h of relative RMS a as {h: a}.

    Voltage harmonics have phase 0 relative to their fundamental; current harmonic h lags by h*phi + 0.3.
    `envelope(t)` scales the voltage amplitude (3, n) or (n,). `leakage_a` RMS leaves phase 1 to earth
    (so IN lacks it).
    """
    n = round(rate * seconds)
    t = (start + np.arange(n)) / rate
    th = 2 * math.pi * f * t
    v = np.zeros((3, n))
    i = np.zeros((3, n))
    for p in range(3):
        sh = -2 * math.pi / 3 * p
        v[p] = np.sin(th + sh) + sum(a * np.sin(h * (th + sh)) for h, a in (harm_v or {}).items())
        i[p] = np.sin(th + sh - phi) + sum(
            a * np.sin(h * (th + sh) - h * phi + 0.3) for h, a in (harm_i or {}).items()
        )
    v *= SQ2 * v_rms
    i *= SQ2 * i_rms
    if envelope is not None:
        v *= envelope(t)
    neutral = i.sum(axis=0) - SQ2 * leakage_a * np.sin(th)
    return v, i, neutral


def chunks(
    v: np.ndarray,
    i: np.ndarray,
    neutral: np.ndarray | None,
    rate: float,
    sizes: Iterator[int] | None = None,
    *,
    start: int = 0,
    phases: int = 3,
) -> list[WaveformChunk]:
    """Cut the stream into chunks of the given sizes (default one chunk)."""
    n = v.shape[1]
    out = []
    a = 0
    while a < n:
        b = n if sizes is None else min(n, a + next(sizes))
        out.append(
            WaveformChunk(
                start + a, (start + a) / rate, rate, v[:, a:b], i[:, a:b],
                None if neutral is None else neutral[a:b], np.full(b - a, 50.0), phases=phases,
            )
        )  # fmt: skip
        a = b
    return out
