"""Many virtual households at once: the street a head-end, a DSO service or a demo talks to.

`street(base, count)` derives `count` different homes from one scenario, seeded: annual use
spread log-normally around the base (residential use varies by a factor of about two either way),
a share of homes with PV, a battery, an EV or a heat pump, a Belgian-style meter ID each.
`Neighbourhood` steps them together with the cheap phasor metrology and P1 only. For more than
one core, `run_parallel` splits the street over worker processes, each building and stepping its
own share (a site holds numpy state and generators, which are cheaper to rebuild than to ship).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from gridedge.model.scenario import (
    BatteryConfig,
    EVConfig,
    HeatPumpConfig,
    PVConfig,
    Scenario,
)
from gridedge.sim.build import build_site
from gridedge.sim.site import Metrology, VirtualSite

PV_SHARE = 0.4
BATTERY_SHARE = 0.1
EV_SHARE = 0.2
HEAT_PUMP_SHARE = 0.15


def street(base: Scenario, count: int, *, seed: int = 1) -> list[Scenario]:
    """`count` homes derived from `base`; the same seed gives the same street."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, count]))
    homes: list[Scenario] = []
    for n in range(count):
        site = base.site.model_copy(update={"seed": int(rng.integers(1, 2**31)), "name": f"home {n + 1}"})
        kwh = float(base.household.annual_kwh * math.exp(rng.normal(0.0, 0.35)))
        household = base.household.model_copy(update={"annual_kwh": round(kwh, 1)})
        meter = base.meter.model_copy(update={"equipment_id": f"1SAG{9_000_000_000 + n:010d}", "s1": None})
        three = meter.phases == 3
        pv = (PVConfig(kwp=round(float(rng.uniform(3, 9)), 1), phases=(1, 2, 3) if three else (1,)),)
        update: dict[str, object] = {"site": site, "household": household, "meter": meter}
        update["pv"] = pv if rng.random() < PV_SHARE else ()
        update["battery"] = (BatteryConfig(),) if rng.random() < BATTERY_SHARE else ()
        update["ev"] = (EVConfig(phases=3 if three else 1),) if rng.random() < EV_SHARE else ()
        update["heat_pump"] = (HeatPumpConfig(phases=(1, 2, 3) if three else (1,)),) if (
            rng.random() < HEAT_PUMP_SHARE
        ) else ()  # fmt: skip
        homes.append(base.model_copy(update=update))
    return homes


class Neighbourhood:
    """Virtual sites stepped together, P1 telegrams only."""

    def __init__(self, scenarios: Sequence[Scenario], *, metrology: Metrology = Metrology.PHASOR) -> None:
        self.sites: list[VirtualSite] = [build_site(s, metrology=metrology, s1=False) for s in scenarios]

    def step(self) -> list[bytes | None]:
        """One second of every site: its telegram, or None while its meter is without power."""
        return [site.step().telegram for site in self.sites]


@dataclass(frozen=True, slots=True)
class ParallelRun:
    """What `run_parallel` measured."""

    households: int
    sim_seconds: int
    workers: int
    wall_s: float
    telegrams: int
    telegram_bytes: int

    @property
    def speed(self) -> float:
        """Simulated seconds per wall-clock second for the whole street."""
        return self.sim_seconds / self.wall_s


def _run_share(args: tuple[list[Scenario], int]) -> tuple[int, int, float]:
    scenarios, seconds = args
    hood = Neighbourhood(scenarios)
    start = time.perf_counter()
    count = size = 0
    for _ in range(seconds):
        for data in hood.step():
            if data is not None:
                count += 1
                size += len(data)
    return count, size, time.perf_counter() - start


def run_parallel(scenarios: Sequence[Scenario], seconds: int, workers: int | None = None) -> ParallelRun:
    """Step every scenario for `seconds` sim seconds on `workers` processes (default: all cores).

    Building the sites is not timed; the wall time is the slowest worker's stepping time.
    """
    workers = workers or os.cpu_count() or 1
    shares = [list(scenarios[i::workers]) for i in range(workers)]
    shares = [s for s in shares if s]
    if len(shares) == 1:
        results = [_run_share((shares[0], seconds))]
    else:
        with ProcessPoolExecutor(max_workers=len(shares)) as pool:
            results = list(pool.map(_run_share, [(s, seconds) for s in shares]))
    return ParallelRun(
        households=len(scenarios),
        sim_seconds=seconds,
        workers=len(shares),
        wall_s=max(r[2] for r in results),
        telegrams=sum(r[0] for r in results),
        telegram_bytes=sum(r[1] for r in results),
    )
