"""The meter's supply switch: limiter, fuse supervision and the disconnect-control states.

States are those of COSEM class 70 "Disconnect control" attribute 3 (IEC 62056-6-2; e-MUCS H
Ed. 1.3 §3.2.1 Table 1 sends them as 0-0:96.3.10): 0 Disconnected, 1 Connected,
2 Ready_for_reconnection. The meter runs class 70 control mode 1 (Blue Book transition letters):

* local disconnect (g): the limiter (class 71, threshold 0-0:17.0.0) or the fuse supervision
  (class 21 register monitor, threshold 1-0:31.4.0) trips. Connected goes to
  Ready_for_reconnection, and the customer's button reconnects.
* remote_disconnect (b, c): Connected or Ready_for_reconnection goes to Disconnected (the DSO
  cut the supply); the button does nothing.
* remote_reconnect (d): Disconnected goes to Ready_for_reconnection. Mode 1 has no direct remote
  reconnection (that is transition a, modes 2 and 4): the DSO arms the switch and the customer
  presses the button, so nobody's oven comes on unattended.
* manual_reconnect (e), the button: Ready_for_reconnection goes to Connected.

Supervision (ESMIG use case "meter power-limit action": either direction, for a set time): the
switch trips when |total active power| stays above the limiter threshold, or any phase current
stays above the fuse threshold, for `delay_s` without a break. Time is counted in whole metrology
seconds. An excess that starts with the second beginning at t0 has lasted `t1 - t0` at the end of
the second, and the switch trips at the end of the second where that reaches `delay_s`. With a
30 s delay and excess from t = 100 s, it trips in the second 129-130, not in 128-129.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridedge.model.reading import BreakerState

_TOL = 0.05
"""Seconds of slack: a metrology second lasts 50 mains cycles, 0.9996 s at 50.02 Hz."""


class BreakerCause(StrEnum):
    """Why the switch changed state."""

    LIMITER = "limiter"
    FUSE = "fuse"
    BUTTON = "button"
    REMOTE_DISCONNECT = "remote-disconnect"
    REMOTE_RECONNECT = "remote-reconnect"
    OVERLOAD = "overload"
    """An Italian 2G meter's overload countdown ran out (`italy`); the button reconnects."""


@dataclass(frozen=True, slots=True)
class BreakerChange:
    """The switch changed to `state` at sim time `t` because of `cause`."""

    t: float
    state: BreakerState
    cause: BreakerCause


class Breaker:
    """Supply switch state machine with limiter and fuse supervision (class 70 control mode 1)."""

    __slots__ = ("delay_s", "fuse_a", "fuse_since", "limit_since", "limiter_w", "state")

    def __init__(self, limiter_w: float | None, fuse_a: float | None, delay_s: float) -> None:
        self.limiter_w = limiter_w
        self.fuse_a = fuse_a
        self.delay_s = delay_s
        self.state = BreakerState.CONNECTED
        self.limit_since: float | None = None
        self.fuse_since: float | None = None

    def supervise(self, t0: float, t1: float, power_w: float, max_current_a: float) -> BreakerChange | None:
        """One metrology second [t0, t1): |power| in W (the limiter's quantity), highest phase current."""
        if self.state is not BreakerState.CONNECTED:
            return None
        cause: BreakerCause | None = None
        lim = self.limiter_w
        if lim is not None and power_w > lim:
            if self.limit_since is None:
                self.limit_since = t0
            if t1 - self.limit_since >= self.delay_s - _TOL:
                cause = BreakerCause.LIMITER
        else:
            self.limit_since = None
        fuse = self.fuse_a
        if fuse is not None and max_current_a > fuse:
            if self.fuse_since is None:
                self.fuse_since = t0
            if cause is None and t1 - self.fuse_since >= self.delay_s - _TOL:
                cause = BreakerCause.FUSE
        else:
            self.fuse_since = None
        if cause is None:
            return None
        return self._set(t1, BreakerState.READY_FOR_RECONNECTION, cause)

    def reset_supervision(self) -> None:
        """Forget running excess timers (power failure, switch opened)."""
        self.limit_since = None
        self.fuse_since = None

    def press(self, t: float) -> BreakerChange | None:
        """The customer's button: Ready_for_reconnection -> Connected; otherwise nothing."""
        if self.state is BreakerState.READY_FOR_RECONNECTION:
            return self._set(t, BreakerState.CONNECTED, BreakerCause.BUTTON)
        return None

    def trip(self, t: float, cause: BreakerCause) -> BreakerChange | None:
        """A local disconnect decided outside this supervision (the Italian overload countdown):
        Connected -> Ready_for_reconnection, like the limiter; otherwise nothing."""
        if self.state is BreakerState.CONNECTED:
            return self._set(t, BreakerState.READY_FOR_RECONNECTION, cause)
        return None

    def disconnect(self, t: float) -> BreakerChange | None:
        """DSO remote_disconnect: any state -> Disconnected."""
        if self.state is BreakerState.DISCONNECTED:
            return None
        return self._set(t, BreakerState.DISCONNECTED, BreakerCause.REMOTE_DISCONNECT)

    def reconnect_remote(self, t: float) -> BreakerChange | None:
        """DSO remote_reconnect: Disconnected -> Ready_for_reconnection (the button closes it)."""
        if self.state is BreakerState.DISCONNECTED:
            return self._set(t, BreakerState.READY_FOR_RECONNECTION, BreakerCause.REMOTE_RECONNECT)
        return None

    def _set(self, t: float, state: BreakerState, cause: BreakerCause) -> BreakerChange:
        self.state = state
        self.reset_supervision()
        return BreakerChange(t, state, cause)


__all__ = ["Breaker", "BreakerCause", "BreakerChange"]
