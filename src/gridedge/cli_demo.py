"""`gridedge demo`: the whole system in one process, on embedded defaults.

    gridedge demo [--homes N] [--speed N] [--start ISO-TIME] [--host 127.0.0.1] [--port 8000]
                  [--data-dir DIR] [--no-story] [--duration S] [--seed N]

A virtual neighbourhood (`gridedge.app.demo`: households, their energy managers and gateways, the
head-end, the DSO and the aggregator on the in-process bus, SQLite under `--data-dir`) and the
dashboard (`gridedge.web.app`) served by uvicorn on the same asyncio loop. It prints the dashboard's
address and the generated credentials of one user per role, then runs until Ctrl-C or `--duration`
(wall seconds). Exit status 0, 2 on bad options, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime


def add_demo_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "demo",
        help="run a virtual neighbourhood and the dashboard on http://127.0.0.1:8000",
        description="Start about 20 virtual homes with their energy managers and gateways, the head-end,"
        " the DSO and the aggregator in one process (in-process bus, SQLite), play a scripted day and serve"
        " the dashboard. Prints the dashboard's address and the demo users' passwords.",
    )
    p.add_argument("--homes", type=int, default=20, metavar="N", help="virtual homes (default 20)")
    p.add_argument(
        "--speed", type=float, default=60.0, metavar="N",
        help="simulated seconds per real second (default 60: a day in 24 minutes)",
    )  # fmt: skip
    p.add_argument(
        "--start", metavar="ISO-TIME",
        help="simulated start, e.g. 2026-04-15T17:50+02:00 (default: the story's, 06:30)",
    )  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address of the dashboard (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port of the dashboard (default 8000; 0 picks one)")
    p.add_argument(
        "--data-dir", metavar="DIR", help="where the SQLite files go (default: a temporary directory)"
    )
    p.add_argument("--seed", type=int, default=1, help="the neighbourhood's seed (default 1)")
    p.add_argument("--no-story", action="store_true", help="no scripted storyline (the buttons still work)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S real seconds")
    p.set_defaults(func=cmd_demo, parser=p)


def cmd_demo(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if not 1 <= args.homes <= 500:
        parser.error(f"--homes must be between 1 and 500, got {args.homes}")
    if not args.speed > 0:
        parser.error(f"--speed must be positive, got {args.speed}")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    if args.duration is not None and not args.duration > 0:
        parser.error(f"--duration must be positive, got {args.duration}")
    start: datetime | None = None
    if args.start is not None:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            parser.error(f"--start: expected an ISO time like 2025-04-15T06:30+02:00, got {args.start!r}")
        if start.tzinfo is None:
            parser.error(f"--start needs a UTC offset (e.g. +02:00), got {args.start!r}")
    import asyncio

    try:
        return asyncio.run(_serve(args, start))
    except KeyboardInterrupt:
        return 130


async def _serve(args: argparse.Namespace, start: datetime | None) -> int:
    """The world and the web server on one loop; whichever stops first stops the other."""
    import asyncio
    import contextlib
    import socket
    import tempfile
    from pathlib import Path

    import uvicorn

    from gridedge.app.demo.config import DEFAULT_START, DemoConfig
    from gridedge.app.demo.world import DemoWorld
    from gridedge.app.process import stop_on_signals
    from gridedge.cli_plan import highs_banner_to_stderr
    from gridedge.clock import RealClock
    from gridedge.web.app import close_event_streams, create_app
    from gridedge.web.demo_users import provision
    from gridedge.web.metrics import metrics_app
    from gridedge.web.users import UserStore

    if start is not None:  # the story's local times are Brussels wall time
        start = start.astimezone(DEFAULT_START.tzinfo)
    with contextlib.ExitStack() as stack:
        if args.data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gridedge-demo-")))
        else:
            data_dir = Path(args.data_dir)
            data_dir.mkdir(parents=True, exist_ok=True)
        config = DemoConfig(homes=args.homes, speed=args.speed, seed=args.seed, data_dir=data_dir,
                            storyline=not args.no_story, **({"start": start} if start else {}))  # fmt: skip
        highs_banner_to_stderr()  # stdout carries the address and passwords only
        try:
            world = DemoWorld(config)
        except FileNotFoundError as e:  # the households' load profiles come from the shared corpus
            print(f"gridedge demo: {e}", file=sys.stderr)
            return 1
        users = UserStore(data_dir / "users.db", clock=RealClock())
        stack.callback(users.close)
        credentials = provision(users, owner_site=world.status().homes[0])
        # Prometheus scrapes the featured home's energy manager (one registry per site)
        app = create_app(world, users, metrics=metrics_app(world.homes[0].cem))
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((args.host, args.port))
        except OSError as e:
            print(f"gridedge demo: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
            return 1
        stack.callback(sock.close)
        port = sock.getsockname()[1]
        if not _loopback(args.host):
            print(
                f"gridedge demo: warning: serving on {args.host}, not only this machine: plain HTTP, and"
                " the passwords below travel unencrypted; use 127.0.0.1 or a TLS proxy",
                file=sys.stderr,
            )
        config_web = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        server = uvicorn.Server(config_web)
        stop = asyncio.Event()
        # SIGINT/SIGTERM and --duration stop the world; uvicorn, which takes the signals while it
        # serves, hands them back when it has stopped (Server.capture_signals)
        stop_on_signals(stop, args.duration)
        world_task = asyncio.ensure_future(world.run(stop))
        web_task = asyncio.ensure_future(server.serve(sockets=[sock]))
        print(f"dashboard: http://{args.host}:{port}/", flush=True)
        for c in credentials:
            print(f"user {c.name} ({c.role.value}): password {c.password}", flush=True)
        print(f"{config.homes} homes at {config.speed:g}x real time; Ctrl-C stops", flush=True)
        try:
            await asyncio.wait({world_task, web_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()
            close_event_streams(app)  # a browser's event stream never ends: uvicorn would wait for it
            server.should_exit = True
            results = await asyncio.gather(world_task, web_task, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                raise r
    return 0


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
