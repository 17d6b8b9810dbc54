"""`gridedge sim meter`: a virtual meter serving its ports until stopped.

Builds the site from the scenario (or the default household), opens the requested TCP servers
and pseudo-terminals, prints where they are, and paces the site on the real clock at `speed`.
Ctrl-C or `--duration` stops it; the servers close cleanly.

`--profile it` is an Italian 2G meter (`sim.meter.italy`): no P1 or S1 port, but its Chain 2 user
devices, a Chain2Gate's WebSocket (`--chain2gate`) and a Sinapsi Alfa's Modbus TCP map
(`--alfa`), with the contractual power of `--contract-kw`. The household and its metrology are the
scenario's; the Italian meter reads the metrology's seconds and opens the supply switch when its
overload countdown runs out. The profile exists on the command line only (the scenario schema's
`meter.profile` knows be, nl and lu).
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
from gridedge.sim.meter.italy import ItalianMeter, ItalyConfig
from gridedge.sim.runner import Publisher, RunStats, run_site
from gridedge.sim.serve import PtyStreamServer, TcpStreamServer
from gridedge.sim.site import Metrology, SiteSecond

ITALY = "it"


@dataclass(frozen=True, slots=True)
class SimMeterOptions:
    scenario: Scenario
    p1_tcp: tuple[str, int] | None
    s1_tcp: tuple[str, int] | None
    pty: bool
    speed: float
    duration_s: float | None
    metrology: Metrology
    italy: ItalyConfig | None = None
    """The Italian profile's supply, None for the P1 profiles."""
    chain2gate: tuple[str, int] | None = None
    alfa: tuple[str, int] | None = None

    @staticmethod
    def from_args(args: argparse.Namespace) -> SimMeterOptions:
        """Validate the command line; ValueError says which option is wrong and why."""
        scenario = load_scenario(Path(args.scenario)) if args.scenario else Scenario()
        meter = scenario.meter
        site = scenario.site
        chain2gate = getattr(args, "chain2gate", None)
        alfa = getattr(args, "alfa", None)
        if args.profile == ITALY:
            return SimMeterOptions._italian(args, scenario, chain2gate, alfa)
        if chain2gate or alfa:
            raise ValueError("--chain2gate and --alfa serve an Italian meter's devices: give --profile it")
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

    @staticmethod
    def _italian(
        args: argparse.Namespace, scenario: Scenario, chain2gate: str | None, alfa: str | None
    ) -> SimMeterOptions:
        if args.p1_tcp or args.s1_tcp or args.pty:
            raise ValueError("an Italian meter has no P1 or S1 port: serve --chain2gate and/or --alfa")
        if not (chain2gate or alfa):
            raise ValueError("nothing to serve: give --chain2gate or --alfa")
        if not args.speed > 0:
            raise ValueError(f"--speed must be positive, got {args.speed}")
        if args.duration is not None and not args.duration > 0:
            raise ValueError(f"--duration must be positive, got {args.duration}")
        site = scenario.site
        if args.seed is not None:
            site = site.model_copy(update={"seed": args.seed})
        # the Italian meter's own overload supervision replaces the limiter and fuse supervision
        meter = scenario.meter.model_copy(update={"s1": None, "limiter_kw": None, "fuse_a": None})
        contract = float(getattr(args, "contract_kw", 3.0))
        if not 0 < contract <= 30:
            raise ValueError(f"--contract-kw must be in (0, 30] (Italian LV supplies), got {contract}")
        italy = ItalyConfig(
            contract_kw=contract,
            start_import_kwh=sum(meter.start_import_kwh),
            start_export_kwh=sum(meter.start_export_kwh),
        )
        return SimMeterOptions(
            scenario=scenario.model_copy(update={"meter": meter, "site": site}),
            p1_tcp=None,
            s1_tcp=None,
            pty=False,
            speed=float(args.speed),
            duration_s=args.duration,
            metrology=Metrology(args.metrology),
            italy=italy,
            chain2gate=_listen_address(chain2gate) if chain2gate else None,
            alfa=_listen_address(alfa) if alfa else None,
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
        stats = asyncio.run(_serve_italy(options) if options.italy is not None else _serve(options))
    except KeyboardInterrupt:
        return 130
    if options.italy is not None:
        print(
            f"served {stats.seconds} s: {stats.telegrams} Chain 2 frames"
            + (f", at most {stats.late_s:.3f} s behind schedule" if stats.late_s > 0.05 else ""),
            file=sys.stderr,
        )
        return 0
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


async def _serve_italy(options: SimMeterOptions) -> RunStats:
    """The Italian profile: the household and its metrology, the 2G meter, its user devices."""
    from gridedge.sim.meter.chain2_servers import AlfaServer, Chain2GateServer, ItalianMeterPorts, close_all

    assert options.italy is not None
    scenario = options.scenario
    site = build_site(scenario, metrology=options.metrology, s1=False, p1=False)
    c2g: Chain2GateServer | None = None
    alfa: AlfaServer | None = None
    try:
        if options.chain2gate is not None:
            c2g = Chain2GateServer(*options.chain2gate)
            await c2g.start()
            print(f"Chain2Gate on {c2g.url}", file=sys.stderr, flush=True)
        if options.alfa is not None:
            alfa = AlfaServer(*options.alfa)
            await alfa.start()
            print(f"Alfa on tcp://{options.alfa[0]}:{alfa.port}", file=sys.stderr, flush=True)
        meter = ItalianMeter(options.italy, scenario.site.start_aware)
        ports = ItalianMeterPorts(meter, trip=site.meter.trip, chain2gate=c2g, alfa=alfa)
        stats = RunStats()

        def second(sec: SiteSecond) -> None:
            stats.telegrams += len(ports.on_second(sec.measurement).frames)

        seconds = None if options.duration_s is None else int(options.duration_s)
        with contextlib.suppress(asyncio.CancelledError):
            await run_site(
                site, RealClock(), speed=options.speed, seconds=seconds, stats=stats, on_second=second
            )
        return stats
    finally:
        await close_all(c2g, alfa)
