"""PLAID (real switch events): corpus layout, and identification on one grouped split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold

from gridedge.home.nilm.classifier import UNKNOWN, ApplianceClassifier
from gridedge.home.nilm.features import feature_matrix
from gridedge.home.nilm.plaid import load_plaid, plaid_signatures

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "nilm" / "plaid_awrg_subset"


def test_corpus_layout_on_off_runs() -> None:
    assert CORPUS.is_dir(), f"shared corpus missing at {CORPUS}"
    ev = load_plaid(CORPUS)
    assert ev.voltage.shape == (250, 500) and len(set(ev.labels.tolist())) == 12
    for g in np.unique(ev.groups):
        members = np.flatnonzero(ev.groups == g)
        runs = ev.on[members].astype(int).tolist()
        assert len(set(ev.labels[members].tolist())) == 1
        assert runs == ([1, 1, 0] if ev.labels[members[0]] == 9 else [1, 0])
    assert ev.groups.max() + 1 == 120
    agg = np.load(CORPUS / "aggregated_labels_only.npy")
    assert agg.shape == (1478,) and set(agg.tolist()) == set(ev.labels.tolist())


def test_signatures_follow_the_on_off_sign_convention() -> None:
    ev = load_plaid(CORPUS)
    sigs = plaid_signatures(ev)
    assert all(s.is_on == bool(o) for s, o in zip(sigs, ev.on, strict=True))
    # record 32 (an on event) is stored with the current negated: the signature still draws power
    assert float(np.mean(ev.voltage[32] * ev.current[32])) < 0 < sigs[32].delta_p_w


def test_identification_on_one_grouped_split_at_full_and_s1_rate() -> None:
    for points in (500, 52):
        ev = load_plaid(CORPUS, points)
        x, _ = feature_matrix(plaid_signatures(ev))
        y = ev.labels.astype(str)
        train, test = next(StratifiedGroupKFold(5, shuffle=True, random_state=3).split(x, y, ev.groups))
        assert not set(ev.groups[train]) & set(ev.groups[test])
        out = ApplianceClassifier().fit(x[train], list(y[train])).predict_proba_many(x[test])
        pred = [next(s.label for s in r if s.label != UNKNOWN) for r in out]
        assert f1_score(y[test], pred, average="macro") >= 0.75  # chance is 1/12
