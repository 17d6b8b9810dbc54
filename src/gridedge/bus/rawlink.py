"""A raw-bytes link for sealed telemetry: publish with a broker acknowledgement, subscribe, link state.

Why not the bus's `Transport`: telemetry travels as the COSE message itself (`bus.telemetry`), not
in a JSON envelope, and the sender needs to know *when the broker has taken a message*, so that
it can count what is in flight and resend what was lost. `RawLink.publish` therefore awaits the
broker's PUBACK (MQTT 5 §3.4 / MQTT 3.1.1 §3.4, QoS 1) and raises `LinkDown` when the
connection is gone or goes away first. Nothing is queued here: the caller's store-and-forward
queue (`home.gateway.outbox`) is the only place a record waits, so a process restart loses
nothing and nothing is sent twice from two queues.

The link also reports its own state (`up`, `since`) and a `LinkEvent` on every connect,
disconnect and failed attempt, which is what WAN monitoring (ESMIG use case "Monitoring the Wide
Area communication Network", seeds/002) records.

Two implementations:

* `MqttRawLink` over aiomqtt (MQTT 5 by default, 3.1.1 on request), reconnecting with
  exponential back-off and jitter (`clock.backoff_delays`); subscriptions are made again on every
  connection; `drop_connection()` breaks the socket as a network fault would, for tests and drills.
* `InProcessRawLink` on an `InProcessBus` (payloads are `bytes`), for the embedded demo and for
  simulated-time tests; `drop_connection()` takes it down for `reconnect_after_s` on the clock.

An optional topic prefix `P` puts every topic under `P/`; callbacks see topics without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, cast, runtime_checkable
from uuid import uuid4

from gridedge.bus.aiomqtt_log import AIOMQTT_LOG
from gridedge.bus.envelope import Envelope, TopicFilter, validate_topic
from gridedge.bus.inprocess import CallbackHandle, InProcessBus
from gridedge.clock import Clock, TimerHandle, backoff_delays

__all__ = [
    "InProcessRawLink",
    "LinkDown",
    "LinkEvent",
    "LinkEventKind",
    "LinkStats",
    "MqttRawLink",
    "RawCallback",
    "RawLink",
    "RawSubscription",
]

_log = logging.getLogger(__name__)

RawCallback = Callable[[str, bytes], object]
"""`callback(topic, data)`: called on the loop for every message on a subscribed topic."""


class LinkDown(ConnectionError):
    """The link is down, or went down before the broker acknowledged the message."""


class LinkEventKind(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CONNECT_FAILED = "connect-failed"


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """One change of the link, with the clock's time and a reason a technician can read."""

    time: datetime
    kind: LinkEventKind
    detail: str = ""


@dataclass(slots=True)
class LinkStats:
    """Counters of one link (updated in place)."""

    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    published: int = 0
    """Messages the broker acknowledged (PUBACK)."""
    publish_failures: int = 0
    """`publish` calls that raised `LinkDown`."""
    received: int = 0


@runtime_checkable
class RawSubscription(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class RawLink(Protocol):
    """What the gateway needs from its wide-area link."""

    @property
    def up(self) -> bool: ...

    @property
    def since(self) -> datetime | None:
        """When the link last went up or down (None: never connected yet)."""
        ...

    @property
    def stats(self) -> LinkStats: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, data: bytes, *, retain: bool = False) -> None:
        """Return once the broker has acknowledged `data` on `topic`; `LinkDown` otherwise. With
        `retain` the broker keeps it for later subscribers (MQTT 5 §3.3.1.3; the in-process link has
        no retained messages and ignores it)."""
        ...

    def subscribe(self, topic_filter: str, callback: RawCallback) -> RawSubscription: ...

    def add_listener(self, listener: Callable[[LinkEvent], object]) -> Callable[[], None]:
        """Call `listener(event)` on every link event; returns a function that removes it."""
        ...

    async def wait_up(self, timeout_s: float | None = None) -> None: ...

    def drop_connection(self) -> bool:
        """Break the connection as a network failure would (tests, drills); False if it was down."""
        ...


