"""Store benchmark: append rate, bytes per meter-day, query speed, against a row-per-reading table.

Run: `python bench/store.py [--days 1] [--seed 1]`. Generates realistic 1 s readings of a
three-phase household (`gridedge.store.testing`), then prints:

- append: the caller's cost of `append` (what the P1 reading loop pays) and the end-to-end rate
  until `flush()` returns (everything committed and fsynced);
- size: database bytes per meter-day (raw blocks + 1 min / 15 min / day aggregates + indexes), the
  raw blocks alone, and the same readings in a plain row-per-reading table for comparison;
- the cost of re-encoding a full block (what each commit pays in live operation) and of queries.

Goal (issue): well under 5 MB per meter-day; a row-per-reading table is 20-40 MB.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from gridedge.cli_progress import add_progress_flag, progress, progress_wanted
from gridedge.store import Resolution, SqliteReadingStore
from gridedge.store.codec import Columns, decode_block, encode_block, epoch_seconds, quantize
from gridedge.store.testing import METER_ID, day_start, local_day_seconds, synthetic_readings

MB = 1_000_000

BASELINE_COLUMNS = (
    "tariff INTEGER, power_import REAL, power_export REAL, "
    "voltage_l1 REAL, voltage_l2 REAL, voltage_l3 REAL, current_l1 REAL, current_l2 REAL, current_l3 REAL, "
    "power_import_l1 REAL, power_import_l2 REAL, power_import_l3 REAL, "
    "power_export_l1 REAL, power_export_l2 REAL, power_export_l3 REAL, "
    "import_t1 REAL, import_t2 REAL, export_t1 REAL, export_t2 REAL, gas REAL, gas_time INTEGER"
)


def baseline_bytes(readings: list, path: Path) -> int:  # type: ignore[type-arg]
    """The same readings as one row each (meter id, time, 21 values), indexed by meter and time."""
    con = sqlite3.connect(path)
    con.execute(
        f"CREATE TABLE reading (id INTEGER PRIMARY KEY, meter INTEGER, ts INTEGER, {BASELINE_COLUMNS})"
    )
    con.execute("CREATE UNIQUE INDEX reading_meter_ts ON reading (meter, ts)")
    rows = []
    for r in readings:
        ph = {p.phase: p for p in r.phases}
        gas = r.mbus[0] if r.mbus else None
        rows.append(
            (
                1,
                epoch_seconds(r.timestamp),
                r.tariff,
                r.power_import_w,
                r.power_export_w,
                *(ph[n].voltage_v for n in (1, 2, 3)),
                *(ph[n].current_a for n in (1, 2, 3)),
                *(ph[n].power_import_w for n in (1, 2, 3)),
                *(ph[n].power_export_w for n in (1, 2, 3)),
                r.energy_import_kwh.get(1),
                r.energy_import_kwh.get(2),
                r.energy_export_kwh.get(1),
                r.energy_export_kwh.get(2),
                gas.value if gas else None,
                epoch_seconds(gas.capture_time) if gas and gas.capture_time else None,
            )
        )
    con.executemany(f"INSERT INTO reading VALUES (NULL, {', '.join('?' * 23)})", rows)
    con.commit()
    pages = con.execute("PRAGMA page_count").fetchone()[0] * con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    return int(pages)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--block-seconds", type=int, default=3600)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--commit-interval", type=float, default=5.0)
    ap.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    ap.add_argument("--no-baseline", action="store_true", help="skip the row-per-reading comparison")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    add_progress_flag(ap)
    args = ap.parse_args()
    bar_on = progress_wanted(args.no_progress)

    t = time.perf_counter()
    readings = []
    start = day_start(2024, 6, 10)
    with progress(
        "generating readings", total=args.days, unit="days", enabled=bar_on, proxy_stdout=True
    ) as bar:
        for d in range(args.days):
            day = start + timedelta(days=d)
            readings.extend(synthetic_readings(day, local_day_seconds(day), seed=args.seed + d))
            bar.advance()
    gen_s = time.perf_counter() - t
    n = len(readings)
    out: dict[str, float | int | str] = {"readings": n, "days": args.days, "generate_s": round(gen_s, 2)}

    with (
        progress(f"store: appending {n:,} readings", enabled=bar_on, proxy_stdout=True) as bar,
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "bench.db"
        store = SqliteReadingStore(
            path,
            block_seconds=args.block_seconds,
            batch_size=args.batch_size,
            commit_interval=args.commit_interval,
            synchronous=args.synchronous,
            queue_size=n + 1,  # measure the writer, not drops
        )
        empty = store.used_bytes()
        t0 = time.perf_counter()
        for r in readings:
            store.append(r)
        t1 = time.perf_counter()
        bar.describe("store: flushing (fsync per commit)")
        store.flush()
        t2 = time.perf_counter()
        stats = store.stats()
        assert stats.stored == n, stats
        out["append_caller_us"] = round((t1 - t0) / n * 1e6, 2)
        out["append_caller_per_s"] = round(n / (t1 - t0))
        out["append_durable_per_s"] = round(n / (t2 - t0))
        out["commits"] = stats.commits

        bar.describe("store: measuring size")
        used = store.used_bytes() - empty
        con = sqlite3.connect(path)
        raw = con.execute("SELECT SUM(LENGTH(data)) FROM raw_blocks").fetchone()[0]
        try:
            per_table = dict(con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        except sqlite3.OperationalError:  # SQLite built without dbstat
            per_table = {}
        con.close()
        out["bytes_per_day"] = round(used / args.days)
        out["raw_blob_bytes_per_day"] = round(raw / args.days)
        out["bytes_per_reading"] = round(used / n, 2)
        if per_table:
            out["raw_table_bytes_per_day"] = round(per_table.get("raw_blocks", 0) / args.days)
            out["aggregate_table_bytes_per_day"] = round(per_table.get("aggregates", 0) / args.days)

        bar.describe("store: queries")
        first, last = readings[0].timestamp, readings[-1].timestamp
        assert first is not None and last is not None
        t = time.perf_counter()
        got = store.readings(METER_ID, first, first + timedelta(days=1))
        out["query_day_readings_s"] = round(time.perf_counter() - t, 3)
        assert len(got) == local_day_seconds(start)
        t = time.perf_counter()
        quarters = store.aggregates(METER_ID, Resolution.QUARTER_HOUR, first, last)
        out["query_quarter_hours_ms"] = round((time.perf_counter() - t) * 1000, 2)
        assert len(quarters) >= 95
        t = time.perf_counter()
        for _ in range(100):
            store.latest(METER_ID)
        out["query_latest_ms"] = round((time.perf_counter() - t) * 10, 2)
        store.close()

        bar.describe("store: block codec")
        block = Columns()
        for r in readings[: args.block_seconds]:
            assert r.timestamp is not None
            block.insert(epoch_seconds(r.timestamp), quantize(r))
        t = time.perf_counter()
        for _ in range(10):
            blob = encode_block(block)
        out["encode_full_block_ms"] = round((time.perf_counter() - t) * 100, 2)
        t = time.perf_counter()
        for _ in range(10):
            decode_block(blob)
        out["decode_full_block_ms"] = round((time.perf_counter() - t) * 100, 2)

        bar.describe("store: row-per-reading baseline")
        if not args.no_baseline:
            out["row_per_reading_bytes_per_day"] = round(
                baseline_bytes(readings, Path(tmp) / "baseline.db") / args.days
            )

    if args.json:
        print(json.dumps(out))
        return
    print(f"{n} readings over {args.days} day(s), generated in {gen_s:.1f} s")
    print(
        f"append: {out['append_caller_us']} us per call on the caller ({out['append_caller_per_s']}/s), "
        f"{out['append_durable_per_s']} readings/s until flush() returned ({out['commits']} commits, "
        f"synchronous={args.synchronous})"
    )
    print(
        f"size: {int(out['bytes_per_day']) / MB:.3f} MB per meter-day in the database "
        f"({out['bytes_per_reading']} B/reading); raw blocks {int(out['raw_blob_bytes_per_day']) / MB:.3f} MB"
        + (
            f", aggregate table {int(out['aggregate_table_bytes_per_day']) / MB:.3f} MB"
            if "aggregate_table_bytes_per_day" in out
            else ""
        )
    )
    if "row_per_reading_bytes_per_day" in out:
        base = int(out["row_per_reading_bytes_per_day"])
        print(
            f"row-per-reading table: {base / MB:.1f} MB per meter-day "
            f"({base / int(out['bytes_per_day']):.0f}x the store)"
        )
    print(
        f"block of {args.block_seconds} s: encode {out['encode_full_block_ms']} ms, "
        f"decode {out['decode_full_block_ms']} ms (each commit re-encodes the blocks it touched)"
    )
    print(
        f"queries: one day of readings {out['query_day_readings_s']} s, a day of quarter hours "
        f"{out['query_quarter_hours_ms']} ms, latest {out['query_latest_ms']} ms"
    )


if __name__ == "__main__":
    main()
