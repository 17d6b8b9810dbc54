"""`gridedge run`: every service of a site in one process, from one validated configuration.

    gridedge run --config gridedge.toml [--check] [--duration S] [--json]

The configuration (`app.run.config.RunConfig`, documented field by field in
docs/gridedge.toml.example and docs/running.md) names the site's scenario and where the services
meet the world. One process then runs:

* the energy manager of `gridedge cem` (built by `cli_cem.cem_setup`, run by `cli_cem.run_cem`):
  it reads the meter port (`[meter]`: P1 serial/TCP/file, or Chain 2), takes its devices over S2,
  OCPP and SunSpec Modbus as the scenario's `[cem]` says, obeys the grid operator's LPC/LPP limits
  from the `[mqtt]` broker (signed with the `[keys]`), follows the `[openadr]` VTN's prices and
  capacity limits, and announces itself to Home Assistant (`[home_assistant]`) and on the home's
  peer network (`[peers]`);
* the gateway of `gridedge gateway` (`[gateway]`): it takes the same meter readings from the
  energy manager's in-process bus (the port is opened once: a serial port has one reader) and
  sends them, sealed, to the head-end over MQTT, with the user's recorded consent only;
* the S1 port (`[meter.s1]`): waveform analytics and appliance recognition on the bus;
* the HTTP listener (`[web]`): the dashboard of this site and its API (`gridedge.web.app` over
  `app.run.control.SiteControl`: the same dashboard as `gridedge demo`, showing this home; logins
  from `[web] users_db`, managed with `gridedge users`), and Prometheus metrics at /metrics. When
  the users database holds no user, a home-owner `owner` is created with a generated password,
  printed once on stderr.

`--check` validates the configuration and reads every file it names (scenario, keys, secrets),
prints what would run and starts nothing. A status line (or JSON object: the energy manager's
status record of `gridedge cem` with `gateway`, `s1` and `web` entries) goes to stdout every
`status_every_s`; logs go to stderr. SIGINT/SIGTERM (or `--duration`) stop everything cleanly.

Exit status: 0 stopped (or `--check` passed), 1 the meter port or the gateway failed, 2 usage or
configuration errors (the message names the file, the line, the field, what was expected and
what was found).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridedge.app.process import stop_on_signals, write_json_line

if TYPE_CHECKING:
    import sqlite3

    from gridedge.app.run.config import RunConfig, SiteSetup, WebSection
    from gridedge.app.run.control import SiteControl
    from gridedge.app.run.gateway import GatewayFiles
    from gridedge.app.run.meter import BusReadings
    from gridedge.app.run.s1 import S1Stats
    from gridedge.bus.command_security import CommandSecurity
    from gridedge.home.cem.service import CemService
    from gridedge.home.gateway.service import GatewayService
    from gridedge.ports.p1.readers import ChunkSource
    from gridedge.web.demo_users import Credential
    from gridedge.web.users import UserStore

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "run",
        help="run a site's services (energy manager, gateway, grid links, devices) from one config file",
        description="Run the energy manager, the gateway and the site's links to the grid, its devices,"
        " Home Assistant and the web listener in one process, as FILE.toml says (docs/running.md).",
    )
    p.add_argument("--config", required=True, metavar="FILE.toml", help="the configuration (gridedge.toml)")
    p.add_argument(
        "--check",
        action="store_true",
        help="validate the configuration and every file it names, print what would run, start nothing",
    )
    p.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="status (and --check's summary) as JSON")
    p.set_defaults(func=cmd_run, parser=p)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gridedge.cli_run ...` (the same as `gridedge run ...`)."""
    parser = argparse.ArgumentParser(prog="gridedge")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (connections, retries)")
    add_run_parser(parser.add_subparsers())
    raw = list(sys.argv[1:] if argv is None else argv)
    verbose = [a for a in raw if a in ("-v", "--verbose")]
    args = parser.parse_args([*verbose, "run", *(a for a in raw if a not in verbose)])
    import logging

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="gridedge: %(message)s",
        stream=sys.stderr,
    )
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return result


def _fail(msg: str, status: int = EXIT_USAGE) -> int:
    print(f"gridedge run: {msg}", file=sys.stderr)
    return status


