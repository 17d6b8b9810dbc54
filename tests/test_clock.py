"""Tests for gridedge.clock: SimClock ordering and exactness, auto-advance, RealClock, back-off."""

from __future__ import annotations

import asyncio
import functools
import random
from datetime import UTC, datetime, timedelta, timezone
from itertools import islice

import pytest

from gridedge.clock import Clock, RealClock, SimClock, TimerHandle, backoff_delays

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SimClock(), Clock)
    assert isinstance(RealClock(), Clock)


def test_sim_clock_starts_at_given_time_in_utc() -> None:
    clock = SimClock()
    assert clock.now() == START
    assert clock.monotonic() == 0.0
    brussels = timezone(timedelta(hours=1))
    clock = SimClock(datetime(2024, 6, 1, 12, 0, tzinfo=brussels))
    assert clock.now() == datetime(2024, 6, 1, 11, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)


def test_sim_clock_rejects_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2024, 1, 1))


def test_timers_fire_in_deadline_order_at_their_deadline() -> None:
    clock = SimClock()
    fired: list[tuple[str, float]] = []

    def mark(name: str) -> None:
        fired.append((name, clock.monotonic()))

    async def main() -> None:
        clock.call_later(3, lambda: mark("c"))
        clock.call_later(1, lambda: mark("a"))
        clock.call_at(2.5, lambda: mark("b"))
        await clock.advance(10)

    asyncio.run(main())
    assert fired == [("a", 1.0), ("b", 2.5), ("c", 3.0)]
    assert clock.monotonic() == 10.0
    assert clock.now() == START + timedelta(seconds=10)


def test_ties_fire_in_scheduling_order() -> None:
    clock = SimClock()
    fired: list[int] = []

    async def main() -> None:
        for i in range(5):
            clock.call_later(2, functools.partial(fired.append, i))
        clock.call_at(2.0, lambda: fired.append(5))
        clock.call_later(1, lambda: clock.call_later(1, lambda: fired.append(6)))
        await clock.advance(2)

    asyncio.run(main())
    assert fired == [0, 1, 2, 3, 4, 5, 6]


def test_cancelled_timer_does_not_fire() -> None:
    clock = SimClock()
    fired: list[str] = []

    async def main() -> None:
        keep = clock.call_later(1, lambda: fired.append("keep"))
        drop = clock.call_later(1, lambda: fired.append("drop"))
        assert isinstance(drop, TimerHandle)
        assert clock.pending == 2
        drop.cancel()
        drop.cancel()  # idempotent
        assert drop.cancelled and not keep.cancelled
        assert clock.pending == 1
        await clock.advance(5)

    asyncio.run(main())
    assert fired == ["keep"]
    assert clock.pending == 0
    assert clock.next_deadline() is None


def test_timer_can_cancel_a_later_one_due_at_the_same_time() -> None:
    clock = SimClock()
    fired: list[str] = []

    async def main() -> None:
        def first() -> None:
            fired.append("first")
            second.cancel()

        clock.call_later(1, first)
        second = clock.call_later(1, lambda: fired.append("second"))
        await clock.advance(1)

    asyncio.run(main())
    assert fired == ["first"]


def test_sleep_wakes_exactly_at_deadline() -> None:
    clock = SimClock()
    woke_at: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(5)
        woke_at.append(clock.monotonic())

    async def main() -> None:
        task = asyncio.create_task(sleeper())
        await clock.advance(4.999)
        assert not task.done() and woke_at == []
        await clock.advance(0.001)
        assert task.done()

    asyncio.run(main())
    assert woke_at == [5.0]


def test_timeout_of_120_s_fires_at_120_and_not_at_119_9() -> None:
    clock = SimClock()
    fired_at: list[float] = []

    async def main() -> None:
        clock.call_later(120, lambda: fired_at.append(clock.monotonic()))
        await clock.advance(119.9)
        assert fired_at == []
        await clock.advance(0.1)
        assert fired_at == [120.0]

    asyncio.run(main())


def test_small_steps_add_up_exactly() -> None:
    # 0.1 s steps in floating point would drift; the integer-nanosecond clock must hit 120 on step 1200.
    clock = SimClock()
    fired_on_step: list[int] = []

    async def main() -> None:
        clock.call_later(120, lambda: fired_on_step.append(step))
        step = 0
        for step in range(1, 1201):  # noqa: B007  (read by the callback)
            await clock.advance(0.1)
            if fired_on_step:
                break

    asyncio.run(main())
    assert fired_on_step == [1200]
    assert clock.monotonic() == 120.0


