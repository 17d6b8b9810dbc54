"""One member of a peer network: signs what it sends, verifies what it receives, dispatches by kind.

A `PeerNode` sits on a `gridedge.bus.rawlink.RawLink`, so the same node runs over the in-process
bus (the embedded demo, simulated-time tests) and over an MQTT broker (`MqttRawLink`). Every frame
is a COSE_Sign1 (RFC 9052 §4.2, Ed25519) made by `gridedge.bus.security.Signer` over the CBOR array

    [1, network, kind, source, body]

with the destination address as its protected audience (`addressing`). Inbound, in this order,
each failure counted in `stats.rejected` under its reason and never reaching a handler:

1. ``foreign``: the topic is not a peer topic of this network;
2. ``not_member``: this node is not (or no longer) in the roster; ``not_for_me``: unicast for
   another peer, or a group this node is not in;
3. the signature checks of `Verifier` (unknown kid = not a member, key not this sender's,
   expired, bad signature, wrong audience, too old or in the future, replayed sequence);
4. ``wrong_topic``: the signed network, kind or sender differ from the topic's;
5. ``role``: the sender's role may not send this kind (`ROLE_MAY_SEND`);
6. ``malformed_body``: the body is not a valid message of its kind (`PeerMessageError`, logged
   with the field).

Replies to `request` are matched by the sender and the command's sequence number; a command
handler returns the `Reply` and the node sends it back to the commander, unicast.

Membership changes arrive as signed rosters on ``peers/<net>/roster`` (`roster`), published retained
by the node holding the issuer, again every minute, and on request: a newer version replaces the
key ring at once. Every node asks for the newest roster on every (re)connection (a removal or a
changed role shows in no other way) and when it hears an unknown key (at most every
`roster_request_interval_s`). A roster from the network must be signed within `roster_max_age`
(one day; the issuer re-signs every minute), so a captured old roster is soon worthless; with
`roster_store` the newest adopted roster survives a restart, so one replayed to a restarted node
cannot bring back a member removed since.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Generic, TypeVar, cast

import cbor2
from cryptography.hazmat.primitives import serialization

from gridedge.bus.rawlink import LinkEvent, LinkEventKind, RawLink, RawSubscription
from gridedge.bus.security import Reason, Rejected, Signer, TimeSeededSequence, Verifier
from gridedge.clock import Clock, TimerHandle
from gridedge.home.peers.addressing import ROOT, Address, Scope, check_name, parse_topic
from gridedge.home.peers.messages import (
    Announce,
    Discover,
    EnergyData,
    HomeSummary,
    Message,
    Modulate,
    PeerMessageError,
    Reply,
    Role,
    ShareOffer,
    Switch,
    decode_body,
)
from gridedge.home.peers.roster import Roster, RosterError, RosterIssuer, open_roster, owner_verifier

__all__ = ["ROLE_MAY_SEND", "PeerNode", "PeerStats", "PeerTimeout", "Received", "roster_topic"]

_log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)

ROLE_MAY_SEND: Final[dict[str, frozenset[Role]]] = {
    Announce.KIND: frozenset(Role),
    EnergyData.KIND: frozenset(Role),
    Discover.KIND: frozenset(Role),
    Reply.KIND: frozenset(Role),
    Switch.KIND: frozenset({Role.MANAGER, Role.CONTROLLER}),
    Modulate.KIND: frozenset({Role.MANAGER, Role.CONTROLLER}),
    HomeSummary.KIND: frozenset({Role.MANAGER}),
    ShareOffer.KIND: frozenset({Role.CONTROLLER}),
}
"""Which roles may send which kind: devices report and answer; only managers and the community
controller command; only a home's manager speaks for the home; only the controller offers shares."""

FOREIGN: Final = "foreign"
NOT_FOR_ME: Final = "not_for_me"
NOT_MEMBER: Final = "not_member"
WRONG_TOPIC: Final = "wrong_topic"
ROLE: Final = "role"
MALFORMED_BODY: Final = "malformed_body"
_VERSION: Final = 1
# commands are kept strictly in order (a setpoint must not be overtaken by an older one); group and
# broadcast data may interleave with them from the same sender, so those windows allow reordering
_WINDOW_UNICAST: Final = 0
_WINDOW_SHARED: Final = 64