# the flags of `gridedge cem` as the configuration names them, for its messages
_FIELDS = (
    ("--grid-keys and --site-key need --mqtt", "keys.grid and keys.site need [mqtt]"),
    ("--grid-keys", "keys.grid"),
    ("--site-key", "keys.site"),
    ("--ven-secret-file", "openadr.secret_file"),
    ("--openadr-keys", "openadr.keys"),
    ("--peers-roster", "peers.roster"),
    ("--peers-issuer-key", "peers.issuer_key"),
    ("--peers-owner", "peers.owner"),
    ("--peers-key", "peers.key"),
    ("--ha-prefix/--ha-state-prefix", "home_assistant.discovery_prefix/state_prefix"),
    ("--ha-mqtt", "home_assistant.broker"),
    ("--ha-every", "home_assistant.every_s"),
)


def _as_fields(msg: str) -> str:
    for flag, name in _FIELDS:
        msg = msg.replace(flag, name)
    return msg


def cem_argv(cfg: RunConfig, config_path: str, *, json: bool) -> list[str]:
    """The `gridedge cem` command line that runs this configuration's energy manager (the meter's
    P1 port goes in through the scenario's `[cem.meter]`, see `site_setup`)."""
    argv = ["cem", f"--config={config_path}", f"--status-every={cfg.status_every_s}"]
    if json:
        argv.append("--json")
    m = cfg.meter
    if m is not None and m.chain2gate is not None:
        argv.append(f"--chain2gate={m.chain2gate}")
    if m is not None and m.alfa is not None:
        argv += [f"--alfa={m.alfa}", f"--available-w={m.available_w}"]
    if cfg.mqtt is not None:
        argv += [f"--mqtt={cfg.mqtt.address}", f"--mqtt-prefix={cfg.mqtt.prefix}"]
        if cfg.keys.grid is not None:
            argv.append(f"--grid-keys={cfg.keys.grid}")
        if cfg.keys.site is not None:
            argv.append(f"--site-key={cfg.keys.site}")
    adr = cfg.openadr
    if adr is not None:
        argv += [f"--openadr={adr.vtn_url}", f"--ven-client-id={adr.client_id}",
                 f"--ven-secret-file={adr.secret_file}", f"--openadr-poll={adr.poll_s}",
                 f"--openadr-source={adr.source}"]  # fmt: skip
        if adr.ven_name is not None:
            argv.append(f"--ven-name={adr.ven_name}")
        if adr.keys is not None:
            argv.append(f"--openadr-keys={adr.keys}")
    ha = cfg.home_assistant
    if ha is not None:
        argv += [f"--ha-mqtt={cfg.broker_for(ha.broker)}", f"--ha-prefix={ha.discovery_prefix}",
                 f"--ha-state-prefix={ha.state_prefix}", f"--ha-every={ha.every_s}"]  # fmt: skip
    peers = cfg.peers
    if peers is not None:
        argv += [f"--peers-roster={peers.roster}", f"--peers-owner={peers.owner}", f"--peers-key={peers.key}",
                 f"--peers-id={peers.id}", f"--peers-mqtt={cfg.broker_for(peers.broker)}",
                 f"--peers-prefix={peers.prefix}"]  # fmt: skip
        if peers.issuer_key is not None:
            argv.append(f"--peers-issuer-key={peers.issuer_key}")
        if peers.store is not None:
            argv.append(f"--peers-store={peers.store}")
    return argv


def _cem_args(cfg: RunConfig, config_path: str, *, json: bool) -> argparse.Namespace:
    """The options of `gridedge cem`, parsed by its own parser: the same defaults and checks."""
    from gridedge.cli_cem import add_cem_parser

    parser = argparse.ArgumentParser(prog="gridedge run")
    add_cem_parser(parser.add_subparsers())
    return parser.parse_args(cem_argv(cfg, config_path, json=json))


@dataclass(slots=True)
class _Setup:
    """Everything read and checked before anything starts."""

    cfg: RunConfig
    site: SiteSetup
    cem_args: argparse.Namespace
    service: CemService
    keys: Any
    gateway_files: GatewayFiles | None
    s1_source: ChunkSource | None


