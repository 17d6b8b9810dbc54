"""`gridedge dlms read`: DLMS/COSEM push messages from a HAN port (Nordic, Austrian, Swiss meters),
a TCP bridge or a capture (binary or hex dump), decoded into the same readings as `p1 read`.

The byte stream goes through `ports.dlms.push.PushStream`: the frames are found (HDLC, IEC 62056-46,
or wired M-Bus long frames, EN 13757-2 with the IEC 62056-7-3 DLMS transport of Austrian customer
interfaces; `--framing auto` recognises which by the first valid frame), garbage is skipped and
reported, segments are joined, general-glo-ciphering is deciphered with `--key`/`--auth-key`, and
each data-notification becomes a `MeterReading`. A message that does not decode is reported on
stderr with its byte offset and what was wrong; reading goes on.

Tag policy (see `ports.dlms.cipher.TagPolicy`): with `--auth-key` every ciphered frame must carry a
GCM tag that verifies, so an encrypted-only frame (security control 0x20, as Austrian M-Bus meters
send) is refused rather than silently accepted; with `--key` alone frames are deciphered without a
tag check (the meter's key is then the only thing the user has). `--tag-policy` overrides both.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gridedge.cli_progress import NullProgress, add_progress_flag, progress, progress_wanted

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2

_TAG_POLICIES = ("require", "verify-if-present", "ignore", "empty-aad")


def add_dlms_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlms = commands.add_parser("dlms", help="DLMS/COSEM push (HAN ports): read and decode")
    dlms.set_defaults(parser=dlms)
    sub = dlms.add_subparsers(title="commands", metavar="COMMAND")
    read = sub.add_parser(
        "read",
        help="decode push messages into readings",
        description="Decode DLMS/COSEM push messages (HDLC or wired M-Bus framing) into readings.",
    )
    source = read.add_mutually_exclusive_group(required=True)
    source.add_argument("--serial", metavar="DEV", help="serial device of the HAN port")
    source.add_argument("--tcp", metavar="HOST:PORT", help="TCP bridge of the HAN port")
    source.add_argument("--file", metavar="PATH", help="capture: binary or hex dump")
    read.add_argument("--baud", type=int, default=2400, metavar="N", help="--serial: baud rate (2400)")
    read.add_argument(
        "--framing",
        choices=("auto", "hdlc", "mbus"),
        default="auto",
        help="hdlc: IEC 62056-46 HDLC frames (0x7E ...); mbus: wired M-Bus long frames (0x68 L L 0x68, "
        "EN 13757-2, e.g. Austrian EVN/Netz NOE Kaifa meters); auto (default): the first valid frame "
        "of either kind decides",
    )
    read.add_argument("--key", metavar="HEX", help="encryption key (32 hex digits) for ciphered pushes")
    read.add_argument(
        "--auth-key",
        metavar="HEX",
        help="authentication key (32 hex digits); then every ciphered frame must carry a valid GCM tag",
    )
    read.add_argument(
        "--tag-policy",
        choices=_TAG_POLICIES,
        help="GCM tag check: require (default with --auth-key), verify-if-present (also accept "
        "encrypted-only frames), ignore (default with --key alone), empty-aad",
    )
    read.add_argument("--limit", type=int, metavar="N", help="stop after N decoded messages")
    read.add_argument("--json", action="store_true", help="JSON lines, as `gridedge p1 read --json`")
    add_progress_flag(read)
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
    if args.limit is not None and args.limit <= 0:
        parser.error(f"--limit must be positive, got {args.limit}")
    if args.tag_policy is not None:
        policy = TagPolicy(args.tag_policy)
    else:
        policy = TagPolicy.REQUIRE if args.auth_key else TagPolicy.IGNORE
    source = _source(args, parser)
    enabled = args.file is not None and progress_wanted(args.no_progress, stdout_streams=True)
    try:
        with progress(
            f"reading {args.file.rsplit('/', 1)[-1]}" if args.file else "",
            total=_plain_size(args.file) if enabled else None,
            unit="B",
            items_unit="messages",
            enabled=enabled,
        ) as bar:
            return asyncio.run(_read(source, keys, policy, args, bar))
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


def _plain_size(path: str) -> int | None:
    """The size of a binary capture (the bar's total); None for a hex dump, whose bytes are fewer."""
    from gridedge.ports.p1.readers.file import looks_like_hex_dump

    try:
        with open(path, "rb") as f:
            if looks_like_hex_dump(f.read(4096)):
                return None
            return f.seek(0, 2)
    except OSError:
        return None  # the reader reports it


async def _read(
    source: Any, keys: Any, policy: Any, args: argparse.Namespace, bar: NullProgress | None = None
) -> int:
    import orjson

    from gridedge.ports.dlms.errors import DlmsAuthenticationError
    from gridedge.ports.dlms.push import PushMessage, PushStream, UndecodedMessage

    stream = PushStream(keys, policy=policy, framing=args.framing)
    messages = errors = 0
    option = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE

    def handle(events: list[Any]) -> bool:
        """Print the events; True once `--limit` messages have been decoded."""
        nonlocal messages, errors
        for event in events:
            if isinstance(event, UndecodedMessage):
                errors += 1
                hint = "; see --tag-policy" if isinstance(event.error, DlmsAuthenticationError) else ""
                print(f"gridedge dlms: message at byte {event.offset} not decoded: {event.error}{hint}",
                      file=sys.stderr)
                continue
            if not isinstance(event, PushMessage):
                errors += 1
                where = "" if event.error.offset is not None else f"byte {event.offset}: "
                print(f"gridedge dlms: {where}{event.error}", file=sys.stderr)
                continue
            messages += 1
            reading = event.to_reading()
            if args.json:
                sys.stdout.buffer.write(orjson.dumps(reading, option=option))
                sys.stdout.flush()
            else:
                phases = " ".join(f"L{p.phase} {p.voltage_v} V {p.current_a} A" for p in reading.phases)
                stamp = reading.timestamp.isoformat() if reading.timestamp else "-"
                print(
                    f"{stamp}  {reading.meter_id or '-'}  "
                    f"import {reading.power_import_w} W  export {reading.power_export_w} W  {phases}",
                    flush=True,
                )
            if args.limit is not None and messages >= args.limit:
                return True
        return False

    done = False
    async for chunk in source.chunks():
        if chunk and handle(stream.feed(chunk)):
            done = True
            break
        if bar is not None:
            bar.items = messages
            bar.advance(len(chunk))
    if not done:
        handle(stream.flush())
    framing = stream.framing.value if stream.framing.value != "auto" else "no framing recognised"
    print(f"gridedge dlms: {messages} messages ({framing}), {errors} errors", file=sys.stderr)
    return EXIT_OK if messages and not errors else EXIT_ERRORS
