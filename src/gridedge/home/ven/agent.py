"""The home's VEN at work: register, follow the programs' events, hand prices and limits to the
energy manager, report back.

* `start` registers the VEN (schema `ven`, unique `venName`) and finds the programs to follow by
  name (all of them when none are named).
* `poll_once` reads the events of those programs (conditional GETs, see `client.py`) and, when
  anything changed, turns them into `GridSignals` (`signals.py`) for `on_signals`.
* `subscribe` asks the VTN to notify a local webhook (`callback.py`) of event and program
  changes; `on_notification` applies a notified event at once, without waiting for the next poll.
  Polling keeps running as the safety net (a missed notification is caught at the next poll).
* `report` posts a report (e.g. `usage_report` of the meter's quarter-hour energy).

Time and waiting come from the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence

from gridedge.bus.document_security import DocumentVerifier
from gridedge.clock import Clock
from gridedge.home.ven.client import OpenAdrError, VenClient
from gridedge.home.ven.signals import GridSignals, signals_from_events
from gridedge.model.openadr import (
    Event,
    Notification,
    NotificationOperation,
    ObjectOperation,
    ObjectType,
    Operation,
    Program,
    Report,
    Subscription,
    ValuesMap,
    Ven,
    signed_content,
)

__all__ = ["VenAgent"]

log = logging.getLogger(__name__)

SignalsHandler = Callable[[GridSignals], Awaitable[None] | None]


class VenAgent:
    """One VEN following some programs of one VTN."""

    def __init__(
        self,
        client: VenClient,
        clock: Clock,
        *,
        ven_name: str,
        programs: Sequence[str] | None = None,
        groups: Sequence[str] = (),
        poll_interval_s: float = 60.0,
        on_signals: SignalsHandler | None = None,
        verifier: DocumentVerifier | None = None,
    ) -> None:
        """`verifier`: use only events the service provider signed (`gridedgeSignature`, checked
        against its key ring; bus.document_security); without it every event is taken as is."""
        if poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s: expected seconds > 0, found {poll_interval_s}")
        self.client = client
        self.clock = clock
        self.ven_name = ven_name
        self.program_names = tuple(programs) if programs is not None else None
        self.groups = tuple(groups)
        self.poll_interval_s = poll_interval_s
        self.on_signals = on_signals
        self.verifier = verifier
        self.untrusted: dict[str, str] = {}
        """Event id -> why it was not used (its signature did not check out)."""
        self.ven: Ven | None = None
        self.programs: dict[str, Program] = {}
        self.events: dict[str, Event] = {}
        self.signals: GridSignals | None = None
        self.subscriptions: list[str] = []

    async def start(self) -> Ven:
        """Register this VEN and find the programs to follow."""
        targets = [ValuesMap(type="GROUP", values=list(self.groups))] if self.groups else None
        self.ven = await self.client.register(Ven(ven_name=self.ven_name, targets=targets))
        await self._load_programs()
        return self.ven

    async def _load_programs(self) -> None:
        found = await self.client.programs()
        wanted = set(self.program_names) if self.program_names is not None else None
        self.programs = {p.id: p for p in found if p.id and (wanted is None or p.program_name in wanted)}
        if wanted is not None:
            missing = wanted - {p.program_name for p in self.programs.values()}
            if missing:
                log.warning("programs not (yet) on the VTN: %s", sorted(missing))

    async def poll_once(self) -> GridSignals | None:
        """Read the events of the followed programs; new `GridSignals` when something changed."""
        if self.program_names is not None and len(self.programs) < len(self.program_names):
            await self._load_programs()
        changed = False
        seen: dict[str, Event] = {}
        for pid in self.programs:
            events, ch = await self.client.events(pid)
            changed = changed or ch
            seen.update({e.id: e for e in events if e.id})
        if not changed and seen.keys() == self.events.keys():
            return None
        self.events = seen
        return await self._emit()

    def _trusted(self) -> list[Event]:
        if self.verifier is None:
            return list(self.events.values())
        now = self.clock.now()
        out = []
        self.untrusted = {}
        for e in self.events.values():
            why = self.verifier.check(e.id or "", signed_content(e), e.gridedge_signature, now)
            if why is None:
                out.append(e)
            else:
                self.untrusted[e.id or "?"] = why
                log.warning("OpenADR event %s (%s) not used: %s", e.id, e.event_name, why)
        return out

    async def _emit(self) -> GridSignals:
        self.signals = signals_from_events(
            self._trusted(), self.programs, ven_name=self.ven_name, groups=self.groups
        )
        for p in self.signals.problems:
            log.warning("OpenADR event not used: %s", p)
        if self.on_signals is not None:
            result = self.on_signals(self.signals)
            if inspect.isawaitable(result):
                await result
        return self.signals

    async def on_notification(self, note: Notification) -> None:
        """Apply a notified event (or program) change at once."""
        obj = note.object
        if isinstance(obj, Event) and obj.id and obj.program_id in self.programs:
            if note.operation is NotificationOperation.DELETE:
                self.events.pop(obj.id, None)
            else:
                self.events[obj.id] = obj
            await self._emit()
        elif isinstance(obj, Program):
            await self._load_programs()

    async def subscribe(self, callback_url: str, bearer_token: str | None = None) -> list[str]:
        """Subscribe the webhook to event (and program) changes of every followed program."""
        for pid in self.programs:
            sub = Subscription(
                client_name=self.ven_name,
                program_id=pid,
                object_operations=[
                    ObjectOperation(
                        objects=[ObjectType.EVENT, ObjectType.PROGRAM],
                        operations=[Operation.CREATE, Operation.UPDATE, Operation.DELETE],
                        callback_url=callback_url,
                        bearer_token=bearer_token,
                    )
                ],
            )
            made = await self.client.create_subscription(sub)
            if made.id:
                self.subscriptions.append(made.id)
        return list(self.subscriptions)

    async def unsubscribe(self) -> None:
        for sid in self.subscriptions:
            with contextlib.suppress(OpenAdrError):
                await self.client.delete(f"/subscriptions/{sid}")
        self.subscriptions.clear()

    async def report(self, report: Report) -> Report:
        return await self.client.create_report(report)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every `poll_interval_s` until `stop` is set; a failed poll is logged and retried."""
        if self.ven is None:
            await self.start()
        while not stop.is_set():
            try:
                await self.poll_once()
            except (OpenAdrError, OSError) as exc:
                log.warning("OpenADR poll failed: %s", exc)
            except Exception as exc:  # httpx transport errors and the like: keep polling
                log.warning("OpenADR poll failed: %r", exc)
            sleeper = asyncio.ensure_future(self.clock.sleep(self.poll_interval_s))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
            for f in (sleeper, stopper):
                f.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await f
