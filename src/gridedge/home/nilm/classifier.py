"""Appliance identifier: labelled feature vectors in, (label, confidence) out, learning online.

Two parts, both refit from the stored examples in tens of milliseconds (a home has tens to a few
hundred labelled events), so "learning" one more example is: store it, refit lazily on the next
query (`bench/nilm_plaid.py` prints the fit and predict times):

* an extremely randomised trees ensemble (Geurts, Ernst & Wehenkel, Machine Learning 63 (2006) 3)
  gives the class probabilities: it copes with features on unrelated scales and with appliances
  whose on and off events look different (an incandescent lamp's cold-filament inrush);
* a nearest-neighbour distance in the standardised feature space, each feature weighted by its
  importance in the ensemble, decides whether the event is like anything known at all. The
  distance to the nearest example of a class is compared with that class's own spread (the
  median leave-one-out nearest-neighbour distance of its examples). The cut on that ratio is
  calibrated on the training set itself: the `novelty_quantile` (90 %) quantile of every
  example's own leave-one-out ratio, never below `novelty_ratio`; beyond it means "unknown"
  (open-set recognition; the ensemble alone would force every event into a class). A fixed cut
  suits one data set only: a household's appliances repeat far more tightly than PLAID's.

Features the query lacks (P1-only events: no waveform, no harmonics) are left out: the model is
built on the columns present in the query and in every example, and cached per column set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier

from gridedge.home.nilm.signature import FloatArray

ON_COLUMN = 0
"""Index of the on/off feature (`features.POWER_NAMES[0]`)."""
_FEW_DIMENSIONS = 6
"""Models on at most this many weighted features are power-only (P1) models."""
UNKNOWN = "unknown"
"""Label of an event unlike every known appliance (reserved: no appliance may be called this)."""


@dataclass(frozen=True, slots=True)
class Scored:
    """One label and its probability; the list for a query sums to 1 over known and unknown."""

    label: str
    confidence: float


@dataclass(frozen=True, slots=True)
class _SubsetModel:
    cols: np.ndarray
    mean: FloatArray
    scale: FloatArray
    """Overall spread of each feature: the trees' units."""
    u: FloatArray
    """The examples in novelty units: standardised, times the square root of the weights."""
    y: np.ndarray
    classes: tuple[str, ...]
    spread: FloatArray
    """Per class: median distance of an example to its nearest sibling."""
    trees: ExtraTreesClassifier | None
    root_weights: FloatArray
    cut: float
    """Distance over spread beyond which an event is more likely unknown than known."""


