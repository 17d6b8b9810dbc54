"""The Controllable System side of EEBus LPC (consumption) and its production twin LPP.

The CS runs five states (init, unlimited/controlled, limited, failsafe, unlimited/autonomous) and
twelve transitions, rebuilt from OpenMUC, EVerest and evcc in ../shared/notes/grid-protocols.md
§1.1; each `Transition` names its number and the requirement IDs behind it. eebus-go does not run
this machine (it only raises events), so every CS carries its own; this is ours.

Pure logic: every method takes the time `t` (seconds on a `Clock.monotonic()` scale) and first
fires every timeout due by then, at its own deadline, so the answer does not depend on how often
`tick` is called. `next_deadline()` tells a service how long it may sleep.

Where the spec leaves a choice (LPC-921/922 are MAY rules):

* Failsafe duration expiry with the heartbeat still missing: `on_failsafe_expiry="stay"` (default)
  keeps the failsafe limit, as evcc does since PR 29705 ("we never silently unlimit on prolonged
  outage"); `"autonomous"` goes unlimited (LPC-922), as EVerest and OpenMUC do.
* A heartbeat alone never leaves failsafe (LPC-TS-012, evcc PR 32492): it takes a heartbeat and a
  following limit write (LPC-916), or the heartbeat must stay up for the 120 s recovery window
  without a limit (LPC-921). The window opens with the first heartbeat in failsafe; if at its end
  the heartbeat has timed out again, communication is lost again and the CS stays in failsafe.
* Init timeout (LPC-906) goes to unlimited/autonomous after 120 s without heartbeat + limit, as
  all three reference implementations do.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from gridedge.home.cem.failsafe_store import FailsafeStore
from gridedge.model.limits import (
    FAILSAFE_DURATION_MAX_S,
    FAILSAFE_DURATION_MIN_S,
    Direction,
    FailsafeValues,
    LimitState,
    LpcState,
    PowerLimit,
    Transition,
)

__all__ = [
    "DEFAULT_FAILSAFE_CONSUMPTION_W",
    "DEFAULT_NOMINAL_MAX_W",
    "LimitConfig",
    "LimitMachine",
    "LpcState",
    "OnFailsafeExpiry",
    "Transition",
    "WriteResult",
]

DEFAULT_FAILSAFE_CONSUMPTION_W = 4200.0
"""evcc's `FailsafeConsumptionActivePowerLimit` default: the §14a 4.2 kW minimum."""
DEFAULT_NOMINAL_MAX_W = 24150.0
"""evcc's `ContractualConsumptionNominalMax` default: 3 x 35 A x 230 V."""

OnFailsafeExpiry = Literal["stay", "autonomous"]

_INIT = LpcState.INIT
_CONTROLLED = LpcState.UNLIMITED_CONTROLLED
_LIMITED = LpcState.LIMITED
_FAILSAFE = LpcState.FAILSAFE
_AUTONOMOUS = LpcState.UNLIMITED_AUTONOMOUS

# Transitions caused by an accepted limit write: (from, to) -> (number, requirement IDs with the
# use-case prefix left out). "TS-036/037": writes in init/failsafe/autonomous count only after a
# heartbeat. Same-state writes (limited -> limited with a new value) are no transition.
_WRITE_TRANSITIONS: dict[tuple[LpcState, LpcState], tuple[int, tuple[str, ...]]] = {
    (_INIT, _CONTROLLED): (1, ("913", "TS-036/037")),
    (_INIT, _LIMITED): (2, ("913", "TS-036/037")),
    (_CONTROLLED, _LIMITED): (4, ("009/1",)),
    (_LIMITED, _CONTROLLED): (6, ("TS-025/026", "009/2")),
    (_FAILSAFE, _CONTROLLED): (8, ("916", "TS-012")),
    (_FAILSAFE, _LIMITED): (9, ("916", "TS-012")),
    (_AUTONOMOUS, _CONTROLLED): (11, ("918..920", "TS-036/037")),
    (_AUTONOMOUS, _LIMITED): (12, ("918..920", "TS-036/037")),
}


