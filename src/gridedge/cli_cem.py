"""`gridedge cem`: run the energy manager for a site until stopped.

    gridedge cem --config FILE.toml [--serial DEV | --tcp HOST:PORT | --file PATH] [--prices FILE|URL]
                 [--mqtt HOST:PORT [--mqtt-prefix P]] [--status-every S] [--duration S] [--json]

The site scenario (docs/scenario.md) names the meter port (`[cem.meter]`, or the source flags,
which override it), where devices connect (`[cem.s2]`, `[cem.ocpp]`, `[[cem.sunspec]]`), the
failsafe values' file and how the planner runs. The service (`home.cem.service`) reads the meter,
obeys the grid operator's LPC/LPP limits from the bus, re-plans every quarter hour and runs the
1 s control cycle. A status line (or JSON object) goes to stdout every `--status-every` seconds;
logs go to stderr. Ctrl-C or SIGTERM stops it cleanly (devices keep their last orders until
their own fallbacks apply).

Exit status: 0 stopped, 1 the meter port failed, 2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridedge.home.cem.service import CemService

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_cem_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "cem",
        help="run the energy manager: meter, grid limits, plan, control of S2/OCPP/SunSpec devices",
        description="Run the consumer energy manager of the site in FILE.toml until stopped.",
    )
    p.add_argument(
        "--config", required=True, metavar="FILE.toml", help="the site scenario with its [cem] table"
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--serial", metavar="DEV", help="P1 serial device (overrides [cem.meter])")
    source.add_argument(
        "--tcp", metavar="HOST:PORT", help="P1 TCP bridge or virtual meter (overrides [cem.meter])"
    )
    source.add_argument("--file", metavar="PATH", help="P1 capture replayed at its own pace")
    p.add_argument("--prices", metavar="FILE|URL", help="day-ahead prices (overrides tariff.prices)")
    p.add_argument(
        "--mqtt",
        metavar="HOST:PORT",
        help="MQTT 5 broker: LPC/LPP from the grid operator in, limit state out",
    )
    p.add_argument("--mqtt-prefix", default="", metavar="PREFIX", help="topic prefix on a shared broker")
    p.add_argument(
        "--status-every", type=float, default=10.0, metavar="S", help="status interval (default 10 s)"
    )
    p.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="status as JSON lines")
    p.set_defaults(func=cmd_cem, parser=p)


def _fail(msg: str) -> int:
    print(f"gridedge cem: {msg}", file=sys.stderr)
    return EXIT_USAGE


def cmd_cem(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from gridedge.cli_plan import highs_banner_to_stderr
    from gridedge.clock import RealClock
    from gridedge.home.cem.planning import resolve_path
    from gridedge.home.cem.service import CemService
    from gridedge.home.cem.tariffs import load_prices
    from gridedge.model.cem_config import MeterPortConfig
    from gridedge.model.scenario import ScenarioError, load_scenario
    from gridedge.model.tariff import PriceSeries
    from gridedge.physics.hplib import HplibModel

    try:
        scenario = load_scenario(args.config)
    except ScenarioError as exc:
        return _fail(str(exc))
    base = Path(args.config).resolve().parent
    if args.serial or args.tcp or args.file:
        try:
            port = MeterPortConfig(serial=args.serial, tcp=args.tcp, file=args.file)
        except ValidationError as exc:
            return _fail(f"meter port: {exc.errors()[0]['msg']}")
        scenario = scenario.model_copy(update={"cem": scenario.cem.model_copy(update={"meter": port})})
    if scenario.cem.meter is None:
        return _fail(f"{args.config}: no meter port: set [cem.meter] or give --serial, --tcp or --file")
    tariff = scenario.tariff
    source = args.prices or tariff.prices
    where = None if source is None else resolve_path(source, None if args.prices else base)

    def prices() -> PriceSeries | None:
        if where is None:
            return None
        return load_prices(where, unit=tariff.price_unit, tz=scenario.site.timezone)

    highs_banner_to_stderr()  # stdout carries only the status lines
    clock = RealClock()
    service = CemService(
        scenario, clock=clock, base_dir=base, prices=prices, cop_model=lambda hp: HplibModel.load(hp.model)
    )
    try:
        return asyncio.run(_run(service, args))
    except KeyboardInterrupt:
        return EXIT_OK


async def _run(service: CemService, args: argparse.Namespace) -> int:
    if args.mqtt:
        return await _run_bridged(service, args)
    return await _run_service(service, args)


async def _run_bridged(service: CemService, args: argparse.Namespace) -> int:
    """The grid operator's topics between the service's bus and an MQTT broker (`bus.bridge`)."""
    from gridedge.bus.bridge import Bridge
    from gridedge.bus.codec import DEFAULT_REGISTRY
    from gridedge.bus.mqtt import MqttTransport
    from gridedge.home.cem.grid_link import Rejected, grid_topics
    from gridedge.ports.p1.readers import parse_host_port

    host, port = parse_host_port(args.mqtt)
    registry = DEFAULT_REGISTRY.copy()
    registry.register("gridedge.cem.Rejected", Rejected)
    mqtt = MqttTransport(
        service.clock,
        host=host,
        port=port,
        topic_prefix=args.mqtt_prefix,
        # client ids are broker-wide: the prefix keeps two systems' sites named alike apart
        client_id=f"gridedge-cem-{args.mqtt_prefix.replace('/', '-')}-{service.site_id}".replace("--", "-"),
        registry=registry,
    )
    inbound, outbound = grid_topics(service.site_id)
    bridge = Bridge(service.transport, mqtt, inbound=inbound, outbound=outbound, name="mqtt")
    await mqtt.start()
    bridge.start()
    try:
        await mqtt.wait_subscribed(10.0)
    except TimeoutError:
        print(
            f"gridedge cem: no MQTT broker at {args.mqtt} yet; connecting in the background", file=sys.stderr
        )
    print(f"MQTT bridge on {args.mqtt}", file=sys.stderr, flush=True)
    try:
        return await _run_service(service, args)
    finally:
        bridge.close()
        await mqtt.close()


async def _run_service(service: CemService, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    status = asyncio.ensure_future(_status(service, args, stop))
    try:
        await service.run(stop)
    except OSError as exc:
        print(f"gridedge cem: meter port failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        stop.set()
        await status
        _print(service, args, final=True)
    return EXIT_OK


async def _status(service: CemService, args: argparse.Namespace, stop: asyncio.Event) -> None:
    started = asyncio.ensure_future(service.started.wait())
    await asyncio.wait({started, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
    if started.done():
        labels = {"s2": "S2 CEM server", "ocpp": "OCPP CSMS"}
        for name, url in service.urls.items():
            print(f"{labels.get(name, name)} on {url}", file=sys.stderr, flush=True)
    started.cancel()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), args.status_every)
        except TimeoutError:
            _print(service, args)


def status_record(service: CemService) -> dict[str, Any]:
    """One status: the meter, the limits, the plan, the cycle, the devices."""
    from gridedge.model.limits import Direction

    loop = service.loop
    d = loop.last_decision
    lpc = service.grid.report(Direction.CONSUMPTION)
    lpp = service.grid.report(Direction.PRODUCTION)
    snap_grid = loop.snapshot().grid
    plan = service.last_summary
    return {
        "time": service.clock.now().isoformat(),
        "readings": service.readings,
        "grid_w": None if snap_grid is None else round(snap_grid.net_power_w, 1),
        "lpc": None if lpc is None else {"state": lpc.state.value, "limit_w": lpc.effective_limit_w},
        "lpp": None if lpp is None else {"state": lpp.state.value, "limit_w": lpp.effective_limit_w},
        "month_peak_kw": service.tracker.month_peak_kw,
        "plan": None
        if plan is None
        else {
            "made_at": plan.made_at.isoformat(),
            "status": plan.status,
            "fallback": plan.fallback,
            "cost_eur": round(plan.cost_eur, 4),
            "relaxations": list(plan.relaxations),
        },
        "plan_errors": service.plan_errors[-1:],
        "devices": {a.info.device_id: service.binding.by_id.get(a.info.device_id) for a in service.registry},
        "cycles": loop.stats.cycles,
        "setpoints_sent": loop.stats.sent,
        "setpoints_failed": loop.stats.failed,
        "seconds_over_import": loop.stats.seconds_over_import,
        "shortfall_w": None if d is None else d.import_shortfall_w,
        "rejected_grid_messages": service.grid.rejected,
        "urls": dict(service.urls),
    }


def _print(service: CemService, args: argparse.Namespace, *, final: bool = False) -> None:
    rec = status_record(service)
    if final:
        rec["final"] = True
    if args.json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(rec) + b"\n")
        sys.stdout.flush()
        return
    lpc = rec["lpc"]
    plan = rec["plan"]
    grid = "-" if rec["grid_w"] is None else f"{rec['grid_w']:.0f} W"
    limit = "" if lpc is None or lpc["limit_w"] is None else f" {lpc['limit_w']:.0f} W"
    plan_text = "no plan" if plan is None else f"plan {plan['status']} {plan['cost_eur']:.2f} EUR"
    print(
        f"{rec['time'][:19]}  grid {grid}  lpc {lpc['state'] if lpc else '-'}{limit}  {plan_text}"
        f"  devices {len(rec['devices'])}  readings {rec['readings']}  cycles {rec['cycles']}"
        + ("  (stopped)" if final else ""),
        flush=True,
    )
