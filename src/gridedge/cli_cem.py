"""`gridedge cem`: run the energy manager for a site until stopped.

    gridedge cem --config FILE.toml [--serial DEV | --tcp HOST:PORT | --file PATH
                                     | --chain2gate ws://HOST:PORT | --alfa HOST:PORT [--available-w W]]
                 [--prices FILE|URL] [--mqtt HOST:PORT [--mqtt-prefix P] [--grid-keys FILE] [--site-key FILE]]
                 [--peers-roster FILE --peers-owner FILE --peers-key FILE [--peers-id ID]
                  [--peers-mqtt HOST:PORT] [--peers-prefix P]]
                 [--ha-mqtt HOST:PORT [--ha-prefix P] [--ha-state-prefix P] [--ha-every S]]
                 [--status-every S] [--duration S] [--json]

The site scenario (docs/scenario.md) names the meter port (`[cem.meter]`, or the source flags,
which override it), where devices connect (`[cem.s2]`, `[cem.ocpp]`, `[[cem.sunspec]]`), the
failsafe values' file and how the planner runs. The service (`home.cem.service`) reads the meter,
obeys the grid operator's LPC/LPP limits from the bus, re-plans every quarter hour and runs the
1 s control cycle. With `--grid-keys` every heartbeat, limit and failsafe message from the grid
operator must be signed by a key of that key ring (docs/bus.md, "Command security"); anything else
is rejected, counted in the status and reported on the site's `rejected` topic, never acted on.
`--site-key` signs what the site reports back.

An Italian meter is read through its Chain 2 user device: `--chain2gate ws://HOST:PORT` (the
Chain2Gate's WebSocket) or `--alfa HOST:PORT` (the Sinapsi Alfa's Modbus TCP map, polled every
second; it does not expose the available power, which `--available-w` gives: the contractual power
+ 10 %, 3300 W by default). `feed_chain2` publishes their readings on the site's meter topic, which
the service reads when the scenario names no P1 port, and the meter's overload countdown on
`overload_topic(site)`, where the service takes it as a hard import limit and sheds load before
the meter disconnects. Chain 2 sends the power only when it moved by 300 W, so the last reading
is repeated every second meanwhile: the control cycle drops readings older than 5 s.

With `--peers-roster` the energy manager joins its home's peer network (`home.peers`, docs/peers.md)
as a manager: devices heard there (`PeerDevice`s: any device behind a Chain2Net-style peer) join its
registry and get its orders over signed frames, and the grid connection's power goes out to the
network every second. The status then carries a `peers` entry.

With `--ha-mqtt` the site and every device behind it appear in Home Assistant by themselves
(`home.ha`, docs/home-assistant.md): MQTT discovery configs under `--ha-prefix` (Home
Assistant's discovery prefix, `homeassistant` by default), states every `--ha-every` seconds,
availability with a last will. Each device gets a "Managed by gridedge" switch: OFF takes it out
of the energy manager's registry (no plan, no setpoints; it runs on its own and its readings stay
visible), ON gives it back. The status then carries a `home_assistant` entry.

A status line (or JSON object) goes to stdout every
`--status-every` seconds; logs go to stderr. Ctrl-C or SIGTERM stops it cleanly (devices keep
their last orders until their own fallbacks apply).

Exit status: 0 stopped, 1 the meter port failed, 2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridedge.bus.command_security import CommandSecurity
    from gridedge.bus.envelope import Transport
    from gridedge.bus.security import KeyRing, Signer
    from gridedge.clock import Clock
    from gridedge.home.cem.service import CemService
    from gridedge.home.devices.adapter import DeviceAdapter
    from gridedge.home.ha.publisher import HaCommand, HaSnapshot
    from gridedge.model.overload import OverloadWarning
    from gridedge.model.reading import MeterReading
    from gridedge.model.scenario import Scenario

log = logging.getLogger("gridedge.cem")

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
    source.add_argument(
        "--chain2gate", metavar="ws://HOST:PORT", help="Italian meter: a Chain2Gate's WebSocket (Chain 2)"
    )
    source.add_argument(
        "--alfa", metavar="HOST:PORT", help="Italian meter: a Sinapsi Alfa's Modbus TCP registers (1/s)"
    )
    p.add_argument(
        "--available-w", type=float, default=3300.0, metavar="W",
        help="--alfa: the supply's available power (contractual + 10 %%; default 3300 W)",
    )  # fmt: skip
    p.add_argument("--prices", metavar="FILE|URL", help="day-ahead prices (overrides tariff.prices)")
    p.add_argument(
        "--mqtt",
        metavar="HOST:PORT",
        help="MQTT 5 broker: LPC/LPP from the grid operator in, limit state out",
    )
    p.add_argument("--mqtt-prefix", default="", metavar="PREFIX", help="topic prefix on a shared broker")
    p.add_argument(
        "--grid-keys",
        metavar="FILE",
        help="key ring (TOML) of the grid operator's keys: accept only commands signed by them",
    )
    p.add_argument(
        "--site-key", metavar="FILE", help="this site's private key (PEM): sign state and heartbeats"
    )
    p.add_argument(
        "--openadr",
        metavar="URL",
        help="the energy service provider's OpenADR 3 VTN (e.g. http://127.0.0.1:8081/openadr3/3.0.1): "
        "its prices and import/export capacity limits steer the plan and the cycle",
    )
    p.add_argument(
        "--ven-name", metavar="NAME", help="this site's VEN name at the VTN (default: the site id)"
    )
    p.add_argument("--ven-client-id", metavar="ID", help="OAuth2 client id of this VEN")
    p.add_argument(
        "--ven-secret-file",
        metavar="FILE",
        help="file holding the VEN's OAuth2 client secret (not on the command line)",
    )
    p.add_argument(
        "--openadr-poll", type=float, default=60.0, metavar="S", help="VTN polling interval (default 60 s)"
    )
    p.add_argument(
        "--openadr-keys",
        metavar="FILE",
        help="key ring (TOML) of the service provider's keys: use only events it signed",
    )
    p.add_argument(
        "--openadr-source",
        default="aggregator",
        metavar="NAME",
        help="the service provider's source in the key ring (aggregator)",
    )
    peers = p.add_argument_group("home peer network (docs/peers.md)")
    peers.add_argument(
        "--peers-roster", metavar="FILE", help="signed roster of the home's peer network: its devices join"
    )
    peers.add_argument("--peers-owner", metavar="FILE", help="the network owner's public key")
    peers.add_argument("--peers-key", metavar="FILE", help="this energy manager's private key on it")
    peers.add_argument("--peers-id", default="cem", metavar="ID", help="its peer id (default cem)")
    peers.add_argument(
        "--peers-mqtt", metavar="HOST:PORT", help="the network's broker (default: the --mqtt broker)"
    )
    peers.add_argument("--peers-prefix", default="", metavar="P", help="topic prefix of the network")
    peers.add_argument(
        "--peers-issuer-key", metavar="FILE",
        help="the network owner's private key, when this energy manager owns the home network: it then "
        "serves the roster (published retained, re-signed every minute, sent to members that ask)",
    )  # fmt: skip
    peers.add_argument(
        "--peers-store", metavar="FILE", help="keep the newest roster heard, for restarts (default: none)"
    )
    ha = p.add_argument_group("Home Assistant (docs/home-assistant.md)")
    ha.add_argument(
        "--ha-mqtt", metavar="HOST:PORT", help="Home Assistant's MQTT broker: announce sensors and controls"
    )
    ha.add_argument(
        "--ha-prefix", default="homeassistant", metavar="P",
        help="Home Assistant's MQTT discovery prefix (default homeassistant)",
    )  # fmt: skip
    ha.add_argument(
        "--ha-state-prefix", default="gridedge", metavar="P",
        help="topic prefix of gridedge's state, availability and command topics (default gridedge)",
    )  # fmt: skip
    ha.add_argument(
        "--ha-every", type=float, default=10.0, metavar="S", help="state publishing interval (default 10 s)"
    )
    p.add_argument(
        "--status-every", type=float, default=10.0, metavar="S", help="status interval (default 10 s)"
    )
    p.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="status as JSON lines")
    p.set_defaults(func=cmd_cem, parser=p)


def _fail(msg: str) -> int:
    print(f"gridedge cem: {msg}", file=sys.stderr)
    return EXIT_USAGE


@dataclass(frozen=True, slots=True)
class _Keys:
    """The key files of `--grid-keys` / `--site-key`, loaded before anything starts."""

    grid: KeyRing | None
    site: Signer | None


def load_cem_keys(args: argparse.Namespace) -> _Keys | str:
    """The keys, or what is wrong with the flags or files."""
    from gridedge.bus.keyfile import KeyFileError, load_keyring, load_signer

    if (args.grid_keys or args.site_key) and not args.mqtt:
        return "--grid-keys and --site-key need --mqtt (they secure the broker link)"
    try:
        grid = load_keyring(args.grid_keys) if args.grid_keys else None
        site = load_signer(args.site_key) if args.site_key else None
    except KeyFileError as exc:
        return str(exc)
    return _Keys(grid, site)


def cmd_cem(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from gridedge.model.cem_config import MeterPortConfig
    from gridedge.model.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.config)
    except ScenarioError as exc:
        return _fail(str(exc))
    base = Path(args.config).resolve().parent
    keys = load_cem_keys(args)
    if isinstance(keys, str):
        return _fail(keys)
    if args.serial or args.tcp or args.file:
        try:
            port = MeterPortConfig(serial=args.serial, tcp=args.tcp, file=args.file)
        except ValidationError as exc:
            return _fail(f"meter port: {exc.errors()[0]['msg']}")
        scenario = scenario.model_copy(update={"cem": scenario.cem.model_copy(update={"meter": port})})
    chain2 = bool(getattr(args, "chain2gate", None) or getattr(args, "alfa", None))
    if chain2:
        problem = _chain2_problem(args)
        if problem is not None:
            return _fail(problem)
        # the Chain 2 readings reach the service on the bus (`feed_chain2`), not from a P1 port
        scenario = scenario.model_copy(update={"cem": scenario.cem.model_copy(update={"meter": None})})
    elif scenario.cem.meter is None:
        return _fail(
            f"{args.config}: no meter port: set [cem.meter] or give --serial, --tcp, --file, --chain2gate"
            " or --alfa"
        )
    service = cem_setup(scenario, base, args)
    if isinstance(service, str):
        return _fail(service)
    try:
        return asyncio.run(run_cem(service, args, keys))
    except KeyboardInterrupt:
        return EXIT_OK


def cem_setup(scenario: Scenario, base: Path, args: argparse.Namespace) -> CemService | str:
    """The energy manager of `scenario` (relative paths against `base`) with the options of `args`
    (the flags of `gridedge cem`, `--config` aside), or what is wrong with them: prices, the VEN's
    secret and keys, Home Assistant, the peer network. Nothing is started. (`gridedge run` builds
    its energy manager here too.)"""
    from gridedge.cli_plan import highs_banner_to_stderr
    from gridedge.clock import RealClock
    from gridedge.home.cem.planning import resolve_path
    from gridedge.home.cem.service import CemService
    from gridedge.home.cem.tariffs import load_prices
    from gridedge.model.tariff import PriceSeries
    from gridedge.physics.hplib import HplibModel

    tariff = scenario.tariff
    source = args.prices or tariff.prices
    where = None if source is None else resolve_path(source, None if args.prices else base)

    def prices() -> PriceSeries | None:
        if where is None:
            return None
        return load_prices(where, unit=tariff.price_unit, tz=scenario.site.timezone)

    openadr = None
    if args.openadr:
        if not args.ven_client_id or not args.ven_secret_file:
            return "--openadr needs --ven-client-id and --ven-secret-file"
        try:
            secret = Path(args.ven_secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            return f"--ven-secret-file: {exc}"
        if not secret:
            return f"--ven-secret-file: {args.ven_secret_file} is empty"
        from gridedge.home.cem.openadr_link import OpenAdrSignals

        openadr = OpenAdrSignals()
        args.ven_secret = secret
        args.event_verifier = None
        if args.openadr_keys:
            from gridedge.bus.document_security import DocumentVerifier
            from gridedge.bus.keyfile import KeyFileError, load_keyring

            try:
                args.event_verifier = DocumentVerifier(load_keyring(args.openadr_keys), args.openadr_source)
            except (OSError, KeyFileError) as exc:
                return f"--openadr-keys: {exc}"
        else:
            log.warning("no --openadr-keys: the service provider's events are NOT authenticated")
    if args.ha_mqtt:
        problem = _ha_problem(args)
        if problem is not None:
            return problem
    args.peer_node = None
    if args.peers_roster:
        node = _peer_node(args)
        if isinstance(node, str):
            return node
        args.peer_node = node
    highs_banner_to_stderr()  # stdout carries only the status lines
    clock = RealClock()
    return CemService(
        scenario, clock=clock, base_dir=base, prices=prices, openadr=openadr,
        cop_model=lambda hp: HplibModel.load(hp.model),
    )  # fmt: skip


def _peer_node(args: argparse.Namespace) -> Any:
    """The energy manager's node on its home's peer network, or what is wrong with the options."""
    from gridedge.cli_peers import PeersSetupError, member_node

    if not args.peers_owner or not args.peers_key:
        return "--peers-roster needs --peers-owner and --peers-key"
    broker = args.peers_mqtt or args.mqtt
    if not broker:
        return "--peers-roster needs a broker: --peers-mqtt HOST:PORT (or --mqtt)"
    try:
        node = member_node(
            args.peers_roster, args.peers_owner, args.peers_key, args.peers_id, broker, args.peers_prefix,
            roster_store=args.peers_store,
        )  # fmt: skip
    except PeersSetupError as exc:
        return f"--peers-roster: {exc}"
    if args.peers_issuer_key:
        from gridedge.bus.keyfile import KeyFileError, load_signer
        from gridedge.home.peers import RosterIssuer

        try:
            node.serve_roster(RosterIssuer(node.network, load_signer(args.peers_issuer_key)))
        except (KeyFileError, ValueError) as exc:
            return f"--peers-issuer-key: {exc}"
    return node


def _ha_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the Home Assistant flags, or None."""
    from gridedge.home.ha.discovery import HaTopics
    from gridedge.ports.p1.readers import parse_host_port

    try:
        parse_host_port(args.ha_mqtt)
    except ValueError as exc:
        return f"--ha-mqtt: {exc}"
    try:
        HaTopics("site", args.ha_prefix, args.ha_state_prefix)
    except ValueError as exc:
        return f"--ha-prefix/--ha-state-prefix: {exc}"
    if not (math.isfinite(args.ha_every) and args.ha_every > 0):
        return f"--ha-every must be positive, got {args.ha_every}"
    return None


