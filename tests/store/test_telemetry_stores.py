"""The head-end's telemetry stores, SQLite and PostgreSQL, held to the same behaviour.

PostgreSQL is the real server on 127.0.0.1:5432 (database `test`); each test gets its own schema.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from gridedge.model.telemetry import EventCode, GridPointSample, LoadCurve, MeterEvent, SampleKind, WanReport
from gridedge.store.telemetry_base import MeterInfo, TelemetryBatch, TelemetryStore
from gridedge.store.telemetry_pg import PostgresTelemetryStore
from gridedge.store.telemetry_sqlite import SqliteTelemetryStore

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 12, 6, 23, 55, tzinfo=UTC)  # crosses midnight: two daily partitions


async def _drop_schema(schema: str) -> None:
    con = await asyncpg.connect(PG_DSN)
    try:
        await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await con.close()


StoreFactory = Callable[[], TelemetryStore]


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[StoreFactory]:
    schema = f"t_{uuid.uuid4().hex[:12]}"

    def factory() -> TelemetryStore:
        if request.param == "sqlite":
            return SqliteTelemetryStore(f"{tmp_path}/hes.db")
        return PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=2)

    yield factory
    if request.param == "postgres":
        asyncio.run(_drop_schema(schema))


def run(factory: StoreFactory, body: Callable[[TelemetryStore], Awaitable[None]]) -> None:
    async def main() -> None:
        store = factory()
        await store.init()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def sample(meter: str, seq: int, t: datetime, w: float) -> GridPointSample:
    return GridPointSample(meter, seq, t, SampleKind.MONITORING, w, 0.0, 1000 + seq, 0, (230.0, 231.0, None),
                           (w / 230, None, None), 50.0)  # fmt: skip


def day_of_traffic() -> TelemetryBatch:
    recs: list[object] = []
    for m in range(3):
        meter = f"m{m}"
        for i in range(60):  # 10 min of 10 s samples, across midnight
            recs.append(sample(meter, i + 1, T0 + timedelta(seconds=10 * i), 100.0 * m + i))
        recs.append(LoadCurve(meter, 61, T0, 10, tuple(float(m + 1) for _ in range(90)), (0.0,) * 90))
        recs.append(MeterEvent(meter, 62, T0 + timedelta(minutes=3), EventCode.VOLTAGE_SAG, 1, 70.0 + m, 0.1))
        recs.append(WanReport(meter, 63, T0 + timedelta(minutes=15), T0, True, 20.0, 80.0, 0, 0.0, 63, 0))
    return TelemetryBatch.of(recs)  # type: ignore[arg-type]


def test_write_is_idempotent_and_counts(make_store: StoreFactory) -> None:
    async def body(store: TelemetryStore) -> None:
        batch = day_of_traffic()
        first = await store.write(batch)
        assert (first.samples, first.curve_points, first.events, first.wan) == (180, 270, 3, 3)
        again = await store.write(batch)  # a replayed batch adds nothing
        assert again.rows == 0
        assert await store.count("samples") == 180
        assert await store.count("curve_points") == 270
        assert len(batch) == 3 * 63 and sorted(batch.sequences["m1"]) == list(range(1, 64))

    run(make_store, body)


def test_latest_per_meter_ignores_late_older_samples(make_store: StoreFactory) -> None:
    async def body(store: TelemetryStore) -> None:
        await store.write(TelemetryBatch.of([sample("a", 5, T0 + timedelta(seconds=50), 500.0),
                                             sample("b", 1, T0, 1.0)]))  # fmt: skip
        # an older sample arriving later (shared subscriptions do not keep order) does not win
        await store.write(TelemetryBatch.of([sample("a", 4, T0 + timedelta(seconds=40), 400.0)]))
        latest = await store.latest()
        assert [(s.meter_id, s.sequence, s.import_w) for s in latest] == [("a", 5, 500.0), ("b", 1, 1.0)]
        assert latest[0].time == T0 + timedelta(seconds=50)
        assert latest[0].voltage_v == (230.0, 231.0, None)
        only_b = await store.latest(["b"])
        assert [s.meter_id for s in only_b] == ["b"]

    run(make_store, body)


def test_curves_events_and_wan(make_store: StoreFactory) -> None:
    async def body(store: TelemetryStore) -> None:
        meters = [MeterInfo("m0", "F1", "S1"), MeterInfo("m1", "F1", "S2"), MeterInfo("m2", "F2")]
        await store.set_meters(meters)
        await store.write(day_of_traffic())
        curve = await store.load_curve("m1", T0, T0 + timedelta(minutes=15))
        assert len(curve) == 90 and all(p.import_wh == pytest.approx(2.0) for p in curve)
        assert curve[0].time == T0 and curve[-1].time == T0 + timedelta(seconds=890)
        assert len(await store.load_curve("m1", T0, T0 + timedelta(minutes=1))) == 6
        feeder = await store.feeder_curve("F1", T0, T0 + timedelta(minutes=15))
        assert len(feeder) == 90
        assert all(p.import_wh == pytest.approx(3.0) and p.meters == 2 for p in feeder)  # m0 (1) + m1 (2)
        hour = T0 + timedelta(hours=1)
        events = await store.events(T0, hour, codes=[EventCode.VOLTAGE_SAG], feeder_id="F1")
        assert [(e.meter_id, e.value) for e in events] == [("m0", 70.0), ("m1", 71.0)]
        assert await store.events(T0, T0 + timedelta(hours=1), codes=[EventCode.BREAKER_OPEN]) == []
        assert [e.meter_id for e in await store.events(T0, T0 + timedelta(hours=1), meter_id="m2")] == ["m2"]
        wan = await store.wan_status()
        assert [(w.meter_id, w.link_up, w.latency_ms_max) for w in wan] == [
            ("m0", True, 80.0), ("m1", True, 80.0), ("m2", True, 80.0),
        ]  # fmt: skip
        with pytest.raises(ValueError, match="table: expected one of"):
            await store.count("meters; DROP TABLE samples")

    run(make_store, body)


def test_postgres_partitions_by_day_and_drops_old_days() -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"

    async def main() -> None:
        store = PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=2, timescale=False)
        await store.init()
        try:
            await store.write(day_of_traffic())
            con = await asyncpg.connect(PG_DSN)
            try:
                parts = await con.fetch(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1",
                    schema,
                )
                names = [r[0] for r in parts]
                assert "samples_p20261206" in names and "samples_p20261207" in names
                # rows land in the partition of their day
                n = await con.fetchval(f"SELECT count(*) FROM {schema}.samples_p20261207")
                assert n == 3 * 30  # 00:00:00 .. 00:04:50 of each meter
            finally:
                await con.close()
            dropped = await store.drop_before(datetime(2026, 12, 7).date())
            assert dropped == ["curve_points_p20261206", "events_p20261206", "samples_p20261206"]
            assert await store.count("samples") == 90
            # the day comes back on demand
            await store.write(TelemetryBatch.of([sample("x", 1, T0, 1.0)]))
            assert await store.count("samples") == 91
        finally:
            await store.close()
            await _drop_schema(schema)

    asyncio.run(main())


def test_two_writers_on_the_same_meters_do_not_deadlock() -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"

    async def main() -> None:
        a = PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=2)
        b = PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=2)
        await a.init()
        await b.init()
        try:
            meters = [f"m{i:04d}" for i in range(500)]

            def batch(offset: int, reverse: bool) -> TelemetryBatch:
                order = list(reversed(meters)) if reverse else meters
                t = T0 + timedelta(seconds=offset)
                return TelemetryBatch.of(sample(m, offset + 1, t, 1.0) for m in order)

            await asyncio.gather(*(
                (a if i % 2 else b).write(batch(i, reverse=bool(i % 2))) for i in range(20)
            ))  # fmt: skip
            assert await a.count("samples") == 500 * 20
            latest = await a.latest()
            assert len(latest) == 500 and {s.sequence for s in latest} == {20}
        finally:
            await a.close()
            await b.close()
            await _drop_schema(schema)

    asyncio.run(main())


def test_a_day_dropped_by_another_worker_is_created_again() -> None:
    """Retention in one process must not leave another one failing forever on its cached days."""
    schema = f"t_{uuid.uuid4().hex[:12]}"

    async def main() -> None:
        a = PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=1, timescale=False)
        b = PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=1, timescale=False)
        await a.init()
        await b.init()
        try:
            await a.write(TelemetryBatch.of([sample("m", 1, T0, 1.0)]))
            await b.drop_before(datetime(2026, 12, 8).date())  # drops the day `a` still has cached
            result = await a.write(TelemetryBatch.of([sample("m", 2, T0 + timedelta(seconds=10), 2.0)]))
            assert result.samples == 1 and await a.count("samples") == 1
        finally:
            await a.close()
            await b.close()
            await _drop_schema(schema)

    asyncio.run(main())