def _prepare(args: argparse.Namespace) -> _Setup | str:
    from gridedge.app.run.config import RunConfigError, load_run_config, site_setup
    from gridedge.app.run.gateway import load_gateway_files
    from gridedge.app.run.s1 import open_s1
    from gridedge.cli_cem import cem_setup, load_cem_keys

    try:
        cfg = load_run_config(args.config)
        site = site_setup(cfg, args.config)
    except RunConfigError as exc:
        return str(exc)
    cem_args = _cem_args(cfg, args.config, json=args.json)
    keys = load_cem_keys(cem_args)
    if isinstance(keys, str):
        named = [f"keys.{n}: " for n in ("grid", "site") if (f := getattr(cfg.keys, n)) and f in keys]
        return f"{args.config}: {named[0] if named else ''}{_as_fields(keys)}"
    gateway_files = None
    if cfg.gateway is not None:
        gw = cfg.gateway
        loaded = load_gateway_files(gw.key, gw.update_keys, gw.db)
        if isinstance(loaded, str):
            return f"{args.config}: {loaded}"
        gateway_files = loaded
    if cfg.web is not None and not Path(cfg.web.users_db).parent.is_dir():
        db = cfg.web.users_db
        return f"{args.config}: web.users_db: {db}: the folder {Path(db).parent} does not exist"
    s1_source = None
    if cfg.meter is not None and cfg.meter.s1 is not None:
        s1 = cfg.meter.s1
        s1_source = open_s1(s1.serial, s1.tcp, s1.file)
    service = cem_setup(site.scenario, site.base, cem_args)
    if isinstance(service, str):
        return f"{args.config}: {_as_fields(service)}"
    return _Setup(cfg, site, cem_args, service, keys, gateway_files, s1_source)


def cmd_run(args: argparse.Namespace) -> int:
    setup = _prepare(args)
    if isinstance(setup, str):
        return _fail(setup)
    if args.check:
        _print_summary(args, setup)
        return EXIT_OK
    conn = None
    gateway = None
    cfg = setup.cfg
    if cfg.gateway is not None:
        from gridedge.app.run.gateway import build_gateway
        from gridedge.home.gateway.db import open_db

        gw, files = cfg.gateway, setup.gateway_files
        assert files is not None
        broker = cfg.gateway_broker()
        assert broker is not None
        try:
            conn = open_db(gw.db)
        except Exception as exc:
            return _fail(f"gateway.db {gw.db}: {exc}", EXIT_FAILED)
        gateway = build_gateway(
            setup.service.clock, meter_id=gw.meter_id, broker=broker[0], prefix=broker[1], key=files.key,
            conn=conn, recipient=gw.head_end, nrtd_every_s=gw.nrtd_every_s, groups=gw.groups,
            update_keys=files.update_keys,
        )  # fmt: skip
    try:
        return asyncio.run(_run(setup, gateway, args))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if conn is not None:
            conn.close()


# --------------------------------------------------------------------------- running


@dataclass(slots=True)
class _Parts:
    """The running parts besides the energy manager, for the status."""

    gateway: GatewayService | None = None
    readings: BusReadings | None = None
    s1: S1Stats | None = None
    web: str | None = None
    security: CommandSecurity | None = None
    failed: list[str] = field(default_factory=list)


