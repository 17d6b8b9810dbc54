"""The meter's warning that the available power is exceeded and when it will disconnect.

Italian 2G meters tolerate ~10 % over the contractual ("available") power, then open their
breaker after 2 min to 3 h depending on the excess; Chain 2 user devices pass the warning on with
the seconds left (Chain2Gate frame CF22, Sinapsi Alfa register 782; shared/notes/meter-ports.md
§D.2). The energy manager must bring the import under the available power before the countdown
ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["OverloadWarning"]


@dataclass(frozen=True, slots=True)
class OverloadWarning:
    """At `time`, `instant_power_w` was drawn with `available_power_w` available; the meter
    disconnects `seconds_left` seconds later unless the import drops."""

    meter_id: str
    time: datetime
    instant_power_w: float
    available_power_w: float
    seconds_left: float

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError(f"OverloadWarning.time: expected a timezone-aware time, found {self.time}")
        for name in ("instant_power_w", "available_power_w", "seconds_left"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"OverloadWarning.{name}: expected a finite number >= 0, found {value!r}")

    @property
    def disconnect_at(self) -> datetime:
        return self.time + timedelta(seconds=self.seconds_left)