class _Listeners:
    """Link state, events and their listeners: the part both implementations share."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._listeners: list[Callable[[LinkEvent], object]] = []
        self._up = False
        self._since: datetime | None = None
        self._changed: asyncio.Event | None = None
        self.stats = LinkStats()

    @property
    def up(self) -> bool:
        return self._up

    @property
    def since(self) -> datetime | None:
        return self._since

    def add_listener(self, listener: Callable[[LinkEvent], object]) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def _emit(self, kind: LinkEventKind, detail: str) -> None:
        now = self._clock.now()
        if kind is LinkEventKind.CONNECTED:
            self._up, self._since = True, now
            self.stats.connects += 1
        elif kind is LinkEventKind.DISCONNECTED:
            self._up, self._since = False, now
            self.stats.disconnects += 1
        else:
            self.stats.connect_failures += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        event = LinkEvent(now, kind, detail)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener's bug must not take the link down
                _log.exception("link listener failed on %s", event)

    async def wait_up(self, timeout_s: float | None = None) -> None:
        async with asyncio.timeout(timeout_s):
            while not self._up:
                if self._changed is None:
                    self._changed = asyncio.Event()
                await self._changed.wait()


def _prefixed(prefix: str) -> str:
    if not prefix:
        return ""
    validate_topic(prefix)
    prefix = prefix.strip("/")
    if not prefix:
        raise ValueError("topic prefix must not consist of '/' only")
    return prefix + "/"


# --------------------------------------------------------------------------- MQTT


def _no_delay(client: Any) -> None:
    """Turn off Nagle's algorithm on the link's socket (paho leaves it on). A small publish that
    follows another one before its ACK waited for the peer's delayed ACK (40 ms on Linux): peer
    commands answered in ~50 ms instead of ~2 ms (bench/peers.py)."""
    with contextlib.suppress(AttributeError, OSError):
        sock = client._client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _MqttSub:
    def __init__(self, link: MqttRawLink, topic_filter: TopicFilter, callback: RawCallback) -> None:
        self.filter = topic_filter
        self.callback = callback
        self._link = link

    def close(self) -> None:
        self._link._unsubscribe(self)


class MqttRawLink(_Listeners):
    """`RawLink` over an MQTT broker (aiomqtt), QoS 1.

    `protocol` 5 (default) or 4 (MQTT 3.1.1). With `persistent_session` and a stable `client_id`
    the broker keeps the subscriptions and queues QoS 1 messages (the head-end's acks) while the
    link is down (MQTT 5 §3.1.2.11.2 Session Expiry; 3.1.1 §3.1.2.4 Clean Session 0).
    `publish_timeout_s` bounds the wait for a PUBACK on a connection that is silently dead
    (before keep-alive notices, MQTT 5 §3.1.2.10: 1.5 x keep-alive). `will` = (topic, payload) is
    the last will the broker publishes, retained at QoS 1, when the connection dies without a clean
    DISCONNECT (MQTT 5 §3.1.2.5): an availability topic's "offline".
    """

    def __init__(
        self,
        clock: Clock,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        topic_prefix: str = "",
        client_id: str | None = None,
        protocol: Literal[4, 5] = 5,
        persistent_session: bool = False,
        session_expiry_s: int = 3600,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        publish_timeout_s: float = 30.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 60.0,
        username: str | None = None,
        password: str | None = None,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        super().__init__(clock)
        if persistent_session and not client_id:
            raise ValueError("persistent_session needs a stable client_id")
        if protocol not in (4, 5):
            raise ValueError(f"protocol must be 4 (MQTT 3.1.1) or 5, got {protocol}")
        self._host, self._port = host, port
        self._prefix = _prefixed(topic_prefix)
        self._client_id = client_id or f"gridedge-link-{uuid4().hex}"
        self._protocol = protocol
        self._persistent = persistent_session
        self._session_expiry_s = session_expiry_s
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._publish_timeout_s = publish_timeout_s
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._username, self._password = username, password
        if will is not None:
            validate_topic(will[0])
        self._will = will
        self._subs: list[_MqttSub] = []
        self._acked: set[str] = set()  # filters the broker confirmed on this connection
        self._refused: set[str] = set()  # ... and those it refused (not asked again on it)
        self._client: Any = None  # aiomqtt.Client while connected
        self._lost: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake_subscriber = asyncio.Event()
        self._closed = False
        self._failures_logged = 0

    def __repr__(self) -> str:
        return f"<MqttRawLink {self._client_id} {self._host}:{self._port} {'up' if self.up else 'down'}>"

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    async def start(self) -> None:
        """Start connecting in the background (idempotent)."""
        if self._closed:
            raise RuntimeError("the link is closed")
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name=f"rawlink {self._client_id}")

    async def __aenter__(self) -> MqttRawLink:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect (with DISCONNECT) and stop reconnecting. Unsubscriptions still on their way are
        given up to a second to be confirmed first: cut off, the broker's late UNSUBACK makes aiomqtt
        log a KeyError traceback."""
        if self._closed:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                while self.up and self._acked - {s.filter.pattern for s in self._subs}:
                    await asyncio.sleep(0.01)
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self, topic: str, data: bytes, *, retain: bool = False) -> None:
        validate_topic(topic)
        client, lost = self._client, self._lost
        if client is None or lost is None or lost.done():
            self.stats.publish_failures += 1
            raise LinkDown(f"publish on {topic!r}: link to {self.address} is down")
        sending = asyncio.ensure_future(
            client.publish(self._prefix + topic, bytes(data), qos=1, retain=retain, timeout=float("inf"))
        )
        timer = asyncio.ensure_future(self._clock.sleep(self._publish_timeout_s))
        try:
            await asyncio.wait({sending, lost, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if sending.done() and sending.exception() is None:
            self.stats.published += 1
            return
        sending.cancel()
        with contextlib.suppress(BaseException):
            await sending
        self.stats.publish_failures += 1
        if timer.done() and not lost.done():
            raise LinkDown(f"publish on {topic!r}: no PUBACK within {self._publish_timeout_s:g} s")
        reason = sending.exception() if sending.done() and not sending.cancelled() else None
        why = f" ({reason})" if reason else ""
        raise LinkDown(f"publish on {topic!r}: connection lost before PUBACK{why}")

    def subscribe(self, topic_filter: str, callback: RawCallback) -> RawSubscription:
        sub = _MqttSub(self, TopicFilter.parse(topic_filter), callback)
        TopicFilter.parse(self._prefix + topic_filter)  # the broker's filter must be valid too
        self._subs.append(sub)
        self._wake_subscriber.set()
        return sub

    def _unsubscribe(self, sub: _MqttSub) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)
        self._wake_subscriber.set()

    async def wait_subscribed(self, timeout_s: float | None = None) -> None:
        """Wait until the broker has confirmed (SUBACK) every current subscription."""
        async with asyncio.timeout(timeout_s):
            while not (self.up and {s.filter.pattern for s in self._subs} <= self._acked):
                await asyncio.sleep(0.01)

    def drop_connection(self) -> bool:
        client = self._client
        if client is None:
            return False
        sock = client._client.socket()  # the paho client's socket
        if sock is None:
            return False
        with contextlib.suppress(OSError):
            cast(socket.socket, sock).shutdown(socket.SHUT_RDWR)
        return True

    # ---- connection

    def _new_client(self) -> Any:
        import aiomqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        will = None
        if self._will is not None:  # MQTT 5 §3.1.2.5: the broker publishes it if we vanish
            topic, payload = self._will
            will = aiomqtt.Will(self._prefix + topic, payload, qos=1, retain=True)

        if self._protocol == 5:
            properties = None
            if self._persistent:
                properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                properties.SessionExpiryInterval = self._session_expiry_s
            return aiomqtt.Client(
                self._host, self._port, identifier=self._client_id, protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=not self._persistent, properties=properties, keepalive=self._keepalive_s,
                timeout=self._connect_timeout_s, username=self._username, password=self._password, will=will,
                logger=AIOMQTT_LOG,
            )  # fmt: skip
        return aiomqtt.Client(
            self._host, self._port, identifier=self._client_id, protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=not self._persistent, keepalive=self._keepalive_s,
            timeout=self._connect_timeout_s, username=self._username, password=self._password, will=will,
            logger=AIOMQTT_LOG,
        )  # fmt: skip

    async def _run(self) -> None:
        import aiomqtt

        def fresh() -> Any:
            return backoff_delays(self._backoff[0], 2.0, self._backoff[1], jitter=0.2)

        delays = fresh()
        while not self._closed:
            detail = ""
            connected = False
            try:
                async with self._new_client() as client:
                    self._client = client
                    self._lost = asyncio.get_running_loop().create_future()
                    self._acked.clear()
                    self._refused.clear()
                    connected = True
                    _no_delay(client)
                    self._failures_logged = 0
                    delays = fresh()
                    _log.info("link %s connected to %s", self._client_id, self.address)
                    self._emit(LinkEventKind.CONNECTED, f"connected to {self.address}")
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                detail = "; ".join(str(e) for e in group.exceptions)
            except* OSError as group:
                detail = "; ".join(str(e) or type(e).__name__ for e in group.exceptions)
            except* Exception as group:  # a bug, not the network: log it, keep the link alive
                detail = "; ".join(repr(e) for e in group.exceptions)
                _log.error("link %s: unexpected error", self._client_id, exc_info=group)
            finally:
                self._client = None
                self._acked.clear()
                lost = self._lost
                self._lost = None
                if lost is not None and not lost.done():
                    lost.set_result(None)
            if connected:
                _log.warning("link %s: connection to %s lost: %s", self._client_id, self.address, detail)
                self._emit(LinkEventKind.DISCONNECTED, detail or "connection lost")
            else:
                if self._failures_logged < 3:
                    _log.warning("link %s: cannot connect to %s: %s", self._client_id, self.address, detail)
                self._failures_logged += 1
                self._emit(LinkEventKind.CONNECT_FAILED, detail or "connection refused")
            await self._clock.sleep(next(delays))

    async def _session(self, client: Any) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._receive(client))
            tg.create_task(self._maintain_subscriptions(client))

    async def _maintain_subscriptions(self, client: Any) -> None:
        while True:
            self._wake_subscriber.clear()
            wanted = {s.filter.pattern for s in self._subs}
            new = sorted(wanted - self._acked - self._refused)
            gone = sorted(self._acked - wanted)
            for pattern in new:
                codes = await client.subscribe(self._prefix + pattern, qos=1, timeout=self._connect_timeout_s)
                # MQTT 5 §3.9.3 / 3.1.1 §3.9.3: a code >= 0x80 is a refusal
                if any(int(getattr(c, "value", c)) >= 0x80 for c in codes):
                    _log.error("link %s: broker refused subscription %r: %s", self._client_id, pattern, codes)
                    self._refused.add(pattern)
                else:
                    self._acked.add(pattern)
            if gone:
                await client.unsubscribe([self._prefix + p for p in gone], timeout=self._connect_timeout_s)
                self._acked.difference_update(gone)
            if not new and not gone:
                await self._wake_subscriber.wait()

    async def _receive(self, client: Any) -> None:
        async for message in client.messages:
            topic = message.topic.value
            if self._prefix:
                if not topic.startswith(self._prefix):
                    continue
                topic = topic[len(self._prefix) :]
            payload = message.payload
            data = bytes(payload) if isinstance(payload, bytes | bytearray) else str(payload).encode()
            self.stats.received += 1
            for sub in list(self._subs):
                if sub.filter.matches(topic):
                    try:
                        sub.callback(topic, data)
                    except Exception:
                        _log.exception("link %s: subscriber %r failed", self._client_id, sub.filter.pattern)


