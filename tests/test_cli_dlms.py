"""`gridedge dlms read` as a user runs it: a capture of several push messages with garbage between
them, in clear and ciphered, decoded into readings as JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gridedge.ports.dlms.cipher import parse_hex_dump

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dlms" / "athombv_node-dsmr-parser"
EK = "0123456789abcdef0123456789abcdef"
AK = "ffeeddccbbaa99887766554433221100"


def dlms(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridedge", "dlms", "read", *map(str, args)], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def sample(name: str) -> bytes:
    return parse_hex_dump((CORPUS / f"dlms__{name}.txt").read_text())


def test_a_stream_of_pushes_with_garbage_between_them(tmp_path: Path) -> None:
    stream = (
        b"\x00\xff noise"
        + sample("aidon-example-1")
        + b"\x7e\x7e\x12"
        + sample("kamstrup-example-1")
        + sample("aidon-example-2-segmented")
    )
    capture = tmp_path / "han.bin"
    capture.write_bytes(stream)
    out = dlms("--file", capture, "--json")
    readings = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(readings) == 3, out.stderr
    assert readings[0]["power_import_w"] == 1362.0 and readings[0]["meter_id"] == "7359992890941742"
    assert readings[2]["power_import_w"] == 1122.0  # the three segments joined
    assert "3 messages" in out.stderr and "byte 0" in out.stderr  # the garbage is reported
    assert out.returncode == 1  # errors were reported (the garbage), but nothing decodable was lost


def test_ciphered_pushes_need_and_use_the_keys() -> None:
    path = CORPUS / "dlms__encrypted__aidon-example-2-with-aad.txt"
    out = dlms("--file", path, "--key", EK, "--auth-key", AK, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["power_import_w"] == 1122.0
    no_key = dlms("--file", path)
    assert no_key.returncode == 1 and "keys are needed" in no_key.stderr
    usage = dlms("--file", path, "--auth-key", AK)
    assert usage.returncode == 2 and "--auth-key needs --key" in usage.stderr