def _raw(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def roster_topic(network: str) -> str:
    return f"{ROOT}/{network}/roster"


class PeerTimeout(TimeoutError):
    """No reply to a command within the timeout."""


@dataclass(frozen=True, slots=True)
class Received(Generic[M]):
    """An accepted message: authenticated sender, address it was sent to, and the message."""

    sender: str
    role: Role
    to: Address
    sequence: int
    issued_at: datetime
    message: M


Handler = Callable[[Received[Any]], "Awaitable[Reply | None] | Reply | None"]


@dataclass(slots=True)
class PeerStats:
    sent: int = 0
    send_failures: int = 0
    received: int = 0
    own_echo: int = 0
    handler_errors: int = 0
    task_errors: int = 0
    roster_version: int = 0
    roster_updates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


class PeerNode:
    """A member of network `roster.network`, speaking as `peer_id` with `signer`'s key.

    `owner_key`/`owner_kid` are the trust anchor: the key that signs rosters. The node's own role
    and groups come from the roster. Start it with `start()`; `close()` unsubscribes.
    """

    def __init__(
        self,
        peer_id: str,
        signer: Signer,
        roster: Roster,
        owner: Signer | tuple[Any, bytes],
        link: RawLink,
        clock: Clock,
        *,
        request_timeout_s: float = 5.0,
        max_age: timedelta = timedelta(seconds=30),
        roster_request_interval_s: float = 10.0,
        roster_max_age: timedelta = timedelta(days=1),
        roster_store: str | Path | None = None,
    ) -> None:
        self.peer_id = check_name("peer id", peer_id)
        self.network = roster.network
        self.signer = signer
        self.link = link
        self.clock = clock
        self.request_timeout_s = request_timeout_s
        self.stats = PeerStats(roster_version=roster.version)
        owner_key, owner_kid = (owner.public_key, owner.kid) if isinstance(owner, Signer) else owner
        self._owner: tuple[Any, bytes] = (owner_key, owner_kid)
        self._owner_verifier = owner_verifier(self.network, owner_key, owner_kid, max_age=roster_max_age)
        self._self_in(roster)
        self._roster = roster
        self._store = Path(roster_store) if roster_store is not None else None
        if self._store is not None and self._store.exists():
            self._load_stored(owner_key, owner_kid)
        self._sequence = TimeSeededSequence()
        self._max_age = max_age
        self._verifiers: dict[str, Verifier] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[Reply]] = {}
        self._subs: dict[str, RawSubscription] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._issuer: RosterIssuer | None = None
        self._roster_doc: bytes | None = None
        self._republish: TimerHandle | None = None
        self._last_roster_request = -1e18
        self._last_roster_answer = -1e18
        self._answer_due = False
        self._answer_timer: TimerHandle | None = None
        self._last_roster_warning = -1e18
        self._roster_request_interval_s = roster_request_interval_s
        self.on_roster: list[Callable[[Roster], object]] = []
        """Called with every newer roster this node adopts (a directory drops removed members)."""
        self.on(Discover, self._on_discover)
        self.announcement: Callable[[], Announce] | None = None
        """What this node says when asked to announce itself (set by devices and managers)."""
        self.on_connect: list[Callable[[], object]] = []
        """Called on every (re)connection, after the announcement."""
        self._connections = 0
        self._unlisten: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<PeerNode {self.peer_id}@{self.network} v{self._roster.version}>"

    def _self_in(self, roster: Roster) -> None:
        member = roster.member(self.peer_id)
        if member is not None and member.kid != self.signer.kid:
            raise ValueError(
                f"{self.peer_id}: the roster lists kid {member.kid.hex()},"
                f" this key is {self.signer.kid.hex()}"
            )

    # --- membership ----------------------------------------------------------------------------

    @property
    def roster(self) -> Roster:
        return self._roster

    @property
    def role(self) -> Role | None:
        m = self._roster.member(self.peer_id)
        return None if m is None else m.role

    @property
    def groups(self) -> tuple[str, ...]:
        m = self._roster.member(self.peer_id)
        return () if m is None else m.groups

    @property
    def member(self) -> bool:
        return self._roster.member(self.peer_id) is not None

    def _verifier(self, audience: str) -> Verifier:
        v = self._verifiers.get(audience)
        if v is None:
            window = _WINDOW_UNICAST if audience.startswith("peer:") else _WINDOW_SHARED
            v = Verifier(
                self._roster.keyring(), audience=audience, max_age=self._max_age, max_future=self._max_age,
                reorder_window=window,
            )  # fmt: skip
            self._verifiers[audience] = v
        return v

    def adopt(self, roster: Roster) -> bool:
        """Take a roster this node already trusts (verified, or its own issuer's) if it is newer."""
        if roster.network != self.network or roster.version <= self._roster.version:
            return False
        self._self_in(roster)  # a changed key for this peer id is a provisioning error: raise
        self._roster = roster
        ring = roster.keyring()
        for v in self._verifiers.values():
            v.keyring = ring
        self.stats.roster_version = roster.version
        self.stats.roster_updates += 1
        if self._started:
            self._sync_subscriptions()
        for hook in list(self.on_roster):
            hook(roster)
        return True

    def _load_stored(self, owner_key: Any, owner_kid: bytes) -> None:
        """The newest roster this node adopted before a restart (`roster_store`), so that an old
        roster replayed to a restarted node cannot bring back a member removed since."""
        assert self._store is not None
        try:
            data = self._store.read_bytes()
            stored = open_roster(data, owner_verifier(self.network, owner_key, owner_kid), self.network,
                                 self.clock.now())  # fmt: skip
        except (OSError, RosterError) as e:
            _log.warning("%s: stored roster %s not used: %s", self.peer_id, self._store, e)
            return
        if stored.version > self._roster.version:
            self._self_in(stored)
            self._roster = stored
            self.stats.roster_version = stored.version

    def _persist(self, data: bytes) -> None:
        if self._store is None:
            return
        tmp = self._store.with_name(self._store.name + ".tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, self._store)
        except OSError as e:
            _log.error(
                "%s: cannot keep roster v%d in %s: %s", self.peer_id, self._roster.version, self._store, e
            )

    def serve_roster(self, issuer: RosterIssuer, *, republish_s: float = 60.0) -> None:
        """Make this node the roster's distributor: it signs the current roster with the owner's
        key, publishes it now, every `republish_s`, and when a member asks."""
        if issuer.network != self.network:
            raise ValueError(f"issuer signs for {issuer.network!r}, this node is on {self.network!r}")
        key, kid = self._owner
        if issuer.owner.kid != kid or _raw(issuer.owner.public_key) != _raw(key):
            raise ValueError(
                f"the issuer's key (kid {issuer.owner.kid.hex()}) is not the network owner's"
                f" (kid {kid.hex()}): members would refuse every roster it signs"
            )
        self._issuer = issuer
        self._republish_s = republish_s

    async def publish_roster(self, roster: Roster | None = None) -> None:
        """Issue `roster` (a new version) to the network, or re-issue the current one."""
        if self._issuer is None:
            raise RuntimeError(f"{self.peer_id} does not hold the roster issuer")
        if roster is not None:
            if roster.version <= self._roster.version and roster != self._roster:
                raise ValueError(f"roster version {roster.version} is not newer than {self._roster.version}")
            self.adopt(roster)
        self._roster_doc = self._issuer.sign(self._roster, self.clock.now())
        self._persist(self._roster_doc)
        await self._publish_raw(roster_topic(self.network), self._roster_doc, retain=True)

    def _schedule_republish(self) -> None:
        if self._issuer is None or not self._started:
            return

        def fire() -> None:
            self.spawn(self._republish_now())

        self._republish = self.clock.call_later(self._republish_s, fire)

    async def _republish_now(self) -> None:
        try:
            with contextlib.suppress(ConnectionError):
                await self.publish_roster()
        finally:
            self._schedule_republish()

    def _on_roster(self, data: bytes) -> None:
        if data == b"?":
            if self._issuer is not None:
                self._answer_roster_request()
            return
        try:
            roster = open_roster(data, self._owner_verifier, self.network, self.clock.now())
        except RosterError as e:
            self._roster_refused(str(e))
            return
        try:
            if self.adopt(roster):
                self._persist(data)
        except ValueError as e:
            self._roster_refused(f"v{roster.version}: {e}")

    def _answer_roster_request(self) -> None:
        """Re-publish the roster for a member that asked: at once, or, within a second of the last
        answer, once at the end of that second for every request that came meanwhile (anyone on
        the broker can ask; a signature a second is all it costs)."""
        if self._answer_due:
            return
        wait = self._last_roster_answer + 1.0 - self.clock.monotonic()

        def answer() -> None:
            self._answer_due = False
            self._last_roster_answer = self.clock.monotonic()
            self.spawn(self._republish_quiet())

        if wait <= 0:
            answer()
        else:
            self._answer_due = True
            self._answer_timer = self.clock.call_later(wait, answer)

    def _roster_refused(self, why: str) -> None:
        """Count every refused roster; log at most one a minute (anyone on the broker can send them)."""
        self.stats.reject("roster")
        now = self.clock.monotonic()
        if now - self._last_roster_warning >= 60.0:
            self._last_roster_warning = now
            _log.warning("%s: roster refused: %s", self.peer_id, why)

    async def _republish_quiet(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.publish_roster()

    def _ask_roster(self, *, force: bool = False) -> None:
        now = self.clock.monotonic()
        if not force and now - self._last_roster_request < self._roster_request_interval_s:
            return
        self._last_roster_request = now
        self.spawn(self._publish_quiet(roster_topic(self.network), b"?"))

    # --- handlers and subscriptions -------------------------------------------------------------

    def on(
        self, kind: type[M], handler: Callable[[Received[M]], Awaitable[Reply | None] | Reply | None]
    ) -> None:
        """Call `handler` for every accepted message of `kind` (addressed to this node, one of its
        groups, or everyone). A command handler's `Reply` goes back to the sender."""
        self._handlers.setdefault(kind.KIND, []).append(cast(Handler, handler))
        if self._started:
            self._sync_subscriptions()

    def _wanted(self) -> set[str]:
        base = f"{ROOT}/{self.network}"
        wanted = {roster_topic(self.network), f"{base}/peer/{self.peer_id}/+/+"}
        wanted.update(f"{base}/group/{g}/+/+" for g in self.groups)
        wanted.update(f"{base}/all/{kind}/+" for kind in self._handlers)
        return wanted

    def _sync_subscriptions(self) -> None:
        wanted = self._wanted()
        for pattern in list(self._subs):
            if pattern not in wanted:
                self._subs.pop(pattern).close()
        for pattern in sorted(wanted - set(self._subs)):
            self._subs[pattern] = self.link.subscribe(pattern, self._inbound)

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._sync_subscriptions()
        self._unlisten = self.link.add_listener(self._on_link)
        await self.link.start()
        if self.link.up and not self._connections:  # already connected before we listened
            self._connected()
        if self._issuer is not None:
            self._schedule_republish()

    def _on_link(self, event: LinkEvent) -> None:
        if event.kind is LinkEventKind.CONNECTED and self._started:
            self._connected()

    def _connected(self) -> None:
        """On every (re)connection: once the broker holds our subscriptions, announce ourselves
        and run the `on_connect` hooks (a manager asks everyone to announce), so that nothing said
        while the link was down, or before it was up, stays unsaid."""
        self._connections += 1
        self.spawn(self._after_connect())

    async def _after_connect(self) -> None:
        wait = getattr(self.link, "wait_subscribed", None)
        if wait is not None:
            with contextlib.suppress(TimeoutError):
                await wait(10.0)
        # membership first: the issuer (re)publishes the roster, everyone else asks for the newest
        # one, since a removal or a changed role shows in no other way
        if self._issuer is not None:
            await self._republish_quiet()
        else:
            self._ask_roster(force=True)
        if self.announcement is not None:
            await self._publish_announce()
        for hook in list(self.on_connect):
            hook()

    async def close(self) -> None:
        self._started = False
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for timer in (self._republish, self._answer_timer):
            if timer is not None:
                timer.cancel()
        for sub in self._subs.values():
            sub.close()
        self._subs.clear()
        for fut in self._pending.values():
            fut.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run `coro` in the background, owned by this node (cancelled by `close`); an exception
        it raises is logged and counted in `stats.task_errors`, never lost."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.stats.task_errors += 1
            _log.error("%s: background task failed", self.peer_id, exc_info=error)

    # --- sending --------------------------------------------------------------------------------

    def seal(self, to: Address, message: Message) -> tuple[str, bytes, int]:
        """The topic, signed frame and sequence number of `message` for `to` (no I/O)."""
        now = self.clock.now()
        seq = self._sequence.next(now)
        payload = cbor2.dumps([_VERSION, self.network, message.KIND, self.peer_id, message.body()])
        frame = self.signer.sign(payload, sequence=seq, issued_at=now, audience=to.audience)
        return to.topic(self.network, message.KIND, self.peer_id), frame, seq

    async def send(self, to: Address, message: Message) -> int:
        """Sign and publish `message` to `to`; returns its sequence number. Raises the link's
        `LinkDown` (a `ConnectionError`) when it cannot be handed to the network."""
        topic, frame, seq = self.seal(to, message)
        await self._publish_raw(topic, frame)
        return seq

    async def _publish_raw(self, topic: str, data: bytes, *, retain: bool = False) -> None:
        try:
            await self.link.publish(topic, data, retain=retain)
        except ConnectionError:
            self.stats.send_failures += 1
            raise
        self.stats.sent += 1

    async def _publish_quiet(self, topic: str, data: bytes) -> None:
        with contextlib.suppress(ConnectionError):
            await self._publish_raw(topic, data)

    async def request(self, peer_id: str, command: Message, *, timeout_s: float | None = None) -> Reply:
        """Send `command` to one peer and wait for its `Reply` (`PeerTimeout` if none comes)."""
        topic, frame, seq = self.seal(Address.peer(peer_id), command)
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        key = (peer_id, seq)
        self._pending[key] = fut

        def expire() -> None:
            if not fut.done():
                fut.set_exception(PeerTimeout(f"{peer_id}: no reply to {command.KIND} #{seq}"))

        timer = self.clock.call_later(self.request_timeout_s if timeout_s is None else timeout_s, expire)
        try:
            await self._publish_raw(topic, frame)
            return await fut
        finally:
            timer.cancel()
            self._pending.pop(key, None)

    # --- receiving ------------------------------------------------------------------------------

    def _inbound(self, topic: str, data: bytes) -> None:
        if topic == roster_topic(self.network):
            self._on_roster(data)
            return
        try:
            parts = parse_topic(topic)
        except ValueError:
            self.stats.reject(FOREIGN)
            return
        if parts.source == self.peer_id:
            self.stats.own_echo += 1  # MQTT delivers a node's own broadcasts back to it
            return
        if parts.network != self.network:
            self.stats.reject(FOREIGN)
            return
        if not self.member:  # removed from the roster, or not yet in it: not part of the network
            self.stats.reject(NOT_MEMBER)
            return
        to = parts.address
        if (to.scope is Scope.PEER and to.name != self.peer_id) or (
            to.scope is Scope.GROUP and to.name not in self.groups
        ):
            self.stats.reject(NOT_FOR_ME)
            return
        now = self.clock.now()
        try:
            verified = self._verifier(to.audience).verify(data, source=parts.source, now=now)
        except Rejected as e:
            self.stats.reject(e.reason.value)
            if e.reason is Reason.UNKNOWN_KID:
                self._ask_roster()  # perhaps a member who joined after our roster
            _log.debug("%s: rejected %s from %s: %s", self.peer_id, parts.kind, parts.source, e)
            return
        try:
            frame: Any = cbor2.loads(verified.payload)
            ok = isinstance(frame, list) and len(frame) == 5 and frame[0] == _VERSION
        except Exception:
            ok = False
        if not ok or frame[1] != self.network or frame[2] != parts.kind or frame[3] != parts.source:
            self.stats.reject(WRONG_TOPIC)
            return
        member = self._roster.member(parts.source)
        allowed = ROLE_MAY_SEND.get(parts.kind)
        if member is None or (allowed is not None and member.role not in allowed):
            self.stats.reject(ROLE)
            return
        try:
            message = decode_body(parts.kind, frame[4])
        except PeerMessageError as e:
            self.stats.reject(MALFORMED_BODY)
            _log.warning("%s: %s from %s: %s", self.peer_id, parts.kind, parts.source, e)
            return
        except Exception as e:  # a body the checks did not foresee: still refused, never raised
            self.stats.reject(MALFORMED_BODY)
            _log.warning("%s: %s from %s: %r", self.peer_id, parts.kind, parts.source, e)
            return
        self.stats.received += 1
        received = Received(parts.source, member.role, to, verified.sequence, verified.issued_at, message)
        if isinstance(message, Reply):
            fut = self._pending.get((parts.source, message.to))
            if fut is not None and not fut.done():
                fut.set_result(message)
        for handler in self._handlers.get(parts.kind, ()):
            self._call(handler, received)

    def _call(self, handler: Handler, received: Received[Any]) -> None:
        try:
            result = handler(received)
        except Exception:
            self.stats.handler_errors += 1
            _log.exception("%s: handler for %s failed", self.peer_id, received.message.KIND)
            return
        if inspect.isawaitable(result):
            self.spawn(self._finish(result, received))
        elif isinstance(result, Reply):
            self.spawn(self._reply(received, result))

    async def _finish(self, pending: Awaitable[Reply | None], received: Received[Any]) -> None:
        try:
            result = await pending
        except Exception:
            self.stats.handler_errors += 1
            _log.exception("%s: handler for %s failed", self.peer_id, received.message.KIND)
            return
        if isinstance(result, Reply):
            await self._reply(received, result)

    async def _reply(self, received: Received[Any], reply: Reply) -> None:
        with contextlib.suppress(ConnectionError):
            await self.send(
                Address.peer(received.sender), Reply(received.sequence, reply.ok, reply.detail, reply.power_w)
            )

    def _on_discover(self, received: Received[Discover]) -> None:
        if self.announcement is not None:
            self.spawn(self._publish_announce())

    async def _publish_announce(self) -> None:
        if self.announcement is not None:
            with contextlib.suppress(ConnectionError):
                await self.send(Address.broadcast(), self.announcement())
