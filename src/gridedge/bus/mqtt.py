"""The bus over an MQTT 5 broker: `MqttTransport`, the `Transport` between processes and machines.

Why it looks like this:

* `publish` is synchronous and never blocks, as on the in-process bus: it stamps and encodes the
  envelope (`gridedge.bus.codec`, so an unregistered payload type fails in the publisher), puts
  the bytes in a bounded outbox and returns. A sender task hands the outbox to the broker with
  QoS 1 by default (MQTT 5 §4.3.2: at least once, PUBACK per message), up to `max_inflight`
  unacknowledged at a time. A message leaves the outbox only when its PUBACK arrives.
* The connection is re-established with exponential back-off (`gridedge.clock.backoff_delays`).
  Messages published meanwhile wait in the outbox; messages sent but not acknowledged when the
  connection broke are put back at its head and sent again, in publish order (MQTT 5 §4.6 keeps
  the order of one connection's QoS 1 messages). When the outbox is full the oldest unsent
  message is dropped and counted in `stats.dropped_outgoing` (and logged): never silently.
* A resend can duplicate a message the broker had already taken (MQTT 5 §4.3.2: "at least
  once"); receivers drop envelopes whose `message_id` they have already seen (a bounded window),
  counted in `stats.duplicates`. This also removes the extra copies a broker may send when
  several of our filters match one topic (MQTT 5 §3.3.4, overlapping subscriptions).
* Own messages come back through the broker (No Local = 0, MQTT 5 §3.8.3.1), so every subscriber,
  local or remote, sees envelopes decoded from the same bytes in the broker's order. Unlike the
  in-process bus, callback subscribers are therefore called when the message arrives, not inside
  `publish`, and nothing is delivered while disconnected.
* `client_id` + `persistent_session=True` connects with Clean Start 0 and a Session Expiry
  Interval (MQTT 5 §3.1.2.4, §3.1.2.11.2): the broker keeps our subscriptions and queues QoS 1
  messages for us while we are away. Otherwise every connection starts a fresh session.
  Subscriptions are (re)sent on every connection either way.
* `topic_prefix` lets several systems (or tests) share one broker: bus topic `a/b` is MQTT topic
  `<prefix>/a/b`; envelopes carry the bus topic, and the receiver checks that both agree.
* `security` (`gridedge.bus.command_security.CommandSecurity`) signs commands right after they are
  encoded and verifies them right before they are decoded, so nothing above the codec sees a
  command that is unsigned, forged, altered, stale or replayed: such a message is counted in
  `stats.rejected` (per reason in `security.stats`), reported to `on_error` as `CommandRejected`
  and never delivered. Other topics travel as before.

Known limitation (issue 6): aiomqtt (on paho) acknowledges a QoS 1 message when it is received,
before the application has processed it, and drops messages when its own incoming queue is full.
A broker's PUBACK therefore means "reached the receiving process", not "handled". We size that
queue with `max_incoming` and count its drops in `stats.dropped_incoming`; our reader drains it
at once into the subscriptions' own bounded queues, whose overflow is counted per subscription
(`Subscription.dropped`). End-to-end application acknowledgements come later with the HES.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast, overload
from uuid import UUID, uuid4

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gridedge.bus.aiomqtt_log import AIOMQTT_LOG
from gridedge.bus.codec import CodecError, PayloadRegistry, decode_envelope, encode_envelope
from gridedge.bus.command_security import CommandRejected, CommandSecurity
from gridedge.bus.envelope import Envelope, TopicFilter, validate_topic
from gridedge.bus.inprocess import CallbackHandle, InProcessBus, OverflowPolicy, QueueSubscription
from gridedge.clock import Clock, backoff_delays

__all__ = ["MqttStats", "MqttTransport"]

T = TypeVar("T")

_log = logging.getLogger(__name__)

ErrorHandler = Callable[[Exception], object]
CallbackErrorHandler = Callable[[Envelope[object], Exception], object]


@dataclass(slots=True)
class MqttStats:
    """Counters of one transport; every message that is not delivered shows up in one of them."""

    published: int = 0
    """Envelopes accepted by `publish`."""
    sent: int = 0
    """Messages acknowledged by the broker (PUBACK for QoS 1; handed to the socket for QoS 0)."""
    dropped_outgoing: int = 0
    """Unsent messages dropped because the outbox was full, or still unsent at `close()`."""
    failed_outgoing: int = 0
    """Messages the client refused to send (e.g. larger than the broker's maximum packet size)."""
    received: int = 0
    """Envelopes received, decoded and routed (duplicates not included)."""
    duplicates: int = 0
    """Envelopes received again (same message_id) and not delivered a second time."""
    decode_errors: int = 0
    """Incoming messages that were not valid envelopes (reported to `on_error`)."""
    rejected: int = 0
    """Incoming commands refused by `security` (reasons in `security.stats`; reported to `on_error`)."""
    dropped_incoming: int = 0
    """Messages aiomqtt dropped because its incoming queue (`max_incoming`) was full."""
    connects: int = 0
    """Successful connections (the first one included)."""
    connection_errors: int = 0
    """Failed connection attempts and lost connections."""


@dataclass(slots=True)
class _Outgoing:
    topic: str
    data: bytes


class MqttTransport:
    """Publish/subscribe through an MQTT 5 broker with the `gridedge.bus.Transport` contract.

    Use `async with MqttTransport(clock, ...) as bus:` (or `await start()` ... `await close()`).
    `publish`/`subscribe` may be called before the connection is up. Because subscribing is a
    round trip to the broker, `await wait_subscribed()` before relying on messages that another
    client publishes; `await flush()` waits until everything published has been acknowledged.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        client_id: str | None = None,
        persistent_session: bool = False,
        session_expiry_s: int = 3600,
        topic_prefix: str = "",
        qos: Literal[0, 1, 2] = 1,
        registry: PayloadRegistry | None = None,
        max_pending: int = 10_000,
        max_inflight: int = 100,
        max_incoming: int = 10_000,
        dedupe_window: int = 10_000,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 30.0,
        username: str | None = None,
        password: str | None = None,
        id_factory: Callable[[], UUID] = uuid4,
        on_callback_error: CallbackErrorHandler | None = None,
        on_error: ErrorHandler | None = None,
        security: CommandSecurity | None = None,
    ) -> None:
        if persistent_session and not client_id:
            raise ValueError("persistent_session needs a stable client_id (MQTT 5 §3.1.3.1)")
        if topic_prefix:
            validate_topic(topic_prefix)
            topic_prefix = topic_prefix.rstrip("/")
            if not topic_prefix:
                raise ValueError("topic_prefix must not consist of '/' only")
        if not 1 <= max_inflight < max_pending:
            raise ValueError(f"need 1 <= max_inflight ({max_inflight}) < max_pending ({max_pending})")
        if max_incoming < 1 or dedupe_window < 1:
            raise ValueError("max_incoming and dedupe_window must be >= 1")
        if not 0 <= session_expiry_s <= 0xFFFFFFFF:
            raise ValueError(f"session_expiry_s must fit 32 bits (MQTT 5 §3.1.2.11.2): {session_expiry_s}")
        self._clock = clock
        self._host = host
        self._port = port
        self._client_id = client_id or f"gridedge-{uuid4().hex}"
        self._persistent = persistent_session
        self._session_expiry_s = session_expiry_s
        self._prefix = topic_prefix
        self._qos = qos
        self._registry = registry
        self._max_pending = max_pending
        self._max_inflight = max_inflight
        self._max_incoming = max_incoming
        self._dedupe_window = dedupe_window
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._username = username
        self._password = password
        self._id_factory = id_factory
        self._on_callback_error = on_callback_error
        self._on_error = on_error
        self._security = security

        self._stats = MqttStats()
        self._sequences: dict[str, int] = {}
        self._outbox: deque[_Outgoing] = deque()
        self._inflight: list[_Outgoing] = []
        self._subscribers: list[Any] = []  # QueueSubscription / CallbackHandle
        self._routes: dict[str, tuple[Any, ...]] = {}
        self._filters: dict[str, int] = {}  # bus pattern -> number of local subscribers
        self._acked_filters: set[str] = set()  # patterns the broker has confirmed on this connection
        self._seen: OrderedDict[UUID, None] = OrderedDict()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake_sender = asyncio.Event()
        self._wake_subscriber = asyncio.Event()
        self._changed: asyncio.Future[None] | None = None
        self._closed = False
        self._drop_logged = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self.connected else "disconnected"
        return f"<MqttTransport {self._client_id} {self._host}:{self._port} {state} prefix={self._prefix!r}>"

    # ---- state

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def topic_prefix(self) -> str:
        return self._prefix

    @property
    def security(self) -> CommandSecurity | None:
        """What signs and verifies commands on this transport (None: nothing is signed)."""
        return self._security

    @property
    def stats(self) -> MqttStats:
        """Live counters (the object is updated in place)."""
        return self._stats

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Published messages not yet acknowledged by the broker."""
        return len(self._outbox) + len(self._inflight)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def last_sequence(self, source: str) -> int:
        """Sequence number of the last envelope published by `source` (0 if none yet)."""
        return self._sequences.get(source, 0)

    # ---- lifecycle

    async def start(self) -> None:
        """Start connecting in the background (idempotent); returns at once."""
        if self._closed:
            raise RuntimeError("the MQTT transport is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mqtt {self._client_id}")

    async def __aenter__(self) -> MqttTransport:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, flush_timeout_s: float = 5.0) -> None:
        """Close: try to send what is pending for up to `flush_timeout_s`, then disconnect.

        Every subscription is closed (ending iteration); later publishes raise RuntimeError.
        Messages still unsent are counted in `stats.dropped_outgoing` and logged.
        """
        if self._closed:
            return
        if self._task is not None and self.pending and flush_timeout_s > 0:
            with contextlib.suppress(TimeoutError):
                await self.flush(flush_timeout_s)
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        lost = self.pending
        if lost:
            self._stats.dropped_outgoing += lost
            _log.warning("MQTT transport %s closed with %d unsent message(s)", self._client_id, lost)
        self._outbox.clear()
        self._inflight.clear()
        for sub in list(self._subscribers):
            sub.close()
        self._notify()

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until a connection to the broker is up (CONNACK received)."""
        await self._wait_for(lambda: self.connected, timeout_s)

    async def wait_subscribed(self, timeout_s: float | None = None) -> None:
        """Wait until the broker has confirmed (SUBACK) every current subscription filter."""
        await self._wait_for(lambda: self.connected and set(self._filters) <= self._acked_filters, timeout_s)

    async def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every message published so far has been acknowledged by the broker."""
        await self._wait_for(lambda: not self.pending, timeout_s)

    def drop_connection(self) -> bool:
        """Break the network connection without DISCONNECT, as a network failure would.

        For fault injection in tests and drills; the transport reconnects by itself. Returns
        False if there was no connection to break.
        """
        client = self._client
        if client is None:
            return False
        sock = client._client.socket()  # the paho client's socket
        if sock is None:
            return False
        with contextlib.suppress(OSError):
            cast(socket.socket, sock).shutdown(socket.SHUT_RDWR)
        return True

    # ---- Transport

    def publish(self, topic: str, payload: T, *, source: str) -> Envelope[T]:
        """Stamp and encode `payload`, queue it for the broker, return the envelope. Never blocks.

        Raises ValueError for an invalid topic or empty source and `CodecError` (a ValueError) for
        a payload that cannot travel, without consuming a sequence number; RuntimeError once closed.
        """
        if self._closed:
            raise RuntimeError(f"publish on {topic!r}: the MQTT transport is closed")
        sequence = self._sequences.get(source, 0) + 1
        envelope = Envelope(topic, payload, source, sequence, self._clock.now(), self._id_factory())
        data = encode_envelope(cast(Envelope[object], envelope), self._registry)
        if self._security is not None:
            data = self._security.seal(topic, data, envelope.timestamp)
        self._sequences[source] = sequence
        self._stats.published += 1
        if self.pending >= self._max_pending:
            if self._outbox:
                self._outbox.popleft()
            self._stats.dropped_outgoing += 1
            if not self._drop_logged:
                self._drop_logged = True
                _log.warning(
                    "MQTT transport %s: outbox full (%d), dropping oldest unsent messages",
                    self._client_id,
                    self._max_pending,
                )
        self._outbox.append(_Outgoing(self._mqtt_topic(topic), data))
        self._wake_sender.set()
        return envelope

    @overload
    def subscribe(
        self,
        pattern: str,
        *,
        maxsize: int = ...,
        overflow: OverflowPolicy | Literal["drop_oldest", "error"] = ...,
    ) -> QueueSubscription[object]: ...

    @overload
    def subscribe(
        self,
        pattern: str,
        payload_type: type[T],
        *,
        maxsize: int = ...,
        overflow: OverflowPolicy | Literal["drop_oldest", "error"] = ...,
    ) -> QueueSubscription[T]: ...

    def subscribe(
        self,
        pattern: str,
        payload_type: type[Any] = object,
        *,
        maxsize: int = 1024,
        overflow: OverflowPolicy | Literal["drop_oldest", "error"] = OverflowPolicy.DROP_OLDEST,
    ) -> QueueSubscription[Any]:
        """Queue envelopes whose bus topic matches MQTT filter `pattern`, as `InProcessBus.subscribe`.

        The broker subscription is made in the background: see `wait_subscribed()`.
        """
        topic_filter = TopicFilter.parse(pattern)
        if maxsize < 1:
            raise ValueError(f"subscription maxsize must be >= 1, got {maxsize}")
        # QueueSubscription only calls back `_remove`, which this class provides.
        sub = QueueSubscription(
            cast(InProcessBus, self), topic_filter, payload_type, maxsize, OverflowPolicy(overflow)
        )
        self._add(sub)
        return sub

    @overload
    def subscribe_callback(
        self, pattern: str, callback: Callable[[Envelope[object]], object]
    ) -> CallbackHandle[object]: ...

    @overload
    def subscribe_callback(
        self, pattern: str, callback: Callable[[Envelope[T]], object], payload_type: type[T]
    ) -> CallbackHandle[T]: ...

    def subscribe_callback(
        self,
        pattern: str,
        callback: Callable[[Envelope[Any]], object],
        payload_type: type[Any] = object,
    ) -> CallbackHandle[Any]:
        """Call `callback(envelope)` on the loop for every matching envelope as it arrives.

        Exceptions (and payloads that are not `payload_type`, as TypeError) go to
        `on_callback_error` (default: logged).
        """
        # CallbackHandle only calls back `_remove` and `_report_callback_error`, provided here.
        handle = CallbackHandle(cast(InProcessBus, self), TopicFilter.parse(pattern), callback, payload_type)
        self._add(handle)
        return handle

    # ---- subscriber bookkeeping (also called by QueueSubscription / CallbackHandle)

    def _add(self, sub: Any) -> None:
        if self._closed:
            raise RuntimeError(f"subscribe to {sub.filter.pattern!r}: the MQTT transport is closed")
        self._subscribers.append(sub)
        self._routes.clear()
        pattern = sub.filter.pattern
        self._filters[pattern] = self._filters.get(pattern, 0) + 1
        self._wake_subscriber.set()

    def _remove(self, sub: Any) -> None:
        try:
            self._subscribers.remove(sub)
        except ValueError:
            return
        self._routes.clear()
        pattern = sub.filter.pattern
        count = self._filters.get(pattern, 0) - 1
        if count > 0:
            self._filters[pattern] = count
        else:
            self._filters.pop(pattern, None)
        self._wake_subscriber.set()

    def _report_callback_error(self, envelope: Envelope[object], exc: Exception) -> None:
        if self._on_callback_error is not None:
            self._on_callback_error(envelope, exc)
        else:
            _log.error(
                "MQTT bus callback subscriber raised %s on topic %r (%s #%d)",
                type(exc).__name__,
                envelope.topic,
                envelope.source,
                envelope.sequence,
                exc_info=exc,
            )

    def _report_error(self, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error(exc)
        else:
            _log.error("MQTT transport %s: %s", self._client_id, exc)

    # ---- connection

    def _mqtt_topic(self, bus_topic: str) -> str:
        return f"{self._prefix}/{bus_topic}" if self._prefix else bus_topic

    def _new_client(self) -> aiomqtt.Client:
        properties: Properties | None = None
        if self._persistent:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry_s
        stats = self._stats

        class _CountingQueue(asyncio.Queue[aiomqtt.Message]):
            # aiomqtt drops (and only logs) a message when this queue is full: count it.
            def put_nowait(self, item: aiomqtt.Message) -> None:
                try:
                    super().put_nowait(item)
                except asyncio.QueueFull:
                    stats.dropped_incoming += 1
                    raise

        return aiomqtt.Client(
            self._host,
            self._port,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=not self._persistent,
            properties=properties,
            keepalive=self._keepalive_s,
            timeout=self._connect_timeout_s,
            username=self._username,
            password=self._password,
            queue_type=_CountingQueue,
            max_queued_incoming_messages=self._max_incoming,
            logger=AIOMQTT_LOG,
        )

    async def _run(self) -> None:
        delays = backoff_delays(self._backoff[0], 2.0, self._backoff[1], jitter=0.2)
        while not self._closed:
            try:
                client = self._new_client()
                async with client:
                    self._client = client
                    self._acked_filters.clear()
                    self._stats.connects += 1
                    self._drop_logged = False
                    delays = backoff_delays(self._backoff[0], 2.0, self._backoff[1], jitter=0.2)
                    _log.info("MQTT transport %s connected to %s:%d", self._client_id, self._host, self._port)
                    self._notify()
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                self._stats.connection_errors += 1
                _log.warning(
                    "MQTT transport %s: connection to %s:%d lost or refused: %s",
                    self._client_id,
                    self._host,
                    self._port,
                    "; ".join(str(e) for e in group.exceptions),
                )
            except* OSError as group:
                self._stats.connection_errors += 1
                _log.warning(
                    "MQTT transport %s: cannot reach %s:%d: %s",
                    self._client_id,
                    self._host,
                    self._port,
                    "; ".join(str(e) for e in group.exceptions),
                )
            except* Exception as group:  # a bug, not the network: report it, keep the bus alive
                self._stats.connection_errors += 1
                for exc in group.exceptions:
                    self._report_error(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            finally:
                self._client = None
                self._acked_filters.clear()
                # Unacknowledged messages go back to the head of the outbox, in order.
                self._outbox.extendleft(reversed(self._inflight))
                self._inflight.clear()
                self._notify()
            await self._clock.sleep(next(delays))

    async def _session(self, client: aiomqtt.Client) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._receive(client))
            tg.create_task(self._maintain_subscriptions(client))
            tg.create_task(self._send(client, tg))

    async def _maintain_subscriptions(self, client: aiomqtt.Client) -> None:
        while True:
            self._wake_subscriber.clear()
            wanted = set(self._filters)
            new = sorted(wanted - self._acked_filters)
            gone = sorted(self._acked_filters - wanted)
            if new:
                options = SubscribeOptions(qos=self._qos, noLocal=False, retainAsPublished=False)
                codes = await client.subscribe(
                    [(self._mqtt_topic(p), options) for p in new], timeout=self._connect_timeout_s
                )
                for pattern, code in zip(new, codes, strict=True):
                    # MQTT 5 §3.9.3: reason codes >= 0x80 are failures
                    failed = code.is_failure if isinstance(code, ReasonCode) else cast(int, code) >= 0x80
                    if failed:
                        self._report_error(RuntimeError(f"broker refused subscription {pattern!r}: {code}"))
                    else:
                        self._acked_filters.add(pattern)
            if gone:
                await client.unsubscribe([self._mqtt_topic(p) for p in gone], timeout=self._connect_timeout_s)
                self._acked_filters.difference_update(gone)
            if new or gone:
                self._notify()
                continue
            await self._wake_subscriber.wait()

    async def _send(self, client: aiomqtt.Client, tg: asyncio.TaskGroup) -> None:
        while True:
            self._wake_sender.clear()
            while self._outbox and len(self._inflight) < self._max_inflight:
                item = self._outbox.popleft()
                self._inflight.append(item)
                tg.create_task(self._send_one(client, item))
            await self._wake_sender.wait()

    async def _send_one(self, client: aiomqtt.Client, item: _Outgoing) -> None:
        try:
            # No timeout: if the connection breaks the session's tasks are cancelled and the
            # message is sent again on the next connection.
            await client.publish(item.topic, item.data, qos=self._qos, timeout=math.inf)
        except aiomqtt.MqttError:
            raise  # the connection is gone: end the session, resend later
        except Exception as exc:  # e.g. paho's ValueError for an oversized payload: never retried
            if item in self._inflight:
                self._inflight.remove(item)
            self._stats.failed_outgoing += 1
            self._report_error(exc)
        else:
            if item in self._inflight:
                self._inflight.remove(item)
            self._stats.sent += 1
        self._wake_sender.set()
        if not self.pending:
            self._notify()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
            self._deliver(message.topic.value, data)

    def _deliver(self, mqtt_topic: str, data: bytes | bytearray) -> None:
        if self._prefix:
            if not mqtt_topic.startswith(self._prefix + "/"):
                self._stats.decode_errors += 1
                self._report_error(CodecError("topic", f"a topic under {self._prefix + '/'!r}", mqtt_topic))
                return
            bus_topic = mqtt_topic[len(self._prefix) + 1 :]
        else:
            bus_topic = mqtt_topic
        if self._security is not None:
            try:
                data = self._security.open(bus_topic, data, self._clock.now())
            except CommandRejected as exc:
                self._stats.rejected += 1
                self._report_error(exc)
                return
        try:
            envelope = decode_envelope(data, self._registry)
        except CodecError as exc:
            self._stats.decode_errors += 1
            self._report_error(CodecError(f"message on {mqtt_topic!r}: {exc.path}", exc.expected, exc.found))
            return
        if envelope.topic != bus_topic:
            self._stats.decode_errors += 1
            self._report_error(CodecError("topic", f"{bus_topic!r} (the MQTT topic)", envelope.topic))
            return
        seen = self._seen
        if envelope.message_id in seen:
            self._stats.duplicates += 1
            return
        seen[envelope.message_id] = None
        if len(seen) > self._dedupe_window:
            seen.popitem(last=False)
        self._stats.received += 1
        for sub in self._route(bus_topic):
            sub._deliver(envelope)

    def _route(self, topic: str) -> tuple[Any, ...]:
        route = self._routes.get(topic)
        if route is None:
            route = tuple(s for s in self._subscribers if s.filter.matches(topic))
            if len(self._routes) >= 4096:
                self._routes.clear()
            self._routes[topic] = route
        return route

    # ---- waiting for state

    def _notify(self) -> None:
        fut = self._changed
        self._changed = None
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def _wait_for(self, condition: Callable[[], bool], timeout_s: float | None) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                if self._closed:
                    raise RuntimeError("the MQTT transport is closed")
                if self._changed is None:
                    self._changed = asyncio.get_running_loop().create_future()
                await self._changed
