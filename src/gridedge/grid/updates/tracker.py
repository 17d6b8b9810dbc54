"""Follow the gateways' answers: who accepted, installed, rejected or rolled back what.

Subscribes to `gateway/+/update/status`, opens each answer with the meter's key
(`bus.telemetry.Opener`: an answer that does not open is counted as forged and ignored - a gateway
that says "installed" must be that gateway) and keeps them per meter. `wait_for` waits, on the
injected clock, until a meter has answered a request in one of the given states.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from gridedge.bus.rawlink import RawLink, RawSubscription
from gridedge.bus.security import Rejected
from gridedge.bus.telemetry import Opener
from gridedge.clock import Clock
from gridedge.grid.updates.status import FINAL, GatewayAnswer, decode_answer
from gridedge.grid.updates.topics import STATUS_FILTER

__all__ = ["StatusTracker"]


class StatusTracker:
    def __init__(self, link: RawLink, clock: Clock, keys: Callable[[str], bytes | None]) -> None:
        self.link = link
        self.clock = clock
        self._opener = Opener(keys)
        self.answers: list[GatewayAnswer] = []
        self.forged = 0
        self._changed = asyncio.Event()
        self._sub: RawSubscription | None = None

    def start(self) -> RawSubscription:
        self._sub = self.link.subscribe(STATUS_FILTER, self._on_message)
        return self._sub

    def close(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    def _on_message(self, topic: str, data: bytes) -> None:
        meter_id = topic.split("/")[1]
        try:
            answer = decode_answer(self._opener.open(data, meter_id))
        except (Rejected, ValueError):
            self.forged += 1
            return
        if answer.meter_id != meter_id:
            self.forged += 1
            return
        self.answers.append(answer)
        self._changed.set()

    def of(self, meter_id: str, request: int | None = None) -> list[GatewayAnswer]:
        return [
            a for a in self.answers if a.meter_id == meter_id and (request is None or a.request == request)
        ]

    def latest(self, meter_id: str) -> GatewayAnswer | None:
        answers = self.of(meter_id)
        return answers[-1] if answers else None

    def _match(self, meter_id: str, request: int | None, states: frozenset[str],
               name: str | None) -> GatewayAnswer | None:  # fmt: skip
        for a in self.answers:
            if a.meter_id != meter_id or a.state not in states:
                continue
            if request is not None and a.request != request and a.state != "rolled-back":
                continue
            if name is not None and a.name != name:
                continue
            return a
        return None

    async def wait_for(
        self, meter_id: str, *, request: int | None = None, states: Iterable[str] = FINAL,
        name: str | None = None, timeout_s: float = 30.0,
    ) -> GatewayAnswer:  # fmt: skip
        """The first answer of `meter_id` in `states` (about `request`, if given; a rollback answer
        names no request, so it matches by `name`). TimeoutError after `timeout_s` on the clock."""
        wanted = frozenset(states)
        deadline = self.clock.monotonic() + timeout_s
        while True:
            found = self._match(meter_id, request, wanted, name)
            if found is not None:
                return found
            left = deadline - self.clock.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {sorted(wanted)} answer from {meter_id} within {timeout_s:g} s")
            self._changed.clear()
            waiter = asyncio.ensure_future(self._changed.wait())
            sleeper = asyncio.ensure_future(self.clock.sleep(left))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (waiter, sleeper):
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
