"""P1 benchmark: gridedge against dsmr-parser on the same telegrams, in the same process.

Run: `python bench/p1.py` (needs the test extras: dsmr-parser). Prints, per corpus file,
telegrams per second for both parsers with CRC checked on both sides (median of interleaved
repeats), the stream framer + decoder on the 566-telegram capture against dsmr-parser's
TelegramBuffer + parser, and the whole `gridedge p1 read --file ... --json` process on 20
copies of that capture against an equivalent dsmr-parser script (read, frame, parse, JSON out).

Goal (issue 2): >= 10x dsmr-parser on DSMR 5 and e-MUCS-H telegrams in process, >= 5x through the
CLI with JSON output.

Then the encoder (`--encode-only` for just that): microseconds per telegram written by `encode` for
the readings of a street of virtual households (bench/sim.py's workload), in each profile, in
the order the simulation writes them. Budget: ~25 us (1,000 households at 10x real time on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dsmr_parser import telegram_specifications as specs
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from dsmr_parser.parsers import TelegramParser

from gridedge.model.reading import MeterReading, P1Variant
from gridedge.model.scenario import MeterProfile, load_scenario
from gridedge.ports.p1 import decode
from gridedge.ports.p1.encoder import encode
from gridedge.ports.p1.framer import TelegramFramer
from gridedge.sim.meter.meter import VARIANT
from gridedge.sim.neighbourhood import Neighbourhood, street

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "p1"
STREAM = CORPUS / "nielsbasjes_dsmr-tools" / "stream" / "ttyUSB0-raw.crlf.txt"
FAMILY = Path(__file__).resolve().parents[1] / "examples" / "scenarios" / "belgian-family.toml"

# (label, file, dsmr-parser specification); all CRC-valid real captures or spec examples
FILES = [
    ("DSMR 5 Iskra AM550 (real)", "nielsbasjes_dsmr-tools/RealDSMR5_L43_ISK5_2M550T_1012.txt", specs.V5),
    (
        "DSMR 5 Sagemcom XS210 (real)",
        "nielsbasjes_dsmr-tools/RealDSMR5_L136_Ene5_XS210_ESMR_5_0.txt",
        specs.V5,
    ),
    ("DSMR 5 Sagemcom T211 (real)", "Wassasin_dsmr5/t211.txt", specs.V5),
    ("DSMR 5 two M-Bus (real)", "ndokter_dsmr_parser/telegram_v5_two_mbus.txt", specs.V5),
    ("e-MUCS-H 1.7.1 spec example", "ndokter_dsmr_parser/telegram_fluvius_v171.txt", specs.BELGIUM_FLUVIUS),
    ("e-MUCS-H Fluvius (real)", "ndokter_dsmr_parser/telegram_fluvius_v171_alt.txt", specs.BELGIUM_FLUVIUS),
]

DSMR_PARSER_SCRIPT = """
import json, sys
from dsmr_parser import telegram_specifications as specs
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from dsmr_parser.parsers import TelegramParser
parser = TelegramParser(specs.V5)
buf = TelegramBuffer()
out = sys.stdout
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(65536):
        buf.append(chunk.decode("latin-1"))
        for t in buf.get_all():
            try:
                out.write(parser.parse(t, throw_ex=True).to_json() + "\\n")
            except Exception as exc:
                sys.stderr.write(f"{exc}\\n")
"""


def per_call(fn: Callable[[], object], seconds: float = 0.2) -> float:
    """Seconds per call of `fn`, measured over a batch that takes about `seconds`."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t
        if dt >= seconds:
            return dt / n
        n = max(n * 2, int(n * seconds / max(dt, 1e-6)))


