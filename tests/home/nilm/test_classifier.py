"""The identifier: probabilities, online learning, unknown events, partial feature vectors."""

from __future__ import annotations

import numpy as np
import pytest

from gridedge.home.nilm.classifier import UNKNOWN, ApplianceClassifier
from gridedge.home.nilm.cycle import signature_from_cycle
from gridedge.home.nilm.features import extract_features
from gridedge.home.nilm.signature import EventSignature
from gridedge.home.nilm.synthetic import LoadKind, synthetic_cycle


def examples(kind: LoadKind, power: float, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        p = power * rng.uniform(0.95, 1.05)
        v, i = synthetic_cycle(
            kind, 64, power_w=p, start_deg=rng.uniform(0, 360), noise_a=0.01 * p / 230, rng=rng
        )
        out.append(extract_features(signature_from_cycle(v, i, points_per_cycle=64)).values)
    return out


def trained() -> ApplianceClassifier:
    x = examples(LoadKind.RESISTIVE, 2000, 8, 1) + examples(LoadKind.INDUCTIVE, 150, 8, 2)
    return ApplianceClassifier().fit(np.stack(x), ["kettle"] * 8 + ["fridge"] * 8)


def test_identifies_known_loads_with_probabilities_that_sum_to_one() -> None:
    clf = trained()
    for kind, power, name in ((LoadKind.RESISTIVE, 2000, "kettle"), (LoadKind.INDUCTIVE, 150, "fridge")):
        for x in examples(kind, power, 3, 9):
            scored = clf.predict_proba(x)
            assert scored[0].label == name and scored[0].confidence > 0.6
            assert sum(s.confidence for s in scored) == pytest.approx(1.0)
            assert [s.confidence for s in scored] == sorted((s.confidence for s in scored), reverse=True)
            assert {s.label for s in scored} == {"kettle", "fridge", UNKNOWN}


def test_a_load_unlike_anything_known_is_unknown() -> None:
    clf = trained()
    for x in examples(LoadKind.RECTIFIER, 60, 3, 5):
        assert clf.predict(x).label == UNKNOWN


def test_two_labelled_examples_of_a_new_appliance_teach_it() -> None:
    clf = trained()
    new = examples(LoadKind.RECTIFIER, 60, 3, 5)
    assert clf.predict(new[2]).label != "laptop"
    clf.add(new[0], "laptop")
    clf.add(new[1], "laptop")
    assert clf.predict(new[2]).label == "laptop"


def test_power_only_query_uses_the_power_columns() -> None:
    clf = trained()
    x = extract_features(EventSignature(t=0.0, phase=-1, delta_p_w=1980.0)).values
    assert clf.predict(x).label == "kettle"
    x = extract_features(EventSignature(t=0.0, phase=-1, delta_p_w=155.0)).values
    assert clf.predict(x).label == "fridge"


def test_empty_and_single_appliance_models() -> None:
    clf = ApplianceClassifier()
    x = examples(LoadKind.RESISTIVE, 2000, 3, 1)
    assert clf.predict(x[0]).label == UNKNOWN
    clf.add(x[0], "kettle")
    clf.add(x[1], "kettle")
    assert clf.predict(x[2]).label == "kettle"


def test_bad_labels_and_shapes_are_refused() -> None:
    clf = trained()
    x = examples(LoadKind.RESISTIVE, 2000, 1, 1)[0]
    with pytest.raises(ValueError, match="other than"):
        clf.add(x, UNKNOWN)
    with pytest.raises(ValueError, match="shape"):
        clf.add(x[:10], "kettle")
    with pytest.raises(ValueError, match="columns"):
        clf.predict_proba_many(np.zeros((1, 3)))
