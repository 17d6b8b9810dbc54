"""The SQLite schema, its version and its migrations.

The version is `PRAGMA user_version`. `MIGRATIONS` are ordered steps; opening a database applies
every step above its version, each in its own `BEGIN IMMEDIATE` transaction together with the
new version number, so a crash mid-way leaves the database at the last completed version and two
processes opening the same file do not both migrate. A database newer than this code is refused
(`SchemaTooNewError`) rather than written with assumptions that may no longer hold.

Tables (version 2):

- `meta(key, value)`: settings fixed when the database was made (`block_seconds`, `zone`) and
  state (`raw_horizon`).
- `meters(id, name)`: meter ids (34 hex characters on DSMR 5) stored once, referenced by integer.
- `raw_blocks(meter, start, n, first_ts, last_ts, data)`: one row per meter and aligned block of
  `block_seconds`; `data` is the compressed block of `codec`.
- `aggregates(meter, res, start, end, n, first_ts, last_ts, pi_*, pe_*, e*_first, e*_last)`: one
  row per meter, resolution (60, 900, 86400 = local day) and bucket; integers in the units of
  `codec` (mW, 0.1 mWh).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gridedge.store.base import StoreConfigError
from gridedge.store.buckets import Accumulator, Partial
from gridedge.store.codec import decode_block

DEFAULT_ZONE = "Europe/Brussels"
DEFAULT_BLOCK_SECONDS = 3600


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer gridedge; this code does not know its schema."""

    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"{path}: database schema version {found} is newer than this gridedge supports "
            f"(up to {known}); upgrade gridedge or open a copy made with this version"
        )
        self.found = found
        self.known = known


@dataclass(frozen=True, slots=True)
class Settings:
    """Per-database settings, chosen when the database is made and then fixed."""

    block_seconds: int
    zone: str


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite3.Connection, Settings], None]


def _v1(conn: sqlite3.Connection, wanted: Settings) -> None:
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
    conn.execute("CREATE TABLE meters (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    conn.execute(
        """CREATE TABLE raw_blocks (
            meter INTEGER NOT NULL REFERENCES meters(id),
            start INTEGER NOT NULL,
            n INTEGER NOT NULL,
            first_ts INTEGER NOT NULL,
            last_ts INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (meter, start)
        )"""
    )
    conn.execute("INSERT INTO meta VALUES ('block_seconds', ?)", (str(wanted.block_seconds),))


def _v2(conn: sqlite3.Connection, wanted: Settings) -> None:
    """Aggregates, built from the raw blocks already stored, and the day zone."""
    conn.execute(
        """CREATE TABLE aggregates (
            meter INTEGER NOT NULL REFERENCES meters(id),
            res INTEGER NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            n INTEGER NOT NULL,
            first_ts INTEGER NOT NULL,
            last_ts INTEGER NOT NULL,
            pi_n INTEGER NOT NULL, pi_sum INTEGER NOT NULL, pi_min INTEGER, pi_max INTEGER,
            pe_n INTEGER NOT NULL, pe_sum INTEGER NOT NULL, pe_min INTEGER, pe_max INTEGER,
            e_first_ts INTEGER, ei_first INTEGER, ee_first INTEGER,
            e_last_ts INTEGER, ei_last INTEGER, ee_last INTEGER,
            PRIMARY KEY (meter, res, start)
        ) WITHOUT ROWID"""
    )
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('zone', ?)", (wanted.zone,))
    zone = ZoneInfo(read_meta(conn)["zone"])
    names = dict(conn.execute("SELECT id, name FROM meters").fetchall())
    acc = Accumulator(zone)
    for meter, blob in conn.execute("SELECT meter, data FROM raw_blocks ORDER BY meter, start"):
        for ts, values in decode_block(blob).rows():
            acc.add(names[meter], ts, values)
        if len(acc) > 10_000:
            merge_partials(conn, acc, {v: k for k, v in names.items()})
            acc.clear()
    merge_partials(conn, acc, {v: k for k, v in names.items()})


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "meters, settings and compressed raw 1 s blocks", _v1),
    Migration(2, "1 min / 15 min / local-day aggregates, built from the raw blocks", _v2),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def check_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise StoreConfigError(f"zone {name!r} is not an IANA time zone: {exc}") from exc


def migrate(
    conn: sqlite3.Connection,
    path: str,
    *,
    zone: str | None = None,
    block_seconds: int | None = None,
) -> Settings:
    """Bring the database to `SCHEMA_VERSION` and return its settings.

    `zone` and `block_seconds` are used when the database is made; for an existing database they
    must be None or equal to what it was made with (`StoreConfigError` otherwise).
    `conn` must be in autocommit mode (`isolation_level=None`).
    """
    if block_seconds is not None and (block_seconds <= 0 or 86400 % block_seconds):
        raise StoreConfigError(f"block_seconds must divide 86400, got {block_seconds}")
    if zone is not None:
        check_zone(zone)
    wanted = Settings(block_seconds or DEFAULT_BLOCK_SECONDS, zone or DEFAULT_ZONE)
    found = user_version(conn)
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(path, found, SCHEMA_VERSION)
    for step in MIGRATIONS:
        if step.version <= found:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = user_version(conn)  # another process may have migrated meanwhile
            if current > SCHEMA_VERSION:
                raise SchemaTooNewError(path, current, SCHEMA_VERSION)
            if current < step.version:
                step.apply(conn, wanted)
                conn.execute(f"PRAGMA user_version = {step.version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        found = max(found, step.version)
    meta = read_meta(conn)
    settings = Settings(int(meta["block_seconds"]), meta["zone"])
    if block_seconds is not None and block_seconds != settings.block_seconds:
        raise StoreConfigError(
            f"{path} stores raw data in blocks of {settings.block_seconds} s, not {block_seconds} s"
        )
    if zone is not None and zone != settings.zone:
        raise StoreConfigError(f"{path} aggregates local days in {settings.zone}, not {zone}")
    check_zone(settings.zone)
    return settings


# --- SQL shared by the writer and the migrations ---------------------------------------------

_AGG_COLUMNS = ", ".join(Partial.COLUMNS)
_SELECT_AGG = f"SELECT {_AGG_COLUMNS} FROM aggregates WHERE meter = ? AND res = ? AND start = ?"
_UPSERT_AGG = (
    f"INSERT OR REPLACE INTO aggregates (meter, res, {_AGG_COLUMNS}) "
    f"VALUES (?, ?, {', '.join('?' * len(Partial.COLUMNS))})"
)


def meter_key(conn: sqlite3.Connection, name: str, *, create: bool) -> int | None:
    row = conn.execute("SELECT id FROM meters WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row[0])
    if not create:
        return None
    cur = conn.execute("INSERT INTO meters (name) VALUES (?)", (name,))
    assert cur.lastrowid is not None
    return cur.lastrowid


def merge_partials(conn: sqlite3.Connection, acc: Accumulator, keys: dict[str, int]) -> None:
    """Merge the accumulator's partials into their stored rows (inside the caller's transaction)."""
    for (meter, res, start), part in acc.partials.items():
        key = keys[meter]
        row = conn.execute(_SELECT_AGG, (key, res, start)).fetchone()
        if row is not None:
            stored = Partial.from_row(row)
            stored.merge(part)
            part = stored
        conn.execute(_UPSERT_AGG, (key, res, *part.row()))
