"""Failsafe values persist across restarts (LPC-TS-044), atomically, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridedge.home.cem.failsafe_store import FORMAT, FailsafeStore, FailsafeStoreError
from gridedge.model.limits import Direction, FailsafeValues


def test_missing_file_is_first_start(tmp_path: Path) -> None:
    assert FailsafeStore(tmp_path / "lpc.json").load(Direction.CONSUMPTION) is None


def test_save_then_load_round_trip_and_no_temp_files_left(tmp_path: Path) -> None:
    store = FailsafeStore(tmp_path / "state" / "lpc.json")
    v = FailsafeValues(5100, 3 * 3600.0, Direction.CONSUMPTION)
    store.save(v)
    store.save(FailsafeValues(5200, 4 * 3600.0))  # overwrite in place
    assert store.load(Direction.CONSUMPTION) == FailsafeValues(5200, 4 * 3600.0)
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["lpc.json"]
    doc = json.loads((tmp_path / "state" / "lpc.json").read_text())
    assert doc["format"] == FORMAT and doc["direction"] == "consumption"


def test_not_json_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "lpc.json"
    path.write_text('{"format": "gridedge.failsafe/1", "limit_w": 42')
    with pytest.raises(FailsafeStoreError) as ei:
        FailsafeStore(path).load(Direction.CONSUMPTION)
    msg = str(ei.value)
    assert str(path) in msg and "line 1" in msg


def test_out_of_range_field_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "lpc.json"
    doc = {"format": FORMAT, "direction": "consumption", "limit_w": 4200, "duration_min_s": 60}
    path.write_text(json.dumps(doc))
    with pytest.raises(FailsafeStoreError) as ei:
        FailsafeStore(path).load(Direction.CONSUMPTION)
    assert ei.value.field == "duration_min_s"
    assert str(path) in str(ei.value) and "found 60" in str(ei.value)


def test_missing_field_and_wrong_direction(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"format": FORMAT, "direction": "consumption", "duration_min_s": 7200}))
    with pytest.raises(FailsafeStoreError, match="'limit_w'"):
        FailsafeStore(path).load(Direction.CONSUMPTION)
    FailsafeStore(path).save(FailsafeValues(4200, 7200, Direction.CONSUMPTION))
    with pytest.raises(FailsafeStoreError, match="'direction': expected 'production'"):
        FailsafeStore(path).load(Direction.PRODUCTION)
    path.write_text("[]")
    with pytest.raises(FailsafeStoreError, match="expected a JSON object, found 'list'"):
        FailsafeStore(path).load(Direction.CONSUMPTION)