def compare(a: Callable[[], object], b: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median seconds per call of a and b, measured interleaved so load affects both alike."""
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(per_call(a))
        tb.append(per_call(b))
    return statistics.median(ta), statistics.median(tb)


def in_process(repeats: int) -> list[tuple[str, float, float]]:
    rows = []
    for label, name, spec in FILES:
        data = (CORPUS / name).read_bytes()
        text = data.decode("ascii")
        decode(data)  # raises if the CRC is wrong: both sides check it
        parser = TelegramParser(spec, apply_checksum_validation=True)
        parser.parse(text, throw_ex=True)
        g, d = compare(
            lambda data=data: decode(data),
            lambda parser=parser, text=text: parser.parse(text, throw_ex=True),
            repeats,
        )
        rows.append((label, g, d))
    return rows


def stream(repeats: int) -> tuple[float, float, int]:
    data = STREAM.read_bytes()
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]

    def ours() -> int:
        framer = TelegramFramer()
        n = 0
        for c in chunks:
            for item in framer.feed(c):
                if isinstance(item, bytes):
                    decode(item)
                    n += 1
        return n

    parser = TelegramParser(specs.V5)
    text_chunks = [c.decode("latin-1") for c in chunks]

    def theirs() -> int:
        buf = TelegramBuffer()
        n = 0
        for c in text_chunks:
            buf.append(c)
            for t in buf.get_all():
                parser.parse(t, throw_ex=True)
                n += 1
        return n

    assert ours() == 566, "framer must find the 566 telegrams"
    g, d = compare(ours, theirs, max(3, repeats // 2))
    return g, d, theirs()


def cli(repeats: int) -> tuple[float, float, int]:
    data = STREAM.read_bytes() * 20
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "capture20.txt"
        path.write_bytes(data)
        script = Path(tmp) / "dsmr_parser_json.py"
        script.write_text(DSMR_PARSER_SCRIPT)
        gridedge = [sys.executable, "-m", "gridedge", "p1", "read", "--file", str(path), "--json"]
        theirs = [sys.executable, str(script), str(path)]
        lines = subprocess.run(gridedge, capture_output=True, check=True).stdout.count(b"\n")
        tg, td = [], []
        for _ in range(repeats):
            for cmd, acc in ((gridedge, tg), (theirs, td)):
                t = time.perf_counter()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                acc.append(time.perf_counter() - t)
        return statistics.median(tg), statistics.median(td), lines


def encoding(repeats: int, households: int = 50, seconds: int = 20) -> list[tuple[str, float, int]]:
    """(profile, seconds per telegram, bytes): `encode` on a street's readings, in simulation order."""
    family = load_scenario(FAMILY)
    rows = []
    for profile in (MeterProfile.BE, MeterProfile.NL, MeterProfile.LU):
        base = family.model_copy(update={"meter": family.meter.model_copy(update={"profile": profile})})
        sites = Neighbourhood(street(base, households, seed=1)).sites
        readings = [r for _ in range(seconds) for site in sites if (r := site.step().reading) is not None]
        variant = VARIANT[profile]

        def run(readings: list[MeterReading] = readings, variant: P1Variant = variant) -> None:
            for r in readings:
                encode(r, profile=variant)

        t = statistics.median(per_call(run) for _ in range(repeats)) / len(readings)
        rows.append((variant.value, t, len(encode(readings[-1], profile=variant))))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--encode-only", action="store_true")
    args = ap.parse_args()
    if args.encode_only:
        for label, t, size in encoding(args.repeats):
            print(f"encode {label:26} {t * 1e6:6.1f} us per telegram ({size} B)")
        return
    print(
        f"python {sys.version.split()[0]}, median of {args.repeats} interleaved repeats,"
        " CRC checked both sides"
    )
    print(f"{'telegram':32} {'gridedge':>14} {'dsmr-parser':>14} {'ratio':>7}")
    for label, g, d in in_process(args.repeats):
        print(
            f"{label:32} {1 / g:10,.0f} t/s {1 / d:10,.0f} t/s {d / g:6.1f}x"
            f"   ({g * 1e6:.1f} us vs {d * 1e6:.1f} us)"
        )
    g, d, n = stream(args.repeats)
    print(
        f"{'stream 566 telegrams (frame+parse)':32} {n / g:10,.0f} t/s {n / d:10,.0f} t/s {d / g:6.1f}x"
        f"   ({g * 1e3:.1f} ms vs {d * 1e3:.1f} ms)"
    )
    if not args.skip_cli:
        g, d, lines = cli(max(3, args.repeats // 2))
        print(
            f"{'CLI --json, 20 x 566 telegrams':32} {lines / g:10,.0f} t/s {lines / d:10,.0f} t/s"
            f" {d / g:6.1f}x"
            f"   ({g:.2f} s vs {d:.2f} s, {lines} JSON lines)"
        )
    for label, t, size in encoding(args.repeats):
        print(f"encode {label:26} {t * 1e6:6.1f} us per telegram ({size} B)")


if __name__ == "__main__":
    main()