def test_woken_coroutines_run_before_the_next_deadline() -> None:
    # A coroutine woken at t=1 hands work through a queue to a second one, which schedules a
    # timer at t=1.5; that must fire before the timer that was already waiting for t=2.
    clock = SimClock()
    log: list[tuple[str, float]] = []
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def producer() -> None:
        await clock.sleep(1)
        log.append(("producer", clock.monotonic()))
        await queue.put("job")

    async def consumer() -> None:
        job = await queue.get()
        await asyncio.sleep(0)  # a few extra hops
        await asyncio.sleep(0)
        clock.call_later(0.5, lambda: log.append((job, clock.monotonic())))

    async def main() -> None:
        clock.call_later(2, lambda: log.append(("late", clock.monotonic())))
        tasks = [asyncio.create_task(producer()), asyncio.create_task(consumer())]
        await clock.advance(3)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert log == [("producer", 1.0), ("job", 1.5), ("late", 2.0)]


def test_advance_lets_new_tasks_start_before_moving_time() -> None:
    clock = SimClock()
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(1)
            ticks.append(clock.monotonic())

    async def main() -> None:
        task = asyncio.create_task(ticker())  # not yet started when advance() is called
        await clock.advance(3)
        task.cancel()

    asyncio.run(main())
    assert ticks == [1.0, 2.0, 3.0]


def test_cancelling_a_sleeper_cancels_its_timer() -> None:
    clock = SimClock()

    async def main() -> None:
        task = asyncio.create_task(clock.sleep(10))
        await asyncio.sleep(0)
        assert clock.pending == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert clock.pending == 0

    asyncio.run(main())


def test_sleep_zero_does_not_wait_for_the_clock() -> None:
    clock = SimClock()

    async def main() -> None:
        await asyncio.wait_for(clock.sleep(0), timeout=1)
        await asyncio.wait_for(clock.sleep(-3), timeout=1)

    asyncio.run(main())
    assert clock.monotonic() == 0.0


def test_run_until_datetime_and_monotonic() -> None:
    clock = SimClock()
    seen: list[datetime] = []

    async def main() -> None:
        clock.call_later(3600, lambda: seen.append(clock.now()))
        await clock.run_until(START + timedelta(hours=2))
        assert clock.now() == START + timedelta(hours=2)
        await clock.run_until(7200.5)
        await clock.run_for(0.5)

    asyncio.run(main())
    assert seen == [START + timedelta(hours=1)]
    assert clock.monotonic() == 7201.0


def test_time_cannot_go_backwards() -> None:
    clock = SimClock()

    async def main() -> None:
        await clock.advance(10)
        with pytest.raises(ValueError, match="backwards"):
            await clock.advance(-1)
        with pytest.raises(ValueError, match="backwards"):
            await clock.run_until(5.0)
        with pytest.raises(ValueError, match="backwards"):
            await clock.run_until(START)
        with pytest.raises(ValueError, match="timezone-aware"):
            await clock.run_until(datetime(2025, 1, 1))

    asyncio.run(main())
    assert clock.monotonic() == 10.0


def test_past_deadline_fires_at_current_time() -> None:
    clock = SimClock()
    fired_at: list[float] = []

    async def main() -> None:
        await clock.advance(10)
        clock.call_at(3.0, lambda: fired_at.append(clock.monotonic()))
        clock.call_later(-5, lambda: fired_at.append(clock.monotonic()))
        await clock.advance(0)

    asyncio.run(main())
    assert fired_at == [10.0, 10.0]


def test_callback_exception_propagates_from_advance() -> None:
    clock = SimClock()
    fired: list[float] = []

    def boom() -> None:
        raise RuntimeError("boom")

    async def main() -> None:
        clock.call_later(2, boom)
        clock.call_later(3, lambda: fired.append(clock.monotonic()))
        with pytest.raises(RuntimeError, match="boom"):
            await clock.advance(5)
        assert clock.monotonic() == 2.0
        await clock.advance(3)  # the clock is still usable; the later timer is still queued

    asyncio.run(main())
    assert fired == [3.0]


def test_nested_advance_is_refused() -> None:
    clock = SimClock()

    async def main() -> None:
        async def other() -> None:
            await clock.advance(1)

        clock.call_later(1, lambda: None)
        first = asyncio.create_task(clock.advance(5))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already being moved"):
            await other()
        await first

    asyncio.run(main())


def test_simulated_day_of_one_second_sleeps() -> None:
    clock = SimClock()
    count = 0

    async def meter() -> float:
        nonlocal count
        while clock.now() < START + timedelta(days=1):
            await clock.sleep(1)
            count += 1
        return clock.monotonic()

    assert clock.run(meter()) == 86_400.0
    assert count == 86_400
    assert clock.now() == START + timedelta(days=1)


def test_auto_advance_reconnect_backoff() -> None:
    clock = SimClock()
    attempts: list[float] = []

    async def connect() -> bool:
        attempts.append(clock.monotonic())
        return len(attempts) == 6

    async def reconnect_loop() -> int:
        for delay in backoff_delays(1, 2, 8):
            if await connect():
                return len(attempts)
            await clock.sleep(delay)
        raise AssertionError("unreachable")

    assert clock.run(reconnect_loop()) == 6
    assert attempts == [0.0, 1.0, 3.0, 7.0, 15.0, 23.0]


