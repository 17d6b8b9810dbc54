"""Waveform analytics benchmark: stream seconds analysed per wall-clock second, on one core.

Run: `python bench/analytics.py [--seconds 60] [--chunk-ms 10,100]`.

The stream is a three-phase household with neutral from the simulator (examples/scenarios/
belgian-family.toml, S1 at 4000 Hz per-second mode), synthesised before timing, then fed to
`gridedge.home.analytics.Analytics` in chunks of 10 ms and 100 ms (7 channels). A synthetic
2600 Hz stream (52 samples per cycle, 49.95 Hz) gives the figure for first-generation meters.
Goal (issue): >= 100x real time at 4000 Hz. Then the cost of each stage for 100 ms chunks.
Pin to one core with `taskset -c 0` for a strict one-core figure; BLAS is not used.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from gridedge.home.analytics import (
    Analytics,
    CycleAnalyser,
    FaultRecorder,
    NeutralCheck,
    SecondAggregator,
    VoltageEventDetector,
)
from gridedge.model.scenario import load_scenario
from gridedge.model.waveform import WaveformChunk
from gridedge.sim.build import build_site
from gridedge.sim.site import Metrology

ROOT = Path(__file__).resolve().parents[1]
FAMILY = ROOT / "examples" / "scenarios" / "belgian-family.toml"


def sim_stream(seconds: int) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    site = build_site(load_scenario(FAMILY), metrology=Metrology.WAVEFORM)
    v, i, n = [], [], []
    rate = 0.0
    for _ in range(seconds):
        s = site.step().samples
        assert s is not None
        rate = 1.0 / s.dt_s
        v.append(s.voltage_v)
        i.append(s.current_a)
        n.append(s.neutral_a)
    return rate, np.concatenate(v, axis=1), np.concatenate(i, axis=1), np.concatenate(n)


def synthetic_stream(seconds: int, rate: float, f: float) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    t = np.arange(round(seconds * rate)) / rate
    shift = np.array([0.0, -2 * math.pi / 3, 2 * math.pi / 3])[:, None]
    th = 2 * math.pi * f * t[None, :] + shift
    rng = np.random.default_rng(1)
    v = 325.0 * (np.sin(th) + 0.03 * np.sin(3 * th) + 0.02 * np.sin(5 * th)) + 0.05 * rng.standard_normal(
        th.shape
    )
    i = 14.0 * (np.sin(th - 0.4) + 0.3 * np.sin(3 * th - 1.0) + 0.1 * np.sin(5 * th))
    return rate, v, i, i.sum(axis=0)


def cut(rate: float, v: np.ndarray, i: np.ndarray, n: np.ndarray, chunk: int) -> list[WaveformChunk]:
    out = []
    for a in range(0, v.shape[1], chunk):
        b = min(v.shape[1], a + chunk)
        out.append(WaveformChunk(a, a / rate, rate, v[:, a:b], i[:, a:b], n[a:b], np.full(b - a, 50.0)))
    return out


def run_facade(chunks: list[WaveformChunk], batch_s: float) -> tuple[float, int]:
    an = Analytics("bench", batch_s=batch_s)
    start = time.perf_counter()
    cycles = 0
    for ch in chunks:
        cycles += an.feed(ch).cycles.cycles
    cycles += an.flush().cycles.cycles
    return time.perf_counter() - start, cycles


def stages(chunks: list[WaveformChunk]) -> dict[str, float]:
    cost = dict.fromkeys(("cycles", "seconds", "events", "neutral", "fault ring"), 0.0)
    ca, sa, ed, nc, fr = (
        CycleAnalyser(),
        SecondAggregator(),
        VoltageEventDetector(),
        NeutralCheck(),
        FaultRecorder("b"),
    )
    for ch in chunks:
        t0 = time.perf_counter()
        c = ca.feed(ch)
        t1 = time.perf_counter()
        sa.feed(c)
        t2 = time.perf_counter()
        ev = ed.feed(c)
        t3 = time.perf_counter()
        nc.feed(c)
        t4 = time.perf_counter()
        fr.feed(ch, c, ev.started)
        t5 = time.perf_counter()
        for key, dt in zip(cost, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            cost[key] += dt
    return cost


def report(name: str, rate: float, v: np.ndarray, i: np.ndarray, n: np.ndarray, chunk_ms: list[int]) -> None:
    secs = v.shape[1] / rate
    for ms, batch_s in [(ms, b) for ms in chunk_ms for b in (0.0, 0.1)]:
        label = f", batch_s={batch_s}"
        chunks = cut(rate, v, i, n, round(rate * ms / 1000))
        run_facade(chunks[: max(1, len(chunks) // 20)], batch_s)  # warm up
        wall, cycles = min(run_facade(chunks, batch_s) for _ in range(2))
        print(
            f"{name}, {ms:>3} ms chunks{label}: {secs:.0f} s of stream in {wall:.3f} s = "
            f"{secs / wall:7.1f}x real time ({cycles} cycles, {wall / cycles * 1e6:.1f} us per cycle)"
        )
    chunks = cut(rate, v, i, n, round(rate * 0.1))
    cost = stages(chunks)
    total = sum(cost.values())
    print("  per stage, 100 ms chunks (ms per stream second):")
    for key, dt in cost.items():
        print(f"    {key:<11} {dt / secs * 1e3:7.3f} ms  ({dt / total:5.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--chunk-ms", default="10,100")
    args = parser.parse_args()
    chunk_ms = [int(x) for x in args.chunk_ms.split(",")]
    t0 = time.perf_counter()
    rate, v, i, n = sim_stream(args.seconds)
    took = time.perf_counter() - t0
    print(
        f"simulated {args.seconds} s of the Belgian family at {rate:.0f} Hz in {took:.1f} s (not timed below)"
    )
    report(f"4000 Hz sim household, {v.shape[0] + i.shape[0] + 1} channels", rate, v, i, n, chunk_ms)
    rate, v, i, n = synthetic_stream(args.seconds, 2600.0, 49.95)
    report("2600 Hz synthetic (52 samples per period at 50 Hz)", rate, v, i, n, chunk_ms)


if __name__ == "__main__":
    main()
