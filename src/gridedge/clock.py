"""Injected time: the `Clock` protocol, `RealClock`, the discrete-event `SimClock`, and back-off.

Decision logic never reads the system clock or calls `asyncio.sleep()` itself; it is handed a
`Clock`. In production that is a `RealClock`. In tests and in the simulator it is a `SimClock`,
whose time only moves when the test (or the auto-advance driver) moves it, so a 120 s failsafe or
a simulated day of 1 s meter telegrams runs in milliseconds and always in the same order.

Time has two faces, as in the standard library:

* `now()` is the wall clock, a timezone-aware UTC `datetime`, used for timestamps and tariffs.
* `monotonic()` is seconds on a clock that never jumps backwards, used for timeouts and timers.

This module imports nothing from the rest of gridedge.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = [
    "Clock",
    "RealClock",
    "SimClock",
    "TimerHandle",
    "backoff_delays",
]

T = TypeVar("T")

_NS_PER_S = 1_000_000_000
_DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


@runtime_checkable
class TimerHandle(Protocol):
    """A scheduled callback that can still be cancelled.

    `when` is the deadline on the clock's `monotonic()` scale.
    """

    @property
    def when(self) -> float: ...

    @property
    def cancelled(self) -> bool: ...

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """The only source of time for gridedge code.

    Timers and sleeps belong to the asyncio event loop the caller runs in; callbacks run on that
    loop's thread, never concurrently with other loop code.
    """

    def now(self) -> datetime:
        """Current wall-clock time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences are meaningful."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling coroutine for `seconds` (<= 0: just yield to the loop once)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run `callback()` once, `delay` seconds from now (negative counts as 0)."""
        ...

    def call_at(self, when_monotonic: float, callback: Callable[[], object]) -> TimerHandle:
        """Run `callback()` once when `monotonic()` reaches `when_monotonic` (a past value: soon)."""
        ...


# --------------------------------------------------------------------------- real time


class _LoopTimer:
    """`TimerHandle` over an asyncio handle; asyncio's own `cancelled()` is a method, ours a property."""

    __slots__ = ("_handle", "_when")

    def __init__(self, handle: asyncio.TimerHandle, when: float) -> None:
        self._handle = handle
        self._when = when

    @property
    def when(self) -> float:
        return self._when

    @property
    def cancelled(self) -> bool:
        return self._handle.cancelled()

    def cancel(self) -> None:
        self._handle.cancel()

    def __repr__(self) -> str:
        return f"<_LoopTimer when={self._when:.6f} cancelled={self.cancelled}>"


class RealClock:
    """Production clock: system UTC time, `time.monotonic()`, and the running asyncio loop's timers.

    `call_at` takes a `time.monotonic()` deadline and converts it to a delay, because the loop's
    own time base (`loop.time()`) is not guaranteed to be `time.monotonic()` (e.g. uvloop).
    Timer methods must be called from inside the running loop.
    """

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        delay = max(0.0, delay)
        when = time.monotonic() + delay
        handle = asyncio.get_running_loop().call_later(delay, callback)
        return _LoopTimer(handle, when)

    def call_at(self, when_monotonic: float, callback: Callable[[], object]) -> TimerHandle:
        delay = max(0.0, when_monotonic - time.monotonic())
        handle = asyncio.get_running_loop().call_later(delay, callback)
        return _LoopTimer(handle, when_monotonic)


# --------------------------------------------------------------------------- simulated time


class _SimTimer:
    """A `SimClock` timer. Cancelled timers stay in the heap and are skipped when reached."""

    __slots__ = ("_callback", "_cancelled", "_clock", "_deadline_ns")

    def __init__(self, clock: SimClock, deadline_ns: int, callback: Callable[[], object]) -> None:
        self._clock = clock
        self._deadline_ns = deadline_ns
        self._callback: Callable[[], object] | None = callback
        self._cancelled = False

    @property
    def when(self) -> float:
        return self._deadline_ns / _NS_PER_S

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            if self._callback is not None:
                self._callback = None  # drop references held by a dead timer
                self._clock._live_timers -= 1

    def __repr__(self) -> str:
        return f"<_SimTimer when={self.when:.6f} cancelled={self._cancelled}>"


