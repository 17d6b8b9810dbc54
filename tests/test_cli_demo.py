"""`gridedge demo` as a process: usage errors, the start-up lines, and a clean stop on SIGINT or
SIGTERM that leaves no temporary directory behind (the browser tests drive the dashboard itself,
tests/test_demo_browser.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

GRIDEDGE = [sys.executable, "-m", "gridedge"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--speed", "0"], "--speed must be positive"),
        (["--homes", "0"], "--homes must be between 1 and 500"),
        (["--start", "yesterday"], "--start: expected an ISO time"),
        (["--start", "2026-04-15T18:00"], "--start needs a UTC offset"),
        (["--port", "70000"], "--port must be 0..65535"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], said: str) -> None:
    r = subprocess.run([*GRIDEDGE, "demo", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and said in r.stderr, r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_demo_cleanly_and_removes_its_files(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [*GRIDEDGE, "demo", "--homes", "1", "--port", "0", "--no-story"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C stops" in line:
            break
    assert any(line.startswith("dashboard: http://127.0.0.1:") for line in lines), lines
    assert sum(" password " in line for line in lines) == 3, lines
    assert list(tmp_path.glob("gridedge-demo-*")), "the demo keeps its SQLite files in a temporary directory"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert not list(tmp_path.glob("gridedge-demo-*")), "the temporary directory is left behind"


def test_without_the_corpus_the_demo_names_the_missing_file(tmp_path: Path) -> None:
    env = {**os.environ, "GRIDEDGE_CORPUS": str(tmp_path / "nowhere")}
    r = subprocess.run([*GRIDEDGE, "demo", "--port", "0", "--duration", "5"], capture_output=True, text=True,
                       timeout=90, env=env)  # fmt: skip
    assert r.returncode == 1, r.stderr[-2000:]
    assert "gridedge demo: corpus file" in r.stderr and "GRIDEDGE_CORPUS" in r.stderr
    assert "Traceback" not in r.stderr
