"""Time series of meter readings: SQLite as the embedded default (PostgreSQL comes later).

Layout and behaviour in short (details in the module docstrings):

- Raw 1 s data is kept compactly as one row per meter and hour (`block_seconds`): the stored
  series (tariff, total and per-phase import/export power, voltages, currents, energy registers
  per tariff, gas) are quantised to integers on a grid finer than any meter's (1 mW, 1 mV, 1 mA,
  0.1 mWh, 1 cm³), divided per block by their GCD, delta-encoded per column, byte-shuffled and
  zlib-compressed (`codec`): lossless at the meter's resolution, about 0.8 MB per meter-day for a
  noisy three-phase household including the aggregates.
- Aggregates at 1 min, 15 min (UTC-aligned) and local day (IANA zone, default Europe/Brussels,
  so DST days have 92 or 100 quarter hours) are merged incrementally at every commit (`buckets`).
- A reading for a (meter, second) already stored is ignored: the first write wins, replays never
  count twice. Readings out of order are merged where they belong.
- `RetentionPolicy` says how long raw data and each resolution are kept; it is applied by
  `apply_retention(now)` with the caller's clock time, or periodically by the writer.
- `SqliteReadingStore.append` never blocks: one writer thread, a bounded queue (full = dropped
  and counted), batched commits, WAL so readers are not blocked, `flush()` / `close()` wait for
  durability. The schema is versioned (`PRAGMA user_version`) with ordered migrations.
- `export_csv` / `export_parquet` write raw or aggregated data of a meter and time range.
"""

from gridedge.store.aio import AsyncReadingStore
from gridedge.store.base import (
    Aggregate,
    ReadingStore,
    Resolution,
    RetentionPolicy,
    RetentionReport,
    StoreClosedError,
    StoreConfigError,
    StoreError,
    StoreStats,
)
from gridedge.store.codec import CorruptBlockError, InvalidReadingError, StoredReading, stored_from_reading
from gridedge.store.export import MissingDependencyError, export_csv, export_parquet
from gridedge.store.schema import SCHEMA_VERSION, SchemaTooNewError
from gridedge.store.sqlite import SqliteReadingStore

__all__ = [
    "SCHEMA_VERSION",
    "Aggregate",
    "AsyncReadingStore",
    "CorruptBlockError",
    "InvalidReadingError",
    "MissingDependencyError",
    "ReadingStore",
    "Resolution",
    "RetentionPolicy",
    "RetentionReport",
    "SchemaTooNewError",
    "SqliteReadingStore",
    "StoreClosedError",
    "StoreConfigError",
    "StoreError",
    "StoreStats",
    "StoredReading",
    "export_csv",
    "export_parquet",
    "stored_from_reading",
]
