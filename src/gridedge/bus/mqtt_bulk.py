"""A bulk MQTT 5 client for high-rate ingest: many messages per read, acknowledged in batches.

Why not paho or aiomqtt here: the head-end must take tens of thousands of messages a second per
core (issue 6: >= 20,000 readings/s on a 2-core machine with broker, workers and PostgreSQL on it).
Measured on this machine (bench/README.md, `bench/hes.py`), paho-mqtt 2.1 spends ~80 us of CPU per
received MQTT 5 message (a select(), several recv() calls and a Properties object per packet), so a
core would take only ~12,000/s with nothing else done; aiomqtt adds its own queue on top and
acknowledges on receipt. This client parses every complete packet of a read at once
(`gridedge.bus.mqtt_wire`), hands them to `on_messages` as one list, acknowledges with one write
for a whole batch (`ack`), and pipelines QoS 1 publishes within the broker's Receive Maximum.

It does exactly what an ingest worker or a load generator needs: CONNECT (clean or persistent
session, Receive Maximum for back-pressure), SUBSCRIBE, PUBLISH QoS 0/1, manual PUBACK, keep-alive,
DISCONNECT. No will, no QoS 2, no topic aliases, no TLS (a production head-end terminates TLS in
the broker or a proxy beside it). Reconnecting is the caller's loop: a new connection is a new
`BulkMqttClient`, and packet ids of messages received on a closed connection must not be
acknowledged on the next one (they mean other messages there).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable

from gridedge.bus.mqtt_wire import (
    ConnAck,
    MqttProtocolError,
    Other,
    PubAck,
    Publish,
    SubAck,
    encode_connect,
    encode_disconnect,
    encode_pingreq,
    encode_puback,
    encode_publish,
    encode_subscribe,
    parse_packets,
)
from gridedge.clock import Clock, TimerHandle

__all__ = ["BulkMqttClient", "MqttConnectError"]

log = logging.getLogger(__name__)

_PINGRESP = 13


class MqttConnectError(ConnectionError):
    """The broker refused the connection or a subscription; the message has the reason code."""


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: BulkMqttClient) -> None:
        self.owner = owner
        self.buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.owner._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            packets, used = parse_packets(self.buf)
        except (MqttProtocolError, ValueError, IndexError) as exc:
            log.warning("MQTT protocol error from the broker: %s", exc)
            self.owner._fail(exc)
            return
        if used:
            del self.buf[:used]
        self.owner._received(packets)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._lost(exc)

    def pause_writing(self) -> None:
        self.owner._can_write.clear()

    def resume_writing(self) -> None:
        self.owner._can_write.set()


class BulkMqttClient:
    """One MQTT 5 connection. `await connect()`, `await subscribe()`, then messages arrive in
    lists on `on_messages`; `ack(packet_ids)` after they are safe; `publish` + `await flush()`."""

    def __init__(
        self,
        clock: Clock,
        host: str = "127.0.0.1",
        port: int = 1883,
        client_id: str = "",
        *,
        keepalive_s: int = 30,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        receive_maximum: int = 65535,
        on_messages: Callable[[list[Publish]], None] | None = None,
    ) -> None:
        self.clock = clock
        self.host = host
        self.port = port
        self.client_id = client_id
        self.keepalive_s = keepalive_s
        self.clean_start = clean_start
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.on_messages = on_messages
        self.session_present = False
        self.received = 0
        self.published = 0
        self._transport: asyncio.Transport | None = None
        self._connack: asyncio.Future[ConnAck] | None = None
        self._subacks: dict[int, asyncio.Future[SubAck]] = {}
        self._ids = itertools.cycle(range(1, 65536))
        self._inflight: set[int] = set()
        self._waiting: deque[bytes] = deque()  # QoS 1 publishes beyond the broker's Receive Maximum
        self._send_quota = 65535
        self._flushed = asyncio.Event()
        self._flushed.set()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._closed = asyncio.Event()
        self._error: BaseException | None = None
        self._ping_timer: TimerHandle | None = None
        self._ping_outstanding = False

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._closed.is_set()

    @property
    def inflight(self) -> int:
        return len(self._inflight) + len(self._waiting)

    async def connect(self, timeout_s: float = 10.0) -> bool:
        """Connect and wait for CONNACK; True when the broker resumed a stored session."""
        loop = asyncio.get_running_loop()
        self._connack = loop.create_future()
        connecting = loop.create_connection(lambda: _Protocol(self), self.host, self.port)
        await asyncio.wait_for(connecting, timeout_s)
        assert self._transport is not None
        self._transport.write(
            encode_connect(
                self.client_id, keepalive_s=self.keepalive_s, clean_start=self.clean_start,
                session_expiry_s=self.session_expiry_s, receive_maximum=self.receive_maximum,
            )
        )  # fmt: skip
        ack = await asyncio.wait_for(self._connack, timeout_s)
        if ack.reason >= 0x80:
            self.close()
            raise MqttConnectError(f"broker refused the connection: reason code 0x{ack.reason:02x}")
        self.session_present = ack.session_present
        self._send_quota = ack.receive_maximum
        self._schedule_ping()
        return ack.session_present

    async def subscribe(self, topic_filter: str, qos: int = 1, timeout_s: float = 10.0) -> int:
        """Subscribe and wait for SUBACK; the granted QoS."""
        pid = self._next_id()
        future: asyncio.Future[SubAck] = asyncio.get_running_loop().create_future()
        self._subacks[pid] = future
        self._write(encode_subscribe(pid, topic_filter, qos))
        ack = await asyncio.wait_for(future, timeout_s)
        self._inflight.discard(pid)
        code = ack.reasons[0] if ack.reasons else 0x80
        if code >= 0x80:
            raise MqttConnectError(f"subscription to {topic_filter!r} refused: reason code 0x{code:02x}")
        return code

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Queue a publish; QoS 1 publishes are pipelined up to the broker's Receive Maximum."""
        self.published += 1
        if qos == 0:
            self._write(encode_publish(topic, payload))
            return
        self._flushed.clear()
        if len(self._inflight) >= self._send_quota:
            self._waiting.append(encode_publish(topic, payload, qos=1, packet_id=0))
            return
        pid = self._next_id()
        self._write(encode_publish(topic, payload, qos=1, packet_id=pid))

    async def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every QoS 1 publish so far is acknowledged by the broker."""
        waiter = asyncio.ensure_future(self._flushed.wait())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait([waiter, closed], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            closed.cancel()
        if not self._flushed.is_set():
            if self._closed.is_set():
                raise ConnectionError(f"connection lost with {self.inflight} publishes unacknowledged")
            raise TimeoutError(f"{self.inflight} publishes still unacknowledged")

    async def drain(self) -> None:
        """Wait while the socket's write buffer is above its high-water mark."""
        await self._can_write.wait()

    def ack(self, packet_ids: Iterable[int]) -> None:
        """Acknowledge received QoS 1 messages (one write for all of them)."""
        data = b"".join(encode_puback(pid) for pid in packet_ids)
        if data:
            self._write(data)

    def pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    async def wait_closed(self) -> BaseException | None:
        await self._closed.wait()
        return self._error

    def close(self) -> None:
        """DISCONNECT (normal) and close the socket."""
        if self._transport is not None and not self._closed.is_set():
            with contextlib.suppress(Exception):
                self._transport.write(encode_disconnect())
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection without DISCONNECT (a network cut, for tests)."""
        if self._transport is not None:
            self._transport.abort()

    # --- internals ----------------------------------------------------------------------

    def _next_id(self) -> int:
        for pid in self._ids:
            if pid not in self._inflight:
                self._inflight.add(pid)
                return pid
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._closed.is_set():
            raise ConnectionError("not connected")
        self._transport.write(data)

    def _received(self, packets: list[Publish | ConnAck | PubAck | SubAck | Other]) -> None:
        self._ping_outstanding = False
        messages: list[Publish] = []
        for p in packets:
            if type(p) is Publish:
                messages.append(p)
            elif isinstance(p, PubAck):
                self._inflight.discard(p.packet_id)
                if self._waiting and not self._closed.is_set():
                    self._write(_with_packet_id(self._waiting.popleft(), self._next_id()))
                if not self._inflight and not self._waiting:
                    self._flushed.set()
            elif isinstance(p, ConnAck):
                if self._connack is not None and not self._connack.done():
                    self._connack.set_result(p)
            elif isinstance(p, SubAck):
                future = self._subacks.pop(p.packet_id, None)
                if future is not None and not future.done():
                    future.set_result(p)
            elif isinstance(p, Other) and p.kind != _PINGRESP:
                log.debug("MQTT packet type %d ignored", p.kind)
        if messages:
            self.received += len(messages)
            if self.on_messages is not None:
                self.on_messages(messages)

    def _schedule_ping(self) -> None:
        if self.keepalive_s <= 0 or self._closed.is_set():
            return
        self._ping_timer = self.clock.call_later(self.keepalive_s / 2, self._ping)

    def _ping(self) -> None:
        if self._closed.is_set():
            return
        if self._ping_outstanding:  # nothing at all from the broker for half a keep-alive
            log.warning("MQTT broker %s:%d silent, closing", self.host, self.port)
            self.abort()
            return
        self._ping_outstanding = True
        with contextlib.suppress(ConnectionError):
            self._write(encode_pingreq())
        self._schedule_ping()

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self.abort()

    def _lost(self, exc: Exception | None) -> None:
        if exc is not None and self._error is None:
            self._error = exc
        self._closed.set()
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(ConnectionError("connection closed before CONNACK"))
        for future in self._subacks.values():
            if not future.done():
                future.set_exception(ConnectionError("connection closed before SUBACK"))


def _with_packet_id(packet: bytes, pid: int) -> bytes:
    """A queued QoS 1 PUBLISH (encoded with packet id 0) with its real packet id filled in."""
    pos = 1
    while packet[pos] & 0x80:
        pos += 1
    body = pos + 1
    tlen = int.from_bytes(packet[body : body + 2], "big")
    at = body + 2 + tlen
    return packet[:at] + pid.to_bytes(2, "big") + packet[at + 2 :]
