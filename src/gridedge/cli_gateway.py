"""`gridedge gateway`: the home's communication module, from a meter port to the head-end over MQTT.

    gridedge gateway (--serial DEV | --tcp HOST:PORT | --file PATH) --mqtt HOST:PORT [--mqtt-prefix P]
                     --key FILE --db PATH --meter-id ID [--recipient ID] [--nrtd-every 300]
                     [--status-every S] [--duration S] [--json]
    gridedge gateway keygen --key FILE
    gridedge gateway consent --db PATH (grant|withdraw) SCOPE --recipient ID --by WHO [--note TEXT]
    gridedge gateway consent --db PATH show
    gridedge gateway wan-history --db PATH [--limit N] [--json]

The source flags are those of `gridedge p1 read`. Records go to `meter/<id>/up` sealed with the
key in FILE; the head-end's acks come back on `meter/<id>/ack` (docs/gateway.md). Nothing is sent
for a data category without consent for the recipient (`consent grant port-data ...`).

Exit status: 0 stopped, 1 the meter port, the key or the database failed, 2 usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gridedge.app.process import stop_on_signals, write_json_line

if TYPE_CHECKING:
    from gridedge.home.gateway.service import GatewayService

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_gateway_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "gateway",
        help="send monitoring, NRTD, load curves and events to the head-end over MQTT (store-and-forward)",
        description="Read the meter and send its upstream records, sealed per meter, to the head-end;"
        " keep them until acknowledged. Sub-commands: keygen, consent, wan-history.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--serial", metavar="DEV", help="serial device of the P1 cable, e.g. /dev/ttyUSB0")
    source.add_argument("--tcp", metavar="HOST:PORT", help="P1 TCP bridge or virtual meter; reconnects")
    source.add_argument("--file", metavar="PATH", help="P1 capture to replay")
    p.add_argument("--pace", choices=["fast", "original"], help="--file only (default: original)")
    p.add_argument("--baud", type=int, metavar="N", help="--serial only: baud rate (default 115200)")
    p.add_argument("--dsmr22", action="store_true", help="--serial only: DSMR 2.2/3.0 line, 9600 7E1")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="the head-end's MQTT broker")
    p.add_argument("--mqtt-prefix", default="", metavar="P", help="topic prefix on a shared broker")
    p.add_argument("--key", metavar="FILE", help="the meter's AES-128 key (32 hex digits; see keygen)")
    p.add_argument("--db", metavar="PATH", help="SQLite file: outbox, consent log, WAN history")
    p.add_argument("--meter-id", metavar="ID", help="the meter's id (the key belongs to it)")
    p.add_argument("--recipient", default="hes", metavar="ID", help="the head-end's id consent names (hes)")
    p.add_argument("--nrtd-every", type=int, default=300, metavar="S", help="NRTD interval, <= 300 s")
    p.add_argument(
        "--update-keys",
        metavar="FILE",
        help="key ring (TOML) of the grid operator's update keys: accept signed function updates "
        "(docs/function-updates.md); without it the gateway takes none",
    )
    p.add_argument(
        "--group", action="append", default=[], metavar="NAME",
        help="update group of this gateway (repeatable)",
    )
    p.add_argument("--status-every", type=float, default=10.0, metavar="S", help="status interval (10 s)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="status as JSON lines")
    p.set_defaults(func=cmd_gateway, parser=p)
    sub = p.add_subparsers(title="gateway commands", metavar="COMMAND")

    keygen = sub.add_parser("keygen", help="generate the meter key into a new file (mode 0600)")
    keygen.add_argument("--key", required=True, metavar="FILE")
    keygen.set_defaults(func=cmd_keygen, parser=keygen)

    consent = sub.add_parser("consent", help="record, withdraw or show the user's consent")
    consent.add_argument("--db", required=True, metavar="PATH")
    consent.add_argument("action", choices=["grant", "withdraw", "show"])
    consent.add_argument("scope", nargs="?", help="port-data (P1 and S1 together), all, or one category")
    consent.add_argument("--recipient", default="hes", metavar="ID")
    consent.add_argument("--by", metavar="WHO", help="who gives or withdraws consent")
    consent.add_argument("--note", default="", metavar="TEXT")
    consent.set_defaults(func=cmd_consent, parser=consent)

    history = sub.add_parser("wan-history", help="print the local history of communication events")
    history.add_argument("--db", required=True, metavar="PATH")
    history.add_argument("--limit", type=int, metavar="N", help="only the newest N events")
    history.add_argument("--json", action="store_true", help="JSON lines")
    history.set_defaults(func=cmd_wan_history, parser=history)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gridedge.cli_gateway ...` (the same as `gridedge gateway ...`)."""
    parser = argparse.ArgumentParser(prog="gridedge")
    add_gateway_parser(parser.add_subparsers())
    args = parser.parse_args(["gateway", *(sys.argv[1:] if argv is None else argv)])
    import logging

    logging.basicConfig(level=logging.WARNING, format="gridedge: %(message)s", stream=sys.stderr)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return result