@dataclass(frozen=True, slots=True)
class LimitConfig:
    """Timing and defaults of one LPC or LPP machine.

    `failsafe_limit_w` None means the direction's default: 4200 W for consumption (evcc); for
    production there is no safe universal value, so LPP needs it set (or a stored value).
    `nominal_max_w` is the Contractual Consumption Nominal Max for a CS on a CEM (LPC-TS-010/3-4);
    for LPP the installed generator power.
    """

    heartbeat_timeout_s: float = 120.0
    """No EG heartbeat for this long: failsafe (LPC-911/912; eebus-go: 2 min)."""
    init_timeout_s: float = 120.0
    """No heartbeat + limit this long after start: unlimited/autonomous (LPC-906)."""
    recovery_timeout_s: float = 120.0
    """Heartbeat back in failsafe but no limit this long: unlimited/autonomous (LPC-921)."""
    own_heartbeat_interval_s: float = 60.0
    """The CS's own heartbeat, at least every 60 s (LPC-TS-007)."""
    failsafe_limit_w: float | None = None
    failsafe_duration_min_s: float = FAILSAFE_DURATION_MIN_S
    nominal_max_w: float = DEFAULT_NOMINAL_MAX_W
    on_failsafe_expiry: OnFailsafeExpiry = "stay"

    def __post_init__(self) -> None:
        for name in ("heartbeat_timeout_s", "init_timeout_s", "recovery_timeout_s"):
            _check_positive(name, getattr(self, name))
        _check_positive("own_heartbeat_interval_s", self.own_heartbeat_interval_s)
        if self.own_heartbeat_interval_s > 60.0:
            raise ValueError(
                "LimitConfig.own_heartbeat_interval_s: expected <= 60 s (LPC-TS-007), "
                f"found {self.own_heartbeat_interval_s!r}"
            )
        if self.failsafe_limit_w is not None and not (
            math.isfinite(self.failsafe_limit_w) and self.failsafe_limit_w >= 0
        ):
            raise ValueError(
                f"LimitConfig.failsafe_limit_w: expected watts >= 0 or None, found {self.failsafe_limit_w!r}"
            )
        if not FAILSAFE_DURATION_MIN_S <= self.failsafe_duration_min_s <= FAILSAFE_DURATION_MAX_S:
            raise ValueError(
                "LimitConfig.failsafe_duration_min_s: expected 7200..86400 s (2 h..24 h, LPC-TS-015), "
                f"found {self.failsafe_duration_min_s!r}"
            )
        _check_positive("nominal_max_w", self.nominal_max_w)
        if self.on_failsafe_expiry not in ("stay", "autonomous"):
            raise ValueError(
                "LimitConfig.on_failsafe_expiry: expected 'stay' or 'autonomous', "
                f"found {self.on_failsafe_expiry!r}"
            )

    def default_failsafe(self, direction: Direction) -> FailsafeValues:
        """The vendor defaults (LPC-TS-011) for `direction`; raises for LPP without a limit."""
        limit = self.failsafe_limit_w
        if limit is None:
            if direction is Direction.PRODUCTION:
                raise ValueError(
                    "LimitConfig.failsafe_limit_w: expected the failsafe production limit in W for LPP, "
                    "found None (there is no safe default feed-in limit)"
                )
            limit = DEFAULT_FAILSAFE_CONSUMPTION_W
        return FailsafeValues(limit, self.failsafe_duration_min_s, direction)


