"""Many virtual households at once: the street a head-end, a DSO service or a demo talks to.

`street(base, count)` derives `count` different homes from one scenario, seeded: annual use
spread log-normally around the base (residential use varies by a factor of about two either way),
a share of homes with PV, a battery, an EV or a heat pump, a Belgian-style meter ID each. The
homes share one sky: the base's cloud seed (its site seed unless set), so a cloud passing over
the street dims every PV system on it in the same minute, as it does over a real feeder.
`Neighbourhood` steps them together with the cheap phasor metrology and P1 only. For more than
one core, `run_parallel` splits the street over worker processes, each building and stepping its
own share (a site holds numpy state and generators, which are cheaper to rebuild than to ship).
"""

from __future__ import annotations

import gc
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
from gridedge.sim.household import CycleBlock, SteadySecond, steady_blocks
from gridedge.sim.metrology import measure_phasors_many
from gridedge.sim.site import Metrology, SiteSecond, VirtualSite

PV_SHARE = 0.4
BATTERY_SHARE = 0.1
EV_SHARE = 0.2
HEAT_PUMP_SHARE = 0.15


def street(base: Scenario, count: int, *, seed: int = 1) -> list[Scenario]:
    """`count` homes derived from `base`; the same seed gives the same street."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, count]))
    homes: list[Scenario] = []
    sky = base.weather.cloud_seed if base.weather.cloud_seed is not None else base.site.seed
    weather = base.weather.model_copy(update={"cloud_seed": sky})
    for n in range(count):
        site = base.site.model_copy(update={"seed": int(rng.integers(1, 2**31)), "name": f"home {n + 1}"})
        kwh = float(base.household.annual_kwh * math.exp(rng.normal(0.0, 0.35)))
        household = base.household.model_copy(update={"annual_kwh": round(kwh, 1)})
        meter = base.meter.model_copy(update={"equipment_id": f"1SAG{9_000_000_000 + n:010d}", "s1": None})
        three = meter.phases == 3
        pv = (PVConfig(kwp=round(float(rng.uniform(3, 9)), 1), phases=(1, 2, 3) if three else (1,)),)
        update: dict[str, object] = {"site": site, "household": household, "meter": meter, "weather": weather}
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

    def step(self) -> list[SiteSecond]:
        """One second of every site. The steady seconds of all homes (most of them, most of the
        time) are computed and measured together (`steady_blocks`, `measure_phasors_many`)."""
        pending = [site.begin() for site in self.sites]
        steady = iter(steady_blocks([p for p in pending if isinstance(p, SteadySecond)]))
        blocks = [p if isinstance(p, CycleBlock) else next(steady) for p in pending]
        truths = measure_phasors_many(blocks)
        return [site.finish(b, m) for site, b, m in zip(self.sites, blocks, truths, strict=True)]

    def telegrams(self) -> list[bytes | None]:
        """One second of every site: its telegram, or None while its meter is without power."""
        return [second.telegram for second in self.step()]


@dataclass(frozen=True, slots=True)
class ParallelRun:
    """What `run_parallel` measured."""

    households: int
    sim_seconds: int
    """Seconds timed in `wall_s`, after the first."""
    workers: int
    wall_s: float
    """Wall time of the slowest worker over `sim_seconds`."""
    first_s: float
    """Wall time of the slowest worker's first second: it imports pvlib and computes the day's sky,
    PV curves and usage schedules, work that recurs once per sim day."""
    telegrams: int
    telegram_bytes: int

    @property
    def speed(self) -> float:
        """Simulated seconds per wall-clock second for the whole street, after the first second."""
        return self.sim_seconds / self.wall_s

    @property
    def speed_with_first(self) -> float:
        """The same, counting the first second and its day setup."""
        return (self.sim_seconds + 1) / (self.wall_s + self.first_s)


def freeze_heap() -> None:
    """Exempt everything alive now from the cyclic garbage collector (`gc.freeze`).

    A street of 1,000 homes holds millions of long-lived objects (load models, meter registers,
    caches); every full collection walks them all. That cost about 27 µs per home-second on a
    1,000-home street, a fifth of the step, and grows with the street: the reason a big street
    cost more per home than a small one. Call it once the sites are built, in a process that
    runs a street.
    """
    gc.collect()
    gc.freeze()


def _run_share(args: tuple[list[Scenario], int]) -> tuple[int, int, float, float]:
    scenarios, seconds = args
    hood = Neighbourhood(scenarios)
    freeze_heap()
    start = time.perf_counter()
    count = size = 0
    for data in hood.telegrams():
        if data is not None:
            count += 1
            size += len(data)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(seconds):
        for data in hood.telegrams():
            if data is not None:
                count += 1
                size += len(data)
    return count, size, first, time.perf_counter() - start


def run_parallel(scenarios: Sequence[Scenario], seconds: int, workers: int | None = None) -> ParallelRun:
    """Step every scenario for 1 + `seconds` sim seconds on `workers` processes (default: all cores).

    Building the sites is not timed; the first second is timed apart (`ParallelRun.first_s`).
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
        wall_s=max(r[3] for r in results),
        first_s=max(r[2] for r in results),
        telegrams=sum(r[0] for r in results),
        telegram_bytes=sum(r[1] for r in results),
    )