async def _run(setup: _Setup, gateway: GatewayService | None, args: argparse.Namespace) -> int:
    from gridedge.app.run.gateway import announce_subscribed
    from gridedge.app.run.meter import BusReadings
    from gridedge.app.run.s1 import S1Stats, nilm_engine, run_s1
    from gridedge.cli_cem import run_cem

    service, cfg = setup.service, setup.cfg
    stop = asyncio.Event()
    stop_on_signals(stop, args.duration)
    parts = _Parts(gateway=gateway)
    tasks: dict[str, asyncio.Future[Any]] = {}

    def failed(name: str) -> Callable[[asyncio.Future[Any]], None]:
        """Stop everything when the part `name` fails (the exit status is then 1)."""

        def done(task: asyncio.Future[Any]) -> None:
            if not task.cancelled() and task.exception() is not None:
                parts.failed.append(f"{name}: {task.exception()}")
                print(f"gridedge run: {name} failed: {task.exception()}", file=sys.stderr, flush=True)
                stop.set()

        return done

    if gateway is not None:
        parts.readings = BusReadings(service.transport, service.site_id)
        tasks["gateway"] = asyncio.ensure_future(gateway.run(stop, parts.readings.readings()))
        tasks["gateway"].add_done_callback(failed("gateway"))
        broker = cfg.gateway_broker()
        assert broker is not None
        print(
            f"gateway of meter {gateway.meter_id} to the head-end on {broker[0]}", file=sys.stderr, flush=True
        )
        announce = announce_subscribed(gateway, f"gateway MQTT subscribed on {broker[0]}")
        tasks["gateway-subscribed"] = asyncio.ensure_future(announce)
    engine = None
    if setup.s1_source is not None:
        s1 = cfg.meter.s1 if cfg.meter is not None else None
        assert s1 is not None
        parts.s1 = S1Stats()
        engine = nilm_engine(service.site_id, service.transport) if s1.nilm else None
        tasks["s1"] = asyncio.ensure_future(
            run_s1(setup.s1_source, service.site_id, service.transport, stop, nilm=s1.nilm, stats=parts.s1,
                   engine=engine)
        )  # fmt: skip
        print(f"S1 port {setup.s1_source.name} on the site's bus", file=sys.stderr, flush=True)
    if cfg.web is not None:
        from gridedge.app.run.control import SiteControl

        control = SiteControl(service, nilm=engine, gateway=gateway)
        control.start()  # on the bus before the services start: the first plan is seen
        tasks["dashboard"] = asyncio.ensure_future(control.run(stop))
        tasks["dashboard"].add_done_callback(failed("dashboard"))
        served = await _start_web(service, control, cfg.web, stop)
        if isinstance(served, str):
            stop.set()
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            return _fail(served, EXIT_FAILED)
        parts.web, tasks["web"] = served
        tasks["web"].add_done_callback(failed("web"))

    def printer(security: CommandSecurity | None, final: bool) -> None:
        parts.security = security
        if not final:  # the final status comes once every part has stopped
            _print(setup, parts, args, final=False)

    try:
        status = await run_cem(service, setup.cem_args, setup.keys, stop=stop, printer=printer)
    finally:
        stop.set()
        if parts.readings is not None:
            parts.readings.close()
        announcing = tasks.pop("gateway-subscribed", None)
        if announcing is not None:
            announcing.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        _print(setup, parts, args, final=True)
    if status == EXIT_OK and parts.failed:
        return EXIT_FAILED
    return status


async def _start_web(
    service: CemService, control: SiteControl, web: WebSection, stop: asyncio.Event
) -> tuple[str, asyncio.Future[Any]] | str:
    """Serve the dashboard (and /metrics) until `stop`: (its URL, the server task), or why it cannot."""
    import socket

    import uvicorn

    from gridedge.web.app import close_event_streams

    listen = web.listen
    host, _, port_text = listen.rpartition(":")  # validated (web.listen); port 0: any free one
    host, port = host.strip("[]"), int(port_text)
    try:  # scrypt and SQLite: in a thread
        users, first = await asyncio.to_thread(_open_users, web.users_db)
    except Exception as exc:  # sqlite3.DatabaseError: not a database, locked, unwritable
        return f"web.users_db: {web.users_db}: cannot open the users database: {exc}"
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        users.close()
        return f"web.listen: cannot listen on {listen}: {exc.strerror or exc}"
    bound = sock.getsockname()[1]
    app = _web_app(service, control, users, web)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    )

    async def serve() -> None:
        try:
            task = asyncio.ensure_future(server.serve(sockets=[sock]))
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            close_event_streams(app)  # a browser's event stream never ends: uvicorn would wait for it
            server.should_exit = True
            waiter.cancel()
            await task
        finally:
            sock.close()
            users.close()

    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound}"
    if first is not None:
        print(
            f"dashboard user {first.name} ({first.role.value}) created, password {first.password}"
            f" (shown once; gridedge users passwd {first.name} --db {web.users_db} changes it)",
            file=sys.stderr, flush=True,
        )  # fmt: skip
    metrics = ", Prometheus metrics at /metrics" if web.metrics else ""
    print(f"web (dashboard at /{metrics}) on {url}", file=sys.stderr, flush=True)
    return url, asyncio.ensure_future(serve())


