"""Neutral check: does IN match the phase currents, and is the star point where it should be?

Criteria (each must hold for `hold_s` of stream time, 1 s by default, before a warning is raised;
one warning per episode, re-armed once the condition has cleared):

- leakage: the residual current RMS(i1 + i2 + i3 - iN) exceeds `leakage_a` (30 mA). 30 mA is
  the rated residual operating current of the RCDs that IEC 60364-4-41 §415.1 asks for as
  additional protection; a standing residual of that size means an insulation fault, or an RCD
  about to trip (IEC 61008-1 allows tripping from half the rated current). The check is only as
  good as the relative accuracy of the meter's current channels: raise `leakage_a` on meters
  whose IN channel is less accurate than a few tens of mA at the load current.
- floating neutral, by voltage: the zero-sequence voltage unbalance u0 = |U0| / |U1|
  (IEC 61000-4-30 §5.7.1) exceeds `floating_u0` (5 %). A broken neutral lets the star point
  drift with the load unbalance, so phase-to-neutral voltages spread (some above, some below
  nominal) while the line-to-line voltages stay; a healthy LV supply stays within about 2 %
  (EN 50160 §4.2.5 sets 2 % for the negative sequence; u0 is of the same order).
- floating neutral, by current: IN is below `open_ratio` (10 %) of the calculated neutral
  current while that exceeds `open_min_a` (1 A): the current that should return by the neutral
  conductor does not pass the meter's IN sensor (open neutral with return through earth, or a
  failed IN channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from gridedge.model.cycles import BoolArray, CycleTable, FloatArray


class NeutralIssue(StrEnum):
    LEAKAGE = "leakage"
    FLOATING_NEUTRAL = "floating-neutral"


@dataclass(frozen=True, slots=True)
class NeutralWarning:
    issue: NeutralIssue
    criterion: str
    """Which test fired: 'residual-current', 'zero-sequence-voltage' or 'neutral-current-missing'."""
    t_start: float
    """Stream time when the condition began, s."""
    t_raised: float
    """Stream time when it had held for `hold_s`, s."""
    value: float
    """The largest residual current (A), u0 (ratio) or calculated neutral current (A) seen so far."""


@dataclass(slots=True)
class _Persist:
    since: float | None = None
    raised: bool = False
    peak: float = 0.0


class NeutralCheck:
    """Streaming neutral supervision over `CycleTable`s."""

    def __init__(
        self,
        *,
        leakage_a: float = 0.030,
        floating_u0: float = 0.05,
        open_ratio: float = 0.10,
        open_min_a: float = 1.0,
        hold_s: float = 1.0,
    ) -> None:
        if leakage_a <= 0 or floating_u0 <= 0 or not 0 < open_ratio < 1 or open_min_a <= 0 or hold_s < 0:
            raise ValueError(
                "NeutralCheck thresholds must be positive (open_ratio between 0 and 1, hold_s >= 0), got "
                f"leakage_a={leakage_a}, floating_u0={floating_u0}, open_ratio={open_ratio}, "
                f"open_min_a={open_min_a}, hold_s={hold_s}"
            )
        self.leakage_a = leakage_a
        self.floating_u0 = floating_u0
        self.open_ratio = open_ratio
        self.open_min_a = open_min_a
        self.hold_s = hold_s
        self._state = {name: _Persist() for name in _CRITERIA}

    def feed(self, cycles: CycleTable) -> tuple[NeutralWarning, ...]:
        n = cycles.cycles
        if n == 0:
            return ()
        nan = np.full(n, np.nan)
        residual = cycles.residual_rms if cycles.residual_rms is not None else nan
        u0 = cycles.v_unbalance_zero if cycles.v_unbalance_zero is not None else nan
        with np.errstate(invalid="ignore"):
            tests: dict[str, tuple[BoolArray, FloatArray]] = {
                "residual-current": (residual > self.leakage_a, residual),
                "zero-sequence-voltage": (u0 > self.floating_u0, u0),
                "neutral-current-missing": (
                    (cycles.in_calc_rms > self.open_min_a)
                    & (cycles.in_rms < self.open_ratio * cycles.in_calc_rms),
                    cycles.in_calc_rms,
                ),
            }
        out: list[tuple[float, NeutralWarning]] = []
        t = cycles.t_start
        dur = cycles.duration_s if cycles.duration_s is not None else np.zeros(n)
        for name, (cond, value) in tests.items():
            st = self._state[name]
            if st.since is None and not cond.any():
                continue
            for c in range(n):  # only while a condition holds
                if not cond[c]:
                    st.since, st.raised, st.peak = None, False, 0.0
                    continue
                if st.since is None:
                    st.since = float(t[c])
                st.peak = max(st.peak, float(value[c]))
                t_end = float(t[c] + dur[c])
                if not st.raised and t_end - st.since >= self.hold_s - 1e-9:
                    st.raised = True
                    out.append((t_end, NeutralWarning(_CRITERIA[name], name, st.since, t_end, st.peak)))
        out.sort(key=lambda item: item[0])
        return tuple(w for _, w in out)


_CRITERIA = {
    "residual-current": NeutralIssue.LEAKAGE,
    "zero-sequence-voltage": NeutralIssue.FLOATING_NEUTRAL,
    "neutral-current-missing": NeutralIssue.FLOATING_NEUTRAL,
}
