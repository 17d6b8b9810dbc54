"""The bulk MQTT 5 client against the real Mosquitto on 127.0.0.1:1883, with paho as the peer."""

from __future__ import annotations

import asyncio
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gridedge.bus.mqtt_bulk import BulkMqttClient
from gridedge.bus.mqtt_wire import (
    ConnAck,
    Publish,
    encode_connect,
    encode_publish,
    encode_varint,
    parse_packets,
)
from gridedge.clock import RealClock


def test_varint_and_packet_parsing_by_pieces() -> None:
    assert encode_varint(0) == b"\x00" and encode_varint(127) == b"\x7f"
    assert encode_varint(128) == b"\x80\x01" and encode_varint(268_435_455) == b"\xff\xff\xff\x7f"
    with pytest.raises(ValueError):
        encode_varint(268_435_456)
    stream = b"".join(encode_publish(f"t/{i}", bytes([i]) * 200, qos=1, packet_id=i + 1) for i in range(50))
    buf = bytearray()
    got: list[Publish] = []
    for i in range(0, len(stream), 7):  # arbitrary fragmentation
        buf += stream[i : i + 7]
        packets, used = parse_packets(buf)
        del buf[:used]
        got += [p for p in packets if isinstance(p, Publish)]
    assert not buf
    assert [(p.topic, p.payload, p.qos, p.packet_id) for p in got] == [
        (f"t/{i}", bytes([i]) * 200, 1, i + 1) for i in range(50)
    ]
    # a CONNACK with properties: Receive Maximum 20 and a reason string before it
    props = b"\x1f\x00\x02ok" + b"\x21\x00\x14"
    connack = b"\x20" + encode_varint(2 + 1 + len(props)) + b"\x01\x00" + encode_varint(len(props)) + props
    (ack,), _ = parse_packets(bytearray(connack))
    assert ack == ConnAck(session_present=True, reason=0, receive_maximum=20)
    assert encode_connect("x")[0] == 0x10


def test_receives_what_paho_publishes_and_acks_in_bulk() -> None:
    prefix = f"gridedge-test/{uuid.uuid4().hex}"
    n = 3000

    async def main() -> None:
        got: list[Publish] = []
        client = BulkMqttClient(RealClock(), client_id=f"bulk-{uuid.uuid4().hex[:8]}", on_messages=got.extend)
        await client.connect()
        assert await client.subscribe(f"{prefix}/#", qos=1) == 1
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(500)
        pub.connect("127.0.0.1", 1883)
        pub.loop_start()

        def send() -> None:
            for i in range(n):
                while pub.publish(f"{prefix}/m/{i}", i.to_bytes(4, "big"), qos=1).rc:
                    threading.Event().wait(0.001)

        await asyncio.to_thread(send)
        async with asyncio.timeout(20):
            while len(got) < n:
                await asyncio.sleep(0.01)
        client.ack(p.packet_id for p in got)
        assert [int.from_bytes(p.payload, "big") for p in got] == list(range(n))
        assert all(p.qos == 1 and p.topic == f"{prefix}/m/{int.from_bytes(p.payload, 'big')}" for p in got)
        pub.disconnect()
        pub.loop_stop()
        client.close()
        assert await client.wait_closed() is None

    asyncio.run(main())


def test_pipelined_publishes_reach_paho_and_flush_waits_for_every_puback() -> None:
    prefix = f"gridedge-test/{uuid.uuid4().hex}"
    n = 5000
    got: list[bytes] = []
    subscribed = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_message = lambda _c, _u, m: got.append(m.payload)
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    assert subscribed.wait(5)

    async def main() -> None:
        client = BulkMqttClient(RealClock(), client_id=f"bulk-{uuid.uuid4().hex[:8]}")
        await client.connect()
        for chunk in range(0, n, 500):  # Mosquitto drops what a slow subscriber has not taken past 1000
            for i in range(chunk, chunk + 500):
                client.publish(f"{prefix}/x", i.to_bytes(4, "big"), qos=1)
            assert client.inflight > 0
            await client.flush(timeout_s=20)
            assert client.inflight == 0
            async with asyncio.timeout(20):
                while len(got) < chunk + 500:
                    await asyncio.sleep(0.005)
        client.close()

    asyncio.run(main())
    for _ in range(200):
        if len(got) == n:
            break
        threading.Event().wait(0.05)
    sub.disconnect()
    sub.loop_stop()
    assert [int.from_bytes(p, "big") for p in got] == list(range(n))


def test_refused_subscription_and_lost_connection_are_reported() -> None:
    async def main() -> None:
        client = BulkMqttClient(RealClock(), client_id=f"bulk-{uuid.uuid4().hex[:8]}")
        await client.connect()
        client.publish("gridedge-test/x", b"1", qos=1)
        client.abort()
        with pytest.raises(ConnectionError, match="unacknowledged"):
            await client.flush(timeout_s=5)
        with pytest.raises(ConnectionError):
            client.publish("gridedge-test/x", b"2", qos=1)

    asyncio.run(main())
