"""`gridedge s1 read`: the S1 port live, one line (or JSON object) per mains cycle or per second.

    gridedge s1 read (--serial DEV [--baud N] | --tcp HOST:PORT | --file PATH)
                     [--per cycle|second] [--json] [--limit N]

The bytes go through the deframer (`ports.s1.deframe`) and the waveform analytics
(`home.analytics`); the figures are the analytics' per-cycle (or per-second) values. Stream
problems (skipped bytes, FCS errors, lost frames) go to stderr as they happen and never stop the
reading; a summary of the counters ends the run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from gridedge.cli_progress import NullProgress, add_progress_flag, progress, progress_wanted

if TYPE_CHECKING:
    from gridedge.home.analytics import AnalyticsUpdate, SecondTable
    from gridedge.model.cycles import CycleTable
    from gridedge.ports.p1.readers import ChunkSource
    from gridedge.ports.s1.deframe import S1Deframer

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_USAGE = 2
HEADER_EVERY = 25


def add_s1_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s1 = commands.add_parser("s1", help="read the S1 port (raw V/I samples at 2-4 kHz, Fluvius e-MUCS H)")
    s1.set_defaults(parser=s1)
    s1_commands = s1.add_subparsers(title="s1 commands", metavar="COMMAND")
    read = s1_commands.add_parser(
        "read",
        help="print per-cycle values live from the S1 port, a TCP bridge or a capture file",
        description="Deframe the S1 stream and print RMS voltage and current, power, power factor,"
        " THD and frequency per mains cycle (or per second). Stream errors go to stderr.",
    )
    source = read.add_mutually_exclusive_group(required=True)
    source.add_argument("--serial", metavar="DEV", help="serial device of the RS-422 adapter, 2 Mbit/s 8N1")
    source.add_argument("--tcp", metavar="HOST:PORT", help="TCP bridge (or `gridedge sim meter --s1-tcp`)")
    source.add_argument("--file", metavar="PATH", help="raw capture of the S1 line")
    read.add_argument("--baud", type=int, metavar="N", help="--serial only: baud rate (default 2000000)")
    read.add_argument(
        "--per", choices=["cycle", "second"], default="cycle", help="one line per (default: cycle)"
    )
    read.add_argument("--json", action="store_true", help="one JSON object per line (JSON lines)")
    read.add_argument("--limit", type=int, metavar="N", help="stop after N lines")
    add_progress_flag(read)
    read.set_defaults(func=cmd_s1_read, parser=read)


def cmd_s1_read(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.baud is not None and args.serial is None:
        parser.error("--baud applies to --serial only")
    if args.baud is not None and args.baud <= 0:
        parser.error(f"--baud must be positive, got {args.baud}")
    if args.limit is not None and args.limit <= 0:
        parser.error(f"--limit must be positive, got {args.limit}")
    from gridedge.ports.p1.readers import ReaderError, parse_host_port
    from gridedge.ports.s1.deframe import S1Deframer
    from gridedge.ports.s1.reader import s1_file_reader, s1_serial_reader, s1_tcp_reader

    source: ChunkSource
    if args.serial is not None:
        source = s1_serial_reader(args.serial, baudrate=args.baud)
    elif args.tcp is not None:
        try:
            host, port = parse_host_port(args.tcp)
        except ValueError as exc:
            parser.error(f"--tcp: {exc}")
        source = s1_tcp_reader(host, port)
    else:
        source = s1_file_reader(args.file)
    deframer = S1Deframer()
    printer = _Printer(sys.stdout, json=args.json, per=args.per, limit=args.limit)
    status = EXIT_OK
    enabled = args.file is not None and progress_wanted(args.no_progress, stdout_streams=True)
    total = None
    if enabled:
        import os

        try:
            total = os.path.getsize(args.file)
        except OSError:
            total = None  # the reader reports it
    try:
        name = args.file.rsplit("/", 1)[-1] if args.file else ""
        with progress(f"reading {name}", total=total, unit="B", items_unit="frames", enabled=enabled) as bar:
            asyncio.run(_read(source, deframer, printer, bar))
    except ReaderError as exc:
        print(f"gridedge: {exc}", file=sys.stderr)
        status = EXIT_ERRORS
    s = deframer.stats
    print(
        f"gridedge: {source.name}: {s.frames} frames, {s.bytes} bytes, {s.bytes_skipped} skipped,"
        f" {s.fcs_errors} FCS errors, {s.sequence_gaps} sequence gaps ({s.frames_lost} frames lost),"
        f" {s.format_errors} refused, {s.breaks} breaks",
        file=sys.stderr,
    )
    return status


async def _read(
    source: ChunkSource, deframer: S1Deframer, printer: _Printer, bar: NullProgress | None = None
) -> None:
    from gridedge.home.analytics import Analytics

    # cycles measured in batches of 0.1 s of stream: the same figures, a fraction of the cost for
    # the small reads a serial line gives (bench/analytics.py)
    analytics: Analytics | None = None
    async for data in source.chunks():
        for chunk in deframer.feed(data):
            if analytics is None:
                info = deframer.info
                analytics = Analytics(
                    info.meter_id if info is not None and info.meter_id else "s1", batch_s=0.1
                )
            if printer.show(analytics.feed(chunk)):
                _report(deframer)
                return
        _report(deframer)
        if bar is not None:
            bar.items = deframer.stats.frames
            bar.advance(len(data))
    if analytics is not None:  # end of a file: the cycles and the second still held
        printer.show(analytics.flush())


def _report(deframer: S1Deframer) -> None:
    """Stream problems to stderr as they happen (the deframer keeps them until drained)."""
    while deframer.errors:
        print(f"gridedge: {deframer.errors.popleft().message}", file=sys.stderr)


class _Printer:
    def __init__(self, out: TextIO, *, json: bool, per: str, limit: int | None) -> None:
        self.out = out
        self.json = json
        self.per = per
        self.limit = limit
        self.lines = 0

    def show(self, update: AnalyticsUpdate) -> bool:
        """Print what `update` holds at the chosen granularity; True once the limit is reached."""
        return self.rows(update.cycles if self.per == "cycle" else update.seconds)

    def rows(self, table: CycleTable | SecondTable) -> bool:
        """Print the rows of a cycle (or second) table; True once the limit is reached."""
        for line in (_json_lines if self.json else _text_lines)(table, self.lines):
            self.out.write(line)
            self.lines += 1
            if self.limit is not None and self.lines >= self.limit:
                self.out.flush()
                return True
        self.out.flush()
        return False


def _num(x: float, decimals: int) -> float | None:
    return None if math.isnan(x) else round(x, decimals)


def _times(table: CycleTable | SecondTable) -> list[float]:
    from gridedge.model.cycles import CycleTable

    t = table.t_start if isinstance(table, CycleTable) else table.t
    out: list[float] = t.tolist()
    return out


def _json_lines(table: CycleTable | SecondTable, _: int) -> Iterator[str]:
    import orjson

    for k, t in enumerate(_times(table)):
        row = {
            "t": round(t, 6),
            "frequency_hz": _num(float(table.frequency_hz[k]), 4),
            "v_rms": [_num(float(x), 2) for x in table.v_rms[k]],
            "i_rms": [_num(float(x), 3) for x in table.i_rms[k]],
            "in_rms": _num(float(table.in_rms[k]), 3),
            "p_w": [_num(float(x), 1) for x in table.p_w[k]],
            "q1_var": [_num(float(x), 1) for x in table.q1_var[k]],
            "s_va": [_num(float(x), 1) for x in table.s_va[k]],
            "pf": [_num(float(x), 4) for x in table.pf[k]],
            "thd_v": [_num(float(x), 4) for x in table.thd_v[k]],
            "thd_i": [_num(float(x), 4) for x in table.thd_i[k]],
        }
        yield orjson.dumps(row).decode() + "\n"


def _cell(x: float, width: int, decimals: int) -> str:
    return f"{'-':>{width}}" if math.isnan(x) else f"{x:>{width}.{decimals}f}"


def _text_lines(table: CycleTable | SecondTable, printed: int) -> Iterator[str]:
    head = (
        f"{'t s':>10} {'f Hz':>8} {'V1':>6} {'V2':>6} {'V3':>6} {'I1':>7} {'I2':>7} {'I3':>7} {'IN':>7}"
        f" {'P W':>8} {'Q1 var':>8} {'PF':>6} {'THDi1':>6}\n"
    )
    for k, t in enumerate(_times(table)):
        if (printed + k) % HEADER_EVERY == 0:
            yield head
        v, i, p, q = table.v_rms[k], table.i_rms[k], table.p_w[k], table.q1_var[k]
        ptot = float(sum(x for x in p if not math.isnan(x)))
        qtot = float(sum(x for x in q if not math.isnan(x)))
        s = float(sum(x for x in table.s_va[k] if not math.isnan(x)))
        pf = ptot / s if s > 0 else math.nan
        yield (
            f"{t:>10.3f} {_cell(float(table.frequency_hz[k]), 8, 3)}"
            f" {_cell(v[0], 6, 1)} {_cell(v[1], 6, 1)} {_cell(v[2], 6, 1)}"
            f" {_cell(i[0], 7, 2)} {_cell(i[1], 7, 2)} {_cell(i[2], 7, 2)}"
            f" {_cell(float(table.in_rms[k]), 7, 2)}"
            f" {ptot:>8.0f} {qtot:>8.0f} {_cell(pf, 6, 3)} {_cell(float(table.thd_i[k, 0]), 6, 3)}\n"
        )