class SimClock:
    """Discrete-event clock: simulated time that moves only when it is told to.

    Time is kept as integer nanoseconds since `start`, so repeated small steps (0.1 s, 1 ms) add up
    exactly and a deadline of 120 s is reached at 120 s, not at 119.99999999999.
    `monotonic()` starts at 0.0; `now()` is `start + monotonic()` at microsecond resolution.

    Timers and sleepers wait in one queue ordered by deadline, ties in scheduling order. Nothing
    fires until time is moved, in one of two ways:

    * Manually: `await advance(seconds)` / `await run_for(seconds)` / `await run_until(t)`. Before
      moving and after every fired timer, the clock yields to the event loop until it is quiescent
      (no callbacks ready), so a coroutine woken at t=5 runs, and may schedule new timers, before
      anything due at t=6 fires. Time then stops exactly at the target.
    * Automatically: `SimClock.run(coro)` (a new loop, like `asyncio.run`) or
      `await clock.run_auto(coro)` (inside a loop). Whenever the loop is quiescent the clock jumps to
      the next deadline and fires it, until `coro` finishes. When nothing is scheduled on the clock
      it waits for new timers without burning CPU (real I/O may still be in flight).

    "Quiescent" means the event loop has no ready callbacks. Work happening outside the loop (a
    thread, a real socket whose data has not arrived yet, a timer set with `loop.call_later` or
    `asyncio.timeout` instead of this clock) is not seen, so simulated time may run ahead of it:
    drive such tests manually, or use a `RealClock`.

    Exceptions raised by timer callbacks propagate out of `advance()`/`run_until()` (the clock
    stays at that timer's deadline; later timers remain queued) and abort `run()`/`run_auto()`,
    so bugs are not swallowed in tests. Not thread-safe: use it from the loop thread only.
    """

    # If some task never stops yielding (a busy `await asyncio.sleep(0)` loop), the loop is never
    # quiescent; after this many yields the clock moves on anyway.
    max_settle_yields: int = 10_000

    def __init__(self, start: datetime = _DEFAULT_START) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"SimClock start must be timezone-aware, got naive {start.isoformat()}")
        self._start = start.astimezone(UTC)
        self._now_ns = 0
        # (deadline_ns, scheduling sequence, timer): ties fire in scheduling order.
        self._heap: list[tuple[int, int, _SimTimer]] = []
        self._seq = 0
        self._live_timers = 0
        self._moving = False
        self._new_timer: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<SimClock now={self.now().isoformat()} pending={self._live_timers}>"

    # ---- Clock protocol

    @property
    def start(self) -> datetime:
        """The simulated wall time at which `monotonic()` was 0."""
        return self._start

    def now(self) -> datetime:
        return self._start + timedelta(microseconds=self._now_ns // 1000)

    def monotonic(self) -> float:
        return self._now_ns / _NS_PER_S

    async def sleep(self, seconds: float) -> None:
        """Suspend until simulated time has advanced by `seconds`.

        `seconds <= 0` yields to the loop once and returns, like `asyncio.sleep(0)`, without
        waiting for the clock to move. Cancelling the sleeping task cancels its timer.
        """
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():  # the sleeper may have been cancelled meanwhile
                fut.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await fut
        finally:
            timer.cancel()

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return self._schedule(self._now_ns + max(0, _to_ns(delay)), callback)

    def call_at(self, when_monotonic: float, callback: Callable[[], object]) -> TimerHandle:
        return self._schedule(max(self._now_ns, _to_ns(when_monotonic)), callback)

    # ---- inspection

    @property
    def pending(self) -> int:
        """Number of timers and sleepers that have not fired or been cancelled."""
        return self._live_timers

    def next_deadline(self) -> float | None:
        """`monotonic()` value of the earliest pending timer, or None if there is none."""
        top = self._peek()
        return None if top is None else top.when

    # ---- moving time by hand

    async def advance(self, seconds: float) -> None:
        """Move simulated time forward by `seconds`, firing everything due on the way.

        See the class docstring for ordering. Raises ValueError for a negative step and
        RuntimeError if time is already being moved (nested call or auto-advance running).
        """
        if seconds < 0:
            raise ValueError(f"cannot advance a clock backwards (seconds={seconds})")
        await self._run_until_ns(self._now_ns + _to_ns(seconds))

    async def run_for(self, seconds: float) -> None:
        """Same as `advance(seconds)`; reads better in scenario code."""
        await self.advance(seconds)

    async def run_until(self, when: datetime | float) -> None:
        """Move simulated time to `when`: an aware `datetime`, or a `monotonic()` value in seconds.

        Raises ValueError if `when` is in the simulated past.
        """
        if isinstance(when, datetime):
            if when.tzinfo is None or when.utcoffset() is None:
                raise ValueError(f"run_until needs a timezone-aware datetime, got {when.isoformat()}")
            target_ns = ((when - self._start) // timedelta(microseconds=1)) * 1000
        else:
            target_ns = _to_ns(when)
        if target_ns < self._now_ns:
            raise ValueError(
                f"cannot run a clock backwards: target {target_ns / _NS_PER_S:.9f} s "
                f"is before now {self.monotonic():.9f} s"
            )
        await self._run_until_ns(target_ns)

    # ---- moving time automatically

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run `main` in a fresh event loop with auto-advance, like `asyncio.run(main)`."""
        return asyncio.run(self.run_auto(main))

    async def run_auto(self, main: Awaitable[T]) -> T:
        """Await `main` in the running loop while jumping time to each deadline as soon as idle.

        Returns `main`'s result or raises its exception. If a timer callback raises, `main` is
        cancelled and the callback's exception is raised.
        """
        task = asyncio.ensure_future(main)
        self._begin_moving()
        try:
            while not task.done():
                await self._settle()
                if task.done():
                    break
                if not self._fire_next():
                    # Nothing on the clock: the task waits on something else. Sleep (really)
                    # until it finishes or someone schedules a timer, then look again.
                    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    self._new_timer = waiter
                    watched: list[asyncio.Future[Any]] = [task, waiter]
                    await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                    self._new_timer = None
        except BaseException:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        finally:
            self._new_timer = None
            self._moving = False
        return task.result()

    # ---- internals

    def _schedule(self, deadline_ns: int, callback: Callable[[], object]) -> TimerHandle:
        self._seq += 1
        timer = _SimTimer(self, deadline_ns, callback)
        heapq.heappush(self._heap, (deadline_ns, self._seq, timer))
        self._live_timers += 1
        waiter = self._new_timer
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return timer

    def _peek(self) -> _SimTimer | None:
        heap = self._heap
        while heap and heap[0][2]._cancelled:
            heapq.heappop(heap)
        return heap[0][2] if heap else None

    def _fire_next(self, limit_ns: int | None = None) -> bool:
        """Fire the earliest pending timer if it is due by `limit_ns`; False if there was none."""
        top = self._peek()
        if top is None or (limit_ns is not None and top._deadline_ns > limit_ns):
            return False
        heapq.heappop(self._heap)
        callback = top._callback
        top._callback = None
        self._live_timers -= 1
        if top._deadline_ns > self._now_ns:
            self._now_ns = top._deadline_ns
        assert callback is not None
        callback()
        return True

    def _begin_moving(self) -> None:
        if self._moving:
            raise RuntimeError("SimClock time is already being moved (nested advance or auto-advance)")
        self._moving = True

    async def _run_until_ns(self, target_ns: int) -> None:
        self._begin_moving()
        try:
            await self._settle()
            while self._fire_next(target_ns):
                await self._settle()
            self._now_ns = max(self._now_ns, target_ns)
        finally:
            self._moving = False

    async def _settle(self) -> None:
        """Yield to the loop until no other callback is ready to run.

        CPython's loops keep ready callbacks in `_ready`; where that is missing (another loop
        implementation) a fixed number of yields is used, which covers short wake-up chains.
        """
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)
        if ready is None:
            for _ in range(64):
                await asyncio.sleep(0)
            return
        for _ in range(self.max_settle_yields):
            await asyncio.sleep(0)
            if not ready:
                return


def _to_ns(seconds: float) -> int:
    return round(seconds * _NS_PER_S)


# --------------------------------------------------------------------------- back-off


def backoff_delays(
    initial: float,
    factor: float,
    maximum: float,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Endless exponential back-off delays: initial, initial*factor, ... capped at `maximum`.

    Reconnecting readers (P1 over TCP, MQTT) sleep each value on their `Clock` between attempts
    and start a fresh generator after a successful connection. With `jitter` j in [0, 1] each delay
    is scaled by a factor drawn uniformly from [1 - j, 1], which spreads a crowd of clients that
    lost the same broker at once while never exceeding the nominal delay (so `maximum` holds).
    Deterministic when `jitter == 0` or `rng` is a seeded `random.Random`; otherwise a private
    unseeded generator is used.

    >>> from itertools import islice
    >>> list(islice(backoff_delays(1, 2, 8), 6))
    [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    """
    if not initial > 0:
        raise ValueError(f"backoff initial delay must be > 0, got {initial}")
    if not factor >= 1:
        raise ValueError(f"backoff factor must be >= 1, got {factor}")
    if not maximum >= initial:
        raise ValueError(f"backoff maximum ({maximum}) must be >= initial delay ({initial})")
    if not 0 <= jitter <= 1:
        raise ValueError(f"backoff jitter must be within [0, 1], got {jitter}")
    if jitter and rng is None:
        rng = random.Random()
    delay = float(initial)
    while True:
        if rng is not None and jitter:
            yield delay * (1.0 - jitter * rng.random())
        else:
            yield delay
        delay = min(delay * factor, float(maximum))