def _chain2_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the Chain 2 flags, or None."""
    from gridedge.ports.p1.readers import parse_host_port

    if args.chain2gate and not args.chain2gate.startswith(("ws://", "wss://")):
        return f"--chain2gate: expected ws://HOST:PORT, got {args.chain2gate!r}"
    if args.alfa:
        try:
            parse_host_port(args.alfa)
        except ValueError as exc:
            return f"--alfa: {exc}"
    if not args.available_w > 0:
        return f"--available-w must be positive, got {args.available_w}"
    return None


@dataclass(slots=True)
class FeedStats:
    readings: int = 0
    """Readings published (held repeats not counted)."""
    held: int = 0
    """Repeats of the last reading while Chain 2 sent nothing new."""
    warnings: int = 0


async def feed_chain2(
    transport: Transport,
    site_id: str,
    clock: Clock,
    events: AsyncIterator[MeterReading | OverloadWarning],
    stop: asyncio.Event,
    *,
    hold_s: float = 1.0,
    stats: FeedStats | None = None,
) -> FeedStats:
    """Publish a Chain 2 device's readings on the site's meter topic and its overload warnings on
    `overload_topic(site)`, until `stop` or the end of `events`. While no new reading comes, the
    last one is published again every `hold_s` on `clock`: a Chain 2 meter is silent while its
    power stays within 300 W of the last value it sent, so that value still holds."""
    from gridedge.home.cem.overload import overload_topic
    from gridedge.home.cem.service import meter_topic
    from gridedge.model.overload import OverloadWarning

    stats = stats if stats is not None else FeedStats()
    it = aiter(events)
    nxt: asyncio.Future[MeterReading | OverloadWarning] = asyncio.ensure_future(anext(it))
    stopper = asyncio.ensure_future(stop.wait())
    last: MeterReading | None = None
    last_t = -math.inf
    try:
        while not stop.is_set():
            timer = asyncio.ensure_future(clock.sleep(hold_s))
            waiting: set[asyncio.Future[Any]] = {nxt, stopper, timer}
            try:
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
            if nxt in done:
                try:
                    item = nxt.result()
                except StopAsyncIteration:
                    return stats
                nxt = asyncio.ensure_future(anext(it))
                if isinstance(item, OverloadWarning):
                    stats.warnings += 1
                    log.warning("meter overload: %.0f W drawn, %.0f W available, disconnection in %.0f s",
                                item.instant_power_w, item.available_power_w, item.seconds_left)  # fmt: skip
                    transport.publish(overload_topic(site_id), item, source="meter")
                    continue
                last, last_t = item, clock.monotonic()
                stats.readings += 1
                transport.publish(meter_topic(site_id), item, source="meter")
            elif last is not None and clock.monotonic() - last_t >= hold_s - 1e-6:
                last_t = clock.monotonic()
                stats.held += 1
                transport.publish(meter_topic(site_id), last, source="meter")
        return stats
    finally:
        nxt.cancel()
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await nxt
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()


async def _chain2(service: CemService, args: argparse.Namespace, stop: asyncio.Event) -> None:
    """The Italian meter's user device as the service's meter."""
    events: AsyncIterator[MeterReading | OverloadWarning]
    if args.chain2gate:
        from gridedge.ports.chain2.reader import Chain2GateReader

        events = Chain2GateReader(args.chain2gate, service.clock).readings(stop)
        where = f"Chain2Gate {args.chain2gate}"
    else:
        from gridedge.ports.chain2.alfa_reader import AlfaReader
        from gridedge.ports.p1.readers import parse_host_port

        host, port = parse_host_port(args.alfa)
        reader = AlfaReader(host, port, service.clock, meter_id=service.site_id,
                            available_power_w=args.available_w)  # fmt: skip
        events = reader.readings(stop)
        where = f"Sinapsi Alfa tcp://{host}:{port}"
    print(f"Chain 2 meter from {where}", file=sys.stderr, flush=True)
    await feed_chain2(service.transport, service.site_id, service.clock, events, stop)


StatusPrinter = Callable[["CommandSecurity | None", bool], None]
"""Prints one status (the bool: the final one); `gridedge run` adds its gateway's to the energy manager's."""


async def run_cem(
    service: CemService,
    args: argparse.Namespace,
    keys: _Keys,
    *,
    stop: asyncio.Event | None = None,
    printer: StatusPrinter | None = None,
) -> int:
    """Run the service with the options of `args` until `stop` (SIGINT, SIGTERM, `--duration`):
    the MQTT bridge, the VEN, Chain 2, the peer network, Home Assistant, the status lines
    (`printer`, default the `--json`/text line of `gridedge cem`)."""
    if args.mqtt:
        return await _run_bridged(service, args, keys, stop=stop, printer=printer)
    return await _run_service(service, args, stop=stop, printer=printer)


async def _run_bridged(
    service: CemService,
    args: argparse.Namespace,
    keys: _Keys,
    *,
    stop: asyncio.Event | None = None,
    printer: StatusPrinter | None = None,
) -> int:
    """The grid operator's topics between the service's bus and an MQTT broker: commands in
    through `bus.bridge` (verified by `CommandSecurity` at the codec boundary when keys are
    given), the site's reports out under the source `site:<id>` (signed with `--site-key`)."""
    from gridedge.bus.bridge import Bridge
    from gridedge.bus.command_security import CommandRejected, site_command_security, site_source
    from gridedge.bus.envelope import Envelope
    from gridedge.bus.mqtt import MqttTransport
    from gridedge.bus.security import Verifier
    from gridedge.home.cem.grid_link import grid_topics
    from gridedge.model.limits import Rejected
    from gridedge.ports.p1.readers import parse_host_port

    site = service.site_id

    def reject(exc: CommandRejected) -> None:
        # reported like the limit machine's own refusals: on `.../rejected`, to the grid operator too
        leaf_parent = exc.topic.rsplit("/", 1)[0]
        service.transport.publish(
            f"{leaf_parent}/rejected", Rejected(exc.topic, exc.source, exc.why), source=service.grid.source
        )

    verifier = None if keys.grid is None else Verifier(keys.grid, audience=site)
    security = site_command_security(site, keys.site, verifier, on_reject=reject)
    if verifier is None:
        log.warning(
            "no --grid-keys: commands from the grid operator are NOT authenticated "
            "(anyone who can publish on the broker can set this site's limits)"
        )
    host, port = parse_host_port(args.mqtt)
    mqtt = MqttTransport(
        service.clock,
        host=host,
        port=port,
        topic_prefix=args.mqtt_prefix,
        # client ids are broker-wide: the prefix keeps two systems' sites named alike apart
        client_id=f"gridedge-cem-{args.mqtt_prefix.replace('/', '-')}-{site}".replace("--", "-"),
        security=security,
        on_error=lambda exc: log.warning("MQTT: %s", exc),
    )
    inbound, outbound = grid_topics(site)
    bridge = Bridge(service.transport, mqtt, inbound=inbound, name="mqtt")

    def forward_out(env: Envelope[object]) -> None:
        # one source per site, the one its key is provisioned for in the grid operator's key ring
        mqtt.publish(env.topic, env.payload, source=site_source(site))

    out_subs = [service.transport.subscribe_callback(pattern, forward_out) for pattern in outbound]
    await mqtt.start()
    bridge.start()
    try:
        await mqtt.wait_subscribed(10.0)
    except TimeoutError:
        print(
            f"gridedge cem: no MQTT broker at {args.mqtt} yet; connecting in the background", file=sys.stderr
        )
    signed = "signed" if keys.site is not None else "unsigned"
    verified = "verified" if verifier is not None else "NOT authenticated"
    print(f"MQTT bridge (commands {verified}, reports {signed}) on {args.mqtt}", file=sys.stderr, flush=True)
    try:
        return await _run_service(service, args, security, stop=stop, printer=printer)
    finally:
        bridge.close()
        for sub in out_subs:
            sub.close()
        await mqtt.close()


