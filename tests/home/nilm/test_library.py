"""The appliance library: identify, label online, rename/forget, persistence and corrupt files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gridedge.home.nilm.classifier import UNKNOWN
from gridedge.home.nilm.cycle import signature_from_cycle
from gridedge.home.nilm.library import ApplianceLibrary, Candidate, LibraryFileError
from gridedge.home.nilm.signature import EventSignature
from gridedge.home.nilm.synthetic import LoadKind, synthetic_cycle


def sigs(kind: LoadKind, power: float, n: int, seed: int, *, on: bool = True) -> list[EventSignature]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        p = power * rng.uniform(0.95, 1.05)
        v, i = synthetic_cycle(
            kind, 52, power_w=p, start_deg=rng.uniform(0, 360), noise_a=0.01 * p / 230, rng=rng
        )
        out.append(signature_from_cycle(v, i, points_per_cycle=52, t=float(k), phase=1, is_on=on))
    return out


def p1(power: float, t: float = 0.0) -> EventSignature:
    return EventSignature(t=t, phase=-1, delta_p_w=power)


def home(path: Path | None = None) -> ApplianceLibrary:
    lib = ApplianceLibrary(path)
    for s in sigs(LoadKind.RESISTIVE, 2000, 6, 1):
        lib.label(s, "kettle")
    for s in sigs(LoadKind.INDUCTIVE, 150, 6, 2):
        lib.label(s, "fridge")
    return lib


def test_identify_ranks_candidates() -> None:
    lib = home()
    cands = lib.identify(sigs(LoadKind.RESISTIVE, 2000, 1, 7)[0])
    assert isinstance(cands[0], Candidate) and cands[0].label == "kettle" and not cands[0].is_unknown
    assert sum(c.confidence for c in cands) == pytest.approx(1.0)
    off = sigs(LoadKind.INDUCTIVE, 150, 1, 8, on=False)[0]
    assert lib.identify(off)[0].label == "fridge"


def test_online_learning_of_a_new_appliance() -> None:
    lib = home()
    laptop = sigs(LoadKind.RECTIFIER, 60, 3, 3)
    assert lib.identify(laptop[2])[0].label == UNKNOWN
    lib.label(laptop[0], "laptop")
    lib.label(laptop[1], "laptop")
    assert lib.identify(laptop[2])[0].label == "laptop"


def test_power_only_signatures_are_identified_by_delta_p() -> None:
    lib = ApplianceLibrary()
    for name, power in (("lamp", 60.0), ("tv", 300.0), ("kettle", 2000.0), ("oven", 3500.0)):
        for k in range(3):
            lib.label(p1(power * (1 + 0.02 * (k - 1))), name)
    assert [lib.identify(p1(w))[0].label for w in (62.0, 290.0, 2050.0, 3400.0)] == [
        "lamp",
        "tv",
        "kettle",
        "oven",
    ]
    assert lib.identify(p1(-2010.0))[0].label == "kettle"  # switched off: learnt from on events only
    assert lib.typical_power_w("tv") == pytest.approx(300.0)


def test_power_only_event_against_a_waveform_library() -> None:
    lib = home()
    assert lib.identify(p1(1990.0))[0].label == "kettle"
    assert lib.identify(p1(-148.0))[0].label == "fridge"


def test_rename_forget_and_typical_power() -> None:
    lib = home()
    assert lib.typical_power_w("kettle") == pytest.approx(2000.0, rel=0.05)
    lib.rename("kettle", "water kettle")
    assert lib.names == ("fridge", "water kettle")
    assert lib.identify(sigs(LoadKind.RESISTIVE, 2000, 1, 7)[0])[0].label == "water kettle"
    lib.forget("fridge")
    assert [a.name for a in lib.appliances()] == ["water kettle"]
    with pytest.raises(KeyError, match="fridge"):
        lib.examples("fridge")
    with pytest.raises(ValueError, match="reserved"):
        lib.label(p1(100.0), UNKNOWN)
    with pytest.raises(ValueError, match="non-empty"):
        lib.label(p1(100.0), "  ")


def test_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "appliances.json"
    lib = home(path)
    lib.label(p1(-800.0), "heater")
    again = ApplianceLibrary.open(path)
    assert again.names == lib.names
    for name in lib.names:
        for a, b in zip(lib.examples(name), again.examples(name), strict=True):
            assert a.delta_p_w == b.delta_p_w and a.phase == b.phase and a.t == b.t
            for field in ("voltage", "current", "harmonics"):
                x, y = getattr(a, field), getattr(b, field)
                assert (x is None and y is None) or np.array_equal(x, y)
    probe = sigs(LoadKind.INDUCTIVE, 150, 1, 11)[0]
    assert again.identify(probe) == lib.identify(probe)
    assert [p.name for p in tmp_path.iterdir()] == ["appliances.json"]  # no temp file left


def test_missing_file_starts_an_empty_library(tmp_path: Path) -> None:
    lib = ApplianceLibrary.open(tmp_path / "new.json")
    assert lib.names == ()
    assert lib.identify(p1(100.0))[0].label == UNKNOWN


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda text: text[: len(text) // 2], "(file)"),
        (lambda text: text.replace('"version":1', '"version":99'), "version"),
        (lambda text: text.replace('"voltage":[', '"voltage":[1.0,', 1), "appliances[0].examples[0].voltage"),
        (lambda text: text.replace('"phase":1', '"phase":"L2"', 1), "appliances[0].examples[0].phase"),
        (lambda text: text.replace('"name":"fridge"', '"name":"kettle"'), "appliances[1].name"),
    ],
)
def test_corrupt_file_is_reported_and_left_untouched(tmp_path: Path, mutate: object, field: str) -> None:
    path = tmp_path / "appliances.json"
    home(path)
    bad = mutate(path.read_text())  # type: ignore[operator]
    path.write_text(bad)
    with pytest.raises(LibraryFileError) as err:
        ApplianceLibrary.open(path)
    assert str(path) in str(err.value) and field in str(err.value)
    assert err.value.field == field
    assert path.read_text() == bad


def test_file_is_json_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    home(path)
    doc = json.loads(path.read_text())
    assert doc["schema"] == "gridedge.nilm.appliance-library" and doc["version"] == 1
    assert [a["name"] for a in doc["appliances"]] == ["kettle", "fridge"]
