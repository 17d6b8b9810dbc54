"""The gateway service in simulated time on the in-process bus: readings in, sealed records out to
a test head-end that acks; outages lose nothing and backfill in order; forged acks delete nothing;
consent gates and withdrawal purges; WAN reports every 15 min."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from gateway_support import KEY, METER, START, HeadEnd, reading

from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.rawlink import InProcessRawLink
from gridedge.bus.telemetry import Sealer, encode_ack, new_key
from gridedge.clock import SimClock
from gridedge.home.gateway.categories import DataCategory
from gridedge.home.gateway.db import open_db
from gridedge.home.gateway.service import GatewayConfig, GatewayService, InlineDb, ack_topic
from gridedge.model.telemetry import LoadCurve, TelemetryAck, WanReport


class Rig:
    def __init__(self, tmp: Path, *, consent: str | None = "all", **config: object) -> None:
        self.clock = SimClock(START)
        self.bus = InProcessBus(self.clock)
        self.link = InProcessRawLink(self.bus, self.clock, name="gateway")
        self.hes_link = InProcessRawLink(self.bus, self.clock, name="hes")
        self.conn = open_db(tmp / "gw.db")
        self.service = GatewayService(
            GatewayConfig(METER, **config),  # type: ignore[arg-type]
            clock=self.clock, link=self.link, conn=self.conn, key=KEY, db=InlineDb(),
        )  # fmt: skip
        if consent:
            self.service.consent.grant(consent, "hes", by="test", now=START)
            self.service._allowed = self.service.consent.allowed_categories("hes")
        self.hes = HeadEnd()
        self.acking = True
        self.hes_link.subscribe("meter/+/up", self._up)
        self.tasks: set[asyncio.Task[None]] = set()

    def _up(self, topic: str, data: bytes) -> None:
        record = self.hes.take(data)
        if record is not None and self.acking:
            task = asyncio.ensure_future(
                self.hes_link.publish(ack_topic(METER), self.hes.ack([record.sequence]))
            )
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def run(self, seconds: int, script: dict[int, object] | None = None, wh0: int = 1_000_000) -> None:
        stop = asyncio.Event()
        await self.hes_link.start()
        runner = asyncio.ensure_future(self.service.run(stop))
        for i in range(seconds):
            action = (script or {}).get(i)
            if callable(action):
                action()
            self.service.on_reading(reading(self.clock.now(), wh0 + i // 5, power_w=720.0))
            await self.clock.sleep(1.0)
        for _ in range(120):  # let the last acks come back
            if self.service.outbox.count == 0:
                break
            await self.clock.sleep(1.0)
        stop.set()
        await runner


def test_records_go_out_sealed_and_acked_the_outbox_empties(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.clock.run(rig.run(16 * 60))
    st = rig.service.status()
    assert st.queued == 0 and st.rejected_acks == 0 and st.refused_no_consent == 0
    seqs = sorted(rig.hes.sequences)
    assert seqs == list(range(1, len(seqs) + 1)), "every sequence arrived, none missing"
    assert st.sent == len(seqs) == st.acked and st.resent == 0
    curves = [r for r in rig.hes.received if isinstance(r, LoadCurve)]
    assert len(curves) == 1 and None not in curves[0].import_wh[1:]
    wan = [r for r in rig.hes.received if isinstance(r, WanReport)]
    assert len(wan) == 1 and wan[0].link_up and wan[0].latency_ms_median is not None
    assert rig.service.history.read()[0].kind == "connected"


def test_an_outage_loses_nothing_and_backfills_in_order_at_a_bounded_rate(tmp_path: Path) -> None:
    rig = Rig(tmp_path, rate_per_s=5.0, burst=5)
    seen: dict[str, float] = {}

    def back_up() -> None:
        seen["waiting"] = rig.service.outbox.count
        seen["up_at"] = rig.clock.monotonic()
        rig.link.set_up(True)

    def mark() -> None:
        seen["queued_at_580"] = rig.service.outbox.count

    script: dict[int, object] = {
        120: lambda: rig.link.set_up(False, "cable cut"),
        420: back_up,  # 5 min down
        580: mark,
        600: rig.link.drop_connection,  # and a short drop (1 s)
    }
    rig.clock.run(rig.run(900, script))
    st = rig.service.status()
    assert st.queued == 0 and seen["queued_at_580"] == 0
    arrival = [r.sequence for r in rig.hes.received]
    assert arrival == sorted(arrival) and len(arrival) == len(set(arrival)), "in order, no resends"
    assert arrival == list(range(1, st.acked + 1)), "nothing lost"
    assert seen["waiting"] >= 30  # 30 samples + NRTD waited through the outage
    history = rig.service.history.read()
    kinds = [e.kind for e in history]
    assert kinds.count("disconnected") == 2 and "backfill" in kinds
    assert [e.duration_s for e in history if e.kind == "connected" and e.duration_s] == [300.0, 1.0]
    assert st.outages == 2


def test_backfill_rate_is_bounded(tmp_path: Path) -> None:
    rig = Rig(tmp_path, rate_per_s=5.0, burst=5)
    times: list[float] = []
    rig.hes_link.subscribe("meter/+/up", lambda t, d: times.append(rig.clock.monotonic()))
    script: dict[int, object] = {1: lambda: rig.link.set_up(False), 600: lambda: rig.link.set_up(True)}
    rig.clock.run(rig.run(700, script))
    burst = [t for t in times if 600 <= t < 620]
    assert len(burst) >= 60
    span = burst[-1] - burst[0]
    rate = (len(burst) - 5) / span  # after the burst allowance, 5 records a second
    print(f"backfill rate {rate:.1f} records/s (limit 5/s), {len(burst)} records")
    assert 4.0 <= rate <= 5.5
    assert rig.service.status().queued == 0


def test_forged_and_altered_acks_are_rejected_and_delete_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.acking = False

    async def main() -> None:
        stop = asyncio.Event()
        await rig.hes_link.start()
        runner = asyncio.ensure_future(rig.service.run(stop))
        for _ in range(30):
            rig.service.on_reading(reading(rig.clock.now(), 1_000_000))
            await rig.clock.sleep(1.0)
        queued = rig.service.outbox.count
        assert queued >= 3
        everything = TelemetryAck(METER, ((1, 10_000),))
        forged = Sealer(METER, new_key()).seal(encode_ack(everything))  # another key
        genuine = rig.hes.ack(list(range(1, 10_001)))
        altered = bytearray(genuine)
        altered[-3] ^= 0x01
        other_meter = Sealer(METER, KEY).seal(encode_ack(TelemetryAck("other", ((1, 10_000),))))
        for bad in (forged, bytes(altered), other_meter, b"\xa0garbage"):
            await rig.hes_link.publish(ack_topic(METER), bad)
        await rig.clock.sleep(2.0)
        assert rig.service.outbox.count >= queued and rig.service.counters.rejected_acks == 4
        assert rig.service.counters.acked == 0
        await rig.hes_link.publish(ack_topic(METER), genuine)
        await rig.clock.sleep(1.0)
        assert rig.service.outbox.count == 0
        stop.set()
        await runner

    rig.clock.run(main())
    assert [e.kind for e in rig.service.history.read()].count("rejected-ack") == 4


def test_unacked_records_are_resent_after_the_timeout(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ack_timeout_s=20.0)
    rig.acking = False
    script: dict[int, object] = {45: lambda: setattr(rig, "acking", True)}
    rig.clock.run(rig.run(60, script))
    st = rig.service.status()
    assert st.resent >= 4 and st.queued == 0
    assert sorted(rig.hes.sequences) == list(range(1, st.acked + 1))


def test_without_consent_nothing_is_queued_and_withdrawal_purges(tmp_path: Path) -> None:
    rig = Rig(tmp_path, consent=None)
    rig.clock.run(rig.run(30))
    assert rig.hes.received == [] and rig.service.status().queued == 0
    assert rig.service.counters.refused >= 3

    (tmp_path / "b").mkdir()
    rig2 = Rig(tmp_path / "b", consent="port-data")
    rig2.acking = False

    async def main() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(rig2.service.run(stop))
        rig2.link.set_up(False)
        for _ in range(40):
            rig2.service.on_reading(reading(rig2.clock.now(), 1_000_000))
            await rig2.clock.sleep(1.0)
        assert rig2.service.outbox.counts()[DataCategory.MONITORING] >= 3
        # another process (the CLI) withdraws monitoring: the running gateway purges it
        other = open_db(tmp_path / "b" / "gw.db")
        from gridedge.home.gateway.consent import ConsentRegistry

        ConsentRegistry(other).withdraw("monitoring", "hes", by="user", now=rig2.clock.now())
        await rig2.clock.sleep(2.0)
        assert DataCategory.MONITORING not in rig2.service.outbox.counts()
        rig2.link.set_up(True)
        rig2.acking = True
        for _ in range(30):
            rig2.service.on_reading(reading(rig2.clock.now(), 1_000_000))
            await rig2.clock.sleep(1.0)
        stop.set()
        await runner

    rig2.clock.run(main())
    assert rig2.service.counters.purged >= 4
    assert not [r for r in rig2.hes.received if getattr(r, "kind", None) == "monitoring"]
    assert rig2.service.status().allowed == ("events", "load-curve", "nrtd", "s1-samples")


def test_timeless_readings_are_stamped_and_the_service_restarts_without_reusing_sequences(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    rig.acking = False
    rig.clock.run(rig.run(25))
    left = rig.service.outbox.all_sequences()
    assert left
    rig2 = Rig(tmp_path, consent=None)  # same database: consent and queue are still there
    rig2.service._allowed = rig2.service.consent.allowed_categories("hes")
    rig2.clock.run(rig2.run(5, wh0=1_000_010))
    seqs = sorted(rig2.hes.sequences)
    assert set(left) <= set(seqs) and seqs == list(range(min(left), max(seqs) + 1))
    assert rig2.service.outbox.count == 0
    assert timedelta(0) <= rig2.clock.now() - START