def _check_positive(name: str, value: float) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"LimitConfig.{name}: expected a finite number > 0, found {value!r}")


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The CS's answer to a write: accepted or not, why, and every transition it caused.

    `transitions` starts with any timeouts that fell due before the write was looked at.
    """

    accepted: bool
    reason: str
    transitions: tuple[Transition, ...] = ()


@dataclass(slots=True)
class _Core:
    """Everything that changes; copied to answer "what if time were t" without committing."""

    state: LpcState
    since: float
    now: float
    started: float
    failsafe: FailsafeValues
    last_heartbeat: float | None = None
    limit: PowerLimit | None = None
    limit_expires_at: float | None = None
    failsafe_expires_at: float | None = None
    recovery_deadline: float | None = None
    reason: str = "start: failsafe limit applies until the Energy Guard is heard (LPC-901, LPC-TS-017)"
    pending: list[Transition] = field(default_factory=list)


class LimitMachine:
    """One LPC (consumption) or LPP (production) Controllable System state machine.

    Construct it at start-up with the start time `t0`; it begins in init with the failsafe limit
    applied (LPC-901, LPC-TS-017), using stored failsafe values when `store` holds some (LPC-TS-044).
    Feed it `heartbeat(t)` for each EG heartbeat, `write_limit`/`write_failsafe` for each write,
    and `tick(t)` when `next_deadline()` is reached; apply `effective_limit_w(t)`.
    """

    HISTORY = 256
    """Transitions kept in `history` for diagnostics."""

    def __init__(
        self,
        direction: Direction,
        t0: float,
        config: LimitConfig | None = None,
        store: FailsafeStore | None = None,
    ) -> None:
        self._direction = Direction(direction)
        self._cfg = config or LimitConfig()
        self._store = store
        stored = store.load(self._direction) if store is not None else None
        failsafe = stored if stored is not None else self._cfg.default_failsafe(self._direction)
        self._core = _Core(state=_INIT, since=t0, now=t0, started=t0, failsafe=failsafe)
        self._history: deque[Transition] = deque(maxlen=self.HISTORY)
        self._next_own_heartbeat = t0

    # ---- read-only views

    @property
    def direction(self) -> Direction:
        return self._direction

    @property
    def config(self) -> LimitConfig:
        return self._cfg

    @property
    def state(self) -> LpcState:
        """The state as of the last call (use `report(t)` for the state at a later time)."""
        return self._core.state

    @property
    def failsafe(self) -> FailsafeValues:
        """The failsafe values in force (stored, written by the EG, or the defaults)."""
        return self._core.failsafe

    @property
    def history(self) -> tuple[Transition, ...]:
        """The last `HISTORY` transitions, oldest first."""
        return tuple(self._history)

    def effective_limit_w(self, t: float) -> float | None:
        """The limit to apply at `t`: FCAPL in init and failsafe, the EG's in limited, else None.

        Does not change the machine (timeouts due by `t` are evaluated on a copy).
        """
        return _effective(self._peek(t))

    def limit_expires_at(self, t: float) -> float | None:
        """When the Energy Guard's limit in force at `t` expires (its duration, LPC-TS-025/026);
        None when no limit is active or it has no duration. Evaluated on a copy."""
        c = self._peek(t)
        return c.limit_expires_at if c.state is _LIMITED else None

    def report(self, t: float) -> LimitState:
        """What the CS reports at `t` (evaluated on a copy, like `effective_limit_w`)."""
        c = self._peek(t)
        return LimitState(
            direction=self._direction,
            state=c.state,
            effective_limit_w=_effective(c),
            limit=c.limit,
            limit_active=c.state is _LIMITED,
            failsafe=c.failsafe,
            nominal_max_w=self._cfg.nominal_max_w,
            since=c.since,
            at=t,
            reason=self._reason(c, t),
        )

    def next_deadline(self) -> float | None:
        """The earliest time at which something falls due: a timeout or the CS's own heartbeat.

        A service sleeps until then and calls `tick` (and `heartbeat_due`). Never None in practice,
        because the own heartbeat is always scheduled; typed Optional for callers that ignore it.
        """
        timers = [d for d, _ in _timers(self._core, self._cfg)]
        timers.append(self._next_own_heartbeat)
        return min(timers) if timers else None

    def heartbeat_due(self, t: float) -> bool:
        """True when the CS should send its own heartbeat now (every 60 s, LPC-TS-007)."""
        return t >= self._next_own_heartbeat

    def heartbeat_sent(self, t: float) -> None:
        """Record that the CS sent its heartbeat at `t`; the next is due one interval later."""
        self._next_own_heartbeat = t + self._cfg.own_heartbeat_interval_s

    # ---- events

    def tick(self, t: float) -> list[Transition]:
        """Fire every timeout due by `t`; returns the transitions, oldest first."""
        return self._advance(t)

    def heartbeat(self, t: float) -> list[Transition]:
        """An EG heartbeat arrived at `t`. Never changes the state by itself (LPC-TS-012)."""
        out = self._advance(t)
        c = self._core
        c.last_heartbeat = t
        if c.state is _FAILSAFE and c.recovery_deadline is None:
            c.recovery_deadline = t + self._cfg.recovery_timeout_s
            c.reason = (
                f"failsafe: heartbeat back at {t:.3f} s, waiting up to {self._cfg.recovery_timeout_s:g} s "
                f"for a limit ({self._uc}-916, {self._uc}-921)"
            )
        return out

    def write_limit(self, limit: PowerLimit, t: float) -> WriteResult:
        """The EG writes its limit (activated or deactivated) at `t`."""
        pre = self._advance(t)
        c = self._core
        uc = self._uc
        if limit.direction is not self._direction:
            return WriteResult(
                False, f"rejected: a {limit.direction.value} limit written to the {uc} machine", tuple(pre)
            )
        v = limit.value_w
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            why = f"rejected: value_w {v!r} is not a number >= 0 ({uc}-TS-001, {uc}-TS-035/1)"
            return WriteResult(False, why, tuple(pre))
        if not self._heartbeat_live(c, t):
            return WriteResult(
                False,
                f"ignored: no heartbeat within {self._cfg.heartbeat_timeout_s:g} s before the write in state "
                f"{c.state.value} ({uc}-TS-036/037)",
                tuple(pre),
            )
        c.limit = limit
        duration = limit.duration_s
        c.limit_expires_at = t + duration if limit.active and duration is not None and duration > 0 else None
        target = _LIMITED if limit.active else _CONTROLLED
        if limit.active:
            until = f" until {c.limit_expires_at:.3f} s" if c.limit_expires_at is not None else ", no expiry"
            why = f"limit {limit.value_w:g} W written by the Energy Guard{until}"
        else:
            why = "limit deactivated by the Energy Guard"
        step = _WRITE_TRANSITIONS.get((c.state, target))
        if step is None:  # same state: a new value, no transition
            c.reason = why
            return WriteResult(True, "accepted: " + why, tuple(pre))
        number, reqs = step
        self._go(c, target, t, number, reqs, why)
        return WriteResult(True, "accepted: " + why, (*pre, *self._drain()))

    def write_failsafe(self, values: FailsafeValues, t: float) -> WriteResult:
        """The EG writes the failsafe limit and duration (LPC-TS-011/1); persisted (LPC-TS-044).

        Accepted only after a live heartbeat, like limit writes. In failsafe the new limit applies
        at once; the running failsafe period keeps the duration it started with.
        """
        pre = self._advance(t)
        c = self._core
        uc = self._uc
        if values.direction is not self._direction:
            why = f"rejected: {values.direction.value} failsafe values written to the {uc} machine"
            return WriteResult(False, why, tuple(pre))
        if not self._heartbeat_live(c, t):
            return WriteResult(
                False,
                f"ignored: no heartbeat within {self._cfg.heartbeat_timeout_s:g} s before the write "
                f"({uc}-TS-036/037)",
                tuple(pre),
            )
        c.failsafe = values
        why = f"failsafe values {values.limit_w:g} W / {values.duration_min_s:g} s written"
        if self._store is not None:
            try:
                self._store.save(values)
            except OSError as e:
                return WriteResult(True, f"accepted: {why}; NOT persisted ({uc}-TS-044): {e}", tuple(pre))
            why += f", persisted to {self._store.path}"
        return WriteResult(True, "accepted: " + why, tuple(pre))

    # ---- internals

    @property
    def _uc(self) -> str:
        return self._direction.use_case

    def _reason(self, c: _Core, t: float) -> str:
        if c.state is _FAILSAFE and c.failsafe_expires_at is not None and t >= c.failsafe_expires_at:
            return (
                f"{c.reason}; failsafe duration minimum expired, failsafe limit kept while the Energy "
                "Guard stays silent (on_failsafe_expiry='stay', evcc PR 29705)"
            )
        return c.reason

    def _heartbeat_live(self, c: _Core, t: float) -> bool:
        return c.last_heartbeat is not None and t - c.last_heartbeat < self._cfg.heartbeat_timeout_s

    def _peek(self, t: float) -> _Core:
        c = copy.copy(self._core)
        c.pending = []
        self._run_timers(c, t)
        return c

    def _advance(self, t: float) -> list[Transition]:
        self._run_timers(self._core, t)
        return self._drain()

    def _drain(self) -> list[Transition]:
        """Hand out the committed transitions not yet returned, and keep them in `history`."""
        c = self._core
        out, c.pending = c.pending, []
        self._history.extend(out)
        return out

    def _run_timers(self, c: _Core, t: float) -> None:
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise ValueError(f"t: expected finite monotonic seconds, found {t!r}")
        if t < c.now:
            raise ValueError(f"t: expected >= {c.now!r} (time never goes backwards), found {t!r}")
        while True:
            due = [(d, kind) for d, kind in _timers(c, self._cfg) if d <= t]
            if not due:
                break
            deadline, kind = min(due, key=lambda d: d[0])  # first listed wins a tie
            self._fire(c, kind, deadline)
        c.now = t

    def _fire(self, c: _Core, kind: str, at: float) -> None:
        cfg = self._cfg
        if kind == "init":
            self._go(
                c,
                _AUTONOMOUS,
                at,
                3,
                ("906",),
                f"init timeout: no heartbeat and limit within {cfg.init_timeout_s:g} s of start",
            )
        elif kind == "expiry":
            assert c.limit is not None
            c.limit = PowerLimit(c.limit.value_w, False, None, c.limit.direction)
            self._go(c, _CONTROLLED, at, 6, ("TS-025/026",), "limit duration expired")
        elif kind == "heartbeat":
            number = 5 if c.state is _CONTROLLED else 7
            self._go(
                c,
                _FAILSAFE,
                at,
                number,
                ("911/912",),
                f"heartbeat timeout: none for {cfg.heartbeat_timeout_s:g} s",
            )
        elif kind == "recovery":
            c.recovery_deadline = None
            if self._heartbeat_live(c, at):
                self._go(
                    c,
                    _AUTONOMOUS,
                    at,
                    10,
                    ("921",),
                    f"heartbeat back but no limit within {cfg.recovery_timeout_s:g} s",
                )
            else:
                c.reason = f"failsafe: heartbeat lost again during the recovery window ({self._uc}-TS-012)"
        elif kind == "failsafe":
            self._go(
                c,
                _AUTONOMOUS,
                at,
                10,
                ("922",),
                f"failsafe duration minimum {c.failsafe.duration_min_s:g} s expired",
            )
        else:  # pragma: no cover - _timers only yields the kinds above
            raise AssertionError(kind)

    def _go(self, c: _Core, to: LpcState, at: float, number: int, reqs: tuple[str, ...], why: str) -> None:
        uc = self._uc
        tr = Transition(
            number=number,
            direction=self._direction,
            from_state=c.state,
            to_state=to,
            at=at,
            requirements=tuple(f"{uc}-{r}" for r in reqs),
            reason=why,
        )
        c.state = to
        c.since = at
        c.reason = f"{why} ({', '.join(tr.requirements)})"
        c.recovery_deadline = None
        if to is _FAILSAFE:
            c.failsafe_expires_at = at + c.failsafe.duration_min_s
            c.limit = None  # the APCL is deactivated in failsafe (LPC-009/2); a new write is needed
            c.limit_expires_at = None
        else:
            c.failsafe_expires_at = None
        if to is not _LIMITED:
            c.limit_expires_at = None
        if to is _AUTONOMOUS:
            c.limit = None
        c.pending.append(tr)


def _effective(c: _Core) -> float | None:
    if c.state is _INIT or c.state is _FAILSAFE:
        return c.failsafe.limit_w
    if c.state is _LIMITED:
        assert c.limit is not None
        return c.limit.value_w
    return None


def _timers(c: _Core, cfg: LimitConfig) -> list[tuple[float, str]]:
    """The pending timeouts of the current state as (deadline, kind); ties fire in list order."""
    s = c.state
    if s is _INIT:
        return [(c.started + cfg.init_timeout_s, "init")]
    out: list[tuple[float, str]] = []
    if s is _LIMITED and c.limit_expires_at is not None:
        out.append((c.limit_expires_at, "expiry"))
    if (s is _CONTROLLED or s is _LIMITED) and c.last_heartbeat is not None:
        out.append((c.last_heartbeat + cfg.heartbeat_timeout_s, "heartbeat"))
    if s is _FAILSAFE:
        if c.recovery_deadline is not None:
            out.append((c.recovery_deadline, "recovery"))
        if cfg.on_failsafe_expiry == "autonomous" and c.failsafe_expires_at is not None:
            out.append((c.failsafe_expires_at, "failsafe"))
    return out
