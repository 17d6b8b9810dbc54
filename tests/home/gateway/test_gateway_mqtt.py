"""End to end through the real Mosquitto (127.0.0.1:1883): the gateway sends sealed records, a
test-side head-end opens them with the meter key and acks, the outbox empties. A network cut
(`drop_connection`) and a broker-side disconnect (another client takes over the gateway's client
id) in mid-stream lose nothing: every record is counted, and arrives in sequence order per
connection."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

from gateway_support import KEY, METER, START, HeadEnd, reading

from gridedge.bus.rawlink import MqttRawLink
from gridedge.clock import RealClock
from gridedge.home.gateway.db import open_db
from gridedge.home.gateway.monitoring import MonitorConfig
from gridedge.home.gateway.service import GatewayConfig, GatewayService, ThreadDb, ack_topic


def test_cut_and_takeover_mid_stream_lose_nothing(tmp_path: Path) -> None:
    prefix = f"gridedge-test/{uuid4().hex}"
    cid = f"gridedge-gw-{uuid4().hex}"
    clock = RealClock()
    conn = open_db(tmp_path / "gw.db")
    link = MqttRawLink(clock, topic_prefix=prefix, client_id=cid, backoff_initial_s=0.05, backoff_max_s=0.3)
    cfg = GatewayConfig(
        METER,
        monitor=MonitorConfig(METER, monitoring_every_s=1),
        ack_timeout_s=2.0,
        rate_per_s=1000.0,
        burst=200,
    )
    service = GatewayService(cfg, clock=clock, link=link, conn=conn, key=KEY, db=ThreadDb())
    service.consent.grant("all", "hes", by="test", now=START)
    service._allowed = service.consent.allowed_categories("hes")
    hes = HeadEnd()
    arrivals: list[int] = []

    async def main() -> dict[str, float]:
        hes_link = MqttRawLink(clock, topic_prefix=prefix, backoff_initial_s=0.05, backoff_max_s=0.3)
        acks: set[asyncio.Task[None]] = set()

        def up(topic: str, data: bytes) -> None:
            record = hes.take(data)
            if record is not None:
                arrivals.append(record.sequence)
                task = asyncio.ensure_future(hes_link.publish(ack_topic(METER), hes.ack([record.sequence])))
                acks.add(task)
                task.add_done_callback(acks.discard)

        hes_link.subscribe("meter/+/up", up)
        await hes_link.start()
        await hes_link.wait_subscribed(10)
        stop = asyncio.Event()
        runner = asyncio.ensure_future(service.run(stop))
        await link.wait_up(10)
        t0 = time.perf_counter()
        for i in range(400):
            service.on_reading(reading(START + timedelta(seconds=i), 1_000_000 + i))
            if i == 130:
                assert link.drop_connection()
            if i == 260:  # broker-side: the broker disconnects us when another client takes our id
                intruder = MqttRawLink(clock, client_id=cid)
                await intruder.start()
                await intruder.wait_up(5)
                await intruder.close()
            await asyncio.sleep(0.005)
        async with asyncio.timeout(30):
            while service.outbox.count or service._to_store:
                await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        stop.set()
        await runner
        await hes_link.close()
        return {"elapsed": elapsed}

    figures = asyncio.run(main())
    st = service.status()
    stored = st.produced - st.refused_no_consent
    assert stored >= 400, "one sample a reading, plus NRTD"
    assert sorted(hes.sequences) == list(range(1, stored + 1)), "every record arrived"
    assert st.queued == 0 and st.acked == stored and st.rejected_acks == 0 and hes.rejected == 0
    assert st.outages >= 2
    kinds = [e.kind for e in service.history.read()]
    assert kinds.count("disconnected") >= 2 and "backfill" in kinds
    # within each connection records go out in sequence order; resends may repeat some
    firsts = [s for i, s in enumerate(arrivals) if s not in arrivals[:i]]
    assert firsts == sorted(firsts)
    print(f"{stored} records through two disconnects in {figures['elapsed']:.2f} s, resent {st.resent}")