async def _run_service(
    service: CemService,
    args: argparse.Namespace,
    security: CommandSecurity | None = None,
    *,
    stop: asyncio.Event | None = None,
    printer: StatusPrinter | None = None,
) -> int:
    stop = stop if stop is not None else asyncio.Event()
    if printer is None:

        def printer(sec: CommandSecurity | None, final: bool) -> None:
            _print(service, args, sec, final=final)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    status = asyncio.ensure_future(_status(service, args, stop, security, printer))
    ven = asyncio.ensure_future(_ven(service, args, stop)) if args.openadr else None
    chain2 = None
    if getattr(args, "chain2gate", None) or getattr(args, "alfa", None):
        chain2 = asyncio.ensure_future(_chain2(service, args, stop))
    peers = None
    node = getattr(args, "peer_node", None)
    if node is not None:
        from gridedge.home.peers.cem_link import CemPeerLink

        peers = CemPeerLink(node, service.registry, lambda: service.loop.reading)
        args.peer_link = peers
        await peers.start()
        print(f"peer network {node.network} as {node.peer_id} on {args.peers_mqtt or args.mqtt}",
              file=sys.stderr, flush=True)  # fmt: skip
    ha = None
    if getattr(args, "ha_mqtt", None):
        ha = asyncio.ensure_future(_home_assistant(service, args, stop, security))
    try:
        await service.run(stop)
    except OSError as exc:
        print(f"gridedge cem: meter port failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        stop.set()
        await status
        if ven is not None:
            await ven
        if chain2 is not None:
            await chain2
        if ha is not None:
            await ha
        printer(security, True)
        if peers is not None:
            await peers.close()
            await peers.node.link.close()
    return EXIT_OK


class ManagedDevices:
    """The "Managed by gridedge" switches of Home Assistant, on `home.cem.managed.DeviceParking`
    (the one implementation, shared with the demo and `gridedge run`): a device switched OFF is
    taken out of the service's registry and parked (the planner and the control cycle no longer
    see it, so it gets no setpoints and runs on its own fallbacks; its adapter keeps its protocol
    session, so its readings stay visible in Home Assistant); ON puts the same adapter back. A
    parked device that reconnects (its protocol registers a new adapter) is parked again at once.

    A grid operator's limit comes first (§14a EnWG, LPC/LPP): while a limit or the failsafe applies,
    switching a device OFF is refused, and devices parked before are put back under management
    (`restore_under_limit`, checked every second), since an unmanaged device's power is outside the
    limit guard's reach.
    """

    def __init__(self, service: CemService) -> None:
        from gridedge.home.cem.managed import DeviceParking

        self.service = service
        self.parking = DeviceParking(service, who="Home Assistant")

    def close(self) -> None:
        self.parking.close()

    @property
    def parked(self) -> dict[str, tuple[DeviceAdapter, str | None]]:
        """Parked devices: id -> (adapter, the scenario's name or None)."""
        names = self.parking.names
        return {did: (a, names.get(did)) for did, a in self.parking.parked.items()}

    def command(self, command: HaCommand) -> str | None:
        """`HomeAssistantBridge.on_command`: None when done, or why not."""
        from gridedge.home.ha.discovery import CONTROL_MANAGED

        did = command.device_id
        if command.control != CONTROL_MANAGED or did is None:
            return f"{command.control}: not a control of gridedge cem"
        return self.parking.set_managed(did, bool(command.value))

    def grid_limited(self) -> str | None:
        """Which grid limit applies now (LPC/LPP limited or failsafe), or None."""
        from gridedge.home.cem.managed import grid_limited

        return grid_limited(self.service)

    def restore_under_limit(self) -> list[str]:
        """Put every parked device back under management while a grid limit applies."""
        return self.parking.restore_under_limit()


def ha_snapshot(
    service: CemService, security: CommandSecurity | None = None, managed: ManagedDevices | None = None
) -> HaSnapshot:
    """What `HomeAssistantBridge` shows: the status record as the site's state document, the
    meter's energy registers, and every device (parked ones as not managed)."""
    from gridedge.home.ha.discovery import HaDevice, site_state_document
    from gridedge.home.ha.publisher import HaSnapshot

    rec = status_record(service, security)
    reading = service.loop.reading
    site = site_state_document(
        rec,
        energy_import_kwh=None if reading is None else reading.energy_import_total_kwh,
        energy_export_kwh=None if reading is None else reading.energy_export_total_kwh,
        now=service.clock.now(),
    )
    devices = [
        HaDevice(a.info, a.state(), service.binding.by_id.get(a.info.device_id)) for a in service.registry
    ]
    if managed is not None:
        devices += [
            HaDevice(a.info, a.state(), name, managed=False)
            for did, (a, name) in managed.parked.items()
            if did not in service.registry
        ]
    return HaSnapshot(site, tuple(devices))


async def _home_assistant(
    service: CemService, args: argparse.Namespace, stop: asyncio.Event, security: CommandSecurity | None
) -> None:
    """The site's entities in Home Assistant until `stop`."""
    from gridedge.home.ha.discovery import HaTopics
    from gridedge.home.ha.publisher import HaMqttLink, HomeAssistantBridge
    from gridedge.ports.p1.readers import parse_host_port

    host, port = parse_host_port(args.ha_mqtt)
    topics = HaTopics(service.site_id, args.ha_prefix, args.ha_state_prefix)
    link = HaMqttLink(
        service.clock, host=host, port=port, will_topic=topics.availability,
        client_id=f"gridedge-ha-{topics.node_id}-{args.ha_state_prefix.replace('/', '-')}",
    )  # fmt: skip
    managed = ManagedDevices(service)
    bridge = HomeAssistantBridge(
        link, service.clock, service.site_id, args.ha_prefix, args.ha_state_prefix, on_command=managed.command
    )
    args.ha_bridge = bridge
    args.ha_managed = managed
    stop_listen = service.registry.listen(lambda info, added: bridge.wake())
    print(f"Home Assistant discovery ({args.ha_prefix}) on {args.ha_mqtt}", file=sys.stderr, flush=True)
    async def guard() -> None:
        while not stop.is_set():
            if managed.restore_under_limit():
                bridge.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    watch = asyncio.ensure_future(guard())
    try:
        await bridge.run(lambda: ha_snapshot(service, security, managed), stop, args.ha_every)
    finally:
        stop_listen()
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        managed.close()
        await link.close()


async def _ven(service: CemService, args: argparse.Namespace, stop: asyncio.Event) -> None:
    """The site's VEN: registers at the VTN and polls it; its signals go to `service.openadr`.
    An unreachable VTN is retried with back-off; the energy manager runs on without it meanwhile."""
    from gridedge.clock import backoff_delays
    from gridedge.home.ven.agent import VenAgent
    from gridedge.home.ven.client import VenClient

    adr = service.openadr
    assert adr is not None
    delays = backoff_delays(1.0, 2.0, 60.0, jitter=0.2)
    async with VenClient(args.openadr, args.ven_client_id, args.ven_secret, service.clock) as client:
        agent = VenAgent(
            client, service.clock, ven_name=args.ven_name or service.site_id,
            poll_interval_s=args.openadr_poll, on_signals=lambda sig: adr.update(sig, agent.untrusted),
            verifier=args.event_verifier,
        )  # fmt: skip
        while not stop.is_set():
            try:
                await agent.start()
                print(f"OpenADR VEN {agent.ven_name} on {args.openadr}", file=sys.stderr, flush=True)
                await agent.run(stop)
                return
            except Exception as exc:  # httpx, OpenADR errors: the VTN is down or refused us
                delay = next(delays)
                log.warning("OpenADR VTN %s: %s; retry in %.0f s", args.openadr, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)


async def _status(
    service: CemService,
    args: argparse.Namespace,
    stop: asyncio.Event,
    security: CommandSecurity | None,
    printer: StatusPrinter,
) -> None:
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
            printer(security, False)


def _openadr_status(service: CemService) -> dict[str, Any] | None:
    adr = service.openadr
    if adr is None:
        return None
    sig = adr.signals
    now = service.clock.now()
    active = adr.active(now)
    return {
        "updates": adr.updates,
        "events": [] if sig is None else list(sig.event_ids),
        "prices": None if sig is None or sig.prices is None else len(sig.prices),
        "import_limit_w": active.import_w,
        "export_limit_w": active.export_w,
        "untrusted": dict(adr.untrusted),
    }


def status_record(service: CemService, security: CommandSecurity | None = None) -> dict[str, Any]:
    """One status: the meter, the limits, the plan, the cycle, the devices, and (on a broker) what
    became of the grid operator's commands: `rejected_grid_messages` counts both the messages the
    limit machines refused and those that failed authentication, `grid_commands` breaks the
    latter down by reason."""
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
        "openadr": _openadr_status(service),
        "overload": _overload_status(service),
        "devices": {a.info.device_id: service.binding.by_id.get(a.info.device_id) for a in service.registry},
        "cycles": loop.stats.cycles,
        "setpoints_sent": loop.stats.sent,
        "setpoints_failed": loop.stats.failed,
        "seconds_over_import": loop.stats.seconds_over_import,
        "shortfall_w": None if d is None else d.import_shortfall_w,
        "rejected_grid_messages": service.grid.rejected + (security.stats.rejected_total if security else 0),
        "grid_commands": None if security is None else _commands_record(security),
        "urls": dict(service.urls),
    }


