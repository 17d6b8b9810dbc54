"""Test helpers for the head-end: a fleet of meters that seals records, and an MQTT test gateway."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gridedge.bus.telemetry import Opener, Sealer, decode_ack, encode_record
from gridedge.grid.hes.ingest import up_topic
from gridedge.grid.hes.keys import MeterKeys
from gridedge.model.telemetry import GridPointSample, SampleKind, TelemetryAck

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def fleet(n: int) -> MeterKeys:
    keys = MeterKeys()
    for i in range(n):
        keys.provision(f"EAN{i:06d}")
    return keys


def sample(meter: str, seq: int, t0: datetime = T0) -> GridPointSample:
    return GridPointSample(
        meter, seq, t0 + timedelta(seconds=10 * seq), SampleKind.MONITORING, 100.0 + seq, 0.0, 1000 + seq, 0,
        (230.0, 231.0, 229.0), (1.0, 1.0, 1.0), 50.0,
    )  # fmt: skip


def sealed_samples(keys: MeterKeys, per_meter: int, prefix: str = "") -> list[tuple[str, bytes]]:
    """(topic, sealed message) for `per_meter` samples of every meter, interleaved by sequence."""
    sealers = {m: Sealer(m, keys.get(m) or b"") for m in keys.meters()}
    return [
        (up_topic(m, prefix), sealers[m].seal(encode_record(sample(m, seq))))
        for seq in range(1, per_meter + 1)
        for m in keys.meters()
    ]


def new_schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


async def drop_schema(schema: str) -> None:
    con = await asyncpg.connect(PG_DSN)
    try:
        await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await con.close()


class TestGateway:
    """Publishes sealed messages with paho (QoS 1) and collects the head-end's acks per meter."""

    __test__ = False

    def __init__(self, keys: MeterKeys, prefix: str, port: int = 1883) -> None:
        self.keys = keys
        self.prefix = prefix
        self.opener = Opener(keys.get)
        self.acked: dict[str, set[int]] = {}
        self.bad_acks = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tg-{uuid.uuid4().hex[:8]}")
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{prefix}meter/+/ack", qos=1)
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = self._on_ack
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_ack(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        meter = msg.topic[len(self.prefix) + len("meter/") : -len("/ack")]
        try:
            ack: TelemetryAck = decode_ack(self.opener.open(msg.payload, meter))
        except Exception:
            self.bad_acks += 1
            return
        with self._lock:
            seqs = self.acked.setdefault(meter, set())
            for first, last in ack.ranges:
                seqs.update(range(first, last + 1))

    def wait_ready(self, timeout: float = 5.0) -> None:
        assert self._ready.wait(timeout), "test gateway did not subscribe"

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        for topic, data in messages:
            while self.client.publish(topic, data, qos=1).rc != mqtt.MQTT_ERR_SUCCESS:
                threading.Event().wait(0.001)

    def acked_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self.acked.values())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
