"""`gridedge s1 read` against the virtual meter's S1 port, as two processes over TCP."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gridedge.cli import main
from gridedge.ports.s1.frame import S1FrameEncoder, S1FrameInfo
from process_support import announced


def test_s1_read_prints_per_cycle_json_from_the_virtual_meter() -> None:
    meter = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "sim", "meter", "--s1-tcp", "127.0.0.1:0", "--duration", "30"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        where = announced(meter, "S1")
        host, port = re.fullmatch(r"tcp://(.+):(\d+)", where).groups()  # type: ignore[union-attr]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "gridedge",
                "s1",
                "read",
                "--tcp",
                f"{host}:{port}",
                "--json",
                "--limit",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        meter.kill()
        meter.wait(10)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 60
    for a, b in itertools.pairwise(rows):
        assert 0.0195 < b["t"] - a["t"] < 0.0205  # consecutive 50 Hz cycles
    for r in rows:
        assert 49.8 < r["frequency_hz"] < 50.2
        assert 207 < r["v_rms"][0] < 253  # EN 50160: 230 V +- 10 %
        assert r["i_rms"][0] >= 0 and r["p_w"][0] is not None
    assert "frames" in out.stderr and "0 FCS errors" in out.stderr


def test_s1_read_a_capture_file_with_a_corrupted_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    n = 4000
    k = np.arange(n)
    counts = np.zeros((n, 7), dtype=np.int32)
    counts[:, 0] = np.round(230 * np.sqrt(2) * np.sin(2 * np.pi * 50 * k / 4000) / 0.025)
    counts[:, 1] = np.round(4350 * np.sqrt(2) * np.sin(2 * np.pi * 50 * k / 4000))
    data = bytearray(S1FrameEncoder(S1FrameInfo("1FLU0000000009"), 40).encode(counts, 50_000))
    data[45 * 1000 + 30] ^= 1
    path = tmp_path / "s1.bin"
    path.write_bytes(bytes(data))
    assert main(["s1", "read", "--file", str(path), "--per", "cycle", "--json"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) >= 46  # 1 s is 50 cycles: less the first, the last and the one with the lost frame
    assert all(r["v_rms"][0] == pytest.approx(230, abs=0.2) for r in rows)
    assert all(r["p_w"][0] == pytest.approx(1000.5, rel=0.002) for r in rows)
    assert "byte 45000" in err and "1 FCS errors" in err and "1 frames lost" in err