# --------------------------------------------------------------------------- in-process


class _InProcessSub:
    def __init__(self, handle: CallbackHandle[bytes]) -> None:
        self._handle = handle

    def close(self) -> None:
        self._handle.close()


class InProcessRawLink(_Listeners):
    """`RawLink` on an `InProcessBus`: bytes payloads, acknowledged as soon as delivered.

    Several links on one bus talk to each other (the gateway's and the head-end's). While the
    link is down (`drop_connection()` / `set_up(False)`), `publish` raises `LinkDown` and inbound
    messages are lost, as on a real network.
    """

    def __init__(
        self, bus: InProcessBus, clock: Clock, *, name: str = "rawlink", topic_prefix: str = "",
        reconnect_after_s: float = 1.0,
    ) -> None:  # fmt: skip
        super().__init__(clock)
        self._bus = bus
        self._name = name
        self._prefix = _prefixed(topic_prefix)
        self.reconnect_after_s = reconnect_after_s
        self._timer: TimerHandle | None = None
        self._started = False

    async def start(self) -> None:
        if not self._started:
            self._started = True
            self._emit(LinkEventKind.CONNECTED, "in-process bus")

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.up:
            self._emit(LinkEventKind.DISCONNECTED, "closed")

    async def publish(self, topic: str, data: bytes, *, retain: bool = False) -> None:
        validate_topic(topic)
        if not self.up:
            self.stats.publish_failures += 1
            raise LinkDown(f"publish on {topic!r}: link {self._name} is down")
        self._bus.publish(self._prefix + topic, bytes(data), source=self._name)
        self.stats.published += 1
        await asyncio.sleep(0)  # a real link takes a round trip: let others run

    def subscribe(self, topic_filter: str, callback: RawCallback) -> RawSubscription:
        prefix = self._prefix

        def deliver(env: Envelope[bytes]) -> None:
            if self.up and env.source != self._name:
                self.stats.received += 1
                callback(env.topic[len(prefix) :], env.payload)

        return _InProcessSub(self._bus.subscribe_callback(prefix + topic_filter, deliver, bytes))

    def set_up(self, up: bool, detail: str = "") -> None:
        """Bring the link up or down by hand (a long outage in a simulated-time test)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if up and not self.up:
            self._emit(LinkEventKind.CONNECTED, detail or "in-process bus")
        elif not up and self.up:
            self._emit(LinkEventKind.DISCONNECTED, detail or "taken down")

    def drop_connection(self) -> bool:
        if not self.up:
            return False
        self.set_up(False, "connection dropped")
        self._timer = self._clock.call_later(self.reconnect_after_s, lambda: self.set_up(True))
        return True
