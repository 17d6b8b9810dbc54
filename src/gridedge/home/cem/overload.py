"""The meter's overload countdown as a limit for the control cycle (issue 8: "the energy manager
reacts to the overload countdown before the meter trips").

When the meter warns that more than the available power is drawn (`OverloadWarning`: Chain 2
CF22, Sinapsi Alfa register 782), the energy manager treats the available power, less a margin, as
an import limit, merged with the grid operator's and the service provider's limits (the lowest
applies), from the warning until `hold_s` after the announced disconnection time. The limit is
hard (`ActiveLimits.hard_import`): the §14a minimums that hold against a grid operator's order do
not hold against a breaker, so the guard may bring every device to 0. It sheds the controllable
load within a cycle or two, long before a countdown of minutes ends, and does not put it back at
once (the meter would warn again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gridedge.model.overload import OverloadWarning

__all__ = ["OverloadConfig", "OverloadLimit", "overload_topic"]


def overload_topic(site_id: str) -> str:
    """Where the meter port (or its user device) publishes `OverloadWarning`s on the bus."""
    return f"site/{site_id}/meter/overload"


@dataclass(frozen=True, slots=True)
class OverloadConfig:
    margin: float = 0.05
    """Stay this share under the available power (meter and device measure differently)."""
    hold_s: float = 300.0
    """Keep the limit this long after the announced disconnection time."""


class OverloadLimit:
    """The import limit an overload warning imposes, over time."""

    def __init__(self, config: OverloadConfig | None = None) -> None:
        self.config = config or OverloadConfig()
        self.warning: OverloadWarning | None = None
        self.warnings = 0

    def on_warning(self, warning: OverloadWarning) -> None:
        self.warning = warning
        self.warnings += 1

    def import_limit_w(self, now: datetime) -> float | None:
        """The import limit in force at `now`, or None."""
        w = self.warning
        if w is None or now < w.time:
            return None
        if now >= w.disconnect_at + timedelta(seconds=self.config.hold_s):
            return None
        return w.available_power_w * (1.0 - self.config.margin)
