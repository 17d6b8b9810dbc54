"""`gridedge sim meter --profile it` as a process: an Italian 2G meter whose Chain2Gate WebSocket and
Sinapsi Alfa Modbus map our own readers decode (shared/notes/meter-ports.md §D.2), and the usage
errors of the profile (an Italian meter has no P1 port)."""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import sys
import time

from gridedge.clock import RealClock
from gridedge.ports.chain2.alfa_reader import AlfaReader, AlfaSample
from gridedge.ports.chain2.chain2gate import Chain2Info, Frame, PowerStep, QuarterHour
from gridedge.ports.chain2.reader import Chain2GateReader


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


def test_chain2gate_frames_and_alfa_registers_of_the_italian_meter() -> None:
    proc = _start("--profile", "it", "--chain2gate", "127.0.0.1:0", "--alfa", "127.0.0.1:0",
                  "--speed", "300", "--duration", "1000", "--seed", "3", "--metrology", "phasor")  # fmt: skip
    try:
        url = _announced(proc, "Chain2Gate")
        alfa_at = _announced(proc, "Alfa")
        host, port = re.fullmatch(r"tcp://(.+):(\d+)", alfa_at).groups()  # type: ignore[union-attr]
        frames, samples = asyncio.run(_read(url, host, int(port)))
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
    assert isinstance(frames[0], Chain2Info)  # the device greets first
    steps = [f for f in frames if isinstance(f, PowerStep)]
    quarters = [f for f in frames if isinstance(f, QuarterHour)]
    assert steps and quarters, frames
    q = quarters[0]
    assert q.meter == "IT001E00000001" and q.tariff_band in (1, 2, 3)
    assert q.time.minute % 15 == 0 and q.time.second == 0
    assert abs(q.quarter_energy_wh * 4 - q.average_power_w) <= 4  # Wh in 15 min vs W, both rounded
    assert q.total_energy_wh >= 2_000_000  # the scenario's registers at start: 1000 + 1000 kWh
    for a, b in itertools.pairwise(steps):
        assert abs(b.instant_power_w - a.instant_power_w) >= 300  # a step is at least 300 W
    s = samples[-1]
    assert s.registers.tariff_band in (1, 2, 3) and s.registers.production_w is None
    assert s.reading.energy_import_kwh[0] >= 2000.0


async def _read(url: str, host: str, port: int) -> tuple[list[Frame], list[AlfaSample]]:
    stop = asyncio.Event()
    frames: list[Frame] = []
    samples: list[AlfaSample] = []

    async def chain2gate() -> None:
        async for frame in Chain2GateReader(url, RealClock(), backoff_initial_s=0.1).frames(stop):
            frames.append(frame)
            if sum(isinstance(f, QuarterHour) for f in frames) >= 1:
                return

    async def alfa() -> None:
        async for sample in AlfaReader(host, port, RealClock(), poll_s=0.1).samples(stop):
            samples.append(sample)
            if len(samples) >= 3:
                return

    async with asyncio.timeout(40):
        await asyncio.gather(chain2gate(), alfa())
    stop.set()
    return frames, samples


def test_usage_errors_of_the_italian_profile() -> None:
    for args, message in [
        (("--profile", "it", "--p1-tcp", "127.0.0.1:0"), "an Italian meter has no P1 or S1 port"),
        (("--profile", "it"), "nothing to serve: give --chain2gate or --alfa"),
        (("--chain2gate", "127.0.0.1:0"), "give --profile it"),
        (("--profile", "it", "--alfa", "127.0.0.1:0", "--contract-kw", "0"), "--contract-kw must be in"),
    ]:
        done = subprocess.run([sys.executable, "-m", "gridedge", "sim", "meter", *args], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
