"""How a function's health is judged, in the self-test and after a swap.

A call is healthy when it returns, within `call_budget_s`, a list of well-formed records of its
slot for this meter (`api.check_records`). A function fails at once on an exception or a wrong
record; it fails on time when `max_slow_calls` of its last `slow_window` calls overran the budget
(one overrun may be the garbage collector or a busy device, a pattern is the function); it fails
by silence when, during its probation, the version it replaced (still running beside it as a
shadow) produced records on `silent_cycles` consecutive calls and it produced none.

The time is measured with a real timer (`time.perf_counter` unless injected), not the gateway's
`Clock`: this is how long the function kept the event loop, which simulated time cannot see. A
call that never returns cannot be interrupted - see docs/function-updates.md, "What this does not
protect against".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gridedge.home.gateway.functions.api import SlotSpec, check_records
from gridedge.model.telemetry import TelemetryRecord

__all__ = ["CallResult", "HealthPolicy", "SlowCalls", "guarded_call"]

Timer = Callable[[], float]


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    call_budget_s: float = 0.05
    """One call's budget: a reading a second leaves the loop plenty, 50 ms is already generous."""
    max_slow_calls: int = 3
    slow_window: int = 100
    silent_cycles: int = 3
    probation_s: float = 3600.0
    """How long the replaced version runs beside the new one (its output kept aside), so a failure
    rolls back to a version that is up to date, losing nothing."""
    selftest_budget_s: float = 5.0
    """The whole self-test (candidate and reference over the recording)."""
    recording: int = 1000
    """Recent readings kept for the self-test (1000 s at one a second: a quarter closes in it)."""
    min_recording: int = 120
    """Fewer recorded readings than this (a fresh start): the self-test uses a synthetic recording."""

    def __post_init__(self) -> None:
        if self.call_budget_s <= 0 or self.selftest_budget_s <= 0 or self.probation_s < 0:
            raise ValueError("budgets must be > 0 and probation_s >= 0")
        if not 1 <= self.max_slow_calls <= self.slow_window or self.silent_cycles < 1:
            raise ValueError("need 1 <= max_slow_calls <= slow_window and silent_cycles >= 1")


@dataclass(frozen=True, slots=True)
class CallResult:
    records: list[TelemetryRecord]
    """Empty when the call failed: a call that went wrong half-way is not half-trusted."""
    elapsed_s: float
    error: str | None
    """Why the call failed outright (an exception, a wrong record), else None."""


def guarded_call(call: Callable[[], object], spec: SlotSpec, meter_id: str, timer: Timer) -> CallResult:
    """Run one call of a function and judge what came back."""
    t0 = timer()
    try:
        out = call()
    except Exception as exc:
        return CallResult([], timer() - t0, f"raised {exc!r}"[:300])
    elapsed = timer() - t0
    records, problem = check_records(out, spec, meter_id)
    return CallResult([] if problem else records, elapsed, problem)


@dataclass(slots=True)
class SlowCalls:
    """Overruns among the last `window` calls."""

    policy: HealthPolicy
    _calls: deque[bool] = field(default_factory=deque)
    _slow: int = 0

    def note(self, elapsed_s: float) -> str | None:
        """Record a call; the reason to fail if there are now too many overruns."""
        slow = elapsed_s > self.policy.call_budget_s
        self._calls.append(slow)
        self._slow += slow
        if len(self._calls) > self.policy.slow_window:
            self._slow -= self._calls.popleft()
        if self._slow >= self.policy.max_slow_calls:
            return (
                f"{self._slow} of the last {len(self._calls)} calls took longer than "
                f"{self.policy.call_budget_s * 1000:g} ms (the last {elapsed_s * 1000:.1f} ms)"
            )
        return None
