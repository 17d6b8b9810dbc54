"""NILM evaluation metrics, as NILMTK and NILM benchmarks report them.

* Event detection: precision, recall and F1 of detected against true switching events, matched
  one to one within a time tolerance (and with the same sign of delta P), closest pairs first
  (Makonin & Popowich, "Nonintrusive load monitoring (NILM) performance evaluation", Energy
  Efficiency 8 (2015) 809; Pereira & Nunes, "Performance evaluation in non-intrusive load
  monitoring", WIREs Data Mining Knowl. Discov. 2018).
* Identification: per-class and macro-F1 of the labels of matched events.
* Disaggregation: mean absolute error of each appliance's power, on/off F1 at a per-appliance
  on-threshold (NILMTK `f1_score`, Batra et al., e-Energy 2014), and the fraction of total
  energy assigned correctly, 1 - sum_t sum_i |y_hat - y| / (2 sum_t sum_i y) (Kolter & Johnson,
  "REDD: a public data set for energy disaggregation research", SustKDD 2011, eq. 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LabelledEvent:
    """A true or detected event: time (s), appliance label and delta P (W)."""

    t: float
    label: str
    delta_p_w: float


@dataclass(frozen=True, slots=True)
class Score:
    """Precision / recall / F1 from counts."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else 1.0


def match_events(
    truth: Sequence[LabelledEvent], detected: Sequence[LabelledEvent], tolerance_s: float
) -> list[tuple[int, int]]:
    """One-to-one pairs (truth index, detected index) within `tolerance_s`, same sign of delta P,
    closest in time first."""
    if not truth or not detected:
        return []
    tt = np.array([e.t for e in truth])
    td = np.array([e.t for e in detected])
    st = np.sign([e.delta_p_w for e in truth])
    sd = np.sign([e.delta_p_w for e in detected])
    order = np.argsort(td)
    td_sorted = td[order]
    pairs: list[tuple[float, int, int]] = []
    for i, t in enumerate(tt.tolist()):
        lo = int(np.searchsorted(td_sorted, t - tolerance_s - 1e-9, side="left"))
        hi = int(np.searchsorted(td_sorted, t + tolerance_s + 1e-9, side="right"))
        for k in order[lo:hi].tolist():
            if sd[k] == st[i]:
                pairs.append((abs(td[k] - t), i, k))
    pairs.sort()
    used_t: set[int] = set()
    used_d: set[int] = set()
    out: list[tuple[int, int]] = []
    for _, i, k in pairs:
        if i not in used_t and k not in used_d:
            used_t.add(i)
            used_d.add(k)
            out.append((i, k))
    return out


def event_score(
    truth: Sequence[LabelledEvent], detected: Sequence[LabelledEvent], tolerance_s: float
) -> tuple[Score, list[tuple[int, int]]]:
    """Detection score and the matched pairs."""
    pairs = match_events(truth, detected, tolerance_s)
    tp = len(pairs)
    return Score(tp, len(detected) - tp, len(truth) - tp), pairs


def identification_scores(
    truth: Sequence[LabelledEvent], detected: Sequence[LabelledEvent], pairs: Sequence[tuple[int, int]]
) -> tuple[dict[str, Score], float]:
    """Per-class scores of the labels of matched events and their macro-F1 (over true classes)."""
    classes = sorted({truth[i].label for i, _ in pairs})
    tp = dict.fromkeys(classes, 0)
    fp = dict.fromkeys(classes, 0)
    fn = dict.fromkeys(classes, 0)
    for i, k in pairs:
        a, b = truth[i].label, detected[k].label
        if a == b:
            tp[a] += 1
        else:
            fn[a] += 1
            if b in fp:
                fp[b] += 1
    per = {c: Score(tp[c], fp[c], fn[c]) for c in classes}
    macro = float(np.mean([s.f1 for s in per.values()])) if per else 0.0
    return per, macro


@dataclass(frozen=True, slots=True)
class ApplianceFigures:
    """Disaggregation figures of one appliance."""

    label: str
    mae_w: float
    on_f1: float
    true_wh: float
    estimated_wh: float


def disaggregation(
    labels: Sequence[str],
    truth_w: FloatArray,
    estimate_w: FloatArray,
    on_threshold_w: Sequence[float],
    dt_s: float = 1.0,
) -> tuple[list[ApplianceFigures], float]:
    """Per-appliance MAE and on/off F1 from (T, A) power series, and the fraction of total energy
    assigned correctly (Kolter & Johnson 2011)."""
    y = np.asarray(truth_w, dtype=np.float64)
    yh = np.asarray(estimate_w, dtype=np.float64)
    if y.shape != yh.shape or y.ndim != 2 or y.shape[1] != len(labels) or len(on_threshold_w) != len(labels):
        raise ValueError(
            f"disaggregation: expected (T, {len(labels)}) truth and estimate and {len(labels)} thresholds, "
            f"found {y.shape}, {yh.shape} and {len(on_threshold_w)}"
        )
    out: list[ApplianceFigures] = []
    for a, name in enumerate(labels):
        on_t = y[:, a] >= on_threshold_w[a]
        on_e = yh[:, a] >= on_threshold_w[a]
        tp = int((on_t & on_e).sum())
        sc = Score(tp, int((~on_t & on_e).sum()), int((on_t & ~on_e).sum()))
        out.append(
            ApplianceFigures(
                name,
                float(np.abs(yh[:, a] - y[:, a]).mean()) if y.shape[0] else 0.0,
                sc.f1,
                float(y[:, a].sum() * dt_s / 3600.0),
                float(yh[:, a].sum() * dt_s / 3600.0),
            )
        )
    total = float(np.abs(y).sum())
    accuracy = 1.0 - float(np.abs(yh - y).sum()) / (2.0 * total) if total > 0 else 0.0
    return out, accuracy
