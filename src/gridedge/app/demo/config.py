"""What `gridedge demo` runs: how many homes, how fast, from when, where its files go.

A frozen value, so the command line, the tests and the web room all start the same neighbourhood
from the same seed: the same street, the same clouds, the same storyline, every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_START", "DemoConfig"]

DEFAULT_START = datetime(2026, 4, 15, 6, 30, tzinfo=ZoneInfo("Europe/Brussels"))
"""A spring weekday (Wednesday 15 April 2026) at 06:30 in Brussels: heating still runs in the
morning, the sun is high enough at noon for a PV surplus, dusk comes after the evening peak."""


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """The virtual neighbourhood's settings."""

    data_dir: Path
    """Where the SQLite files go (head-end store, gateway outboxes, VTN, failsafe values); the
    caller owns the directory (a temporary one for a throw-away demo)."""
    homes: int = 20
    """Households on the street; the first is the featured one (S1 port, NILM, every device)."""
    speed: float = 60.0
    """Simulated seconds per wall-clock second (`DemoWorld.set_speed` changes it live)."""
    start: datetime = DEFAULT_START
    """Simulated start, timezone-aware; the storyline is read in its zone."""
    seed: int = 1
    """Same seed, same street (`sim.neighbourhood.street`) and same households."""
    storyline: bool = True
    """Play the scripted day (price spike, DSO limit, heartbeat loss, restore) on its own; the
    steps can always be triggered by hand."""

    def __post_init__(self) -> None:
        if self.homes < 1:
            raise ValueError(f"DemoConfig.homes: expected at least 1 home, found {self.homes!r}")
        if not self.speed > 0:
            raise ValueError(f"DemoConfig.speed: expected sim seconds per second > 0, found {self.speed!r}")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError(f"DemoConfig.start: expected a timezone-aware datetime, found {self.start!r}")

    @property
    def zone(self) -> ZoneInfo:
        tz = self.start.tzinfo
        return tz if isinstance(tz, ZoneInfo) else ZoneInfo("UTC")