def _open_users(path: str) -> tuple[UserStore, Credential | None]:
    """The users database, with a first home-owner account when it holds none."""
    from gridedge.cli_users import first_owner
    from gridedge.clock import RealClock
    from gridedge.web.users import UserStore

    users = UserStore(path, RealClock())
    try:
        return users, first_owner(users)
    except BaseException:
        users.close()
        raise


def _web_app(service: CemService, control: SiteControl, users: UserStore, web: WebSection) -> Any:
    """The ASGI app of `[web]`: the dashboard and its API over `control`, logins from `users`, the
    Prometheus metrics at /metrics (with `metrics`)."""
    from gridedge.web.app import create_app
    from gridedge.web.metrics import metrics_app

    prometheus = metrics_app(service) if web.metrics else None
    return create_app(
        control, users, metrics=prometheus, secure_cookie=web.secure_cookie, public_reads=web.public_reads
    )


# --------------------------------------------------------------------------- status and summary


def status_record(setup: _Setup, parts: _Parts) -> dict[str, Any]:
    """The energy manager's status record (`cli_cem.cem_record`) with the other parts' entries."""
    from gridedge.cli_cem import cem_record
    from gridedge.cli_gateway import status_record as gateway_record

    rec = cem_record(setup.service, setup.cem_args, parts.security)
    if parts.gateway is not None:
        gw = gateway_record(parts.gateway)
        if parts.readings is not None:
            gw["readings_dropped"] = parts.readings.dropped
        rec["gateway"] = gw
    if parts.s1 is not None:
        rec["s1"] = parts.s1.record()
    if parts.web is not None:
        rec["web"] = parts.web
    if parts.failed:
        rec["failed"] = list(parts.failed)
    return rec


def _print(setup: _Setup, parts: _Parts, args: argparse.Namespace, *, final: bool) -> None:
    rec = status_record(setup, parts)
    if final:
        rec["final"] = True
    if args.json:
        write_json_line(rec)
        return
    from gridedge.cli_cem import status_text

    line = status_text({**rec, "final": False})
    gw = rec.get("gateway")
    if gw is not None:
        line += f"  gateway {'up' if gw['link_up'] else 'DOWN'} sent {gw['sent']} acked {gw['acked']}"
        line += f" queued {gw['queued']}"
    print(line + ("  (stopped)" if final else ""), flush=True)


def summary(setup: _Setup, config_path: str) -> dict[str, Any]:
    """What `--check` found: what would run, and where."""
    cfg, sc = setup.cfg, setup.site.scenario
    cem = sc.cem
    out: dict[str, Any] = {
        "config": config_path,
        "scenario": cfg.scenario_file or "(inline)",
        "site": cem.site_id,
        "devices": list(sc.device_names),
    }
    if cfg.meter is not None:
        out["meter"] = cfg.meter.description
        if cfg.meter.s1 is not None:
            s1 = cfg.meter.s1
            out["s1"] = {"source": next(f"{n} {getattr(s1, n)}" for n in ("serial", "tcp", "file")
                                        if getattr(s1, n) is not None), "nilm": s1.nilm}  # fmt: skip
    else:
        assert cem.meter is not None
        port = cem.meter
        out["meter"] = next(f"{n} {getattr(port, n)}" for n in ("serial", "tcp", "file") if getattr(port, n))
    servers = {}
    if cem.s2 is not None:
        servers["s2"] = f"{cem.s2.host}:{cem.s2.port}"
    if cem.ocpp is not None:
        servers["ocpp"] = f"{cem.ocpp.host}:{cem.ocpp.port}"
    out["device_servers"] = servers
    out["sunspec"] = [f"{d.device} at {d.host}:{d.port} unit {d.unit}" for d in cem.sunspec]
    out["grid_link"] = None if cfg.mqtt is None else {
        "broker": cfg.mqtt.address, "prefix": cfg.mqtt.prefix,
        "commands": "verified" if cfg.keys.grid else "NOT authenticated",
        "reports": "signed" if cfg.keys.site else "unsigned",
    }  # fmt: skip
    gw = cfg.gateway
    if gw is not None:
        broker = cfg.gateway_broker()
        assert broker is not None
        out["gateway"] = {
            "meter_id": gw.meter_id, "broker": broker[0], "prefix": broker[1], "head_end": gw.head_end,
            "db": gw.db, "consent": _consent(gw.db, gw.head_end),
        }  # fmt: skip
    adr = cfg.openadr
    out["openadr"] = None if adr is None else {
        "vtn": adr.vtn_url, "client_id": adr.client_id,
        "events": "verified" if adr.keys else "NOT authenticated",
    }  # fmt: skip
    ha = cfg.home_assistant
    out["home_assistant"] = None if ha is None else {
        "broker": cfg.broker_for(ha.broker), "discovery_prefix": ha.discovery_prefix,
    }  # fmt: skip
    peers = cfg.peers
    out["peers"] = None if peers is None else {"broker": cfg.broker_for(peers.broker), "id": peers.id}
    out["web"] = None if cfg.web is None else {
        "listen": cfg.web.listen, "metrics": cfg.web.metrics, "users_db": cfg.web.users_db,
        "public_reads": cfg.web.public_reads,
    }  # fmt: skip
    return out


