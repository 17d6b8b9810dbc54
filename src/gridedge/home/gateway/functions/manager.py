"""The gateway's end of an update: receive, verify, load, self-test, swap, persist, answer.

Messages arrive on `gateway/<meter_id>/update` and `gateway-group/<group>/update` (`topics`) and
are handled one at a time, in arrival order, on the event loop:

1. `verify.UpdateVerifier.verify` - signature, key, audience, replay, shape, hash - and
   `verify.admit` - slot, core version, strictly newer, not failed before. A rejection is answered
   `rejected` with the reason, and no code of the package has been compiled.
2. `accepted`; then `loader.load_factory` (the first time the package's code runs), the self-test
   (`FunctionHost.self_test`) and the swap (`FunctionHost.swap`, between two readings). A failure
   in any of them is answered `rejected`, the version is stored as failed, and the running version
   never stopped.
3. The host's events - installed, rolled back (automatically or by a signed order), committed -
   are persisted (`store.PackageStore`) and answered on `gateway/<meter_id>/update/status`.

At start-up `reload` brings back what was installed: every stored package is verified again and
self-tested before it runs; one that fails falls back to the previous version or the built-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from gridedge.bus.rawlink import LinkDown, RawLink, RawSubscription
from gridedge.bus.telemetry import Sealer
from gridedge.clock import Clock
from gridedge.home.gateway.functions.api import Origin, Release
from gridedge.home.gateway.functions.host import FunctionHost, HostEvent, HostEventKind, SwapError
from gridedge.home.gateway.functions.loader import LoadError, load_factory
from gridedge.home.gateway.functions.package import FunctionPackage, RollbackOrder
from gridedge.home.gateway.functions.status import StatusKind, UpdateStatus, encode_status
from gridedge.home.gateway.functions.store import PackageStore, StoredPackage
from gridedge.home.gateway.functions.topics import group_update_topic, status_topic, update_topic
from gridedge.home.gateway.functions.verify import UpdateRejected, UpdateVerifier, VerifiedRequest, admit

__all__ = ["UpdateManager"]

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_WAITING = 32
"""Update messages waiting to be handled; more are dropped (and counted): a flood on the update
topic must not grow memory, and a real operator sends one package at a time."""


class _Db(Protocol):
    async def __call__(self, fn: Callable[[], T]) -> T: ...


class UpdateManager:
    def __init__(
        self, host: FunctionHost, verifier: UpdateVerifier, store: PackageStore, *, link: RawLink,
        sealer: Sealer, clock: Clock, db: _Db, groups: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.host = host
        self.verifier = verifier
        self.store = store
        self.link = link
        self.clock = clock
        self.meter_id = host.context.meter_id
        self.groups = groups
        self._sealer = sealer
        self._db = db
        self._inbox: asyncio.Queue[bytes | HostEvent] = asyncio.Queue()
        self._waiting = 0
        self._outbox: asyncio.Queue[UpdateStatus] = asyncio.Queue()
        self._pending: dict[int, VerifiedRequest] = {}
        self._failed = store.failed()
        self.dropped = 0
        self.statuses: deque[UpdateStatus] = deque(maxlen=100)
        """The latest answers, newest last (for the status line and tests)."""

    # ---- inputs

    def subscribe(self) -> list[RawSubscription]:
        topics = [update_topic(self.meter_id), *(group_update_topic(g) for g in self.groups)]
        return [self.link.subscribe(t, self._on_message) for t in topics]

    def _on_message(self, topic: str, data: bytes) -> None:
        if self._waiting >= MAX_WAITING:
            self.dropped += 1
            return
        self._waiting += 1
        self._inbox.put_nowait(data)

    def on_host_event(self, event: HostEvent) -> None:
        """The host's listener (synchronous: called between readings)."""
        self._inbox.put_nowait(event)

    # ---- running

    async def run(self) -> None:
        sender = asyncio.ensure_future(self._send_statuses())
        try:
            while True:
                item = await self._inbox.get()
                if isinstance(item, bytes):
                    self._waiting -= 1
                    await self._handle(item)
                else:
                    await self._record(item)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _handle(self, data: bytes) -> None:
        try:
            vr = self.verifier.verify(data, self.clock.now())
        except UpdateRejected as exc:
            self._reject(exc)
            return
        await self._db(functools.partial(self.store.save_replay_state, self.verifier.replay_state()))
        try:
            admit(vr, self.host.installed(), self._failed, self.host.context.core_version)
        except UpdateRejected as exc:
            self._reject(exc)
            return
        req = vr.request
        self._answer(StatusKind.ACCEPTED, req.name, req.version, request=vr.sequence)
        if isinstance(req, RollbackOrder):
            self.host.rollback(req.name, req.reason or "rollback ordered", to_version=req.version)
            return
        why = self._install(vr, req)
        if why is not None:
            self._failed.add((req.name, req.version))
            now = self.clock.now()
            await self._db(functools.partial(
                self.store.record_failed, req.name, req.version, vr.audience, vr.message, why, now
            ))  # fmt: skip
            self._reject(UpdateRejected(why.split(":")[0], why, name=req.name, version=req.version,
                                        sequence=vr.sequence))  # fmt: skip

    def _install(self, vr: VerifiedRequest, package: FunctionPackage) -> str | None:
        """Load, self-test and swap in; the reason it did not happen, or None."""
        try:
            _, factory = load_factory(package, vr.sequence)
        except LoadError as exc:
            return f"load-failed: {exc}"
        release = Release(Origin(package.name, package.version, builtin=False, sequence=vr.sequence), factory)
        why = self.host.self_test(package.name, release)
        if why is not None:
            return f"self-test-failed: {why}"
        self._pending[vr.sequence] = vr
        try:
            self.host.swap(package.name, release, self.clock.monotonic())
        except SwapError as exc:
            self._pending.pop(vr.sequence, None)
            return f"take-over-failed: {exc}"
        return None

    async def _record(self, event: HostEvent) -> None:
        now = self.clock.now()
        if event.kind is HostEventKind.INSTALLED:
            vr = self._pending.pop(event.sequence or 0, None)
            if vr is not None:
                await self._db(functools.partial(
                    self.store.install, event.name, event.version, vr.audience, vr.message, now
                ))  # fmt: skip
            self._answer(
                StatusKind.INSTALLED, event.name, event.version, event.replaced, request=event.sequence
            )
        elif event.kind is HostEventKind.ROLLED_BACK:
            if event.automatic:
                self._failed.add((event.name, event.replaced))
            await self._db(functools.partial(
                self.store.roll_back, event.name, event.version, failed=event.automatic, reason=event.reason,
                now=now,
            ))  # fmt: skip
            self._answer(StatusKind.ROLLED_BACK, event.name, event.version, event.replaced, event.reason)
        else:
            self._answer(
                StatusKind.COMMITTED, event.name, event.version, event.replaced, request=event.sequence
            )

    # ---- answers

    def _reject(self, exc: UpdateRejected) -> None:
        log.warning("gateway %s: update rejected: %s", self.meter_id, exc)
        self._answer(StatusKind.REJECTED, exc.name, exc.version, reason=str(exc)[:500], request=exc.sequence)

    def _answer(self, state: StatusKind, name: str, version: str, replaced: str = "", reason: str = "",
                request: int | None = None) -> None:  # fmt: skip
        status = UpdateStatus(
            self.meter_id, state, name, version, replaced, reason, request, self.clock.now()
        )
        self.statuses.append(status)
        self._outbox.put_nowait(status)

    async def _send_statuses(self) -> None:
        """Answers go out in order; while the link is down they wait (in memory: an answer lost to
        a restart is re-derived by the grid from the next status or the installed versions)."""
        topic = status_topic(self.meter_id)
        while True:
            status = await self._outbox.get()
            data = self._sealer.seal(encode_status(status))
            while True:
                try:
                    await self.link.publish(topic, data)
                    break
                except LinkDown:
                    await self.link.wait_up()

    # ---- start-up

    def reload(self) -> None:
        """Run what the store says is installed, each re-verified and self-tested (synchronous:
        called once before the service runs)."""
        rows = self.store.rows()
        for name in self.host.versions():
            active = [r for r in rows if r.name == name and r.role == "active"]
            previous = [r for r in rows if r.name == name and r.role == "previous"]
            if not active:
                continue
            revived = self._revive(previous[0]) if previous else None
            prev = revived if isinstance(revived, Release) else None
            release = self._revive(active[0])
            why = release if isinstance(release, str) else self.host.self_test(name, release)
            if isinstance(release, Release) and why is None:
                self.host.adopt(name, release, prev or self.host.builtins[name])
                log.info("gateway %s: function %s %s reloaded", self.meter_id, name, release.version)
                continue
            target = prev or self.host.builtins[name]
            reason = f"reload of {active[0].version} failed: {why}"
            log.error("gateway %s: function %s: %s; running %s", self.meter_id, name, reason, target.version)
            self.store.roll_back(name, target.version, failed=True, reason=reason, now=self.clock.now())
            self._failed.add((name, active[0].version))
            self.host.adopt(name, target, self.host.builtins[name])
            self._answer(StatusKind.ROLLED_BACK, name, target.version, active[0].version, reason)

    def _revive(self, row: StoredPackage) -> Release | str:
        """The stored version, verified and loaded again; or why it cannot be."""
        now = self.clock.now()
        try:
            vr = self.verifier.reverify(row.message, row.audience, now)
            pkg = vr.request
            if not isinstance(pkg, FunctionPackage) or (pkg.name, pkg.version) != (row.name, row.version):
                raise UpdateRejected(
                    "bad-package", f"stored row {row.name} {row.version} holds something else"
                )
            _, factory = load_factory(pkg, vr.sequence)
        except (UpdateRejected, LoadError) as exc:
            log.error("gateway %s: stored function %s %s: %s", self.meter_id, row.name, row.version, exc)
            if row.role != "active":
                self.store.demote(row.name, row.version, f"reload: {exc}", now)
            return str(exc)
        return Release(Origin(pkg.name, pkg.version, builtin=False, sequence=vr.sequence), factory)
