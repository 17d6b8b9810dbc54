"""Pacing on a Clock: one telegram at the start of each second, S1 frames spread over the second."""

from __future__ import annotations

import itertools
from pathlib import Path

from gridedge.clock import SimClock
from gridedge.model.scenario import load_scenario
from gridedge.sim.build import build_site
from gridedge.sim.runner import run_site

FAMILY = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "belgian-family.toml"


class Recorder:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.chunks: list[tuple[float, bytes]] = []

    def publish(self, data: bytes) -> None:
        self.chunks.append((self.clock.monotonic(), data))


def test_ports_are_paced_in_simulated_time() -> None:
    clock = SimClock()
    site = build_site(load_scenario(FAMILY))
    p1, s1 = Recorder(clock), Recorder(clock)
    stats = clock.run(run_site(site, clock, p1=[p1], s1=[s1], speed=2.0, seconds=6, s1_slices=100))
    assert stats.seconds == 6 and stats.telegrams == 6
    assert stats.s1_frames == 6 * 4000
    assert [round(t, 6) for t, _ in p1.chunks] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]  # speed 2
    times = [t for t, _ in s1.chunks]
    assert len(times) == 600
    assert max(b - a for a, b in itertools.pairwise(times)) <= 0.005 + 1e-9  # 10 ms of sim time
    assert b"".join(d for _, d in s1.chunks)[:5] == bytes.fromhex("7e802bff03")
    assert sum(len(d) for _, d in s1.chunks) == 6 * 4000 * 45
