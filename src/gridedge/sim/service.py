"""`gridedge sim meter`: a virtual meter serving its ports until stopped.

Builds the site from the scenario (or the default household), opens the requested TCP servers
and pseudo-terminals, prints where they are, and paces the site on the real clock at `speed`.
Ctrl-C or `--duration` stops it; the servers close cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

from gridedge.clock import RealClock
from gridedge.model.scenario import MeterProfile, S1Config, Scenario, load_scenario
from gridedge.ports.p1.readers.tcp import parse_host_port
from gridedge.sim.build import build_site
from gridedge.sim.runner import Publisher, RunStats, run_site
from gridedge.sim.serve import PtyStreamServer, TcpStreamServer
from gridedge.sim.site import Metrology


@dataclass(frozen=True, slots=True)
class SimMeterOptions:
    scenario: Scenario
    p1_tcp: tuple[str, int] | None
    s1_tcp: tuple[str, int] | None
    pty: bool
    speed: float
    duration_s: float | None
    metrology: Metrology

    @staticmethod
    def from_args(args: argparse.Namespace) -> SimMeterOptions:
        """Validate the command line; ValueError says which option is wrong and why."""
        scenario = load_scenario(Path(args.scenario)) if args.scenario else Scenario()
        meter = scenario.meter
        site = scenario.site
        if args.profile is not None:
            meter = meter.model_copy(update={"profile": MeterProfile(args.profile)})
        if args.seed is not None:
            site = site.model_copy(update={"seed": args.seed})
        wants_s1 = args.s1_tcp is not None or (args.pty and meter.s1 is not None)
        if wants_s1 and meter.profile is not MeterProfile.BE:
            raise ValueError(f"S1 is a Fluvius port (profile be); the meter profile is {meter.profile.value}")
        if args.s1_tcp is not None and meter.s1 is None:
            meter = meter.model_copy(update={"s1": S1Config()})
        scenario = scenario.model_copy(update={"meter": meter, "site": site})
        if not (args.p1_tcp or args.s1_tcp or args.pty):
            raise ValueError("nothing to serve: give --p1-tcp, --s1-tcp or --pty")
        if not args.speed > 0:
            raise ValueError(f"--speed must be positive, got {args.speed}")
        if args.duration is not None and not args.duration > 0:
            raise ValueError(f"--duration must be positive, got {args.duration}")
        return SimMeterOptions(
            scenario=scenario,
            p1_tcp=_listen_address(args.p1_tcp) if args.p1_tcp else None,
            s1_tcp=_listen_address(args.s1_tcp) if args.s1_tcp else None,
            pty=bool(args.pty),
            speed=float(args.speed),
            duration_s=args.duration,
            metrology=Metrology(args.metrology),
        )


def _listen_address(text: str) -> tuple[str, int]:
    """HOST:PORT to listen on; port 0 picks a free port (printed at start)."""
    if text.endswith(":0"):
        host, _ = parse_host_port(text[:-1] + "1")
        return host, 0
    return parse_host_port(text)


def run_sim_meter(options: SimMeterOptions) -> int:
    """Serve until the duration is over or Ctrl-C; exit status 0."""
    try:
        stats = asyncio.run(_serve(options))
    except KeyboardInterrupt:
        return 130
    print(
        f"served {stats.seconds} s: {stats.telegrams} telegrams, {stats.s1_frames} S1 frames"
        + (f", at most {stats.late_s:.3f} s behind schedule" if stats.late_s > 0.05 else ""),
        file=sys.stderr,
    )
    return 0


async def _serve(options: SimMeterOptions) -> RunStats:
    scenario = options.scenario
    s1_on = scenario.meter.s1 is not None and (options.s1_tcp is not None or options.pty)
    site = build_site(scenario, metrology=options.metrology, s1=s1_on)
    p1: list[Publisher] = []
    s1: list[Publisher] = []
    closers: list[TcpStreamServer | PtyStreamServer] = []
    try:
        if options.p1_tcp is not None:
            server = TcpStreamServer(*options.p1_tcp)
            await server.start()
            closers.append(server)
            p1.append(server)
            print(f"P1 on tcp://{options.p1_tcp[0]}:{server.port}", file=sys.stderr)
        if options.s1_tcp is not None:
            server = TcpStreamServer(*options.s1_tcp, max_queue_bytes=8 * 1024 * 1024)
            await server.start()
            closers.append(server)
            s1.append(server)
            print(f"S1 on tcp://{options.s1_tcp[0]}:{server.port}", file=sys.stderr)
        if options.pty:
            pty = PtyStreamServer()
            await pty.start()
            closers.append(pty)
            p1.append(pty)
            print(f"P1 on {pty.path}", file=sys.stderr)
            if s1_on:
                spty = PtyStreamServer(max_queue_bytes=8 * 1024 * 1024)
                await spty.start()
                closers.append(spty)
                s1.append(spty)
                print(f"S1 on {spty.path}", file=sys.stderr)
        seconds = None if options.duration_s is None else int(options.duration_s)
        stats = RunStats()
        with contextlib.suppress(asyncio.CancelledError):
            await run_site(site, RealClock(), p1=p1, s1=s1, speed=options.speed, seconds=seconds, stats=stats)
        return stats
    finally:
        for c in closers:
            await c.close()