def test_auto_advance_failsafe_after_120_s_without_heartbeat() -> None:
    # Heartbeats every 60 s for 5 minutes, then they stop: failsafe exactly 120 s after the last one.
    clock = SimClock()
    failsafe_at: list[float] = []

    async def main() -> None:
        timer: TimerHandle | None = None
        tripped = asyncio.Event()

        def trip() -> None:
            failsafe_at.append(clock.monotonic())
            tripped.set()

        def arm() -> None:
            nonlocal timer
            if timer is not None:
                timer.cancel()
            timer = clock.call_later(120, trip)

        arm()
        for _ in range(5):
            await clock.sleep(60)
            arm()
        await tripped.wait()

    clock.run(main())
    assert failsafe_at == [420.0]


def test_auto_advance_with_concurrent_tasks_is_deterministic() -> None:
    def scenario() -> list[tuple[str, float]]:
        clock = SimClock()
        log: list[tuple[str, float]] = []

        async def worker(name: str, period: float, n: int) -> None:
            for _ in range(n):
                await clock.sleep(period)
                log.append((name, clock.monotonic()))

        async def main() -> None:
            await asyncio.gather(worker("a", 1.5, 4), worker("b", 1.0, 6), worker("c", 3.0, 2))

        clock.run(main())
        return log

    first = scenario()
    assert first == scenario()
    # At t=3 three sleepers tie; they wake in the order they went to sleep (c at 0, a at 1.5, b at 2).
    assert first[:6] == [("b", 1.0), ("a", 1.5), ("b", 2.0), ("c", 3.0), ("a", 3.0), ("b", 3.0)]
    times = [t for _, t in first]
    assert times == sorted(times)


def test_auto_advance_waits_for_non_clock_events() -> None:
    # The task first waits on something the clock cannot see (a real loop timer); only then
    # does it sleep on the clock. Auto-advance must not give up or spin meanwhile.
    clock = SimClock()

    async def main() -> float:
        ready = asyncio.Event()
        asyncio.get_running_loop().call_later(0.01, ready.set)
        await ready.wait()
        await clock.sleep(30)
        return clock.monotonic()

    assert clock.run(main()) == 30.0


def test_auto_advance_propagates_exceptions() -> None:
    clock = SimClock()

    async def failing() -> None:
        await clock.sleep(5)
        raise KeyError("from main")

    with pytest.raises(KeyError, match="from main"):
        clock.run(failing())
    assert clock.monotonic() == 5.0

    clock = SimClock()
    cancelled = False

    async def victim() -> None:
        nonlocal cancelled
        try:
            await clock.sleep(100)
        except asyncio.CancelledError:
            cancelled = True
            raise

    def boom() -> None:
        raise RuntimeError("timer failed")

    async def main() -> None:
        clock.call_later(1, boom)
        await clock.run_auto(victim())

    with pytest.raises(RuntimeError, match="timer failed"):
        asyncio.run(main())
    assert cancelled


def test_real_clock_basics() -> None:
    clock = RealClock()
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs((now - datetime.now(UTC)).total_seconds()) < 5

    async def main() -> list[str]:
        fired: list[str] = []
        done = asyncio.Event()
        t0 = clock.monotonic()
        clock.call_later(0.01, lambda: fired.append("later"))
        handle = clock.call_later(0.01, lambda: fired.append("cancelled"))
        handle.cancel()
        assert handle.cancelled

        def at_fired() -> None:
            fired.append("at")
            done.set()

        at = clock.call_at(t0 + 0.02, at_fired)
        assert at.when == pytest.approx(t0 + 0.02)
        await asyncio.wait_for(done.wait(), timeout=5)
        await clock.sleep(0.001)
        assert clock.monotonic() - t0 >= 0.015
        return fired

    assert asyncio.run(main()) == ["later", "at"]


def test_backoff_sequence() -> None:
    assert list(islice(backoff_delays(1, 2, 8), 7)) == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert list(islice(backoff_delays(0.5, 3, 10), 5)) == [0.5, 1.5, 4.5, 10.0, 10.0]
    assert list(islice(backoff_delays(5, 1, 5), 3)) == [5.0, 5.0, 5.0]


def test_backoff_jitter_is_bounded_and_reproducible() -> None:
    a = list(islice(backoff_delays(1, 2, 60, jitter=0.5, rng=random.Random(42)), 20))
    b = list(islice(backoff_delays(1, 2, 60, jitter=0.5, rng=random.Random(42)), 20))
    nominal = list(islice(backoff_delays(1, 2, 60), 20))
    assert a == b
    assert a != nominal
    for got, nom in zip(a, nominal, strict=True):
        assert nom * 0.5 <= got <= nom


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0, "factor": 2, "maximum": 8}, "initial"),
        ({"initial": 1, "factor": 0.5, "maximum": 8}, "factor"),
        ({"initial": 10, "factor": 2, "maximum": 8}, "maximum"),
        ({"initial": 1, "factor": 2, "maximum": 8, "jitter": 1.5}, "jitter"),
    ],
)
def test_backoff_rejects_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next(backoff_delays(**kwargs))  # type: ignore[arg-type]
