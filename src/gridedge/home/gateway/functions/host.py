"""The slots the gateway core calls, the swap between two readings, and the rollback.

`FunctionHost` is what the core sees instead of one `Monitor`: `on_reading` and `tick` return the
records of every slot, in `SLOTS` order. It is synchronous and runs on the event loop, so a
`swap` - which happens between two of its calls - is atomic with respect to readings: reading n
goes to the old version, reading n+1 to the new one, none to both or neither.

After a swap the replaced instance keeps running beside the new one for `probation_s` as a
*shadow*: it sees every reading, its records are held back. If the new version fails in that time
(`health`), the shadow becomes the running version again, and its records of the failing call
(and of the calls on which the new version was silent) go out instead: nothing is lost and
nothing is sent twice. After probation the shadow is dropped (it costs a second computation per
reading); a later failure rolls back "cold": a fresh instance of the previous version, fed the
failed one's `state()` if it accepts it.

Every install, rollback and end of probation is reported through `on_event` (the update manager
persists it and tells the grid).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gridedge.home.gateway.functions.api import SLOTS, FunctionContext, GatewayFunction, Release, SlotSpec
from gridedge.home.gateway.functions.builtin import builtin_releases
from gridedge.home.gateway.functions.health import HealthPolicy, SlowCalls, Timer, guarded_call
from gridedge.home.gateway.functions.selftest import Recording, run_self_test
from gridedge.home.gateway.functions.verify import Installed
from gridedge.model.reading import MeterReading
from gridedge.model.telemetry import TelemetryRecord

__all__ = ["FunctionHost", "HostEvent", "HostEventKind", "SwapError"]

log = logging.getLogger(__name__)


class SwapError(Exception):
    """The new version could not be created or could not take over the running one's state."""


class HostEventKind(StrEnum):
    INSTALLED = "installed"
    ROLLED_BACK = "rolled-back"
    COMMITTED = "committed"
    """Probation passed: the replaced version stops running beside the new one."""


@dataclass(frozen=True, slots=True)
class HostEvent:
    kind: HostEventKind
    name: str
    version: str
    """The version running now."""
    replaced: str
    """The version it replaced (for a rollback: the one that failed or was withdrawn)."""
    reason: str = ""
    automatic: bool = False
    sequence: int | None = None
    """The signed request of the version running now (None: built in)."""


@dataclass(slots=True)
class _Slot:
    spec: SlotSpec
    release: Release
    fn: GatewayFunction
    previous: Release | None = None
    shadow: GatewayFunction | None = None
    probation_until: float | None = None
    slow: SlowCalls = field(default_factory=lambda: SlowCalls(HealthPolicy()))
    silent: int = 0
    held: list[TelemetryRecord] = field(default_factory=list)


def _state_of(fn: GatewayFunction) -> Mapping[str, object] | None:
    get = getattr(fn, "state", None)
    return get() if callable(get) else None


def _take_over(fn: GatewayFunction, state: Mapping[str, object] | None) -> None:
    restore = getattr(fn, "restore", None)
    if state is not None and callable(restore):
        restore(state)


