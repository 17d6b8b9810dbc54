"""Schema versions: a version 1 database made here is migrated; a newer one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from store_support import FAR_FUTURE, FAR_PAST, METER_ID, day, fill, open_store

from gridedge.store import (
    SCHEMA_VERSION,
    Resolution,
    SchemaTooNewError,
    SqliteReadingStore,
    stored_from_reading,
)
from gridedge.store.codec import Columns, encode_block, epoch_seconds, quantize
from gridedge.store.schema import MIGRATIONS

# The version 1 schema as released, written out here so the test does not depend on the code
# that it checks.
V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE meters (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE raw_blocks (
    meter INTEGER NOT NULL REFERENCES meters(id),
    start INTEGER NOT NULL,
    n INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (meter, start)
);
INSERT INTO meta VALUES ('block_seconds', '3600');
PRAGMA user_version = 1;
"""


def _make_v1(path: Path) -> None:
    readings = day(2024, 3, 31, step=10)
    blocks: dict[int, Columns] = {}
    for r in readings:
        assert r.timestamp is not None
        ts = epoch_seconds(r.timestamp)
        blocks.setdefault(ts - ts % 3600, Columns()).insert(ts, quantize(r))
    con = sqlite3.connect(path)
    con.executescript(V1)
    con.execute("INSERT INTO meters (id, name) VALUES (7, ?)", (METER_ID,))
    for start, b in blocks.items():
        con.execute(
            "INSERT INTO raw_blocks VALUES (7, ?, ?, ?, ?, ?)",
            (start, len(b), b.ts[0], b.ts[-1], encode_block(b)),
        )
    con.commit()
    con.close()


def test_migrations_are_ordered_and_contiguous() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert all(m.description for m in MIGRATIONS)


def test_a_version_1_database_is_migrated_and_its_aggregates_built(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _make_v1(path)
    store = SqliteReadingStore(path, commit_interval=0.05)
    try:
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert dict(con.execute("SELECT key, value FROM meta").fetchall())["zone"] == "Europe/Brussels"
        con.close()
        readings = day(2024, 3, 31, step=10)
        assert store.readings(METER_ID, FAR_PAST, FAR_FUTURE) == [stored_from_reading(r) for r in readings]
        assert len(store.aggregates(METER_ID, Resolution.QUARTER_HOUR, FAR_PAST, FAR_FUTURE)) == 92

        # the migrated aggregates are the ones a current store builds from the same readings
        (tmp_path / "new").mkdir()
        with open_store(tmp_path / "new") as fresh:
            fill(fresh, readings)
            for res in Resolution:
                assert store.aggregates(METER_ID, res, FAR_PAST, FAR_FUTURE) == fresh.aggregates(
                    METER_ID, res, FAR_PAST, FAR_FUTURE
                )
        # and the migrated store keeps working: replays are duplicates, new data is added
        fill(store, readings[:10])
        assert store.stats().duplicates == 10
    finally:
        store.close()
    with SqliteReadingStore(path) as reopened:  # opening a current database migrates nothing
        assert len(reopened.readings(METER_ID, FAR_PAST, FAR_FUTURE)) == 8280


def test_a_newer_database_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(
        SchemaTooNewError, match=rf"version {SCHEMA_VERSION + 1} is newer .* \(up to {SCHEMA_VERSION}\)"
    ):
        SqliteReadingStore(path)


def test_a_failing_migration_leaves_the_database_at_the_last_good_version(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    _make_v1(path)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE aggregates (x)")  # makes step 2 fail half-way
    con.commit()
    con.close()
    with pytest.raises(sqlite3.OperationalError, match="aggregates already exists"):
        SqliteReadingStore(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM meta WHERE key = 'zone'").fetchone()[0] == 0
    con.close()
