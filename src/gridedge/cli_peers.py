"""`gridedge peers`: rosters, the community controller and a watcher for peer networks (docs/peers.md).

    gridedge peers roster sign --members FILE.toml --owner-key OWNER.pem --out ROSTER.cose
    gridedge peers roster show ROSTER.cose --owner OWNER.pub.pem
    gridedge peers controller --roster ROSTER.cose --owner OWNER.pub.pem --key KEY.pem --mqtt HOST:PORT
                              [--id controller] [--issuer-key OWNER.pem] [--cycle-s 2] [--weight HOME=W ...]
                              [--roster-store FILE]
    gridedge peers watch --roster ROSTER.cose --owner OWNER.pub.pem --key KEY.pem --id ID --mqtt HOST:PORT
                         [--kind data ...] [--json] [--seconds S]

The members file lists who belongs, for people to read and review (keys from `gridedge keys
generate`)::

    network = "rec-1"
    version = 1
    [[member]]
    id = "controller"
    role = "controller"                 # device | manager | controller
    public_key_file = "controller.pub.pem"
    groups = []                         # optional
    not_after = 2027-12-31T00:00:00Z    # optional

`sign` writes the roster as the network carries it (COSE_Sign1 by the owner's key); members are
started with that file. `controller` runs the community controller; with `--issuer-key` it also
serves the roster (publishes it, answers members that ask). `watch` prints what a member hears.

Exit status: 0 done, 2 usage or file errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from gridedge.clock import RealClock

EXIT_OK = 0
EXIT_USAGE = 2


def add_peers_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "peers",
        help="peer networks of devices and energy communities (Chain2Net-style)",
        description="Rosters, the community controller and a watcher for peer networks (docs/peers.md).",
    )
    sub = p.add_subparsers(dest="peers_command", required=True, metavar="COMMAND")

    roster = sub.add_parser("roster", help="sign and show membership rosters")
    rsub = roster.add_subparsers(dest="roster_command", required=True, metavar="COMMAND")
    sign = rsub.add_parser("sign", help="sign a members file into a roster with the owner's key")
    sign.add_argument("--members", required=True, metavar="FILE", help="members file (TOML)")
    sign.add_argument("--owner-key", required=True, metavar="FILE", help="the network owner's private key")
    sign.add_argument("--out", required=True, metavar="FILE", help="signed roster to write")
    sign.set_defaults(func=cmd_roster_sign, parser=sign)
    show = rsub.add_parser("show", help="verify a signed roster and list its members")
    show.add_argument("file", metavar="ROSTER")
    show.add_argument("--owner", required=True, metavar="FILE", help="the owner's public key")
    show.set_defaults(func=cmd_roster_show, parser=show)

    def member_args(q: argparse.ArgumentParser, default_id: str | None) -> None:
        q.add_argument("--roster", required=True, metavar="FILE", help="signed roster (peers roster sign)")
        q.add_argument("--owner", required=True, metavar="FILE", help="the owner's public key")
        q.add_argument("--key", required=True, metavar="FILE", help="this member's private key")
        q.add_argument("--id", default=default_id, required=default_id is None, help="this member's peer id")
        q.add_argument("--mqtt", required=True, metavar="HOST:PORT")
        q.add_argument("--mqtt-prefix", default="", metavar="P")
        q.add_argument("--seconds", type=float, help="stop after this long (default: until interrupted)")
        q.add_argument(
            "--roster-store", metavar="FILE",
            help="keep the newest roster heard here, so that a restart does not fall back to --roster",
        )  # fmt: skip

    ctrl = sub.add_parser("controller", help="run an energy community's controller (PV surplus sharing)")
    member_args(ctrl, "controller")
    ctrl.add_argument("--issuer-key", metavar="FILE", help="the owner's private key: also serve the roster")
    ctrl.add_argument("--cycle-s", type=float, default=2.0)
    ctrl.add_argument("--margin-w", type=float, default=100.0)
    ctrl.add_argument("--weight", action="append", default=[], metavar="HOME=W", help="sharing key of a home")
    ctrl.set_defaults(func=cmd_controller, parser=ctrl)

    watch = sub.add_parser("watch", help="print what a member of a network hears")
    member_args(watch, None)
    watch.add_argument("--kind", action="append", metavar="KIND", help="only these kinds (default: all)")
    watch.add_argument("--json", action="store_true", help="one JSON object per line")
    watch.set_defaults(func=cmd_watch, parser=watch)


def _fail(msg: str) -> int:
    print(f"gridedge peers: {msg}", file=sys.stderr)
    return EXIT_USAGE


class _Bad(Exception):
    pass


def _host_port(text: str) -> tuple[str, int]:
    from gridedge.ports.p1.readers import parse_host_port

    try:
        return parse_host_port(text)
    except ValueError as e:
        raise _Bad(f"MQTT broker: {e}") from None


def _read_members(path: Path) -> Any:
    from gridedge.bus.keyfile import KeyFileError, load_public_key
    from gridedge.bus.security import key_thumbprint
    from gridedge.home.peers import Member, Role, Roster

    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise _Bad(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise _Bad(f"{path}: not TOML ({e})") from None
    network, version = doc.get("network"), doc.get("version", 1)
    if not isinstance(network, str) or not isinstance(version, int) or isinstance(version, bool):
        raise _Bad(f'{path}: expected network = "name" and version = integer at the top')
    raw = doc.get("member")
    if not isinstance(raw, list) or not raw:
        raise _Bad(f"{path}: expected at least one [[member]] table")
    members = []
    for n, m in enumerate(raw, 1):
        where = f"{path}: [[member]] #{n}"
        if not isinstance(m, dict):
            raise _Bad(f"{where}: expected a table")
        unknown = set(m) - {"id", "role", "public_key_file", "groups", "not_after"}
        if unknown:
            raise _Bad(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            role = Role(str(m.get("role")))
        except ValueError:
            raise _Bad(f"{where}: role: expected one of {', '.join(r.value for r in Role)}, "
                       f"found {m.get('role')!r}") from None  # fmt: skip
        key_file = m.get("public_key_file")
        if not isinstance(key_file, str):
            raise _Bad(f"{where}: public_key_file: expected a file name")
        try:
            key = load_public_key(path.parent / key_file)
        except KeyFileError as e:
            raise _Bad(f"{where}: {e}") from None
        groups = m.get("groups", [])
        not_after = m.get("not_after")
        if not_after is not None and (not isinstance(not_after, datetime) or not_after.tzinfo is None):
            raise _Bad(f"{where}: not_after: expected a date-time with a UTC offset, found {not_after!r}")
        kid = key.kid if key.kid is not None else key_thumbprint(key.public_key)[:8]
        try:
            members.append(Member(str(m.get("id")), kid, key.public_key, role, tuple(groups), not_after))
        except (TypeError, ValueError) as e:
            raise _Bad(f"{where}: {e}") from None
    try:
        return Roster(network, version, tuple(members))
    except ValueError as e:
        raise _Bad(f"{path}: {e}") from None


def cmd_roster_sign(args: argparse.Namespace) -> int:
    from gridedge.bus.keyfile import KeyFileError, load_signer
    from gridedge.home.peers import RosterIssuer

    try:
        roster = _read_members(Path(args.members))
        owner = load_signer(args.owner_key)
    except _Bad as e:
        return _fail(str(e))
    except KeyFileError as e:
        return _fail(str(e))
    data = RosterIssuer(roster.network, owner).sign(roster, RealClock().now())
    try:
        Path(args.out).write_bytes(data)
    except OSError as e:
        return _fail(f"{args.out}: {e.strerror or e}")
    print(
        f"roster {roster.network} v{roster.version}: {len(roster.members)} members -> {args.out}",
        file=sys.stderr,
    )
    return EXIT_OK


def _load_roster(path: str, owner_file: str) -> tuple[Any, Any]:
    from gridedge.bus.keyfile import KeyFileError, load_public_key
    from gridedge.bus.security import key_thumbprint
    from gridedge.home.peers.roster import RosterError, claimed_network, open_roster, owner_verifier

    try:
        owner = load_public_key(owner_file)
        data = Path(path).read_bytes()
    except KeyFileError as e:
        raise _Bad(str(e)) from None
    except OSError as e:
        raise _Bad(f"{path}: {e.strerror or e}") from None
    kid = owner.kid if owner.kid is not None else key_thumbprint(owner.public_key)[:8]
    try:
        network = claimed_network(data)
        roster = open_roster(data, owner_verifier(network, owner.public_key, kid), network, RealClock().now())
    except RosterError as e:
        raise _Bad(f"{path}: {e}") from None
    return roster, (owner.public_key, kid)


def cmd_roster_show(args: argparse.Namespace) -> int:
    try:
        roster, _ = _load_roster(args.file, args.owner)
    except _Bad as e:
        return _fail(str(e))
    print(f"network {roster.network}  version {roster.version}  signed by the owner's key: valid")
    for m in roster.members:
        until = "" if m.not_after is None else f"  until {m.not_after.isoformat()}"
        groups = ",".join(m.groups) or "-"
        print(f"  {m.peer_id:<20} {m.role.value:<10} kid {m.kid.hex()}  groups {groups}{until}")
    return EXIT_OK


class PeersSetupError(ValueError):
    """A roster, key or broker option that does not work, said for the user."""


def member_node(
    roster_file: str, owner_file: str, key_file: str, peer_id: str, mqtt: str, prefix: str = "", **kw: Any
) -> Any:
    """A `PeerNode` of this member on an MQTT broker, from the files a member is provisioned with:
    the signed roster, the owner's public key and its own private key (`PeersSetupError` says what
    is wrong). Used by `gridedge peers` and by `gridedge cem --peers-roster`."""
    from gridedge.bus.keyfile import KeyFileError, load_signer
    from gridedge.bus.rawlink import MqttRawLink
    from gridedge.home.peers import PeerNode

    try:
        roster, owner = _load_roster(roster_file, owner_file)
        try:
            signer = load_signer(key_file)
        except KeyFileError as e:
            raise _Bad(str(e)) from None
        host, port = _host_port(mqtt)
    except _Bad as e:
        raise PeersSetupError(str(e)) from None
    clock = RealClock()
    link = MqttRawLink(clock, host=host, port=port, topic_prefix=prefix)
    try:
        node = PeerNode(peer_id, signer, roster, owner, link, clock, **kw)
    except ValueError as e:
        raise PeersSetupError(str(e)) from None
    if not node.member:
        raise PeersSetupError(f"{peer_id} is not a member of {roster.network} v{roster.version}")
    return node


def _member(args: argparse.Namespace, **kw: Any) -> Any:
    try:
        return member_node(args.roster, args.owner, args.key, args.id, args.mqtt, args.mqtt_prefix,
                           roster_store=args.roster_store, **kw)  # fmt: skip
    except PeersSetupError as e:
        raise _Bad(str(e)) from None


async def _until_stopped(seconds: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def cmd_controller(args: argparse.Namespace) -> int:
    from gridedge.bus.keyfile import KeyFileError, load_signer
    from gridedge.home.peers import CommunityController, RosterIssuer, SharePlan

    try:
        node = _member(args)
        weights: dict[str, float] = {}
        for item in args.weight:
            home, sep, w = item.partition("=")
            try:
                weights[home] = float(w)
            except ValueError:
                raise _Bad(f"--weight: expected HOME=NUMBER, found {item!r}") from None
            if not sep or not math.isfinite(weights[home]) or weights[home] < 0:
                raise _Bad(f"--weight: expected HOME=NUMBER >= 0, found {item!r}")
        if args.issuer_key:
            try:
                node.serve_roster(RosterIssuer(node.network, load_signer(args.issuer_key)))
            except (KeyFileError, ValueError) as e:
                raise _Bad(str(e)) from None
        controller = CommunityController(node, cycle_s=args.cycle_s, margin_w=args.margin_w, weights=weights)
    except _Bad as e:
        return _fail(str(e))
    except ValueError as e:
        return _fail(str(e))

    def report(plan: SharePlan) -> None:
        offers = " ".join(f"{h}={w:.0f}" for h, w in plan.offers.items() if w > 0) or "-"
        print(
            f"{node.clock.now().isoformat(timespec='seconds')} community {plan.community_net_w:+.0f} W"
            f" pool {plan.pool_w:.0f} W offers {offers}",
            flush=True,
        )

    controller.on_plan = report

    async def main() -> None:
        await controller.start()
        try:
            await _until_stopped(args.seconds)
        finally:
            await controller.close()
            await node.link.close()

    asyncio.run(main())
    print(f"controller stopped: {controller.stats.cycles} cycles, {controller.stats.offers_sent} offers,"
          f" rejected {node.stats.rejected or 'none'}", file=sys.stderr)  # fmt: skip
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    from gridedge.home.peers.messages import MESSAGE_TYPES

    try:
        node = _member(args)
        kinds = args.kind or list(MESSAGE_TYPES)
        bad = [k for k in kinds if k not in MESSAGE_TYPES]
        if bad:
            raise _Bad(f"--kind: unknown {', '.join(bad)} (known: {', '.join(MESSAGE_TYPES)})")
    except _Bad as e:
        return _fail(str(e))

    def show(received: Any) -> None:
        m = received.message
        body = m.body()
        if args.json:
            record = {"sender": received.sender, "role": received.role.value, "to": str(received.to),
                      "kind": m.KIND, "sequence": received.sequence,
                      "issued_at": received.issued_at.isoformat(), "body": body}  # fmt: skip
            print(json.dumps(record, default=_jsonable), flush=True)
        else:
            when = received.issued_at.isoformat(timespec="milliseconds")
            text = json.dumps(body, default=_jsonable)
            print(f"{when} {received.sender:>16} -> {received.to!s:<16} {m.KIND:<9} {text}", flush=True)

    for kind in kinds:
        node.on(MESSAGE_TYPES[kind], show)

    async def main() -> None:
        await node.start()
        try:
            await _until_stopped(args.seconds)
        finally:
            await node.close()
            await node.link.close()

    asyncio.run(main())
    print(
        f"watched: {node.stats.received} accepted, rejected {node.stats.rejected or 'none'}", file=sys.stderr
    )
    return EXIT_OK


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
