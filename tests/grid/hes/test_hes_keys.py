"""The head-end's per-meter key file: round trip, permissions, rotation, clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gridedge.grid.hes.keys import KeyFileError, MeterKeys


def test_save_and_load_round_trip_owner_only(tmp_path: Path) -> None:
    keys = MeterKeys()
    a = keys.provision("EAN1")
    b = keys.provision("EAN2")
    path = tmp_path / "keys.jsonl"
    keys.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = MeterKeys.load(path)
    assert again.get("EAN1") == a and again.get("EAN2") == b and len(again) == 2


def test_rotation_keeps_the_previous_key_until_ended() -> None:
    keys = MeterKeys()
    old = keys.provision("m")
    new = keys.rotate("m")
    assert keys.get("m") == new and keys.previous("m") == old
    keys.end_rotation("m")
    assert keys.previous("m") is None
    keys.revoke("m")
    assert "m" not in keys and keys.get("m") is None
    with pytest.raises(KeyError):
        keys.rotate("m")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "keys.jsonl:2: not JSON"),
        ('["m", "00"]', "keys.jsonl:2: expected an object, found list"),
        ('{"meter_id": "", "key": "00"}', "keys.jsonl:2: meter_id: expected a non-empty string"),
        ('{"meter_id": "m", "key": "abcd"}', "keys.jsonl:2: key: expected 32 hex digits, found 'abcd'"),
        ('{"meter_id": "m", "key": "' + "zz" * 16 + '"}', "key: expected 32 hex digits"),
    ],
)
def test_bad_lines_name_the_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "keys.jsonl"
    path.write_text('{"meter_id": "ok", "key": "' + "00" * 16 + '"}\n' + line + "\n")
    with pytest.raises(KeyFileError, match=message.replace("[", r"\[")):
        MeterKeys.load(path)