class FunctionHost:
    """The replaceable functions of one gateway."""

    def __init__(
        self,
        context: FunctionContext,
        *,
        policy: HealthPolicy | None = None,
        timer: Timer = time.perf_counter,
        on_event: Callable[[HostEvent], object] | None = None,
    ) -> None:
        self.context = context
        self.policy = policy or HealthPolicy()
        self._timer = timer
        self._on_event = on_event
        self.builtins = builtin_releases()
        self._slots: dict[str, _Slot] = {}
        for spec in SLOTS:
            release = self.builtins[spec.name]
            self._slots[spec.name] = _Slot(
                spec, release, release.factory(context), slow=SlowCalls(self.policy)
            )
        self._recording: deque[tuple[MeterReading, float]] = deque(maxlen=self.policy.recording)
        self.produced: dict[tuple[str, str], int] = {}
        """(slot, version) -> records that went out from it."""

    # ---- what runs

    def specs(self) -> list[SlotSpec]:
        return [s.spec for s in self._slots.values()]

    def spec(self, name: str) -> SlotSpec:
        return self._slots[name].spec

    def release(self, name: str) -> Release:
        return self._slots[name].release

    def previous(self, name: str) -> Release | None:
        return self._slots[name].previous

    def instance(self, name: str) -> GatewayFunction:
        return self._slots[name].fn

    def in_probation(self, name: str) -> bool:
        return self._slots[name].shadow is not None

    def installed(self) -> dict[str, Installed]:
        return {
            name: Installed(s.release.version, s.previous.version if s.previous else None,
                            self.builtins[name].version)
            for name, s in self._slots.items()
        }  # fmt: skip

    def versions(self) -> dict[str, str]:
        return {name: s.release.version for name, s in self._slots.items()}

    @property
    def recording(self) -> Recording:
        return list(self._recording)

    # ---- the core's calls

    def on_reading(self, reading: MeterReading, arrival: float) -> list[TelemetryRecord]:
        self._recording.append((reading, arrival))
        out: list[TelemetryRecord] = []
        for slot in self._slots.values():
            out += self._call(slot, "on_reading", (reading, arrival), arrival)
        return out

    def tick(self, now: float) -> list[TelemetryRecord]:
        out: list[TelemetryRecord] = []
        for slot in self._slots.values():
            out += self._call(slot, "tick", (now,), now)
        return out

    def _call(self, slot: _Slot, method: str, args: tuple[object, ...], now: float) -> list[TelemetryRecord]:
        if slot.probation_until is not None and now >= slot.probation_until:
            self._commit(slot)
        fn = slot.fn
        meter = self.context.meter_id
        res = guarded_call(lambda: getattr(fn, method)(*args), slot.spec, meter, self._timer)
        shadow = slot.shadow
        if shadow is not None:
            sres = guarded_call(lambda: getattr(shadow, method)(*args), slot.spec, meter, self._timer)
            if sres.error is not None:
                log.warning("function %s: the shadow %s failed (%s): dropped", slot.spec.name,
                            slot.previous.version if slot.previous else "?", sres.error)  # fmt: skip
                slot.shadow = None
                slot.held.clear()
            elif res.records:
                slot.silent = 0
                slot.held.clear()
            elif sres.records:
                slot.silent += 1
                slot.held += sres.records
        why = res.error or slot.slow.note(res.elapsed_s)
        if why is None and slot.silent >= self.policy.silent_cycles and slot.shadow is not None:
            before = slot.previous.version if slot.previous else "?"
            why = f"produced nothing on {slot.silent} calls where {before} did"
        if why is not None:
            return self._fail(slot, why)
        self._count(slot, res.records)
        return res.records

    def _count(self, slot: _Slot, records: list[TelemetryRecord]) -> None:
        if records:
            key = (slot.spec.name, slot.release.version)
            self.produced[key] = self.produced.get(key, 0) + len(records)

    # ---- changes

    def self_test(self, name: str, candidate: Release) -> str | None:
        """Run the candidate's self-test against the running version (None: passed)."""
        slot = self._slots[name]
        return run_self_test(
            candidate, slot.release, self.context, slot.spec, self.recording, self.policy, self._timer
        )

    def swap(self, name: str, release: Release, now: float) -> HostEvent:
        """Make `release` the running version of `name` now; the running one becomes the previous
        one and, for `probation_s`, the shadow. SwapError (and nothing changed) if the new version
        cannot be created or refuses the running one's state."""
        slot = self._slots[name]
        try:
            fn = release.factory(self.context)
            _take_over(fn, _state_of(slot.fn))
        except Exception as exc:
            raise SwapError(f"{name} {release.version}: {exc!r}"[:300]) from exc
        replaced, replaced_fn = slot.release, slot.fn
        slot.previous, slot.release, slot.fn = replaced, release, fn
        self._reset(slot)
        if self.policy.probation_s > 0:
            slot.shadow, slot.probation_until = replaced_fn, now + self.policy.probation_s
        else:
            slot.shadow, slot.probation_until = None, None
        return self._emit(HostEvent(HostEventKind.INSTALLED, name, release.version, replaced.version,
                                    sequence=release.origin.sequence))  # fmt: skip

    def adopt(self, name: str, release: Release, previous: Release | None) -> None:
        """At start-up: run `release` (reloaded from the store) with `previous` kept for a
        rollback. No probation: the previous version's state did not survive the restart either."""
        slot = self._slots[name]
        slot.release, slot.fn = release, release.factory(self.context)
        slot.previous = previous if not release.origin.builtin else None
        slot.shadow, slot.probation_until = None, None
        self._reset(slot)

    def rollback(self, name: str, reason: str, *, to_version: str | None = None) -> HostEvent:
        """Go back to the previous version (or `to_version`: the previous or the built-in)."""
        return self._rollback(self._slots[name], reason, automatic=False, to_version=to_version)[0]

    def _fail(self, slot: _Slot, why: str) -> list[TelemetryRecord]:
        log.error("function %s %s failed: %s: rolling back", slot.spec.name, slot.release.version, why)
        return self._rollback(slot, why, automatic=True)[1]

    def _rollback(
        self, slot: _Slot, reason: str, *, automatic: bool, to_version: str | None = None
    ) -> tuple[HostEvent, list[TelemetryRecord]]:
        builtin = self.builtins[slot.spec.name]
        target = slot.previous or builtin
        if to_version is not None and to_version != target.version:
            target = builtin
        failed = slot.release
        out: list[TelemetryRecord] = []
        fn: GatewayFunction
        if slot.shadow is not None and target is slot.previous:
            fn, out = slot.shadow, list(slot.held)  # warm: up to date, its held records go out
        else:
            cold = self._cold(slot, target)
            if cold is None:
                target, cold = builtin, builtin.factory(self.context)
            fn = cold
        slot.release, slot.fn = target, fn
        slot.previous = None if target is builtin else builtin
        slot.shadow = None
        slot.probation_until = None
        self._reset(slot)
        self._count(slot, out)
        event = HostEvent(HostEventKind.ROLLED_BACK, slot.spec.name, target.version, failed.version, reason,
                          automatic, target.origin.sequence)  # fmt: skip
        return self._emit(event), out

    def _cold(self, slot: _Slot, target: Release) -> GatewayFunction | None:
        try:
            fn = target.factory(self.context)
        except Exception:
            log.exception("function %s: cannot create %s for the rollback", slot.spec.name, target.version)
            return None
        try:
            _take_over(fn, _state_of(slot.fn))
        except Exception as exc:  # the failed version's state: not trusted, start afresh
            log.warning("function %s %s: starts afresh (%r)", slot.spec.name, target.version, exc)
            fn = target.factory(self.context)
        return fn

    def _commit(self, slot: _Slot) -> None:
        slot.shadow = None
        slot.probation_until = None
        slot.held.clear()
        slot.silent = 0
        prev = slot.previous.version if slot.previous else ""
        self._emit(HostEvent(HostEventKind.COMMITTED, slot.spec.name, slot.release.version, prev,
                             sequence=slot.release.origin.sequence))  # fmt: skip

    def _reset(self, slot: _Slot) -> None:
        slot.slow = SlowCalls(self.policy)
        slot.silent = 0
        slot.held = []

    def _emit(self, event: HostEvent) -> HostEvent:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("function host: event listener failed on %s", event)
        return event
