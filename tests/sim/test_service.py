"""`gridedge sim meter` as a process: serves P1 over TCP and a pty that our own readers decode."""

from __future__ import annotations

import itertools
import os
import re
import socket
import subprocess
import sys
import time

from gridedge.ports.p1.decoder import decode
from gridedge.ports.p1.framer import TelegramFramer


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gridedge", "sim", "meter", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def _announced(proc: subprocess.Popen[str], what: str) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if line.startswith(what):
            return line.split(" on ", 1)[1].strip()
    proc.kill()
    raise AssertionError(f"{what} was never announced")


def _telegrams(chunks: list[bytes]) -> list[bytes]:
    framer = TelegramFramer()
    out: list[bytes] = []
    for c in chunks:
        for item in framer.feed(c):
            assert isinstance(item, bytes), item
            out.append(item)
    return out


def test_p1_over_tcp_every_telegram_decodes_with_a_valid_crc() -> None:
    proc = _start("--p1-tcp", "127.0.0.1:0", "--speed", "4", "--duration", "12", "--seed", "3")
    try:
        where = _announced(proc, "P1")
        host, port = re.fullmatch(r"tcp://(.+):(\d+)", where).groups()  # type: ignore[union-attr]
        chunks: list[bytes] = []
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.settimeout(10)
            while len(_telegrams(chunks)) < 5:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        telegrams = _telegrams(chunks)
        assert len(telegrams) >= 5
        readings = [decode(t) for t in telegrams]  # raises on a CRC or syntax error
        stamps = [r.timestamp for r in readings]
        for a, b in itertools.pairwise(stamps):
            assert a is not None and b is not None and (b - a).total_seconds() == 1
        assert all(r.header.startswith("FLU5") for r in readings)
    finally:
        proc.kill()
        proc.wait(10)


def test_p1_over_a_pty_opens_as_a_tty() -> None:
    proc = _start("--pty", "--profile", "nl", "--speed", "4", "--duration", "12")
    try:
        path = _announced(proc, "P1")
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
        try:
            assert os.isatty(fd)
            chunks: list[bytes] = []
            deadline = time.monotonic() + 20
            while len(_telegrams(chunks)) < 3 and time.monotonic() < deadline:
                chunks.append(os.read(fd, 65536))
        finally:
            os.close(fd)
        readings = [decode(t) for t in _telegrams(chunks)]
        assert len(readings) >= 3
        assert all(r.p1_version == "50" for r in readings)
    finally:
        proc.kill()
        proc.wait(10)


def test_usage_errors_are_explained() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gridedge", "sim", "meter", "--profile", "nl", "--s1-tcp", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "S1 is a Fluvius port" in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "gridedge", "sim", "meter"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "nothing to serve" in out.stderr
