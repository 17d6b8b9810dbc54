"""Fixed-length feature vector of an `EventSignature`, with a mask for what the source lacks.

Three groups, each present only when the signature carries what it needs:

* power (always): on/off, log |delta P|, and delta Q / |delta P| when delta Q is known
  (Hart, Proc. IEEE 80 (1992) 1870: the steady-state P-Q plane).
* event (each when the detector measured it): how many phases stepped together, the largest
  per-phase |delta P| and the balance between the phases (a three-phase EV charger against a
  one-phase kettle of similar total), the inrush peak over the steady current and the cycles
  until the current settles (the transient shape: a motor's long reactive start, a switched-mode
  supply's one-cycle spike, a heating element's slow decay; Leeb, Shaw & Kirtley, IEEE Trans.
  Power Delivery 10 (1995) 1200, transient event detection).
* harmonics (when `harmonics` is set): current harmonics of orders 2..15 relative to the
  fundamental, odd and even distortion (Srinivasan et al., IEEE Trans. Power Delivery 21 (2006) 398).
* waveform (when `voltage` and `current` are set): V-I trajectory descriptors after Lam, Fung &
  Lee (IEEE Trans. Consumer Electronics 53 (2007) 653) and Hassan, Javed & Arshad (IEEE Trans.
  Smart Grid 5 (2014) 870): looping direction and enclosed area, asymmetry, curvature of the mean
  line, self-intersections, slope and peak of the middle segment; a low-resolution weighted V-I
  image (Du et al., Energy and Buildings 2016; De Baets et al., Energy and Buildings 158 (2018)
  32): the share of the cycle the trajectory spends in each cell, which at 8x8 cells is the same
  whether the cycle had 52 or 500 points; crest factor, power factor and displacement; the
  phase of the 3rd/5th/7th current harmonics against the fundamental (rectifier vs motor); and
  a 16-step summary of the current shape in time, the information a weighted recurrence graph
  (Faustine et al., "Adaptive weighted recurrence graphs for appliance recognition in NILM",
  IEEE Trans. Smart Grid 2021) draws its distances from.

Everything is computed from the 64-point cycle of the signature (`WAVEFORM_POINTS`), densified by
Fourier interpolation, so the vector does not depend on the source's sampling rate. The current is
first turned into the appliance's current (positive mean v*i) so on and off events of the same
appliance give the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridedge.home.nilm.signature import EventSignature, FloatArray

IMAGE_CELLS = 8
"""V-I image resolution per axis."""
SHAPE_STEPS = 16
"""Steps of the time-domain current-shape summary."""
_DENSE = 512
"""Points per cycle of the densified trajectory (image, area, asymmetry)."""
_MAX_ORDER = 15
HARMONIC_FLOOR = 0.01
"""Harmonics of the event current below 1 % of its fundamental count as absent."""

POWER_NAMES: tuple[str, ...] = ("on", "log10_abs_dp", "dq_over_abs_dp")
EVENT_NAMES: tuple[str, ...] = (
    "phase_count",
    "log10_max_phase_dp",
    "phase_balance",
    "log_transient_ratio",
    "log_settle_cycles",
)
HARMONIC_NAMES: tuple[str, ...] = (
    *(f"h{k}" for k in range(2, _MAX_ORDER + 1)),
    "thd_odd",
    "thd_even",
)
WAVEFORM_NAMES: tuple[str, ...] = (
    "log10_irms",
    "crest",
    "form",
    "pf",
    "cos_phi1",
    "sin_phi1",
    *(f"{c}_phase_h{k}" for k in (3, 5, 7) for c in ("cos", "sin")),
    "area_signed",
    "area_abs",
    "asymmetry",
    "meanline_curvature",
    "loop_width",
    "self_intersections",
    "mid_slope",
    "mid_peak",
    "left_right_ratio",
    "conduction",
    "cos_peak_angle",
    "sin_peak_angle",
    "current_sign_changes",
    *(f"vi_{r}_{c}" for r in range(IMAGE_CELLS) for c in range(IMAGE_CELLS)),
    *(f"shape_{k}" for k in range(SHAPE_STEPS)),
)
FEATURE_NAMES: tuple[str, ...] = POWER_NAMES + EVENT_NAMES + HARMONIC_NAMES + WAVEFORM_NAMES
N_FEATURES = len(FEATURE_NAMES)

_P0 = 0
_E0 = len(POWER_NAMES)
_H0 = _E0 + len(EVENT_NAMES)
_W0 = _H0 + len(HARMONIC_NAMES)


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """`values` (N_FEATURES,) with NaN where `mask` is False (the signature lacks the input)."""

    values: FloatArray
    mask: np.ndarray

    @property
    def has_waveform(self) -> bool:
        return bool(self.mask[_W0])


def _power(sig: EventSignature, out: FloatArray) -> None:
    dp = abs(sig.delta_p_w)
    out[_P0] = 1.0 if sig.is_on else -1.0
    out[_P0 + 1] = np.log10(dp + 1.0)
    if sig.delta_q_var is not None and np.isfinite(sig.delta_q_var):
        sign = 1.0 if sig.is_on else -1.0
        out[_P0 + 2] = float(np.clip(sign * sig.delta_q_var / max(dp, 1.0), -5.0, 5.0))


def _event(sig: EventSignature, out: FloatArray) -> None:
    per = sig.delta_p_phase_w
    if per is not None:
        mags = np.abs(np.asarray(per, dtype=np.float64))
        on = mags[mags > 0]
        if on.size and np.all(np.isfinite(on)):
            out[_E0] = float(on.size)
            out[_E0 + 1] = np.log10(float(on.max()) + 1.0)
            out[_E0 + 2] = float(on.min() / on.max())
    if sig.transient_ratio is not None and np.isfinite(sig.transient_ratio) and sig.transient_ratio > 0:
        out[_E0 + 3] = float(np.log(min(max(sig.transient_ratio, 0.1), 100.0)))
    if sig.settle_cycles is not None and sig.settle_cycles >= 0:
        out[_E0 + 4] = float(np.log1p(sig.settle_cycles))


def _harmonics(h: FloatArray, out: FloatArray) -> None:
    h = np.asarray(h, dtype=np.float64)
    k = min(h.size, _MAX_ORDER)
    if k < 2 or not np.all(np.isfinite(h[:k])) or h[0] <= 0:
        return
    # Below HARMONIC_FLOOR of the fundamental a harmonic is not resolved: it mirrors the supply
    # voltage's distortion (a heating element draws the voltage's shape), which differs from phase
    # to phase and hour to hour, and trees would happily split two resistive appliances on it.
    rel = h[:k] / h[0]
    rel[1:] = np.where(rel[1:] < HARMONIC_FLOOR, 0.0, rel[1:])
    out[_H0 : _H0 + k - 1] = np.log10(np.maximum(rel[1:], HARMONIC_FLOOR))
    orders = np.arange(1, k + 1)
    odd = rel[(orders % 2 == 1) & (orders > 1)]
    even = rel[orders % 2 == 0]
    out[_W0 - 2] = np.sqrt(np.sum(odd**2))
    out[_W0 - 1] = np.sqrt(np.sum(even**2))


def _dense(x: FloatArray, points: int) -> FloatArray:
    spec = np.fft.rfft(x) / x.size
    if x.size % 2 == 0:
        spec = spec[:-1]
    full = np.zeros(points // 2 + 1, dtype=np.complex128)
    full[: spec.size] = spec
    return np.asarray(np.fft.irfft(full * points, n=points), dtype=np.float64)


def _self_intersections(x: FloatArray, y: FloatArray) -> float:
    """Proper crossings between non-adjacent segments of the closed trajectory (Hassan 2014)."""
    ax, ay = x, y
    bx, by = np.roll(x, -1), np.roll(y, -1)
    dx, dy = bx - ax, by - ay

    def cross(px: FloatArray, py: FloatArray) -> FloatArray:
        # cross product of segment i with the point p (broadcast over j)
        return dx[:, None] * (py[None, :] - ay[:, None]) - dy[:, None] * (px[None, :] - ax[:, None])

    # A strict margin: a straight-line (resistive) trajectory retraces itself, and rounding alone
    # must not count as crossings.
    eps = 1e-9
    c1, c2 = cross(ax, ay), cross(bx, by)
    straddle = ((c1 > eps) & (c2 < -eps)) | ((c1 < -eps) & (c2 > eps))
    both = straddle & straddle.T
    n = x.size
    idx = np.arange(n)
    gap = np.abs(idx[:, None] - idx[None, :])
    both &= (gap > 1) & (gap < n - 1)
    return float(np.count_nonzero(np.triu(both)))


def _soft_image(x: FloatArray, y: FloatArray, cells: int) -> FloatArray:
    """Share of the cycle spent near each cell centre, bilinear so a trajectory on a cell border
    (a resistive line through the origin) does not flip between cells with rounding."""
    u = np.clip((x + 1.0) * 0.5 * cells - 0.5, 0.0, cells - 1.0)
    r = np.clip((y + 1.0) * 0.5 * cells - 0.5, 0.0, cells - 1.0)
    u0 = np.minimum(np.floor(u).astype(np.int64), cells - 2)
    r0 = np.minimum(np.floor(r).astype(np.int64), cells - 2)
    fu, fr = u - u0, r - r0
    img = np.zeros(cells * cells)
    for dr, wr in ((0, 1.0 - fr), (1, fr)):
        for du, wu in ((0, 1.0 - fu), (1, fu)):
            img += np.bincount((r0 + dr) * cells + u0 + du, weights=wr * wu, minlength=cells * cells)
    return img / x.size


def _waveform(v: FloatArray, i_event: FloatArray, sig: EventSignature, out: FloatArray) -> None:
    v = np.asarray(v, dtype=np.float64)
    i = np.asarray(i_event, dtype=np.float64)
    if v.size != i.size or v.size < 16 or not (np.all(np.isfinite(v)) and np.all(np.isfinite(i))):
        return
    p_wave = float(np.mean(v * i))
    irms = float(np.sqrt(np.mean(i**2)))
    vrms = float(np.sqrt(np.mean(v**2)))
    if irms <= 0 or vrms <= 0:
        return
    # Appliance current: consuming, whatever convention the source used for off events.
    if abs(p_wave) > 0.02 * vrms * irms:
        i = i * np.sign(p_wave)
    elif not sig.is_on:
        i = -i
    vp = v / float(np.max(np.abs(v)))
    ipk = float(np.max(np.abs(i)))
    inorm = i / ipk
    n = v.size
    vs = np.fft.rfft(vp) / n
    cs = np.fft.rfft(i) / n
    phi = float(np.angle(cs[1]) - np.angle(vs[1]))
    w = out[_W0:]
    w[0] = np.log10(irms + 1e-4)
    w[1] = ipk / irms
    w[2] = irms / max(float(np.mean(np.abs(i))), 1e-12)
    w[3] = float(np.mean(vp * i)) / (float(np.sqrt(np.mean(vp**2))) * irms)
    w[4] = np.cos(phi)
    w[5] = -np.sin(phi)  # positive when the current lags
    rel = np.abs(cs) / max(float(np.abs(cs[1])), 1e-12)
    col = 6
    for k in (3, 5, 7):
        ang = float(np.angle(cs[k]) - k * np.angle(cs[1]))
        mag = min(float(rel[k]), 1.0)
        w[col], w[col + 1] = mag * np.cos(ang), mag * np.sin(ang)
        col += 2
    # Dense trajectory: x = v per unit, y = current per unit of its peak.
    x = _dense(vp, _DENSE)
    y = _dense(inorm, _DENSE)
    area = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    w[col], w[col + 1] = area, abs(area)
    half = _DENSE // 2
    w[col + 2] = float(np.sqrt(np.mean((y + np.roll(y, half)) ** 2)))
    # Points t and T/2 - t share the same voltage (the voltage is symmetric about its peak).
    mirror = y[(half - np.arange(_DENSE)) % _DENSE]
    mean_line = 0.5 * (y + mirror)
    width = 0.5 * (y - mirror)
    coef = np.polyfit(x, mean_line, 1)
    w[col + 3] = float(np.sqrt(np.mean((mean_line - np.polyval(coef, x)) ** 2)))
    w[col + 4] = float(np.sqrt(np.mean(width**2)))
    w[col + 5] = _self_intersections(_dense(vp, 64), _dense(inorm, 64))
    mid = np.abs(x) < 0.5
    w[col + 6] = float(np.polyfit(x[mid], mean_line[mid], 1)[0])
    w[col + 7] = float(np.max(np.abs(y[mid])))
    side = np.where(np.abs(x) < 1e-9, 0.0, np.sign(x))
    w[col + 8] = float(np.sum(np.abs(y) * side)) / max(float(np.sum(np.abs(y))), 1e-12)
    w[col + 9] = float(np.mean(np.abs(y) > 0.1))
    pk = int(np.argmax(y))
    w[col + 10], w[col + 11] = np.cos(2 * np.pi * pk / _DENSE), np.sin(2 * np.pi * pk / _DENSE)
    s = np.sign(y[np.abs(y) > 0.05])
    w[col + 12] = float(np.count_nonzero(s != np.roll(s, 1))) if s.size else 0.0
    col += 13
    cells = IMAGE_CELLS
    img = _soft_image(x, y, cells)
    w[col : col + cells * cells] = np.sqrt(img)
    col += cells * cells
    w[col : col + SHAPE_STEPS] = y.reshape(SHAPE_STEPS, -1).mean(axis=1)


def extract_features(sig: EventSignature) -> FeatureVector:
    """Feature vector of one signature; parts the signature cannot give are NaN and masked."""
    out = np.full(N_FEATURES, np.nan)
    _power(sig, out)
    _event(sig, out)
    if sig.harmonics is not None:
        _harmonics(sig.harmonics, out)
    if sig.voltage is not None and sig.current is not None:
        _waveform(sig.voltage, sig.current, sig, out)
        if sig.harmonics is None and np.isfinite(out[_W0]):
            cs = np.abs(np.fft.rfft(np.asarray(sig.current, dtype=np.float64)))
            _harmonics(cs[1 : _MAX_ORDER + 1], out)
    return FeatureVector(values=out, mask=np.isfinite(out))


def feature_matrix(signatures: list[EventSignature]) -> tuple[FloatArray, np.ndarray]:
    """(n, N_FEATURES) values and masks for a batch of signatures."""
    vecs = [extract_features(s) for s in signatures]
    if not vecs:
        return np.zeros((0, N_FEATURES)), np.zeros((0, N_FEATURES), dtype=bool)
    return np.stack([f.values for f in vecs]), np.stack([f.mask for f in vecs])
