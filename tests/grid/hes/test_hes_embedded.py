"""The embedded head-end on the in-process bus and SQLite, in simulated time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.telemetry import Opener, Sealer, decode_ack, encode_record
from gridedge.clock import SimClock
from gridedge.grid.hes.embedded import EmbeddedHes
from gridedge.grid.hes.ingest import Ingestor, up_topic
from gridedge.grid.hes.keys import MeterKeys
from gridedge.grid.hes.security_monitor import AlarmKind, MonitorConfig, SecurityMonitor
from gridedge.model.telemetry import EventCode, GridPointSample, LoadCurve, MeterEvent, SampleKind
from gridedge.store.telemetry_base import MeterInfo
from gridedge.store.telemetry_sqlite import SqliteTelemetryStore

START = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_gateways_on_the_bus_are_stored_and_acknowledged_and_silence_is_noticed(tmp_path: object) -> None:
    clock = SimClock(START)
    keys = MeterKeys()
    meters = [f"EAN{i}" for i in range(4)]
    for m in meters:
        keys.provision(m)
    bus = InProcessBus(clock)
    store = SqliteTelemetryStore(f"{tmp_path}/hes.db")
    monitor = SecurityMonitor(MonitorConfig(warmup=5, min_silence_s=60))
    hes = EmbeddedHes(bus, store, Ingestor(keys, monitor), clock, flush_every_s=1.0)
    acked: dict[str, set[int]] = {m: set() for m in meters}
    opener = Opener(keys.get)

    def on_ack(env: Envelope[bytes]) -> None:
        meter = env.topic.split("/")[1]
        for first, last in decode_ack(opener.open(env.payload, meter)).ranges:
            acked[meter].update(range(first, last + 1))

    bus.subscribe_callback("meter/+/ack", on_ack, bytes)
    sealers = {m: Sealer(m, keys.get(m) or b"") for m in meters}

    async def main() -> None:
        await store.init()
        await store.set_meters([MeterInfo(m, "F1") for m in meters])
        stop = asyncio.Event()
        hes.start()  # subscribed before the first publish
        task = asyncio.create_task(hes.run(stop))
        seq = 0
        for step in range(30):  # 5 minutes of 10 s samples
            seq += 1
            for i, m in enumerate(meters):
                if i == 3 and step >= 10:
                    continue  # the fourth meter goes silent after 100 s
                t = clock.now()
                rec = GridPointSample(m, seq, t, SampleKind.MONITORING, 100.0 * i, 0.0, 1000 + seq, 0)
                bus.publish(up_topic(m), sealers[m].seal(encode_record(rec)), source=f"gw-{m}")
            await clock.advance(10.0)
        ev = MeterEvent("EAN0", seq + 1, clock.now(), EventCode.POWER_FAILURE)
        curve = LoadCurve("EAN0", seq + 2, START, 10, (1.0,) * 90, (0.0,) * 90)
        for rec in (ev, curve):
            bus.publish(up_topic("EAN0"), sealers["EAN0"].seal(encode_record(rec)), source="gw-EAN0")
        await clock.advance(60.0)
        stop.set()
        await task
        assert await store.count("samples") == 3 * 30 + 10
        assert acked["EAN0"] == set(range(1, 33)) and acked["EAN1"] == set(range(1, 31))
        assert acked["EAN3"] == set(range(1, 11))
        latest = {s.meter_id: s for s in await store.latest()}
        assert latest["EAN2"].sequence == 30 and latest["EAN2"].import_w == 200.0
        assert latest["EAN3"].sequence == 10
        events = await store.events(START, clock.now(), feeder_id="F1")
        assert [(e.meter_id, e.code) for e in events] == [("EAN0", EventCode.POWER_FAILURE)]
        assert len(await store.feeder_curve("F1", START, START + timedelta(minutes=15))) == 90
        silent = [a for a in hes.alarms if a.kind is AlarmKind.SILENT]
        assert [a.meter_id for a in silent] == ["EAN3"]
        await store.close()

    asyncio.run(main())
