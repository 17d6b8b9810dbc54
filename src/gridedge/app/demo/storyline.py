"""The demo's scripted day as a pure timeline: which step plays when, and which already ran.

Nothing here touches the world: `Storyline.due(now)` says which steps fall due at a local time,
`mark_done` records that a step was played (by the script or by a button), and `steps()` is what
the dashboard lists. `DemoWorld` carries the steps out. Keeping the timeline apart keeps the story
readable in one place and testable without a neighbourhood.

The day (local time of the demo's zone):

* 07:00 morning_peak: breakfast, kettles and showers; the street's first peak.
* 12:00 pv_noon: PV at its highest; the featured home fills its battery from the surplus.
* 17:00 price_spike: the aggregator publishes an evening price spike (OpenADR 3 PRICE event update).
* 18:00 dso_limit: the grid operator limits the featured home's import (LPC, VDE-AR-E 2829-6),
  low enough that the car and the heat pump must give way; the street's feeder sites too.
* 18:30 heartbeat_loss: the grid operator falls silent; 120 s later the sites go to failsafe
  (LPC-911/912).
* 19:00 restore: heartbeats and the limit again: limited within 60 s (LPC-913/916).
* 21:00 limit_lifted: the operator lifts the limit; the sites are unlimited/controlled again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from gridedge.app.views import StoryStep

__all__ = ["SCRIPT", "ScriptStep", "Storyline"]


@dataclass(frozen=True, slots=True)
class ScriptStep:
    key: str
    label: str
    at: time
    roles: tuple[str, ...] = ()
    """Who may play it by hand (see `StoryStep.roles`)."""


GRID_OPERATOR = ("grid-operator",)
COMMISSIONING = ("installer", "grid-operator")

SCRIPT: tuple[ScriptStep, ...] = (
    ScriptStep("morning_peak", "Morning peak: kettles, showers, breakfast", time(7, 0)),
    ScriptStep("pv_noon", "PV at noon: the surplus fills the battery", time(12, 0)),
    ScriptStep("price_spike", "Evening price spike published by the aggregator", time(17, 0), COMMISSIONING),
    ScriptStep("dso_limit", "DSO import limit: the car and the heat pump give way", time(18), GRID_OPERATOR),
    ScriptStep("heartbeat_loss", "DSO heartbeat lost: failsafe after 120 s", time(18, 30), GRID_OPERATOR),
    ScriptStep("restore", "DSO back: heartbeat and limit again", time(19, 0), GRID_OPERATOR),
    ScriptStep("limit_lifted", "DSO lifts the limit", time(21, 0), GRID_OPERATOR),
)


class Storyline:
    """Which steps of `script` ran; `due` gives those whose time came and that did not run yet.

    `auto=False` (the storyline switched off) never makes a step due; `trigger` still plays them.
    A step is played at most once by the script, whether it ran by its time or by a button first.
    """

    def __init__(
        self, script: tuple[ScriptStep, ...] = SCRIPT, *, start: datetime, auto: bool = True
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("Storyline: start must be timezone-aware")
        self.script = script
        self.auto = auto
        self._by_key = {s.key: s for s in script}
        if len(self._by_key) != len(script):
            raise ValueError("Storyline: step keys must be unique")
        self._done: set[str] = set()
        # steps whose time lies before the start of the run are not replayed at start-up
        local = start.timetz().replace(tzinfo=None)
        self._skipped = {s.key for s in script if s.at < local}

    def step(self, key: str) -> ScriptStep:
        """The step named `key` (KeyError: no such step)."""
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"no storyline step {key!r} (steps: {', '.join(self._by_key)})") from None

    def due(self, now: datetime) -> list[ScriptStep]:
        """Steps whose local time `now` has reached (in `now`'s own zone) and that did not run."""
        if not self.auto:
            return []
        local = now.timetz().replace(tzinfo=None)
        return [s for s in self.script if s.at <= local and s.key not in self._done | self._skipped]

    def mark_done(self, key: str) -> None:
        self.step(key)
        self._done.add(key)

    def done(self, key: str) -> bool:
        return key in self._done

    def steps(self) -> tuple[StoryStep, ...]:
        return tuple(
            StoryStep(s.key, s.label, s.at.strftime("%H:%M"), s.key in self._done, s.roles)
            for s in self.script
        )
