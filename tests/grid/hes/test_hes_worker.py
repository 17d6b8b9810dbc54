"""HES workers end to end against the real Mosquitto and PostgreSQL.

Sealed records go in through MQTT; workers on a shared subscription commit them to PostgreSQL
and acknowledge them per meter. Every record is counted in the database and in the acks.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from hes_support import (
    PG_DSN,
    TestGateway,
    drop_schema,
    fleet,
    new_schema,
    sample,
    sealed_samples,
    until,
)

from gridedge.bus.telemetry import Sealer, encode_record
from gridedge.clock import RealClock
from gridedge.grid.hes.ingest import Ingestor, up_topic
from gridedge.grid.hes.security_monitor import AlarmKind, TrafficAlarm
from gridedge.grid.hes.worker import HesWorker, WorkerConfig
from gridedge.store.telemetry_pg import PostgresTelemetryStore


def prefix() -> str:
    return f"gridedge-test/{uuid.uuid4().hex}/"


def test_two_workers_share_the_load_and_acknowledge_every_record() -> None:
    keys = fleet(50)
    pre = prefix()
    schema = new_schema()

    async def main() -> None:
        stores = [PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=2) for _ in range(2)]
        for s in stores:
            await s.init()
        workers = [
            HesWorker(s, Ingestor(keys, topic_prefix=pre), RealClock(),
                      WorkerConfig(client_id=f"hes-{uuid.uuid4().hex[:8]}", topic_prefix=pre, batch_max=500,
                                   persistent_session=False))
            for s in stores
        ]  # fmt: skip
        stop = asyncio.Event()
        tasks = [asyncio.create_task(w.run(stop)) for w in workers]
        gw = TestGateway(keys, pre)
        try:
            gw.wait_ready()
            await until(lambda: all(w.subscribed for w in workers), what="workers subscribed")
            messages = sealed_samples(keys, 40, pre)
            await asyncio.to_thread(gw.publish, messages)
            await until(lambda: gw.acked_count() == len(messages), what="every record acknowledged")
            assert await stores[0].count("samples") == len(messages)
            assert all(w.stats.received > 0 for w in workers), [w.stats for w in workers]
            assert sum(w.stats.received for w in workers) == len(messages)
            assert gw.acked == {m: set(range(1, 41)) for m in keys.meters()}
            assert gw.bad_acks == 0
            latest = await stores[0].latest()
            assert len(latest) == 50 and {s.sequence for s in latest} == {40}
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            gw.close()
            for s in stores:
                await s.close()
            await drop_schema(schema)

    asyncio.run(asyncio.wait_for(main(), 60))


def test_forged_altered_and_misrouted_messages_are_rejected_and_never_stored() -> None:
    keys = fleet(3)
    pre = prefix()
    schema = new_schema()
    alarms: list[TrafficAlarm] = []

    async def main() -> None:
        store = PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=2)
        await store.init()
        ingestor = Ingestor(keys, topic_prefix=pre)
        worker = HesWorker(store, ingestor, RealClock(),
                           WorkerConfig(client_id=f"hes-{uuid.uuid4().hex[:8]}", topic_prefix=pre,
                                        persistent_session=False), on_alarm=alarms.append)  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        gw = TestGateway(keys, pre)
        try:
            gw.wait_ready()
            await until(lambda: worker.subscribed, what="worker subscribed")
            m0, m1, _ = keys.meters()
            good = Sealer(m0, keys.get(m0) or b"").seal(encode_record(sample(m0, 1)))
            altered = bytearray(good)
            altered[-3] ^= 0x40
            forged = Sealer(m0, bytes(16)).seal(encode_record(sample(m0, 2)))
            # m1's key, m0's record
            lying = Sealer(m1, keys.get(m1) or b"").seal(encode_record(sample(m0, 3)))
            bad = [
                (up_topic(m0, pre), bytes(altered)),
                (up_topic(m0, pre), forged),
                (up_topic(m0, pre), lying),
                (up_topic(m1, pre), lying),
                (up_topic("EAN999999", pre), good),
                (up_topic(m0, pre), b"\xff garbage"),
            ]
            await asyncio.to_thread(gw.publish, [*bad, (up_topic(m0, pre), good)])
            await until(lambda: worker.stats.committed == 7, what="all seven processed")
            assert await store.count("samples") == 1
            assert gw.acked == {m0: {1}}
            assert dict(ingestor.rejected) == {
                "bad_signature": 2, "key_not_for_source": 2, "unknown_kid": 1, "malformed": 1,
            }  # fmt: skip
            kinds = {(a.meter_id, a.kind) for a in alarms}
            assert (m0, AlarmKind.PEERS) in kinds and (m1, AlarmKind.PEERS) in kinds
            assert ("EAN999999", AlarmKind.UNKNOWN_METER) in kinds
        finally:
            stop.set()
            await task
            gw.close()
            await store.close()
            await drop_schema(schema)

    asyncio.run(asyncio.wait_for(main(), 60))


def test_store_outage_holds_messages_and_loses_nothing() -> None:
    """PostgreSQL refuses writes for a while: nothing is acknowledged until it is committed."""
    keys = fleet(5)
    pre = prefix()
    schema = new_schema()

    async def main() -> None:
        store = PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=2)
        await store.init()
        worker = HesWorker(store, Ingestor(keys, topic_prefix=pre), RealClock(),
                           WorkerConfig(client_id=f"hes-{uuid.uuid4().hex[:8]}", topic_prefix=pre,
                                        persistent_session=False))  # fmt: skip
        con = await asyncpg.connect(PG_DSN)
        tx = con.transaction()
        await tx.start()
        await con.execute(f"LOCK TABLE {schema}.samples IN ACCESS EXCLUSIVE MODE")
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        gw = TestGateway(keys, pre)
        try:
            gw.wait_ready()
            await until(lambda: worker.subscribed, what="worker subscribed")
            messages = sealed_samples(keys, 10, pre)
            await asyncio.to_thread(gw.publish, messages)
            await until(lambda: worker.stats.received >= 1, what="first batch received")
            await asyncio.sleep(0.5)
            assert gw.acked_count() == 0  # blocked commit: nothing acknowledged
            await tx.rollback()  # the store comes back
            await until(lambda: gw.acked_count() == len(messages), what="everything acknowledged")
            assert await store.count("samples") == len(messages)
        finally:
            stop.set()
            await task
            gw.close()
            await con.close()
            await store.close()
            await drop_schema(schema)

    asyncio.run(asyncio.wait_for(main(), 60))
