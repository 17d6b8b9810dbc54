"""One mains cycle of V and event current -> an `EventSignature`, whatever the sampling rate.

PLAID records (500 points per cycle at 30 kHz, 60 Hz), S1 cycles (52..80 points per cycle) and
synthetic test loads all go through `signature_from_cycle`, so the recogniser sees every source on
the same 64-point grid (`WAVEFORM_POINTS`) aligned on the same voltage phase.

Alignment uses the fundamental of the voltage, not its sampled zero crossing: at 52 points per
cycle the nearest sample can be 7 degrees off, and harmonics in V move the raw crossing. The
cycle is treated as one period of a band-limited signal (DFT, then Fourier interpolation), which
is exact for harmonics below the source's Nyquist order and keeps the features rate-independent.
Powers follow IEEE 1459-2010: P is the mean of v*i over the period (§3.1.2.3), Q1 the fundamental
reactive power (§3.1.2.6), positive when the current lags (inductive).
"""

from __future__ import annotations

import math

import numpy as np

from gridedge.home.nilm.signature import WAVEFORM_POINTS, EventSignature, FloatArray

HARMONIC_ORDERS = 15
"""Orders 1..15 stored in `EventSignature.harmonics` (odd orders to 15 carry the rectifier and
motor fingerprints; fewer when the source rate cannot resolve them)."""


class CycleError(ValueError):
    """The arrays are not one usable mains cycle."""


def _as_cycle(name: str, x: object) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise CycleError(f"{name}: expected a 1-D array of samples, found shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise CycleError(f"{name}: expected finite samples, found NaN or inf")
    return a


def _points_per_cycle(rate_hz: float | None, points_per_cycle: float | None, mains_hz: float) -> float:
    if (rate_hz is None) == (points_per_cycle is None):
        raise CycleError("give exactly one of rate_hz or points_per_cycle")
    ppc = points_per_cycle if points_per_cycle is not None else float(rate_hz) / mains_hz  # type: ignore[arg-type]
    if not math.isfinite(ppc) or ppc < 8:
        raise CycleError(f"points per cycle: expected at least 8, found {ppc}")
    return float(ppc)


def aligned_spectrum(voltage: FloatArray, current: FloatArray) -> tuple[np.ndarray, np.ndarray]:
    """DFT coefficients (amplitude-scaled, orders 0..n/2) of one period of V and I, phase-shifted
    so that the voltage fundamental crosses zero rising at t = 0."""
    n = voltage.size
    vs = np.fft.rfft(voltage) / n
    cs = np.fft.rfft(current) / n
    if n % 2 == 0:  # the Nyquist bin has no phase: drop it
        vs, cs = vs[:-1], cs[:-1]
    if abs(vs[1]) == 0.0:
        raise CycleError("voltage: no fundamental component (all zero?)")
    # v1 ~ cos(2 pi t/n + phi) rises through zero where the argument is -pi/2.
    t0 = ((-0.5 * math.pi - float(np.angle(vs[1]))) / (2 * math.pi)) % 1.0
    rot = np.exp(2j * math.pi * np.arange(vs.size) * t0)
    return vs * rot, cs * rot


def resample_spectrum(spec: np.ndarray, points: int) -> FloatArray:
    """Evaluate a band-limited periodic signal from its coefficients at `points` equal steps."""
    keep = min(spec.size, points // 2)
    full = np.zeros(points // 2 + 1, dtype=np.complex128)
    full[:keep] = spec[:keep]
    return np.asarray(np.fft.irfft(full * points, n=points), dtype=np.float64)


def signature_from_cycle(
    voltage: object,
    current: object,
    *,
    rate_hz: float | None = None,
    points_per_cycle: float | None = None,
    mains_hz: float = 50.0,
    t: float = 0.0,
    phase: int = 0,
    is_on: bool = True,
    harmonic_orders: int = HARMONIC_ORDERS,
) -> EventSignature:
    """Signature of one switching event from one cycle of voltage and of the appliance's current.

    `current` is the appliance's current (consuming: positive mean v*i), as PLAID stores it for
    both on events (after minus before) and off events (before minus after). Its sign is
    re-derived from the power, so a record stored the other way round gives the same signature.
    The signature follows the `EventSignature` contract: delta P = +P for an on event and -P for
    an off event, and `current` is after minus before, i.e. the negated appliance current for an
    off event (features undo this with the sign of delta P).

    Only the first round(points per cycle) samples are used; more samples are ignored.
    """
    v = _as_cycle("voltage", voltage)
    i = _as_cycle("current", current)
    if v.size != i.size:
        raise CycleError(f"voltage and current: expected equal lengths, found {v.size} and {i.size}")
    ppc = _points_per_cycle(rate_hz, points_per_cycle, mains_hz)
    n = round(ppc)
    if v.size < n:
        raise CycleError(f"voltage: expected at least one cycle ({n} samples), found {v.size}")
    v, i = v[:n], i[:n]
    vs, cs = aligned_spectrum(v, i)
    p = float(np.mean(v * i))
    q1 = 2.0 * float(np.imag(vs[1] * np.conj(cs[1])))
    orient = -1.0 if p < 0 else 1.0
    event_sign = 1.0 if is_on else -1.0
    v64 = resample_spectrum(vs, WAVEFORM_POINTS)
    peak = float(np.max(np.abs(v64)))
    i64 = resample_spectrum(cs, WAVEFORM_POINTS) * (orient * event_sign)
    mags = np.abs(cs[1 : harmonic_orders + 1])
    harmonics = mags / mags[0] if mags[0] > 1e-9 else None
    return EventSignature(
        t=float(t),
        phase=int(phase),
        delta_p_w=event_sign * max(abs(p), 1e-9),  # keeps is_on right for a null load
        delta_q_var=event_sign * orient * q1,
        harmonics=harmonics,
        voltage=v64 / peak,
        current=i64,
    )
