"""The `gridedge` command.

    gridedge --version
    gridedge p1 read (--serial DEV | --tcp HOST:PORT | --file PATH) [--json] [--store DB]
                     [--no-crc] [--pace fast|original] [--baud N] [--dsmr22]
                     [--key HEX [--auth-key HEX|none]]
    gridedge p1 check [--json] [--key HEX [--auth-key HEX|none]] FILE...
    gridedge s1 read (--serial DEV [--baud N] | --tcp HOST:PORT | --file PATH)
                     [--per cycle|second] [--json] [--limit N]
    gridedge plan --scenario FILE.toml [--prices FILE.csv|URL] [--start ISO-TIME] [--horizon 48h]
                  [--time-limit S] [--json]
    gridedge cem --config FILE.toml [--serial DEV | --tcp HOST:PORT | --file PATH] [--prices FILE|URL]
                 [--status-every S] [--duration S] [--json]
    gridedge sim meter [--profile be|nl|lu] [--p1-tcp HOST:PORT] [--s1-tcp HOST:PORT] [--pty]
                       [--speed N] [--seed N] [--scenario FILE.toml] [--duration SECONDS]
    gridedge sim meter --profile it [--chain2gate HOST:PORT] [--alfa HOST:PORT] [--contract-kw KW] ...

The source flags are the same in every command (DESIGN.md). Start-up stays fast because only
argparse is imported at the top; decoders, readers, orjson and the store are imported by the
command that needs them.

Long work shows a progress bar on stderr when stderr is a terminal (`p1 read --file` when stdout is
not the same terminal, `p1 check`, `s1 read --file`, `dlms read --file`, `plan`): never on stdout,
off with `--no-progress` or GRIDEDGE_NO_PROGRESS=1 (`gridedge.cli_progress`).

Exit status: 0 success (for `p1 check`: every telegram valid), 1 errors found or the source
failed, 2 usage errors, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TextIO

from gridedge.cli_cem import add_cem_parser
from gridedge.cli_demo import add_demo_parser
from gridedge.cli_dlms import add_dlms_parser
from gridedge.cli_gateway import add_gateway_parser
from gridedge.cli_grid import add_grid_parser
from gridedge.cli_keys import add_keys_parser
from gridedge.cli_peers import add_peers_parser
from gridedge.cli_plan import add_plan_parser
from gridedge.cli_progress import add_progress_flag
from gridedge.cli_run import add_run_parser
from gridedge.cli_s1 import add_s1_parser
from gridedge.cli_users import add_users_parser

if TYPE_CHECKING:
    from gridedge.cli_progress import NullProgress
    from gridedge.model.reading import MeterReading
    from gridedge.ports.dlms import SecurityKeys, TagPolicy
    from gridedge.ports.p1.pipeline import ErrorEvent, PipelineStats, TelegramPipeline
    from gridedge.ports.p1.readers import ChunkSource
    from gridedge.store import SqliteReadingStore

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

HEADER_EVERY = 20
CHECK_SLICE = 1 << 20


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `gridedge` (also used to print the usage text in docs)."""
    from gridedge import __version__

    parser = argparse.ArgumentParser(
        prog="gridedge",
        description="Open, standards-based energy system for the edge of the grid.",
    )
    parser.add_argument("--version", action="version", version=f"gridedge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (connections, retries)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    p1 = commands.add_parser("p1", help="read and check P1 telegrams (DSMR 2.2-5.0.2, e-MUCS H, Smarty)")
    p1.set_defaults(parser=p1)
    p1_commands = p1.add_subparsers(title="p1 commands", metavar="COMMAND")

    read = p1_commands.add_parser(
        "read",
        help="print readings live from a meter, a TCP bridge or a capture file",
        description="Print one line (or one JSON object) per telegram. Errors go to stderr and"
        " never stop the reading.",
    )
    source = read.add_mutually_exclusive_group(required=True)
    source.add_argument("--serial", metavar="DEV", help="serial device of the P1 cable, e.g. /dev/ttyUSB0")
    source.add_argument("--tcp", metavar="HOST:PORT", help="TCP bridge (ser2net, ESP-link); reconnects")
    source.add_argument("--file", metavar="PATH", help="capture file to replay")
    read.add_argument("--json", action="store_true", help="one JSON object per telegram (JSON lines)")
    read.add_argument("--store", metavar="DB", help="also append every reading to this SQLite store")
    read.add_argument(
        "--no-crc",
        action="store_true",
        help="do not check CRCs and keep malformed objects raw (anonymised captures, spec examples)",
    )
    read.add_argument(
        "--pace",
        choices=["fast", "original"],
        help="--file only: as fast as possible (default) or at the meter's own interval",
    )
    read.add_argument("--baud", type=int, metavar="N", help="--serial only: baud rate (default 115200)")
    read.add_argument("--dsmr22", action="store_true", help="--serial only: DSMR 2.2/3.0 line, 9600 7E1")
    _add_key_arguments(read)
    add_progress_flag(read)
    read.set_defaults(func=_cmd_p1_read, parser=read)

    check = p1_commands.add_parser(
        "check",
        help="validate every telegram in capture files and explain each error",
        description="Exit status 0 when every telegram of every file is valid, 1 otherwise.",
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--json", action="store_true", help="one JSON object per file (JSON lines)")
    _add_key_arguments(check)
    add_progress_flag(check)
    check.set_defaults(func=_cmd_p1_check, parser=check)
    add_s1_parser(commands)
    add_plan_parser(commands)
    add_cem_parser(commands)
    add_gateway_parser(commands)
    add_run_parser(commands)
    add_users_parser(commands)
    add_demo_parser(commands)
    add_grid_parser(commands)
    add_keys_parser(commands)
    add_dlms_parser(commands)
    add_peers_parser(commands)

    sim = commands.add_parser("sim", help="the virtual household and smart meter")
    sim.set_defaults(parser=sim)
    sim_commands = sim.add_subparsers(title="sim commands", metavar="COMMAND")
    meter = sim_commands.add_parser(
        "meter",
        help="serve a virtual meter's P1 (and S1) port over TCP or a pseudo-terminal",
        description="Simulate a household and its smart meter and serve the meter's ports like real"
        " hardware: a P1 telegram every second, S1 frames at 2.6-4 kHz (Fluvius, profile be)."
        " See docs/scenario.md for the scenario format.",
    )
    meter.add_argument("--scenario", metavar="FILE.toml", help="site scenario (default: a plain household)")
    meter.add_argument(
        "--profile", choices=["be", "nl", "lu", "it"],
        help="meter profile (overrides the scenario); it: an Italian 2G meter read over Chain 2",
    )  # fmt: skip
    meter.add_argument("--p1-tcp", metavar="HOST:PORT", help="serve P1 telegrams on this TCP address")
    meter.add_argument("--s1-tcp", metavar="HOST:PORT", help="serve S1 frames on this TCP address")
    meter.add_argument(
        "--pty", action="store_true", help="serve P1 (and S1) on pseudo-terminals; their paths are printed"
    )
    meter.add_argument(
        "--chain2gate", metavar="HOST:PORT", help="profile it: serve the Chain2Gate's WebSocket JSON frames"
    )
    meter.add_argument(
        "--alfa", metavar="HOST:PORT", help="profile it: serve the Sinapsi Alfa's Modbus TCP registers"
    )
    meter.add_argument(
        "--contract-kw", type=float, default=3.0, metavar="KW",
        help="profile it: contractual power (default 3 kW; available: +10 %%)",
    )  # fmt: skip
    meter.add_argument("--speed", type=float, default=1.0, help="sim seconds per wall second (default 1)")
    meter.add_argument("--seed", type=int, help="random seed (overrides the scenario)")
    meter.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this much sim time")
    meter.add_argument(
        "--metrology", choices=["auto", "waveform", "phasor"], default="auto",
        help="waveform: from samples as a meter measures; phasor: per cycle, much cheaper (default: "
        "waveform when S1 is served)",
    )  # fmt: skip
    meter.set_defaults(func=_cmd_sim_meter, parser=meter)
    return parser


def _add_key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        metavar="HEX",
        help="encryption key (32 hex digits): the stream is Luxembourg Smarty DLMS-encrypted",
    )
    parser.add_argument(
        "--auth-key",
        metavar="HEX|none",
        help="authentication key (default: the published Smarty key); 'none' skips the GCM tag"
        " check, the telegram CRC then guards integrity",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gridedge` console script and of `python -m gridedge`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        sub: argparse.ArgumentParser = getattr(args, "parser", parser)
        sub.print_help(sys.stderr)
        return EXIT_USAGE
    _setup_logging(args.verbose)
    try:
        result: int = func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()  # the reader of our output went away (`| head`)
        return EXIT_ERRORS
    return result


def _setup_logging(verbose: bool) -> None:
    import logging

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="gridedge: %(message)s",
        stream=sys.stderr,
    )


def _silence_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _keys(args: argparse.Namespace) -> tuple[SecurityKeys | None, TagPolicy | None]:
    """`--key` / `--auth-key` as keys and tag policy; a usage error when they are malformed."""
    parser: argparse.ArgumentParser = args.parser
    if args.key is None:
        if args.auth_key is not None:
            parser.error("--auth-key needs --key")
        return None, None
    from gridedge.ports.dlms import (
        LUXEMBOURG_SMARTY_AUTHENTICATION_KEY,
        DlmsKeyError,
        SecurityKeys,
        TagPolicy,
    )

    try:
        if args.auth_key is None:
            keys = SecurityKeys.from_hex(args.key)
            keys = SecurityKeys(keys.encryption_key, LUXEMBOURG_SMARTY_AUTHENTICATION_KEY)
            return keys, TagPolicy.REQUIRE
        if args.auth_key.lower() == "none":
            return SecurityKeys.from_hex(args.key), TagPolicy.IGNORE
        return SecurityKeys.from_hex(args.key, args.auth_key), TagPolicy.REQUIRE
    except DlmsKeyError as exc:
        parser.error(str(exc))


# --------------------------------------------------------------------------- p1 read


def _cmd_p1_read(args: argparse.Namespace) -> int:
    import asyncio

    parser: argparse.ArgumentParser = args.parser
    if args.pace is not None and args.file is None:
        parser.error("--pace applies to --file only")
    if (args.baud is not None or args.dsmr22) and args.serial is None:
        parser.error("--baud and --dsmr22 apply to --serial only")
    if args.baud is not None and args.baud <= 0:
        parser.error(f"--baud must be positive, got {args.baud}")
    keys, policy = _keys(args)
    source = _source(args, parser, encrypted=keys is not None)

    from gridedge.ports.p1.pipeline import TelegramPipeline
    from gridedge.ports.p1.readers import ReaderError

    pipeline = TelegramPipeline(
        check_crc=not args.no_crc,
        lenient=True if args.no_crc else None,
        keys=keys,
        tag_policy=policy,
    )
    live = args.file is None or args.pace == "original"
    printer: _Printer = _JsonPrinter(live) if args.json else _TablePrinter(sys.stdout, live)
    status = EXIT_OK
    try:
        with _file_progress(args, encrypted=keys is not None) as bar:
            asyncio.run(_read(source, pipeline, printer, args.store, live=live, bar=bar))
    except ReaderError as exc:
        print(f"gridedge: {exc}", file=sys.stderr)
        status = EXIT_ERRORS
    except _StoreFailure as exc:
        print(f"gridedge: store {args.store}: {exc}: {exc.__cause__}", file=sys.stderr)
        status = EXIT_ERRORS
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    finally:
        printer.close()
    print(f"gridedge: {source.name}: {pipeline.stats.summary()}", file=sys.stderr)
    return status


def _file_progress(args: argparse.Namespace, *, encrypted: bool) -> AbstractContextManager[NullProgress]:
    """`--file`: a bar over the capture's bytes (a count for a hex dump or APDUs, whose decoded
    size is not the file's) with the readings so far; off for live sources, which do not end."""
    import os

    from gridedge.cli_progress import progress, progress_wanted

    enabled = args.file is not None and progress_wanted(args.no_progress, stdout_streams=True)
    total = None
    if enabled and not encrypted:
        try:
            total = os.path.getsize(args.file)
        except OSError:
            total = None  # the reader reports it
    name = os.path.basename(args.file) if args.file else ""
    return progress(f"reading {name}", total=total, unit="B", items_unit="readings", enabled=enabled)


async def _counted(
    chunks: AsyncIterator[bytes], bar: NullProgress, stats: PipelineStats
) -> AsyncIterator[bytes]:
    """The chunks, counted on `bar` once each is decoded."""
    async for chunk in chunks:
        yield chunk
        bar.items = stats.decoded
        bar.advance(len(chunk))


def _source(args: argparse.Namespace, parser: argparse.ArgumentParser, *, encrypted: bool) -> ChunkSource:
    from gridedge.ports.p1.readers import (
        DSMR_2_2_SERIAL,
        DSMR_5_SERIAL,
        FileReader,
        Pace,
        SerialReader,
        TcpReader,
        parse_host_port,
    )

    if args.serial is not None:
        settings = DSMR_2_2_SERIAL if args.dsmr22 else DSMR_5_SERIAL
        if args.baud is not None:
            settings = settings.with_baudrate(args.baud)
        return SerialReader(args.serial, settings)
    if args.tcp is not None:
        try:
            host, port = parse_host_port(args.tcp)
        except ValueError as exc:
            parser.error(f"--tcp: {exc}")
        return TcpReader(host, port)
    pace = Pace(args.pace or "fast")
    return FileReader(args.file, pace=pace, apdus=encrypted, hex_dump=None if encrypted else False)


async def _read(
    source: ChunkSource,
    pipeline: TelegramPipeline,
    printer: _Printer,
    store_path: str | None,
    *,
    live: bool,
    bar: NullProgress | None = None,
) -> None:
    from gridedge.ports.p1.pipeline import TelegramEvent

    sink = await _StoreSink.open(store_path, live=live) if store_path is not None else None
    chunks = source.chunks()
    if bar is not None and bar.enabled:
        chunks = _counted(chunks, bar, pipeline.stats)
    try:
        async for event in pipeline.events(chunks):
            if isinstance(event, TelegramEvent):
                printer.reading(event.reading)
                if sink is not None:
                    await sink.add(event.reading)
            else:
                printer.error(event, pipeline.stats)
    finally:
        if sink is not None:
            if bar is not None:
                bar.items = pipeline.stats.decoded
                bar.describe(f"writing to {store_path}")
            await sink.close()


class _StoreFailure(Exception):
    """The store could not be opened or stopped working (its cause says why)."""


class _StoreSink:
    """`--store`: readings into a `SqliteReadingStore` without blocking the loop.

    Live sources use the store's non-blocking `append` (a full queue drops and counts, the meter
    does not wait). A file replay must not lose readings to a full queue, so it hands batches to
    `append_blocking` in a worker thread. A live reading without timestamp (DSMR 2.2) is stamped
    with the clock's time; readings the store refuses (no meter id) are counted and reported once.
    """

    BATCH = 500

    def __init__(self, store: SqliteReadingStore, *, live: bool) -> None:
        from gridedge.clock import RealClock
        from gridedge.store import AsyncReadingStore

        self.store = store
        self.aio = AsyncReadingStore(store)
        self.live = live
        self.clock = RealClock()
        self.batch: list[MeterReading] = []
        self.refused = 0

    @classmethod
    async def open(cls, path: str, *, live: bool) -> _StoreSink:
        import asyncio

        from gridedge.store import SqliteReadingStore

        try:
            store = await asyncio.to_thread(SqliteReadingStore, path)
        except Exception as exc:
            raise _StoreFailure("cannot open") from exc
        return cls(store, live=live)

    async def add(self, reading: MeterReading) -> None:
        if not reading.meter_id:
            self._refuse("it carries no meter id (0-0:96.1.1)")
            return
        if reading.timestamp is None:
            if not self.live:
                self._refuse("it carries no timestamp (0-0:1.0.0)")
                return
            import dataclasses

            reading = dataclasses.replace(reading, timestamp=self.clock.now())
        if self.live:
            from gridedge.store import StoreError

            try:
                self.aio.append(reading)
            except ValueError as exc:
                self._refuse(str(exc))
            except StoreError as exc:
                raise _StoreFailure("writing failed") from exc
            return
        self.batch.append(reading)
        if len(self.batch) >= self.BATCH:
            await self._push()

    async def _push(self) -> None:
        import asyncio

        from gridedge.store import StoreError

        batch, self.batch = self.batch, []
        try:
            refused = await asyncio.to_thread(self._append_all, batch)
        except StoreError as exc:
            raise _StoreFailure("writing failed") from exc
        for reason in refused:
            self._refuse(reason)

    def _append_all(self, batch: list[MeterReading]) -> list[str]:
        refused = []
        for reading in batch:
            try:
                self.store.append_blocking(reading)
            except ValueError as exc:
                refused.append(str(exc))
        return refused

    def _refuse(self, reason: str) -> None:
        self.refused += 1
        if self.refused == 1:
            print(f"gridedge: store: reading not stored: {reason}", file=sys.stderr)

    async def close(self) -> None:
        try:
            if self.batch:
                await self._push()
        finally:
            from gridedge.store import StoreError

            try:
                await self.aio.close()
            except StoreError as exc:
                raise _StoreFailure("closing failed") from exc
        stats = self.aio.stats()
        lost = stats.dropped + self.refused
        if lost:
            print(
                f"gridedge: store {self.store.path}: {stats.stored} readings stored,"
                f" {stats.dropped} dropped (queue full), {self.refused} refused",
                file=sys.stderr,
            )


class _Printer:
    """Where readings and errors go while reading."""

    def reading(self, reading: MeterReading) -> None:
        raise NotImplementedError

    def error(self, event: ErrorEvent, stats: PipelineStats) -> None:
        print(f"gridedge: {event.describe()} [errors so far: {stats.errors}]", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Flush what is buffered."""


class _JsonPrinter(_Printer):
    """JSON lines: `orjson` serialises the frozen slotted dataclasses directly, one write per line."""

    def __init__(self, live: bool) -> None:
        import orjson

        self._dumps = orjson.dumps
        self._option = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
        self._out = sys.stdout.buffer
        self._live = live

    def reading(self, reading: MeterReading) -> None:
        self._out.write(self._dumps(reading, option=self._option))
        if self._live:
            self._out.flush()

    def close(self) -> None:
        self._out.flush()


def _num(value: float | None, width: int, decimals: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{decimals}f}"


class _TablePrinter(_Printer):
    """One line per telegram; the header line comes back every `HEADER_EVERY` rows."""

    HEADER = (
        f"{'time':<19} {'variant':<10} {'import W':>9} {'export W':>9}"
        f"  {'L1 V/A':>12}  {'L2 V/A':>12}  {'L3 V/A':>12}"
        f"  {'tariff':>6} {'import kWh':>12} {'export kWh':>12} {'gas m3':>11}\n"
    )

    def __init__(self, out: TextIO, live: bool) -> None:
        self._out = out
        self._live = live
        self._rows = 0

    def reading(self, reading: MeterReading) -> None:
        if self._rows % HEADER_EVERY == 0:
            self._out.write(self.HEADER)
        self._rows += 1
        self._out.write(self.format(reading))
        if self._live:
            self._out.flush()

    @staticmethod
    def format(r: MeterReading) -> str:
        """The table line of one reading (with its line end)."""
        when = r.timestamp.strftime("%Y-%m-%d %H:%M:%S") if r.timestamp is not None else "-"
        phases = []
        for n in (1, 2, 3):
            p = r.phase(n)
            if p is None or (p.voltage_v is None and p.current_a is None):
                phases.append(f"{'-':>12}")
            else:
                phases.append(_num(p.voltage_v, 5, 1) + "/" + _num(p.current_a, 6, 2))
        gas = next(
            (d.value for d in r.mbus if d.device_type == 3 and d.value is not None),
            None,
        )
        tariff = "-" if r.tariff is None else str(r.tariff)
        return (
            f"{when:<19} {r.variant.value:<10} {_num(r.power_import_w, 9, 1)} {_num(r.power_export_w, 9, 1)}"
            f"  {phases[0]}  {phases[1]}  {phases[2]}"
            f"  {tariff:>6} {_num(r.energy_import_total_kwh, 12, 3)} {_num(r.energy_export_total_kwh, 12, 3)}"
            f" {_num(gas, 11, 3)}\n"
        )

    def close(self) -> None:
        self._out.flush()


# --------------------------------------------------------------------------- p1 check


def _cmd_p1_check(args: argparse.Namespace) -> int:
    import contextlib
    import os

    from gridedge.cli_progress import progress, progress_wanted

    keys, policy = _keys(args)
    status = EXIT_OK
    valid_files = 0
    enabled = progress_wanted(args.no_progress)
    total = 0
    if enabled:
        for path in args.files:
            with contextlib.suppress(OSError):  # check_file explains it
                total += os.path.getsize(path)
    files = len(args.files)
    with progress(
        "checking", total=total or None, unit="B", items_unit="telegrams", enabled=enabled, proxy_stdout=True
    ) as bar:
        for n, path in enumerate(args.files, 1):
            if files > 1:
                bar.describe(f"checking {n}/{files}")
            result = check_file(path, keys=keys, tag_policy=policy, bar=bar)
            if result["valid"]:
                valid_files += 1
            else:
                status = EXIT_ERRORS
            if args.json:
                import orjson

                sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_APPEND_NEWLINE))
            else:
                sys.stdout.write(_explain(result))
    if not args.json and len(args.files) > 1:
        sys.stdout.write(
            f"{len(args.files)} files: {valid_files} valid, {len(args.files) - valid_files} with errors\n"
        )
    sys.stdout.flush()
    return status


def check_file(
    path: str,
    *,
    keys: SecurityKeys | None = None,
    tag_policy: TagPolicy | None = None,
    bar: NullProgress | None = None,
) -> dict[str, Any]:
    """Validate every telegram of one capture file; a JSON-ready result with every error explained.

    The file goes through the same framer and decoder as a live stream, so several telegrams,
    garbage between them and a telegram cut short are all handled. With a live `bar` the bytes
    are fed in slices of `CHECK_SLICE` and counted on it (the framer gives the same telegrams
    whatever the slicing).
    """
    from pathlib import Path

    from gridedge.ports.p1.pipeline import ErrorEvent, TelegramPipeline

    result: dict[str, Any] = {"path": path, "valid": False, "telegrams": 0, "decoded": 0, "variants": []}
    try:
        data = Path(path).read_bytes()
        size = len(data)
    except OSError as exc:
        result["errors"] = [{"kind": "unreadable", "message": f"cannot read file: {exc.strerror or exc}"}]
        return result
    from gridedge.ports.p1.readers.file import looks_like_hex_dump

    if keys is not None and looks_like_hex_dump(data[:4096]):
        from gridedge.ports.dlms import HexDumpError, parse_hex_dump

        try:
            data = parse_hex_dump(data.decode("ascii"))
        except (UnicodeDecodeError, HexDumpError) as exc:
            result["errors"] = [{"kind": "unreadable", "message": f"not a hex dump: {exc}"}]
            return result
    pipeline = TelegramPipeline(keys=keys, tag_policy=tag_policy)
    if bar is not None and bar.enabled:
        events = []
        # the file's own size on the bar, whatever a hex dump decodes to
        scale = size / len(data) if data else 0.0
        before = bar.items
        for at in range(0, len(data), CHECK_SLICE):
            events += pipeline.feed(data[at : at + CHECK_SLICE])
            bar.items = before + pipeline.stats.telegrams
            bar.advance(min(CHECK_SLICE, len(data) - at) * scale)
        events += pipeline.flush()
    else:
        events = pipeline.feed(data) + pipeline.flush()
    errors: list[dict[str, Any]] = []
    variants: list[str] = []
    for event in events:
        if isinstance(event, ErrorEvent):
            errors.append(_error_record(event))
        elif event.reading.variant.value not in variants:
            variants.append(event.reading.variant.value)
    stats = pipeline.stats
    if stats.telegrams == 0 and not errors:
        errors.append(
            {
                "kind": "no-telegram",
                "message": f"no telegram found in {len(data)} bytes (no header '/' at a line start)"
                if keys is None
                else f"no general-glo-ciphering APDU found in {len(data)} bytes",
            }
        )
    result.update(
        valid=not errors,
        telegrams=stats.telegrams,
        decoded=stats.decoded,
        variants=variants,
        errors=errors,
        counts={k.value: n for k, n in stats.by_kind().items() if n},
        skipped_bytes=stats.skipped_bytes,
    )
    return result


def _error_record(event: ErrorEvent) -> dict[str, Any]:
    from gridedge.ports.p1 import P1CrcError, P1Error, P1SyntaxError, decode

    error = event.error
    record: dict[str, Any] = {
        "kind": event.kind.value,
        "telegram": event.index,
        "stream_offset": event.stream_offset,
        "offset": error.offset,
        "message": error.message,
    }
    if isinstance(error, P1CrcError):
        record.update(expected=f"{error.expected:04X}", found=f"{error.found:04X}")
        if event.raw is not None:
            # read strictly without the CRC: is the rest well-formed (an edited or anonymised
            # capture whose CRC was not recomputed), or is there damage the CRC caught?
            try:
                reading = decode(event.raw, check_crc=False, lenient=False)
            except P1Error as strict:
                record["without_crc"] = {"valid": False, "message": strict.message}
                if isinstance(strict, P1SyntaxError):
                    record["without_crc"].update(line=strict.line, column=strict.column, text=strict.text)
            else:
                record["without_crc"] = {"valid": True, "variant": reading.variant.value}
    elif isinstance(error, P1SyntaxError):
        record.update(line=error.line, column=error.column, text=error.text, reason=error.reason)
    return record


def _explain(result: dict[str, Any]) -> str:
    n = result["telegrams"]
    head = f"{n} telegram{'s' if n != 1 else ''}"
    errors = result["errors"]
    if result["valid"]:
        lines = [f"OK    {result['path']}: {head}, all valid ({', '.join(result['variants'])})"]
    else:
        counts = ", ".join(f"{k} {v}" for k, v in result.get("counts", {}).items())
        lines = [
            f"FAIL  {result['path']}: {head}, {result['decoded']} valid, {len(errors)} error"
            f"{'s' if len(errors) != 1 else ''}" + (f" ({counts})" if counts else "")
        ]
    for e in errors:
        where = []
        if e.get("telegram") is not None:
            where.append(f"telegram {e['telegram']}")
        if e.get("stream_offset") is not None:
            where.append(f"byte {e['stream_offset']}")
        prefix = f"{', '.join(where)}: " if where else ""
        lines.append(f"      {prefix}{e['kind']}: {e['message']}")
        strict = e.get("without_crc")
        if strict is not None:
            if strict["valid"]:
                lines.append(
                    f"        without the CRC check it decodes cleanly as {strict['variant']}:"
                    " the CRC was not recomputed after an edit (anonymised or hand-made telegram)"
                    " or bits changed on the line"
                )
            else:
                lines.append(f"        read without the CRC check it also has: {strict['message']}")
    return "\n".join(lines) + "\n"


def _cmd_sim_meter(args: argparse.Namespace) -> int:
    from gridedge.sim.service import SimMeterOptions, run_sim_meter

    try:
        options = SimMeterOptions.from_args(args)
    except ValueError as exc:
        print(f"gridedge sim meter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_sim_meter(options)
