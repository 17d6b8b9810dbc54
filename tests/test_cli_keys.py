"""`gridedge keys` (cli_keys): generate a key pair, show it, check a key ring; errors exit 2."""

from __future__ import annotations

import argparse
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridedge.bus.keyfile import load_keyring, load_public_key, load_signer
from gridedge.cli_keys import add_keys_parser


def keys(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gridedge")
    add_keys_parser(parser.add_subparsers())
    args = parser.parse_args(["keys", *argv])
    result: int = args.func(args)
    return result


def test_generate_writes_a_private_key_for_the_owner_only_and_a_ring_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = tmp_path / "dso.key", tmp_path / "dso.pub.pem"
    assert keys("generate", "--private", str(private), "--public", str(public), "--kid", "dso-2025") == 0
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    signer = load_signer(private)
    assert signer.kid == b"dso-2025" and load_public_key(public).public_key == signer.public_key
    entry = capsys.readouterr().out
    assert 'kid = "dso-2025"' in entry and 'source = "dso"' in entry
    # the printed entry is a working key ring (the public key path is absolute here)
    (tmp_path / "ring.toml").write_text(entry)
    (key,) = load_keyring(tmp_path / "ring.toml")
    assert key.kid == b"dso-2025" and key.valid_at(datetime.now(UTC))
    # never overwritten by accident
    assert keys("generate", "--private", str(private), "--public", str(public)) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


def test_generate_cose_public_key_and_default_kid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, public = tmp_path / "site.key", tmp_path / "site.cose"
    assert keys("generate", "--private", str(private), "--public", str(public), "--source", "site:home") == 0
    got = load_public_key(public)
    assert got.kid is not None and len(got.kid) == 8 and got.kid == load_signer(private).kid
    assert public.read_bytes()[:1] != b"-"  # CBOR, not PEM
    assert 'source = "site:home"' in capsys.readouterr().out
    assert keys("show", str(public)) == 0 and keys("show", str(private)) == 0
    shown = capsys.readouterr().out
    assert shown.count(f"kid: {got.kid.hex()}") == 2


def test_check_ring_lists_keys_or_names_the_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keys("generate", "--private", str(tmp_path / "a.key"), "--public", str(tmp_path / "a.pem")) == 0
    capsys.readouterr()
    ring = tmp_path / "ring.toml"
    ring.write_text("[[key]]\nsource = 'dso'\npublic_key_file = 'a.pem'\nnot_after = 2030-01-01T00:00:00Z\n")
    assert keys("check-ring", str(ring)) == 0
    assert "sources dso  valid - .. 2030-01-01T00:00:00+00:00" in capsys.readouterr().out
    ring.write_text("[[key]]\nsource = 'dso'\npublic_key_file = 'a.pem'\nnot_after = 'soon'\n")
    assert keys("check-ring", str(ring)) == 2
    assert "key #1, line 1: not_after: expected an RFC 3339 date-time" in capsys.readouterr().err
