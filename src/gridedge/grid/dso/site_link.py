"""The Energy Guard's side of one LPC or LPP link: what to send to one site, and when.

Pure decision logic: a `SiteLink` is fed times (monotonic seconds from the caller's clock) and
what the site said, and returns the messages to publish as `Send` values; it never touches the
bus or a clock. `gridedge.grid.dso.service` does the I/O.

What it does, and the rules it follows (IDs from docs/energy-manager.md and notes §1.1):

* Heartbeat with an increasing counter every `heartbeat_period_s` <= 60 s (LPC-TS-006), stating
  the 120 s timeout after which the site goes to failsafe (LPC-911/912).
* Limits: requested by name ("operator", "congestion"); the lowest active request is the limit in
  force, sent with its remaining duration (LPC-TS-025/026). When none is left a deactivated limit
  is sent, which still counts as "the limit following a heartbeat" (LPC-913, LPC-916).
* Reconnection: when the site is heard (its `cs-heartbeat`, `state` or `rejected`) for the first
  time, or again after being silent for longer than its heartbeat timeout, the link sends at once
  a heartbeat, the failsafe values (LPC-TS-011/1) and the limit in force (deactivated if none): a
  valid limit within 60 s of the restore, as LPC-913 demands, and in the order the site needs,
  since a write counts only after a live heartbeat (LPC-TS-036/037).
* A site that reports init, failsafe or unlimited/autonomous, or a limit other than the one in
  force, while the link is up, is sent the same sequence again, and again with each of its
  heartbeats while its last reported state stays wrong (at most once per `resync_interval_s`): a
  heartbeat alone never takes it out of failsafe (LPC-TS-012), a heartbeat and a limit do
  (LPC-916).
* `stop_heartbeat` models a grid operator whose link to the site is down: nothing is sent, limits
  requested meanwhile are kept, and `resume_heartbeat` sends heartbeat, failsafe values and limit.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from gridedge.model.limits import (
    Direction,
    FailsafeValues,
    Heartbeat,
    LimitState,
    LpcState,
    PowerLimit,
)

__all__ = ["LinkStatus", "LinkTiming", "Rejection", "Send", "SiteLink"]

_TOLERANCE_W = 0.5
# States in which the site does not follow the Energy Guard: it needs heartbeat + limit (LPC-916/918).
_ASTRAY = frozenset({LpcState.INIT, LpcState.FAILSAFE, LpcState.UNLIMITED_AUTONOMOUS})


@dataclass(frozen=True, slots=True)
class LinkTiming:
    """Timing of the Energy Guard's side of a link."""

    heartbeat_period_s: float = 60.0
    """Heartbeat interval: at least every 60 s (LPC-TS-006)."""
    heartbeat_timeout_s: float = 120.0
    """The timeout stated in our heartbeats, after which the site goes to failsafe (LPC-911/912)."""
    site_timeout_s: float = 120.0
    """A site silent this long counts as gone, unless its own heartbeat states another timeout."""
    resync_interval_s: float = 10.0
    """At most one re-send of heartbeat + failsafe + limit per this interval for a site that
    reports the wrong state (a reconnection is never held back)."""

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_period_s <= 60.0:
            raise ValueError(
                "LinkTiming.heartbeat_period_s: expected 0 < s <= 60 (LPC-TS-006), "
                f"found {self.heartbeat_period_s!r}"
            )
        for name in ("heartbeat_timeout_s", "site_timeout_s", "resync_interval_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"LinkTiming.{name}: expected seconds > 0, found {v!r}")
        if self.heartbeat_timeout_s <= self.heartbeat_period_s:
            raise ValueError(
                "LinkTiming.heartbeat_timeout_s: expected more than heartbeat_period_s "
                f"({self.heartbeat_period_s!r}), found {self.heartbeat_timeout_s!r}"
            )


@dataclass(frozen=True, slots=True)
class Send:
    """One message to publish on `site/<id>/<uc>/<leaf>`, and why."""

    leaf: str
    payload: Heartbeat | PowerLimit | FailsafeValues
    reason: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message the site reported it did not act on (its `rejected` topic)."""

    at: float
    topic: str
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """A snapshot of one link, for status pages and tests."""

    site_id: str
    direction: Direction
    connected: bool
    heartbeat_enabled: bool
    heartbeats_sent: int
    last_cs_heartbeat: float | None
    last_heard: float | None
    reconnects: int
    state: LimitState | None
    limit: PowerLimit | None
    """The limit in force as last sent (None before the first one)."""
    rejections: int
    last_rejection: Rejection | None


@dataclass(frozen=True, slots=True)
class _Request:
    value_w: float
    expires_at: float | None
    at: float


class SiteLink:
    """The Energy Guard's state for one site and one direction (LPC or LPP)."""

    REJECTIONS_KEPT = 32

    def __init__(
        self,
        site_id: str,
        direction: Direction,
        failsafe: FailsafeValues,
        t0: float,
        timing: LinkTiming | None = None,
    ) -> None:
        if failsafe.direction is not direction:
            raise ValueError(
                f"SiteLink {site_id}: failsafe values for {failsafe.direction.value}, "
                f"link is {direction.value}"
            )
        self.site_id = site_id
        self.direction = Direction(direction)
        self.timing = timing or LinkTiming()
        self._failsafe = failsafe
        self._enabled = True
        self._counter = 0
        self._next_heartbeat = t0  # the first heartbeat goes out at once
        self._requests: dict[str, _Request] = {}
        self._sent: PowerLimit | None = None
        self._sent_expiry: float | None = None
        self._last_value_w = 0.0
        self._last_heard: float | None = None
        self._last_cs_heartbeat: float | None = None
        self._site_timeout = self.timing.site_timeout_s
        self._state: LimitState | None = None
        self._reconnects = 0
        self._last_resync = -math.inf
        self._rejections: deque[Rejection] = deque(maxlen=self.REJECTIONS_KEPT)
        self._rejection_count = 0

    # ---- views

    @property
    def failsafe(self) -> FailsafeValues:
        return self._failsafe

    @property
    def rejections(self) -> tuple[Rejection, ...]:
        """The last `REJECTIONS_KEPT` rejections reported by the site, oldest first."""
        return tuple(self._rejections)

    def wanted(self, t: float) -> PowerLimit:
        """The limit that should be in force at `t`: the lowest unexpired request with its
        remaining duration, else a deactivated limit (LPC-913: it still counts as a limit)."""
        best = self._binding(t)
        if best is None:
            return PowerLimit(self._last_value_w, False, None, self.direction)
        # milliseconds: float time must not make a 600 s limit 600.0000000000002 s long
        duration = None if best.expires_at is None else round(best.expires_at - t, 3)
        return PowerLimit(best.value_w, True, duration, self.direction)

    def status(self, t: float) -> LinkStatus:
        last = self._rejections[-1] if self._rejections else None
        return LinkStatus(
            site_id=self.site_id,
            direction=self.direction,
            connected=self._is_connected(t),
            heartbeat_enabled=self._enabled,
            heartbeats_sent=self._counter,
            last_cs_heartbeat=self._last_cs_heartbeat,
            last_heard=self._last_heard,
            reconnects=self._reconnects,
            state=self._state,
            limit=self._sent,
            rejections=self._rejection_count,
            last_rejection=last,
        )

    def next_deadline(self) -> float | None:
        """When `tick` has something to do: the next heartbeat or the next request expiry."""
        times = [r.expires_at for r in self._requests.values() if r.expires_at is not None]
        if self._enabled:
            times.append(self._next_heartbeat)
        return min(times) if times else None

    # ---- time

    def tick(self, t: float) -> list[Send]:
        """Heartbeat when due; a new limit when the one in force expired into another."""
        out: list[Send] = []
        if self._enabled and t >= self._next_heartbeat:
            out.append(self._heartbeat(t, "periodic heartbeat (LPC-TS-006)"))
        out.extend(self._limit_if_changed(t))
        return out

    # ---- the operator's and the congestion manager's requests

    def request_limit(self, key: str, value_w: float, duration_s: float | None, t: float) -> list[Send]:
        """Ask for a limit of `value_w` under the name `key` (replacing that name's earlier
        request), for `duration_s` seconds (None or 0: until cleared)."""
        if not (math.isfinite(value_w) and value_w >= 0):
            raise ValueError(f"value_w: expected watts >= 0 (LPC-TS-001), found {value_w!r}")
        if duration_s is not None and not (math.isfinite(duration_s) and duration_s >= 0):
            raise ValueError(f"duration_s: expected seconds >= 0 or None, found {duration_s!r}")
        expires = t + duration_s if duration_s else None
        self._requests[key] = _Request(float(value_w), expires, t)
        return self._limit_if_changed(t)

    def clear_limit(self, key: str, t: float) -> list[Send]:
        """Withdraw the request named `key`; the next lowest applies, or a deactivated limit."""
        self._requests.pop(key, None)
        return self._limit_if_changed(t)

    def request(self, key: str, t: float) -> tuple[float, float | None] | None:
        """The live request named `key`: (value_w, expires_at), or None."""
        self._expire(t)
        r = self._requests.get(key)
        return None if r is None else (r.value_w, r.expires_at)

    def set_failsafe(self, values: FailsafeValues, t: float) -> list[Send]:
        """New failsafe values (LPC-TS-011/1), sent at once when the link is up."""
        if values.direction is not self.direction:
            raise ValueError(
                f"failsafe values for {values.direction.value} on the {self.direction.value} link"
            )
        self._failsafe = values
        if not self._enabled:
            return []
        return [Send("failsafe", values, "failsafe values changed (LPC-TS-011/1)")]

    def stop_heartbeat(self, t: float) -> list[Send]:
        """Go silent: no heartbeat, limit or failsafe values until `resume_heartbeat`."""
        self._enabled = False
        return []

    def resume_heartbeat(self, t: float) -> list[Send]:
        """Speak again: heartbeat, failsafe values and the limit in force, at once (LPC-916)."""
        if self._enabled:
            return []
        self._enabled = True
        return self._resync(t, "heartbeat resumed: heartbeat + limit take the site out of failsafe (LPC-916)")

    # ---- what the site says

    def on_cs_heartbeat(self, heartbeat: Heartbeat, t: float) -> list[Send]:
        """The site's own heartbeat (LPC-TS-007); its `timeout_s` is how long it may stay silent."""
        self._last_cs_heartbeat = t
        self._site_timeout = heartbeat.timeout_s
        out = self._heard(t)
        if out or not self._enabled or self._state is None:
            return out
        # the last state it reported may have gone unanswered (our answer lost on the way):
        # every heartbeat of a site still astray brings another heartbeat + limit
        return self._answer(self._state, t)

    def on_state(self, state: LimitState, t: float) -> list[Send]:
        """The site's reported state: kept, and answered when it does not follow the limit."""
        self._state = state
        out = self._heard(t)
        if out or not self._enabled:
            return out
        return self._answer(state, t)

    def on_rejected(self, rejection: Rejection, t: float) -> list[Send]:
        """A message the site refused, with its reason (counted, the last few kept)."""
        self._rejections.append(rejection)
        self._rejection_count += 1
        return self._heard(t)

    # ---- internals

    def _is_connected(self, t: float) -> bool:
        return self._last_heard is not None and t - self._last_heard <= self._site_timeout

    def _heard(self, t: float) -> list[Send]:
        was = self._is_connected(t)
        self._last_heard = t
        if was:
            return []
        self._reconnects += 1
        if not self._enabled:
            return []
        first = self._reconnects == 1
        why = "site heard for the first time" if first else "site back after silence longer than its timeout"
        return self._resync(t, f"{why}: heartbeat, failsafe values and limit within 60 s (LPC-913)")

    def _answer(self, state: LimitState, t: float) -> list[Send]:
        why = self._astray(state, self.wanted(t))
        if why and t - self._last_resync >= self.timing.resync_interval_s:
            return self._resync(t, why)
        return []

    def _resync(self, t: float, why: str) -> list[Send]:
        self._last_resync = t
        self._expire(t)
        limit = self.wanted(t)
        self._remember(limit, t)
        return [
            self._heartbeat(t, why),
            Send("failsafe", self._failsafe, why),
            Send("limit", limit, why),
        ]

    def _heartbeat(self, t: float, why: str) -> Send:
        self._counter += 1
        self._next_heartbeat = t + self.timing.heartbeat_period_s
        return Send("heartbeat", Heartbeat(self._counter, self.timing.heartbeat_timeout_s), why)

    def _expire(self, t: float) -> None:
        for key in [k for k, r in self._requests.items() if r.expires_at is not None and r.expires_at <= t]:
            del self._requests[key]

    def _binding(self, t: float) -> _Request | None:
        self._expire(t)
        if not self._requests:
            return None
        # the lowest value binds; of equal values the one that lasts longest
        return min(self._requests.values(), key=lambda r: (r.value_w, -(r.expires_at or math.inf)))

    def _limit_if_changed(self, t: float) -> list[Send]:
        best = self._binding(t)
        expiry = None if best is None else best.expires_at
        if best is None:
            if self._sent is None or not self._sent.active:
                return []
        elif (
            self._sent is not None
            and self._sent.active
            and abs(self._sent.value_w - best.value_w) <= _TOLERANCE_W
            and self._sent_expiry == expiry
        ):
            return []
        limit = self.wanted(t)
        self._remember(limit, t)
        if not self._enabled:
            return []  # kept; sent on resume_heartbeat
        why = "limit deactivated: no request left" if not limit.active else "limit changed"
        return [Send("limit", limit, why)]

    def _remember(self, limit: PowerLimit, t: float) -> None:
        self._sent = limit
        self._sent_expiry = t + limit.duration_s if limit.active and limit.duration_s else None
        if limit.active:
            self._last_value_w = limit.value_w

    @staticmethod
    def _astray(state: LimitState, wanted: PowerLimit) -> str:
        if state.state in _ASTRAY:
            return f"site reports {state.state.value}: heartbeat + limit (LPC-916, LPC-918)"
        if wanted.active and wanted.duration_s is not None and wanted.duration_s < 1.0:
            return ""  # about to expire on both sides: not worth a re-send
        if wanted.active:
            got = state.limit.value_w if state.limit is not None and state.limit_active else None
            if got is None or abs(got - wanted.value_w) > _TOLERANCE_W:
                return f"site applies {got} W, the limit in force is {wanted.value_w:g} W"
        elif state.state is LpcState.LIMITED:
            return "site still limited, the limit was deactivated"
        return ""