class ApplianceClassifier:
    """Extra-trees probabilities plus a distance-based unknown detector; see the module doc."""

    def __init__(
        self,
        *,
        n_trees: int = 100,
        seed: int = 0,
        novelty_ratio: float = 2.5,
        novelty_slope: float = 4.0,
        novelty_quantile: float = 0.9,
        novelty_margin: float = 1.0,
        min_spread: float = 0.1,
        spread_floor: float = 0.05,
        max_spread_factor: float = 2.0,
        min_feature_scale: float = 0.05,
        importance_share: float = 1.0,
    ) -> None:
        if n_trees < 1:
            raise ValueError(f"n_trees: expected >= 1, found {n_trees}")
        self.n_trees = n_trees
        self.seed = seed
        self.novelty_ratio = novelty_ratio
        self.novelty_slope = novelty_slope
        self.min_spread = min_spread
        self.max_spread_factor = max_spread_factor
        self.min_feature_scale = min_feature_scale
        self.novelty_quantile = novelty_quantile
        self.novelty_margin = novelty_margin
        self.spread_floor = spread_floor
        self.importance_share = importance_share
        self._x: list[FloatArray] = []
        self._y: list[str] = []
        self._models: dict[bytes, _SubsetModel] = {}

    # -- training data ---------------------------------------------------------------------
    @property
    def n_examples(self) -> int:
        return len(self._y)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted(set(self._y)))

    def fit(self, features: FloatArray, labels: Sequence[str]) -> ApplianceClassifier:
        """Replace all examples. `features` (n, d) with NaN where a feature is unavailable."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != len(labels):
            raise ValueError(f"features: expected shape (n={len(labels)}, d), found {x.shape}")
        self._x, self._y = [], []
        self._models.clear()
        for row, lab in zip(x, labels, strict=True):
            self.add(row, lab)
        return self

    def add(self, features: FloatArray, label: str) -> None:
        """One more labelled example; the models refit on the next query (cheap, see module doc)."""
        row = np.asarray(features, dtype=np.float64)
        if self._x and row.shape != self._x[0].shape:
            raise ValueError(f"features: expected shape {self._x[0].shape}, found {row.shape}")
        if not label or label == UNKNOWN:
            raise ValueError(f"label: expected a non-empty name other than {UNKNOWN!r}, found {label!r}")
        self._x.append(row)
        self._y.append(label)
        self._models.clear()

    def remove(self, label: str) -> None:
        keep = [k for k, lab in enumerate(self._y) if lab != label]
        self._x = [self._x[k] for k in keep]
        self._y = [self._y[k] for k in keep]
        self._models.clear()

    def relabel(self, old: str, new: str) -> None:
        self._y = [new if lab == old else lab for lab in self._y]
        self._models.clear()

    # -- models -----------------------------------------------------------------------------
    def _model(self, cols: np.ndarray) -> _SubsetModel:
        key = cols.tobytes()
        cached = self._models.get(key)
        if cached is not None:
            return cached
        x = np.stack(self._x)[:, cols]
        classes = tuple(sorted(set(self._y)))
        y = np.array([classes.index(lab) for lab in self._y])
        mean = x.mean(axis=0)
        # A floor on the spread: with two examples of an appliance, a feature that happened to
        # agree to 1e-8 must not make every later event of it look infinitely far away.
        scale = np.sqrt(x.var(axis=0) + self.min_feature_scale**2)
        z = (x - mean) / scale
        trees: ExtraTreesClassifier | None = None
        weights = np.full(cols.size, 1.0 / max(cols.size, 1))
        if len(classes) > 1:
            trees = ExtraTreesClassifier(
                n_estimators=self.n_trees, class_weight="balanced", random_state=self.seed, n_jobs=1
            ).fit(z, y)
            imp = np.asarray(trees.feature_importances_, dtype=np.float64)
            if np.sum(imp) > 0:
                a = self.importance_share
                weights = a * imp / np.sum(imp) + (1.0 - a) * weights
        # On/off is left out of the distance: an off event of an appliance learnt from its on
        # events is still that appliance (the trees use the column when both kinds are known).
        weights = np.where(cols == ON_COLUMN, 0.0, weights)
        u = z * np.sqrt(weights)
        d = _distances(u, u)
        np.fill_diagonal(d, np.inf)
        same = y[:, None] == y[None, :]
        nn_same = np.where(same, d, np.inf).min(axis=1)
        spread = np.full(len(classes), np.nan)
        for c in range(len(classes)):
            vals = nn_same[(y == c) & np.isfinite(nn_same)]
            if vals.size:
                spread[c] = float(np.median(vals))
        fallback = float(np.nanmedian(spread)) if np.any(np.isfinite(spread)) else 1.0
        # An appliance seen once has no spread of its own: it gets the household's median.
        spread = np.where(np.isfinite(spread), spread, fallback)
        # A class of scattered examples (e.g. near-noise events) must not swallow every novelty,
        # nor a class of identical examples reject its own next event.
        # In the few dimensions of a power-only (P1) model the nearest sibling is always close:
        # there an absolute floor keeps the next event of a known appliance known.
        floor = self.spread_floor if np.count_nonzero(weights) <= _FEW_DIMENSIONS else 1e-9
        lo = max(self.min_spread * fallback, floor)
        spread = np.clip(spread, lo, max(self.max_spread_factor * fallback, lo))
        # Calibration: the leave-one-out ratio of each training example (distance to its nearest
        # sibling over its class's spread); the cut is their `novelty_quantile` quantile, so the
        # threshold follows how tightly this household's (or data set's) appliances repeat.
        loo = nn_same / spread[y]
        loo = loo[np.isfinite(loo)]
        # With a handful of examples that quantile is itself noisy: never below `novelty_ratio`.
        cut = float(np.quantile(loo, self.novelty_quantile)) * self.novelty_margin if loo.size >= 4 else 0.0
        cut = max(cut, self.novelty_ratio)
        model = _SubsetModel(cols, mean, scale, u, y, classes, spread, trees, np.sqrt(weights), cut)
        self._models[key] = model
        return model

    def _columns(self, mask: np.ndarray) -> np.ndarray:
        common = np.all(np.isfinite(np.stack(self._x)), axis=0)
        return np.flatnonzero(mask & common)

    # -- queries ----------------------------------------------------------------------------
    def predict_proba(self, features: FloatArray) -> list[Scored]:
        """All labels (and `UNKNOWN`) with probabilities, best first."""
        return self.predict_proba_many(np.asarray(features, dtype=np.float64)[None, :])[0]

    def predict_proba_many(self, features: FloatArray) -> list[list[Scored]]:
        """`predict_proba` for each row; rows with the same available columns share one model."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features: expected a 2-D array, found shape {x.shape}")
        if not self._y:
            return [[Scored(UNKNOWN, 1.0)] for _ in range(x.shape[0])]
        if x.shape[1] != self._x[0].size:
            raise ValueError(f"features: expected {self._x[0].size} columns, found {x.shape[1]}")
        out: list[list[Scored]] = [[] for _ in range(x.shape[0])]
        masks = np.isfinite(x)
        groups: dict[bytes, list[int]] = {}
        for k in range(x.shape[0]):
            groups.setdefault(masks[k].tobytes(), []).append(k)
        for rows in groups.values():
            cols = self._columns(masks[rows[0]])
            if cols.size == 0:
                for k in rows:
                    out[k] = [Scored(UNKNOWN, 1.0)]
                continue
            model = self._model(cols)
            for k, scored in zip(rows, self._score(model, x[rows][:, cols]), strict=True):
                out[k] = scored
        return out

    def _score(self, m: _SubsetModel, x: FloatArray) -> list[list[Scored]]:
        d = _distances((x - m.mean) / m.scale * m.root_weights, m.u)
        ncls = len(m.classes)
        dc = np.stack([d[:, m.y == c].min(axis=1) for c in range(ncls)], axis=1)
        ratio = np.min(dc / m.spread[None, :], axis=1)
        log_excess = np.log(np.maximum(ratio, 1e-12)) - math.log(m.cut)
        unknown = 1.0 / (1.0 + np.exp(-self.novelty_slope * log_excess))
        if m.trees is not None:
            proba = np.zeros((x.shape[0], ncls))
            proba[:, np.asarray(m.trees.classes_, dtype=np.int64)] = m.trees.predict_proba(
                (x - m.mean) / m.scale
            )
        else:
            proba = np.ones((x.shape[0], 1))
        result: list[list[Scored]] = []
        for k in range(x.shape[0]):
            scored = [Scored(m.classes[c], float(proba[k, c] * (1.0 - unknown[k]))) for c in range(ncls)]
            scored.append(Scored(UNKNOWN, float(unknown[k])))
            scored.sort(key=lambda s: -s.confidence)
            result.append(scored)
        return result

    def predict(self, features: FloatArray) -> Scored:
        """The best label (possibly `UNKNOWN`) and its probability."""
        return self.predict_proba(features)[0]


def _distances(a: FloatArray, b: FloatArray) -> FloatArray:
    """(len(a), len(b)) Euclidean distances."""
    return np.asarray(np.sqrt(np.maximum(np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=2), 0.0)))
