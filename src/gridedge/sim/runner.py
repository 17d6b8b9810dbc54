"""Pace a virtual site on a `Clock` and push its port output like real hardware.

The P1 port pushes one telegram at the start of every second (DSMR 5.0.2 §6: every second,
complete within that second). The S1 port sends every sample as its own frame within 10 ms of
sampling (e-MUCS H Ed. 1.3 §4.2.4), so a second of frames goes out in slices spread over the
second. `speed` runs faster than real time (sim seconds per clock second); on a `SimClock` the
whole run takes no wall time at all.

Deadlines are absolute (start + k / speed), so a slow second is caught up instead of drifting;
when the site cannot keep up, `RunStats.late_s` says by how much.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gridedge.clock import Clock
from gridedge.sim.site import SiteSecond, VirtualSite


class Publisher(Protocol):
    """Anything that sends bytes on: `TcpStreamServer`, `PtyStreamServer`."""

    def publish(self, data: bytes) -> None: ...


@dataclass(slots=True)
class RunStats:
    seconds: int = 0
    telegrams: int = 0
    s1_frames: int = 0
    late_s: float = 0.0
    """Largest lag behind the schedule seen, in clock seconds."""


async def run_site(
    site: VirtualSite,
    clock: Clock,
    *,
    p1: Sequence[Publisher] = (),
    s1: Sequence[Publisher] = (),
    speed: float = 1.0,
    seconds: int | None = None,
    s1_slices: int = 100,
    on_second: Callable[[SiteSecond], object] | None = None,
    stats: RunStats | None = None,
) -> RunStats:
    """Run `site` for `seconds` sim seconds (None: until cancelled), publishing its ports."""
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    stats = stats or RunStats()
    slices = max(1, s1_slices if speed <= 10 else max(1, s1_slices // 10))
    start = clock.monotonic()
    k = 0
    while seconds is None or k < seconds:
        second = site.step()
        if second.telegram is not None:
            for pub in p1:
                pub.publish(second.telegram)
            stats.telegrams += 1
        frames = second.s1_frames
        if frames is not None and s1:
            n = len(frames) // 45
            stats.s1_frames += n
            for j in range(slices):
                a = (n * j // slices) * 45
                b = (n * (j + 1) // slices) * 45
                if b > a:
                    for pub in s1:
                        pub.publish(frames[a:b])
                if j + 1 < slices:
                    await _sleep_until(clock, start + (k + (j + 1) / slices) / speed, stats)
        if on_second is not None:
            on_second(second)
        k += 1
        stats.seconds = k
        await _sleep_until(clock, start + k / speed, stats)
    return stats


async def _sleep_until(clock: Clock, deadline: float, stats: RunStats) -> None:
    delay = deadline - clock.monotonic()
    if delay > 0:
        await clock.sleep(delay)
    else:
        stats.late_s = max(stats.late_s, -delay)