def _overload_status(service: CemService) -> dict[str, Any]:
    """The meter's overload countdowns seen (Chain 2) and the import limit one imposes now."""
    over = service.overload
    w = over.warning
    return {
        "warnings": over.warnings,
        "import_limit_w": over.import_limit_w(service.clock.now()),
        "disconnect_at": None if w is None else w.disconnect_at.isoformat(),
    }


def _commands_record(security: CommandSecurity) -> dict[str, Any]:
    s = security.stats
    return {
        "authenticated": security.authenticates,
        "signing": security.signer is not None,
        "verified": s.verified,
        "unverified": s.unverified,
        "signed": s.signed,
        "rejected": s.rejected_nonzero(),
    }


def cem_record(
    service: CemService, args: argparse.Namespace, security: CommandSecurity | None
) -> dict[str, Any]:
    """The status record with the peer network's and Home Assistant's entries when they run."""
    rec = status_record(service, security)
    link = getattr(args, "peer_link", None)
    if link is not None:
        st = link.node.stats
        rec["peers"] = {
            "network": link.node.network, "roster_version": st.roster_version,
            "devices": sorted(d.peer_id for d in link.directory), "received": st.received,
            "grid_reports": link.reports, "rejected": dict(st.rejected),
        }  # fmt: skip
    bridge = getattr(args, "ha_bridge", None)
    if bridge is not None:
        hs = bridge.stats
        rec["home_assistant"] = {
            "link_up": bridge.link.up, "configs_published": hs.configs_published,
            "configs_deleted": hs.configs_deleted, "states_published": hs.states_published,
            "births": hs.births, "commands": hs.commands, "refused": dict(hs.refused),
            "unmanaged": sorted(args.ha_managed.parked),
        }  # fmt: skip
    return rec


def _print(
    service: CemService, args: argparse.Namespace, security: CommandSecurity | None, *, final: bool = False
) -> None:
    rec = cem_record(service, args, security)
    if final:
        rec["final"] = True
    if args.json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(rec) + b"\n")
        sys.stdout.flush()
        return
    print(status_text(rec), flush=True)


def status_text(rec: dict[str, Any]) -> str:
    """The text status line of a `cem_record`."""
    final = bool(rec.get("final"))
    lpc = rec["lpc"]
    plan = rec["plan"]
    grid = "-" if rec["grid_w"] is None else f"{rec['grid_w']:.0f} W"
    limit = "" if lpc is None or lpc["limit_w"] is None else f" {lpc['limit_w']:.0f} W"
    plan_text = "no plan" if plan is None else f"plan {plan['status']} {plan['cost_eur']:.2f} EUR"
    return (
        f"{rec['time'][:19]}  grid {grid}  lpc {lpc['state'] if lpc else '-'}{limit}  {plan_text}"
        f"  devices {len(rec['devices'])}  readings {rec['readings']}  cycles {rec['cycles']}"
        + ("  (stopped)" if final else "")
    )
