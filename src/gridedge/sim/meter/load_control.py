"""Load-control outputs: relays in the meter that switch a circuit (boiler, EV charger, heat pump).

Seed use case "meter power-limit action" (DESIGN.md): when a power limit is exceeded, either
direction, for a set time, the meter may switch load outputs instead of the main switch. Each
output follows a hysteresis state machine on the total active power (`LoadControlConfig`). The
measured quantity is import (`direction = "import"`) or export. The output opens when that stays
above `threshold_w` for `delay_s`. It closes again once the quantity has stayed below
`release_w` for `release_s`; without a `release_w` the release level is the threshold itself.

Commands and the automatic logic:

* The automatic state machine always runs and has its own state, whatever the output does.
* A command (`set_load_control`, a scripted event, a DSO message) sets the output directly.
  The output then keeps the commanded position until the automatic state machine next changes
  state. At that moment the output takes the automatic state again.
* So a command to open during quiet hours holds until an overload comes and goes. A command to
  close during an overload holds until the overload has ended for `release_s`. An output
  without a threshold (command only) keeps every command.

Outputs start closed, so the circuit is supplied.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridedge.model.scenario import LoadControlConfig

_TOL = 0.05


class LoadControlCause(StrEnum):
    AUTOMATIC = "automatic"
    COMMAND = "command"


@dataclass(frozen=True, slots=True)
class LoadControlChange:
    """Output `output` became `closed` at sim time `t`."""

    t: float
    output: int
    closed: bool
    cause: LoadControlCause


class LoadControlOutput:
    """One relay with its automatic hysteresis and command override."""

    __slots__ = (
        "above_since",
        "auto_closed",
        "below_since",
        "closed",
        "delay_s",
        "export",
        "output",
        "release_s",
        "release_w",
        "threshold_w",
    )

    def __init__(self, output: int, config: LoadControlConfig | None = None) -> None:
        if not 1 <= output <= 4:
            raise ValueError(f"load-control output must be 1..4, got {output}")
        self.output = output
        self.threshold_w = config.threshold_w if config is not None else None
        release = config.release_w if config is not None else None
        self.release_w = release if release is not None else self.threshold_w
        self.delay_s = config.delay_s if config is not None else 0.0
        self.release_s = config.release_s if config is not None else 0.0
        self.export = config is not None and config.direction == "export"
        self.closed = True
        self.auto_closed = True
        self.above_since: float | None = None
        self.below_since: float | None = None

    def update(self, t0: float, t1: float, net_power_w: float) -> LoadControlChange | None:
        """One metrology second [t0, t1) with total active power `net_power_w` (import positive)."""
        threshold = self.threshold_w
        if threshold is None:
            return None
        value = -net_power_w if self.export else net_power_w
        if self.auto_closed:
            if value > threshold:
                if self.above_since is None:
                    self.above_since = t0
                if t1 - self.above_since >= self.delay_s - _TOL:
                    return self._automatic(t1, False)
            else:
                self.above_since = None
        else:
            release = self.release_w if self.release_w is not None else threshold
            if value < release:
                if self.below_since is None:
                    self.below_since = t0
                if t1 - self.below_since >= self.release_s - _TOL:
                    return self._automatic(t1, True)
            else:
                self.below_since = None
        return None

    def command(self, closed: bool, t: float) -> LoadControlChange | None:
        """Set the output; holds until the automatic state machine next changes state."""
        if closed == self.closed:
            return None
        self.closed = closed
        return LoadControlChange(t, self.output, closed, LoadControlCause.COMMAND)

    def _automatic(self, t: float, closed: bool) -> LoadControlChange | None:
        self.auto_closed = closed
        self.above_since = None
        self.below_since = None
        if closed == self.closed:
            return None
        self.closed = closed
        return LoadControlChange(t, self.output, closed, LoadControlCause.AUTOMATIC)


__all__ = ["LoadControlCause", "LoadControlChange", "LoadControlOutput"]
