"""Appliance identification on PLAID: gridedge's identifier against a plain V-I image baseline.

Run: `python bench/nilm_plaid.py [--repeats 10]` (needs scikit-learn). Data: the 250 PLAID switch
events of the shared corpus (`corpus/nilm/plaid_awrg_subset`, layout in `gridedge.home.nilm.plaid`).

Protocol: stratified 5-fold cross-validation repeated `--repeats` times (seeds 0..), the events of
one activation (on..off run) always in the same fold (sklearn StratifiedGroupKFold). Train on four
folds, identify the fifth. Per-class F1, macro-F1 and accuracy as mean +- std over repeats.
Caveat: PLAID gives no instance ids here, so activations of the same physical appliance can fall
in different folds; the figures measure recognising a known appliance, not generalising to a new
one of the same type.

* gridedge: `ApplianceClassifier` on `features.extract_features` (closed set: the best known
  candidate; and open set: `unknown` counted as a miss).
* baseline: a binary 32x32 V-I image of the cycle (each cell the trajectory passes through is 1;
  voltage and current per unit of their peaks) -> random forest of 500 trees, the classic V-I image
  approach (Du et al., Energy and Buildings 2016; De Baets et al., Energy and Buildings 158 (2018)
  32, without the CNN). Published on PLAID: V-I image + CNN macro-F1 0.85; weighted recurrence
  graph + CNN 0.885 (Faustine & Pereira 2020/2021).

Both at the full 500 points per cycle and with every cycle first band-limited to 52 points (what
the S1 port gives at 2600 Hz on 50 Hz; here 52 points per 60 Hz cycle).
Then: open-set check (each class left out of training in turn: share of its events flagged
unknown, and share of known events flagged unknown) and timings.
Goal: gridedge macro-F1 >= 0.90.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedGroupKFold

from gridedge.home.nilm.classifier import UNKNOWN, ApplianceClassifier
from gridedge.home.nilm.features import feature_matrix
from gridedge.home.nilm.plaid import PlaidEvents, load_plaid, plaid_signatures

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "nilm" / "plaid_awrg_subset"


def vi_image(v: np.ndarray, i: np.ndarray, cells: int = 32) -> np.ndarray:
    """Binary V-I images (n, cells*cells); v, i (n, points)."""
    vn = v / np.max(np.abs(v), axis=1, keepdims=True)
    inn = i / np.maximum(np.max(np.abs(i), axis=1, keepdims=True), 1e-12)
    cx = np.clip(((vn + 1) * 0.5 * cells).astype(np.int64), 0, cells - 1)
    cy = np.clip(((inn + 1) * 0.5 * cells).astype(np.int64), 0, cells - 1)
    img = np.zeros((v.shape[0], cells * cells))
    rows = np.repeat(np.arange(v.shape[0]), v.shape[1])
    img[rows, (cy * cells + cx).ravel()] = 1.0
    return img


def ours(x: np.ndarray, ys: np.ndarray, train: np.ndarray, test: np.ndarray, open_set: bool) -> np.ndarray:
    clf = ApplianceClassifier().fit(x[train], list(ys[train]))
    out = clf.predict_proba_many(x[test])
    if open_set:
        return np.array([r[0].label for r in out])
    return np.array([next(s.label for s in r if s.label != UNKNOWN) for r in out])


def baseline(img: np.ndarray, ys: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    rf = RandomForestClassifier(n_estimators=500, random_state=0, n_jobs=-1).fit(img[train], ys[train])
    return np.asarray(rf.predict(img[test]))


def cross_validate(
    name: str, predict: Callable[[np.ndarray, np.ndarray], np.ndarray], ev: PlaidEvents, repeats: int
) -> float:
    ys = ev.labels.astype(str)
    classes = sorted(set(ys), key=int)
    macro, acc, per_class = [], [], []
    for r in range(repeats):
        pred = np.empty(ys.size, dtype=object)
        folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=r)
        for train, test in folds.split(ys, ys, ev.groups):
            pred[test] = predict(train, test)
        pred = pred.astype(str)
        macro.append(f1_score(ys, pred, labels=classes, average="macro", zero_division=0))
        acc.append(accuracy_score(ys, pred))
        per_class.append(f1_score(ys, pred, labels=classes, average=None, zero_division=0))
    pc = np.mean(per_class, axis=0)
    sd = statistics.pstdev(macro) if len(macro) > 1 else 0.0
    print(f"  {name:<34} macro-F1 {np.mean(macro):.3f} +- {sd:.3f}   accuracy {np.mean(acc):.3f}")
    print("    per-class F1: " + "  ".join(f"{c}:{f:.2f}" for c, f in zip(classes, pc, strict=True)))
    return float(np.mean(macro))


def run_rate(points: int, repeats: int) -> None:
    ev = load_plaid(CORPUS, points)
    sigs = plaid_signatures(ev)
    x, _ = feature_matrix(sigs)
    ys = ev.labels.astype(str)
    # The baseline sees the same cycles, on the 64-point grid of the signatures and at source rate.
    raw_img = vi_image(ev.voltage, ev.current)
    runs = ev.groups.max() + 1
    print(f"\n{points} points per cycle ({len(sigs)} events, {len(set(ys))} classes, {runs} runs)")
    cross_validate("gridedge identifier (closed set)", lambda tr, te: ours(x, ys, tr, te, False), ev, repeats)
    cross_validate("gridedge identifier (open set)", lambda tr, te: ours(x, ys, tr, te, True), ev, repeats)
    cross_validate("baseline 32x32 V-I image + RF", lambda tr, te: baseline(raw_img, ys, tr, te), ev, repeats)


def open_set(points: int) -> None:
    ev = load_plaid(CORPUS, points)
    x, _ = feature_matrix(plaid_signatures(ev))
    ys = ev.labels.astype(str)
    flagged = []
    for c in sorted(set(ys), key=int):
        known = ys != c
        out = ApplianceClassifier().fit(x[known], list(ys[known])).predict_proba_many(x[~known])
        flagged.append(np.mean([r[0].label == UNKNOWN for r in out]))
    false_unknown = []
    for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(ys, ys, ev.groups):
        out = ApplianceClassifier().fit(x[train], list(ys[train])).predict_proba_many(x[test])
        false_unknown += [r[0].label == UNKNOWN for r in out]
    print(
        f"\nopen set ({points} points): a class left out of training is flagged unknown for "
        f"{np.mean(flagged):.0%} of its events (per class {min(flagged):.0%}..{max(flagged):.0%}); "
        f"known events flagged unknown: {np.mean(false_unknown):.1%}"
    )


def timings() -> None:
    ev = load_plaid(CORPUS)
    t0 = time.perf_counter()
    sigs = plaid_signatures(ev)
    t1 = time.perf_counter()
    x, _ = feature_matrix(sigs)
    t2 = time.perf_counter()
    ys = list(ev.labels.astype(str))
    fits, preds, batch, adds = [], [], [], []
    for _ in range(5):
        clf = ApplianceClassifier()
        a = time.perf_counter()
        clf.fit(x[:-1], ys[:-1])
        clf.predict_proba(x[-1])  # the lazy model build is part of fitting
        b = time.perf_counter()
        for k in range(20):
            clf.predict_proba(x[k])
        c = time.perf_counter()
        clf.predict_proba_many(x)
        d = time.perf_counter()
        clf.add(x[-1], ys[-1])
        clf.predict_proba(x[0])
        e = time.perf_counter()
        fits.append(b - a)
        preds.append((c - b) / 20)
        batch.append((d - c) / len(ys))
        adds.append(e - d)
    n = len(ys)
    print(f"\ntimings (median of 5, one core, {n - 1} training events, {x.shape[1]} features):")
    print(f"  signature from a 500-point cycle  {(t1 - t0) / n * 1e3:.3f} ms/event")
    print(f"  feature vector                    {(t2 - t1) / n * 1e3:.3f} ms/event")
    print(f"  fit (100 extra trees + distances) {statistics.median(fits) * 1e3:.1f} ms")
    print(f"  identify one event                {statistics.median(preds) * 1e3:.2f} ms")
    print(f"  identify in a batch of {n}       {statistics.median(batch) * 1e3:.3f} ms/event")
    print(f"  label one more event + next query {statistics.median(adds) * 1e3:.1f} ms (refit)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"corpus not found at {CORPUS}")
    for points in (500, 52):
        run_rate(points, args.repeats)
    open_set(500)
    open_set(52)
    timings()


if __name__ == "__main__":
    main()