def _fail(msg: str, status: int = EXIT_FAILED) -> int:
    print(f"gridedge gateway: {msg}", file=sys.stderr)
    return status


# --------------------------------------------------------------------------- keygen, consent, history


def cmd_keygen(args: argparse.Namespace) -> int:
    from gridedge.home.gateway.keys import write_new_key

    try:
        write_new_key(args.key)
    except FileExistsError:
        return _fail(f"{args.key} exists: a key is never overwritten (remove it first)")
    except OSError as exc:
        return _fail(f"cannot write {args.key}: {exc.strerror or exc}")
    print(
        f"key written to {args.key} (mode 0600); give the head-end the same key for this meter",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_consent(args: argparse.Namespace) -> int:
    from gridedge.clock import RealClock
    from gridedge.home.gateway.consent import ConsentError, ConsentRegistry
    from gridedge.home.gateway.db import open_db
    from gridedge.home.gateway.outbox import purge_for_recipient

    parser: argparse.ArgumentParser = args.parser
    if args.action != "show" and (not args.scope or not args.by):
        parser.error(f"consent {args.action} needs a SCOPE and --by WHO")
    conn = open_db(args.db)
    try:
        reg = ConsentRegistry(conn)
        now = RealClock().now()
        if args.action == "grant":
            reg.grant(args.scope, args.recipient, by=args.by, now=now, note=args.note)
        elif args.action == "withdraw":
            rec, lost = reg.withdraw(args.scope, args.recipient, by=args.by, now=now, note=args.note)
            purged = purge_for_recipient(conn, args.recipient, lost)
            reg.set_purged(rec, purged)
            print(f"withdrawn; {purged} queued record(s) purged", file=sys.stderr)
        for rec in reg.history(None if args.action == "show" else args.recipient):
            what = "grant   " if rec.granted else "withdraw"
            extra = f"  purged {rec.purged}" if rec.purged else ""
            note = f"  ({rec.note})" if rec.note else ""
            print(
                f"{rec.time.isoformat()[:19]}Z  {what} {rec.scope:<11} to {rec.recipient}"
                f"  by {rec.by}{note}{extra}"
            )
        for recipient in reg.recipients():
            allowed = ", ".join(sorted(c.value for c in reg.allowed_categories(recipient))) or "nothing"
            print(f"now allowed to {recipient}: {allowed}")
    except ConsentError as exc:
        return _fail(str(exc), EXIT_USAGE)
    finally:
        conn.close()
    return EXIT_OK


def cmd_wan_history(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gridedge.home.gateway.db import open_db
    from gridedge.home.gateway.wan import WanHistory

    if not Path(args.db).is_file():
        return _fail(f"{args.db}: no such database")
    conn = open_db(args.db)
    try:
        events = WanHistory(conn).read(args.limit)
    finally:
        conn.close()
    for e in events:
        if args.json:
            import orjson

            rec = {"time": e.time.isoformat(), "kind": e.kind, "detail": e.detail, "duration_s": e.duration_s}
            sys.stdout.buffer.write(orjson.dumps(rec) + b"\n")
        else:
            took = "" if e.duration_s is None else f"  (after {e.duration_s:.1f} s)"
            sys.stdout.write(f"{e.time.isoformat()[:23]}Z  {e.kind:<14} {e.detail}{took}\n")
    sys.stdout.flush()
    return EXIT_OK


# --------------------------------------------------------------------------- the gateway


def cmd_gateway(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    missing = [
        flag for flag, value in (("--mqtt", args.mqtt), ("--key", args.key), ("--db", args.db),
                                 ("--meter-id", args.meter_id)) if not value
    ]  # fmt: skip
    if not (args.serial or args.tcp or args.file):
        missing.insert(0, "--serial, --tcp or --file")
    if missing:
        parser.error(f"missing: {', '.join(missing)}")
    if args.pace is not None and args.file is None:
        parser.error("--pace applies to --file only")
    if not 1 <= args.nrtd_every <= 300:
        parser.error(f"--nrtd-every must be 1..300 s (NRTD: at least every 5 min), got {args.nrtd_every}")
    if args.pace is None:
        args.pace = "original"
    from gridedge.app.run.gateway import build_gateway
    from gridedge.cli import _source  # the port-opening code of `gridedge p1 read`
    from gridedge.clock import RealClock
    from gridedge.home.gateway.db import open_db
    from gridedge.home.gateway.keys import KeyFileError, load_key
    from gridedge.ports.p1.readers import parse_host_port

    try:
        parse_host_port(args.mqtt)
    except ValueError as exc:
        parser.error(f"--mqtt: {exc}")
    source = _source(args, parser, encrypted=False)
    try:
        key = load_key(args.key)
    except KeyFileError as exc:
        return _fail(str(exc))
    update_keys = None
    if args.update_keys:
        from gridedge.bus.keyfile import KeyFileError as RingError
        from gridedge.bus.keyfile import load_keyring

        try:
            update_keys = load_keyring(args.update_keys)
        except (OSError, RingError) as exc:
            return _fail(f"--update-keys: {exc}")
    try:
        conn = open_db(args.db)
    except Exception as exc:
        return _fail(f"database {args.db}: {exc}")
    service = build_gateway(
        RealClock(), meter_id=args.meter_id, broker=args.mqtt, prefix=args.mqtt_prefix, key=key, conn=conn,
        recipient=args.recipient, nrtd_every_s=args.nrtd_every, groups=args.group, update_keys=update_keys,
    )  # fmt: skip
    try:
        return asyncio.run(_run(service, source, args))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        conn.close()


async def _run(service: GatewayService, source: Any, args: argparse.Namespace) -> int:
    from gridedge.app.run.gateway import announce_subscribed
    from gridedge.home.gateway.service import p1_readings
    from gridedge.ports.p1.readers import ReaderError

    stop = asyncio.Event()
    stop_on_signals(stop, args.duration)
    print(f"MQTT link on {args.mqtt} as meter {service.meter_id}", file=sys.stderr, flush=True)
    status = asyncio.ensure_future(_status(service, args, stop))
    subscribed = asyncio.ensure_future(announce_subscribed(service, f"MQTT subscribed on {args.mqtt}"))
    try:
        await service.run(stop, p1_readings(source))
    except ReaderError as exc:
        print(f"gridedge gateway: meter port failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        stop.set()
        subscribed.cancel()
        await status
        _print(service, args, final=True)
    return EXIT_OK


async def _status(service: GatewayService, args: argparse.Namespace, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), args.status_every)
        except TimeoutError:
            _print(service, args)


def status_record(service: GatewayService) -> dict[str, Any]:
    st = service.status()
    return {
        "time": st.time.isoformat(), "meter_id": st.meter_id, "link_up": st.link_up, "readings": st.readings,
        "produced": st.produced, "refused_no_consent": st.refused_no_consent, "queued": st.queued,
        "queued_bytes": st.queued_bytes, "sent": st.sent, "resent": st.resent, "acked": st.acked,
        "rejected_acks": st.rejected_acks, "dropped": st.dropped, "purged": st.purged,
        "latency_ms": None if st.latency_ms is None else round(st.latency_ms, 1), "outages": st.outages,
        "allowed": list(st.allowed), "functions": dict(st.functions),
    }  # fmt: skip


def _print(service: GatewayService, args: argparse.Namespace, *, final: bool = False) -> None:
    rec = status_record(service)
    if final:
        rec["final"] = True
    if args.json:
        write_json_line(rec)
        return
    lat = "-" if rec["latency_ms"] is None else f"{rec['latency_ms']:.0f} ms"
    print(
        f"{rec['time'][:19]}  link {'up' if rec['link_up'] else 'DOWN'}  readings {rec['readings']}"
        f"  sent {rec['sent']} (+{rec['resent']} resent)  acked {rec['acked']}  queued {rec['queued']}"
        f"  latency {lat}  refused {rec['refused_no_consent']}" + ("  (stopped)" if final else ""),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