def _consent(db: str, recipient: str) -> list[str] | None:
    """The categories the user's recorded consent lets go to `recipient`; None: no database yet."""
    if not Path(db).is_file():
        return None
    from gridedge.home.gateway.consent import ConsentRegistry
    from gridedge.home.gateway.db import open_db

    conn: sqlite3.Connection = open_db(db)
    try:
        return sorted(c.value for c in ConsentRegistry(conn).allowed_categories(recipient))
    finally:
        conn.close()


def _print_summary(args: argparse.Namespace, setup: _Setup) -> None:
    info = summary(setup, args.config)
    if args.json:
        write_json_line({"valid": True, **info})
        return
    lines = [f"{args.config}: valid", f"  site {info['site']} (scenario {info['scenario']}),"
             f" devices: {', '.join(info['devices']) or 'none'}"]  # fmt: skip
    lines.append(f"  meter: {info['meter']} (read once, shared by the energy manager and the gateway)")
    if "s1" in info:
        lines.append(f"  S1: {info['s1']['source']}{', appliance recognition' if info['s1']['nilm'] else ''}")
    for name, where in info["device_servers"].items():
        lines.append(f"  {name.upper()} devices connect to {where}")
    for sp in info["sunspec"]:
        lines.append(f"  SunSpec: {sp}")
    link = info["grid_link"]
    lines.append(
        "  grid link: none (no [mqtt])" if link is None else
        f"  grid link: MQTT {link['broker']} prefix {link['prefix']!r}, commands {link['commands']},"
        f" reports {link['reports']}"
    )  # fmt: skip
    gw = info.get("gateway")
    if gw is None:
        lines.append("  gateway: none")
    else:
        consent = gw["consent"]
        said = (
            "no consent recorded yet: nothing will be sent (gridedge gateway consent)" if not consent
            else f"consent for {', '.join(consent)}"
        )  # fmt: skip
        lines.append(
            f"  gateway: meter {gw['meter_id']} to {gw['head_end']} on {gw['broker']}, db {gw['db']}; {said}"
        )
    adr = info["openadr"]
    lines.append("  openadr: none" if adr is None else f"  openadr: VTN {adr['vtn']} as {adr['client_id']},"
                 f" events {adr['events']}")  # fmt: skip
    ha = info["home_assistant"]
    lines.append("  home assistant: off" if ha is None else f"  home assistant: {ha['broker']}"
                 f" (discovery prefix {ha['discovery_prefix']})")  # fmt: skip
    peers = info["peers"]
    lines.append("  peers: off" if peers is None else f"  peers: as {peers['id']} on {peers['broker']}")
    web = info["web"]
    metrics = " (/metrics)" if web is not None and web["metrics"] else ""
    reads = "" if web is None else "public" if web["public_reads"] else "need a login"
    lines.append("  web: off" if web is None else f"  web: {web['listen']}{metrics}, dashboard users in"
                 f" {web['users_db']}, reads {reads}")  # fmt: skip
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
