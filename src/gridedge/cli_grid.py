"""`gridedge grid hes|dso|aggregator`: the grid side's services and the head-end's queries.

- `gridedge grid hes run`: ingest workers on an MQTT broker (shared subscription) into PostgreSQL
  (`--pg DSN`) or SQLite (`--sqlite PATH`, one worker); `--workers N` starts N processes.
- `gridedge grid hes provision`: a meter's telemetry key, into the head-end's key file and the
  gateway's key file (the gateway's `gridedge gateway keygen` key can be imported instead).
- `gridedge grid hes query latest|curve|feeder|events|wan`: what the head-end knows.
- `gridedge grid dso --config FILE --mqtt HOST:PORT`: the grid operator's Energy Guard.
- `gridedge grid aggregator --config FILE`: the energy service provider's OpenADR 3 VTN and publisher.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing as mp
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("gridedge.grid")

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def add_grid_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    grid = commands.add_parser("grid", help="the grid side: head-end system, grid operator, aggregator")
    grid.set_defaults(parser=grid)
    sub = grid.add_subparsers(title="services", metavar="SERVICE")

    hes = sub.add_parser("hes", help="the head-end system: ingest, keys, queries")
    hes.set_defaults(parser=hes)
    hes_sub = hes.add_subparsers(title="commands", metavar="COMMAND")

    run = hes_sub.add_parser("run", help="ingest workers: MQTT shared subscription -> PostgreSQL or SQLite")
    _store_flags(run)
    run.add_argument("--mqtt", metavar="HOST:PORT", required=True, help="the broker the gateways publish to")
    run.add_argument("--mqtt-prefix", default="", metavar="P", help="topic prefix (e.g. city-1/)")
    run.add_argument("--keys", required=True, metavar="FILE", help="the meters' telemetry keys (JSON lines)")
    run.add_argument("--meters", metavar="FILE", help="CSV meter_id,feeder_id,section: where meters sit")
    run.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (default 1)")
    run.add_argument("--group", default="hes", help="shared-subscription group (default hes)")
    run.add_argument("--batch", type=int, default=5000, metavar="N", help="messages per commit at most")
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    run.add_argument("--status-every", type=float, default=10.0, metavar="S", help="status line period")
    run.add_argument("--json", action="store_true", help="status lines as JSON")
    run.set_defaults(func=cmd_hes_run, parser=run)

    prov = hes_sub.add_parser("provision", help="a meter's telemetry key for the head-end and its gateway")
    prov.add_argument(
        "--keys", required=True, metavar="FILE", help="the head-end's key file (created if absent)"
    )
    prov.add_argument("--meter", required=True, metavar="ID", help="the meter id (as the gateway sends it)")
    prov.add_argument(
        "--gateway-key", required=True, metavar="FILE",
        help="the gateway's key file: imported if it exists, else written (0600)",
    )  # fmt: skip
    prov.set_defaults(func=cmd_hes_provision, parser=prov)

    query = hes_sub.add_parser("query", help="latest readings, load curves, events, WAN status")
    _store_flags(query)
    query.add_argument("what", choices=["latest", "curve", "feeder", "events", "wan"])
    query.add_argument("--meter", metavar="ID")
    query.add_argument("--feeder", metavar="ID")
    query.add_argument("--from", dest="start", metavar="ISO", help="start (default: 24 h ago)")
    query.add_argument("--to", dest="end", metavar="ISO", help="end (default: now)")
    query.add_argument("--json", action="store_true", help="JSON lines")
    query.set_defaults(func=cmd_hes_query, parser=query)

    dso = sub.add_parser("dso", help="the grid operator's Energy Guard: limits, heartbeats, congestion")
    dso.add_argument(
        "--config", required=True, metavar="FILE", help="sites and feeders (examples/grid/dso.toml)"
    )
    dso.add_argument("--mqtt", required=True, metavar="HOST:PORT")
    dso.add_argument("--mqtt-prefix", default="", metavar="P")
    dso.add_argument(
        "--signing-key", metavar="FILE",
        help="the DSO's private key (gridedge keys generate): every command is signed (COSE_Sign1)",
    )  # fmt: skip
    dso.add_argument(
        "--site-keys", metavar="FILE",
        help="key ring of the sites' public keys (TOML): their reports are verified, others rejected",
    )  # fmt: skip
    dso.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    dso.set_defaults(func=cmd_dso, parser=dso)

    agg = sub.add_parser("aggregator", help="the energy service provider: OpenADR 3 VTN, prices, limits")
    agg.add_argument("--config", required=True, metavar="FILE", help="examples/grid/aggregator.toml")
    agg.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    agg.set_defaults(func=cmd_aggregator, parser=agg)


def _store_flags(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pg", metavar="DSN", help="PostgreSQL, e.g. postgresql://user@127.0.0.1/hes")
    where.add_argument("--sqlite", metavar="PATH", help="a SQLite file (embedded, one worker)")
    p.add_argument("--schema", default="hes", help="PostgreSQL schema (default hes)")


def _host_port(parser: argparse.ArgumentParser, text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        parser.error(f"--mqtt: expected HOST:PORT, found {text!r}")
    return host, int(port)


def _store(args: argparse.Namespace) -> Any:
    if args.pg:
        from gridedge.store.telemetry_pg import PostgresTelemetryStore

        return PostgresTelemetryStore(args.pg, schema=args.schema)
    from gridedge.store.telemetry_sqlite import SqliteTelemetryStore

    return SqliteTelemetryStore(args.sqlite)


def _run_until(main: Callable[[asyncio.Event], Awaitable[None]], duration: float | None) -> None:
    """Run `main(stop)`; `stop` is set on SIGINT/SIGTERM or after `duration` seconds."""

    async def outer() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        if duration is not None:
            loop.call_later(duration, stop.set)
        await main(stop)

    asyncio.run(outer())


# --------------------------------------------------------------------------- hes run


def _meters_csv(path: str) -> list[Any]:
    from gridedge.store.telemetry_base import MeterInfo

    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = [x.strip() for x in line.strip().split(",")]
            if not fields[0] or fields[0].startswith("#") or (n == 1 and fields[0] == "meter_id"):
                continue
            if len(fields) > 3:
                found = f"{len(fields)} fields"
                raise ValueError(f"{path}:{n}: expected meter_id,feeder_id,section, found {found}")
            fields += [""] * (3 - len(fields))
            out.append(MeterInfo(fields[0], fields[1] or None, fields[2] or None))
    return out


def _worker_main(opts: dict[str, Any]) -> None:
    """One ingest worker (in this process or a child): until stopped or the duration is over."""
    from gridedge.clock import RealClock
    from gridedge.grid.hes.ingest import Ingestor
    from gridedge.grid.hes.keys import MeterKeys
    from gridedge.grid.hes.worker import HesWorker, WorkerConfig

    args = argparse.Namespace(**opts)
    keys = MeterKeys.load(args.keys)

    async def main(stop: asyncio.Event) -> None:
        store = _store(args)
        await store.init()
        if args.meters:
            await store.set_meters(_meters_csv(args.meters))
        host, port = args.host, args.port
        worker = HesWorker(
            store, Ingestor(keys, topic_prefix=args.mqtt_prefix), RealClock(),
            WorkerConfig(host=host, port=port, client_id=args.client_id, group=args.group,
                         topic_prefix=args.mqtt_prefix, batch_max=args.batch),
        )  # fmt: skip
        task = asyncio.create_task(worker.run(stop))
        try:
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=args.status_every)
                if not done:
                    _status(args, worker)
            await task
        finally:
            _status(args, worker, final=True)
            await store.close()

    _run_until(main, args.duration)


def _status(args: argparse.Namespace, worker: Any, *, final: bool = False) -> None:
    stats = asdict(worker.stats)
    stats["worker"] = args.client_id
    stats["final"] = final
    stats["alarms_raised"] = worker.ingestor.monitor.alarms_raised
    if args.json:
        from gridedge.app.process import write_json_line

        write_json_line(stats)  # the workers share one stdout: one write per line
    else:
        print(
            f"{args.client_id}: received {stats['received']:,}, committed {stats['committed']:,} in "
            f"{stats['batches']:,} batches, {stats['rows_new']:,} new rows, {stats['acks_sent']:,} acks, "
            f"rejected {sum(stats['rejected'].values()):,}, alarms {stats['alarms']:,}"
            + (" (final)" if final else ""),
            flush=True,
        )


def cmd_hes_run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    host, port = _host_port(parser, args.mqtt)
    if args.workers < 1:
        parser.error("--workers: expected >= 1")
    if args.sqlite and args.workers > 1:
        parser.error("--sqlite takes one worker (SQLite has one writer); use --pg for more")
    if not Path(args.keys).is_file():
        parser.error(f"--keys: {args.keys} does not exist (create keys with `gridedge grid hes provision`)")
    prefix = args.mqtt_prefix
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    base = dict(vars(args))
    for k in ("func", "parser"):
        base.pop(k, None)
    base.update(host=host, port=port, mqtt_prefix=prefix)
    try:
        from gridedge.grid.hes.keys import MeterKeys

        MeterKeys.load(args.keys)  # fail here, with the line, not in every worker
    except (OSError, ValueError) as exc:
        print(f"gridedge: --keys: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.workers == 1:
        _worker_main({**base, "client_id": f"gridedge-{args.group}-1"})
        return EXIT_OK
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_main, args=({**base, "client_id": f"gridedge-{args.group}-{i + 1}"},))
        for i in range(args.workers)
    ]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
    return EXIT_OK if all(p.exitcode == 0 for p in procs) else EXIT_ERRORS


# --------------------------------------------------------------------------- hes provision


def cmd_hes_provision(args: argparse.Namespace) -> int:
    from gridedge.grid.hes.keys import KeyFileError, MeterKeys
    from gridedge.home.gateway.keys import load_key, write_new_key

    keys_path = Path(args.keys)
    try:
        keys = MeterKeys.load(keys_path) if keys_path.exists() else MeterKeys()
        gw = Path(args.gateway_key)
        key = load_key(gw) if gw.exists() else write_new_key(gw)
    except (OSError, ValueError, KeyFileError) as exc:
        print(f"gridedge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    keys.add(args.meter, key)
    keys.save(keys_path)
    print(f"meter {args.meter}: key in {keys_path} ({len(keys)} meters) and {args.gateway_key}")
    return EXIT_OK


# --------------------------------------------------------------------------- hes query


def _when(parser: argparse.ArgumentParser, flag: str, text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        parser.error(f"{flag}: expected an ISO 8601 time, found {text!r}")
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def cmd_hes_query(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    now = datetime.now(UTC)
    start = _when(parser, "--from", args.start, now - timedelta(days=1))
    end = _when(parser, "--to", args.end, now)
    if args.what == "curve" and not args.meter:
        parser.error("query curve needs --meter")
    if args.what == "feeder" and not args.feeder:
        parser.error("query feeder needs --feeder")
    rows: list[Any] = []

    async def main() -> None:
        store = _store(args)
        await store.init()
        try:
            if args.what == "latest":
                rows.extend(await store.latest([args.meter] if args.meter else None))
            elif args.what == "curve":
                rows.extend(await store.load_curve(args.meter, start, end))
            elif args.what == "feeder":
                rows.extend(await store.feeder_curve(args.feeder, start, end))
            elif args.what == "events":
                rows.extend(await store.events(start, end, meter_id=args.meter, feeder_id=args.feeder))
            else:
                rows.extend(await store.wan_status())
        finally:
            await store.close()

    try:
        asyncio.run(main())
    except (OSError, ValueError) as exc:
        print(f"gridedge: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    for row in rows:
        record = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(row).items()}
        if args.json:
            print(json.dumps(record), flush=False)
        else:
            print("  ".join(f"{k}={v}" for k, v in record.items() if v is not None))
    return EXIT_OK


# --------------------------------------------------------------------------- dso, aggregator


def cmd_dso(args: argparse.Namespace) -> int:
    from gridedge.bus.command_security import dso_command_security
    from gridedge.bus.keyfile import KeyFileError, load_keyring, load_signer
    from gridedge.bus.mqtt import MqttTransport
    from gridedge.bus.security import Verifier
    from gridedge.clock import RealClock
    from gridedge.grid.dso.config import DsoConfigError, load_dso_config
    from gridedge.grid.dso.service import run_dso

    parser: argparse.ArgumentParser = args.parser
    host, port = _host_port(parser, args.mqtt)
    try:
        config = load_dso_config(args.config)
        signer = load_signer(args.signing_key) if args.signing_key else None
        verifier = Verifier(load_keyring(args.site_keys)) if args.site_keys else None
    except (OSError, DsoConfigError, KeyFileError) as exc:
        print(f"gridedge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if signer is None:
        log.warning("no --signing-key: the sites cannot authenticate this DSO's commands")
    security = dso_command_security(signer, verifier)
    clock = RealClock()

    async def main(stop: asyncio.Event) -> None:
        transport = MqttTransport(
            clock, host=host, port=port, topic_prefix=args.mqtt_prefix,
            client_id=f"gridedge-dso-{config.source}", security=security,
        )  # fmt: skip
        await transport.start()
        try:
            await run_dso(transport, clock, config, stop)
        finally:
            await transport.close()

    _run_until(main, args.duration)
    return EXIT_OK


def cmd_aggregator(args: argparse.Namespace) -> int:
    from gridedge.clock import RealClock
    from gridedge.grid.aggregator.config import AggregatorConfigError, load_aggregator_config
    from gridedge.grid.aggregator.server import serve_vtn
    from gridedge.home.cem.tariffs import load_prices

    try:
        config = load_aggregator_config(args.config)
    except (OSError, AggregatorConfigError) as exc:
        print(f"gridedge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    prices = None
    where = config.publisher.prices
    if where:
        try:
            series = load_prices(str(config.resolve(where)), unit=config.publisher.price_unit)
        except (OSError, ValueError) as exc:
            print(f"gridedge: publisher.prices: {exc}", file=sys.stderr)
            return EXIT_USAGE

        def prices(_start: datetime, _end: datetime) -> Any:
            return series

    signer = None
    if config.publisher.signing_key:
        from gridedge.bus.document_security import DocumentSigner
        from gridedge.bus.keyfile import KeyFileError, load_signer

        try:
            signer = DocumentSigner(load_signer(config.resolve(config.publisher.signing_key)))
        except (OSError, KeyFileError) as exc:
            print(f"gridedge: publisher.signing_key: {exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        log.warning("no publisher.signing_key: the events are not signed (VENs cannot authenticate them)")

    def ready(url: str) -> None:
        print(f"VTN listening on {url}", flush=True)

    async def main(stop: asyncio.Event) -> None:
        await serve_vtn(config, RealClock(), stop, prices=prices, on_ready=ready, signer=signer)

    _run_until(main, args.duration)
    return EXIT_OK
