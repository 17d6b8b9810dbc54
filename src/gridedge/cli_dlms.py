"""`gridedge dlms read`: DLMS/COSEM push messages from a HAN port (Nordic, Austrian, Swiss meters),
a TCP bridge or a capture (binary or hex dump), decoded into the same readings as `p1 read`.

The byte stream goes through the HDLC deframer (garbage skipped and reported, frames found by their
length), segments are joined, general-glo-ciphering is deciphered with `--key`/`--auth-key`, and
each data-notification becomes a `MeterReading` (`ports.dlms.push`). A message that does not
decode is reported on stderr with its byte offset and what was wrong; reading goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def add_dlms_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlms = commands.add_parser("dlms", help="DLMS/COSEM push (HAN ports): read and decode")
    dlms.set_defaults(parser=dlms)
    sub = dlms.add_subparsers(title="commands", metavar="COMMAND")
    read = sub.add_parser("read", help="decode push messages into readings")
    source = read.add_mutually_exclusive_group(required=True)
    source.add_argument("--serial", metavar="DEV", help="serial device of the HAN port")
    source.add_argument("--tcp", metavar="HOST:PORT", help="TCP bridge of the HAN port")
    source.add_argument("--file", metavar="PATH", help="capture: binary or hex dump")
    read.add_argument("--baud", type=int, default=2400, metavar="N", help="--serial: baud rate (2400)")
    read.add_argument("--key", metavar="HEX", help="encryption key (32 hex digits) for ciphered pushes")
    read.add_argument("--auth-key", metavar="HEX", help="authentication key (32 hex digits)")
    read.add_argument("--json", action="store_true", help="JSON lines, as `gridedge p1 read --json`")
    read.set_defaults(func=cmd_dlms_read, parser=read)


def cmd_dlms_read(args: argparse.Namespace) -> int:
    from gridedge.ports.dlms.cipher import SecurityKeys, TagPolicy
    from gridedge.ports.dlms.errors import DlmsError

    parser: argparse.ArgumentParser = args.parser
    keys = None
    if args.key:
        try:
            keys = SecurityKeys.from_hex(args.key, args.auth_key)
        except (DlmsError, ValueError) as exc:
            parser.error(f"--key/--auth-key: {exc}")
    elif args.auth_key:
        parser.error("--auth-key needs --key")
    policy = TagPolicy.REQUIRE if args.auth_key else TagPolicy.IGNORE
    source = _source(args, parser)
    try:
        return asyncio.run(_read(source, keys, policy, args))
    except KeyboardInterrupt:
        return EXIT_OK


def _source(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
    from gridedge.ports.p1.readers import (
        DSMR_5_SERIAL,
        FileReader,
        Pace,
        SerialReader,
        TcpReader,
        parse_host_port,
    )

    if args.serial:
        return SerialReader(args.serial, DSMR_5_SERIAL.with_baudrate(args.baud))
    if args.tcp:
        try:
            host, port = parse_host_port(args.tcp)
        except ValueError as exc:
            parser.error(f"--tcp: {exc}")
        return TcpReader(host, port)
    return FileReader(args.file, pace=Pace("fast"), hex_dump=None)


async def _read(source: Any, keys: Any, policy: Any, args: argparse.Namespace) -> int:
    import orjson

    from gridedge.ports.dlms.errors import DlmsError
    from gridedge.ports.dlms.hdlc import Deframer, HdlcFrame
    from gridedge.ports.dlms.push import decode_frames

    deframer = Deframer()
    pending: list[HdlcFrame] = []
    messages = errors = 0

    def emit(frames: list[HdlcFrame]) -> None:
        nonlocal messages, errors
        try:
            reading = decode_frames(tuple(frames), keys, policy=policy).to_reading()
        except DlmsError as exc:
            errors += 1
            print(f"gridedge dlms: message at byte {frames[0].offset} not decoded: {exc}", file=sys.stderr)
            return
        messages += 1
        if args.json:
            option = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
            sys.stdout.buffer.write(orjson.dumps(reading, option=option))
            sys.stdout.flush()
        else:
            phases = " ".join(f"L{p.phase} {p.voltage_v} V {p.current_a} A" for p in reading.phases)
            print(
                f"{reading.timestamp.isoformat() if reading.timestamp else '-'}  {reading.meter_id or '-'}  "
                f"import {reading.power_import_w} W  export {reading.power_export_w} W  {phases}",
                flush=True,
            )

    def handle(events: list[Any]) -> None:
        nonlocal errors
        for event in events:
            if not isinstance(event, HdlcFrame):
                errors += 1
                print(f"gridedge dlms: byte {event.offset}: {event.error}", file=sys.stderr)
                continue
            pending.append(event)
            if not event.segmented:  # the last (or only) segment of a message
                emit(pending[:])
                pending.clear()

    async for chunk in source.chunks():
        if chunk:
            handle(deframer.feed(chunk))
    handle(deframer.flush())
    print(f"gridedge dlms: {messages} messages, {errors} errors", file=sys.stderr)
    return EXIT_OK if messages and not errors else EXIT_ERRORS
