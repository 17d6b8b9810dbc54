"""Virtual household benchmark: simulated seconds per wall-clock second.

Run: `python bench/sim.py [--seconds 600] [--households 1000] [--street-seconds 60] [--workers 1,2]`.

(a) One household with everything on (examples/scenarios/belgian-family.toml: three phases, PV,
    battery, EV, appliances, gas) with the S1 port at 4000 Hz poly-phase in per-second mode:
    waveform synthesis, sample-based metrology, 4000 S1 frames and one P1 telegram a second, all
    on one core. Goal (issue): >= 50x real time. A per-stage breakdown follows.
(b) 1,000 households of a street (`gridedge.sim.neighbourhood.street`) with P1 only and phasor
    metrology, one telegram per home per second, on 1 and on 2 worker processes. Building the
    sites is not timed; the first second, which imports pvlib and computes each day's sky, PV
    curves and usage schedules (once per sim day), is timed and shown apart. Goal: >= 10x real
    time, cores stated.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from gridedge.cli_progress import add_progress_flag, progress, progress_wanted
from gridedge.model.scenario import load_scenario
from gridedge.sim.build import build_site
from gridedge.sim.metrology import measure_phasors, measure_samples
from gridedge.sim.neighbourhood import run_parallel, street

ROOT = Path(__file__).resolve().parents[1]
FAMILY = ROOT / "examples" / "scenarios" / "belgian-family.toml"


def one_household(seconds: int, bar_on: bool = False) -> None:
    scenario = load_scenario(FAMILY)
    site = build_site(scenario)
    assert site.s1 and site.synth is not None
    site.step()  # warm caches (pvlib day, corpus profiles)
    frames = telegrams = 0
    with progress("(a) one household", total=seconds, unit="sim s", enabled=bar_on, proxy_stdout=True) as bar:
        start = time.perf_counter()
        for _ in range(seconds):
            sec = site.step()
            frames += len(sec.s1_frames or b"") // 45
            telegrams += sec.telegram is not None
            bar.advance()
        wall = time.perf_counter() - start
    print(f"(a) one household, S1 4000 Hz poly-phase + P1, {seconds} sim s on one core")
    print(f"    {wall:.2f} s wall: {seconds / wall:.0f}x real time (goal >= 50x)")
    print(f"    {frames} S1 frames ({frames / wall / 1e3:.0f} k frames/s), {telegrams} telegrams")

    # where a second goes
    site = build_site(scenario)
    site.step()
    hh = site.household
    n = min(seconds, 120)
    stages = dict.fromkeys(("household", "synth", "metrology", "truth", "meter+P1", "S1 frames"), 0.0)
    from gridedge.ports.s1.frame import to_counts
    from gridedge.sim.meter import telegram

    t = 1.0
    for _ in range(n):
        a = time.perf_counter()
        block = hh.step(t, t + 1)
        b = time.perf_counter()
        samples = site.synth.samples(block)
        c = time.perf_counter()
        m = measure_samples(samples)
        d = time.perf_counter()
        measure_phasors(block)
        e = time.perf_counter()
        reading = site.meter.update(m)
        if reading is not None:
            telegram(reading, scenario.meter.profile)
        f = time.perf_counter()
        assert site.s1_encoder is not None
        site.s1_encoder.encode(to_counts(samples.voltage_v, samples.current_a, samples.neutral_a), 50000)
        g = time.perf_counter()
        for key, dt in zip(stages, (b - a, c - b, d - c, e - d, f - e, g - f), strict=True):
            stages[key] += dt
        t += 1
    print("    per sim second: " + ", ".join(f"{k} {v / n * 1e3:.2f} ms" for k, v in stages.items()))


def neighbourhood(households: int, seconds: int, workers: list[int], bar_on: bool = False) -> None:
    base = load_scenario(FAMILY)
    homes = street(base, households, seed=1)
    print(f"(b) {households} households, P1 only, phasor metrology, {seconds} sim s")
    for w in workers:
        # the workers are other processes: a spinner with the elapsed time
        with progress(
            f"(b) {households} homes x {seconds} s on {w} worker(s)", enabled=bar_on, proxy_stdout=True
        ):
            run = run_parallel(homes, seconds, workers=w)
        per_home_us = run.wall_s * run.workers / (households * seconds) * 1e6
        print(
            f"    {run.workers} worker process(es): {run.wall_s:.2f} s wall, {run.speed:.1f}x real time"
            f" (goal >= 10x); {per_home_us:.0f} us per household-second per core;"
            f" {run.telegrams} telegrams, {run.telegram_bytes / run.telegrams:.0f} B each"
        )
        print(
            f"      first second (pvlib import, the day's sky, PV and schedules): {run.first_s:.2f} s;"
            f" counting it, {run.speed_with_first:.1f}x"
        )


def main() -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--street-seconds", type=int, default=60)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--skip-street", action="store_true", help="part (a) only")
    add_progress_flag(parser)
    args = parser.parse_args()
    bar_on = progress_wanted(args.no_progress)
    print(f"machine: {os.cpu_count()} cores")
    one_household(args.seconds, bar_on)
    if not args.skip_street:
        workers = [int(x) for x in args.workers.split(",")]
        neighbourhood(args.households, args.street_seconds, workers, bar_on)


if __name__ == "__main__":
    main()
