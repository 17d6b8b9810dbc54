"""The gas meter on M-Bus channel 1 and the electricity meter's 5-minute capture of it.

DSMR 5.0.2 §6.10: the electricity meter reads its M-Bus devices and sends the last captured value
with its capture time, `0-n:24.2.1(TST)(value*m3)`, a new value every 5 minutes (hourly in
DSMR 4). Device type 003 is gas (EN 13757-3). Belgian meters send the volume that is not
temperature corrected, `0-n:24.2.3` (e-MUCS H Ed. 1.3 §3.2.1 Table 1). Dutch meters send the
corrected volume, 24.2.1. The simulated gas meter measures at reference conditions, so both
carry the same number.

The gas meter counts on its own battery. While the electricity meter is unpowered it misses the
captures, and the telegram after the outage carries the last capture from before it until the
next 5-minute boundary. Captures are on multiples of 300 s of Unix time, which are :00, :05, ...
local time in every zone with whole-quarter-hour offsets. The captured value is the register
truncated to litres, F8(3,3) m3 as in DSMR 5.0.2 Table 6-3.
"""

from __future__ import annotations

import math
from typing import Final

CAPTURE_S: Final = 300


class GasCapture:
    """Exact gas register plus the last value the electricity meter captured from it."""

    __slots__ = ("capture_epoch", "captured_m3", "next_capture", "volume_m3")

    def __init__(self, start_m3: float, start_epoch: float) -> None:
        self.volume_m3 = start_m3
        # the capture just before the simulation began, with the starting volume
        self.capture_epoch = math.floor(start_epoch / CAPTURE_S) * CAPTURE_S
        self.captured_m3 = floor_m3(start_m3)
        self.next_capture = self.capture_epoch + CAPTURE_S

    def add(self, m3: float) -> None:
        self.volume_m3 += m3

    def due(self, epoch_end: float) -> bool:
        """Whether the second ending at `epoch_end` reaches the next capture time."""
        return epoch_end >= self.next_capture - 0.5

    def capture(self, epoch_end: float, powered: bool) -> bool:
        """At a capture time: take the value when powered; returns whether a value was taken."""
        taken = False
        if powered:
            self.capture_epoch = self.next_capture
            self.captured_m3 = floor_m3(self.volume_m3)
            taken = True
        while self.next_capture <= epoch_end + 0.5:
            self.next_capture += CAPTURE_S
        return taken


def floor_m3(m3: float) -> float:
    """m3 truncated to 3 decimals (a register never shows gas not yet delivered)."""
    return math.floor(m3 * 1000 + 1e-6) / 1000


__all__ = ["CAPTURE_S", "GasCapture", "floor_m3"]
