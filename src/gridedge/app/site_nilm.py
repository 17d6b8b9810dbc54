"""Appliance recognition as the dashboard shows it, wherever the site runs: the demo's S1 home
(`app.demo.nilm.HomeNilm`) and the real site of `gridedge run` (`app.run.control.SiteControl`).

`SiteNilm` wraps a `NilmEngine`: each appliance's power and today's energy (`shares`), the
user's names for what the engine found (`label`: the engine's library learns them), and notes of
appliances switching on (`take_notes`), at most one per appliance every `NILM_NOTE_EVERY_S`.

It sees the engine's events on the site's bus when the engine publishes (`site/<id>/nilm/event`),
else from `seen`. Naming uses the appliance's latest switch-on when one was seen: that is the
signature the library must know to recognise the appliance when it next starts, and renaming it
moves a running appliance (and its energy) to the new name. An appliance seen only switching off
(it was running before the stream began) is named from its latest event of any kind, so whatever
the dashboard shows can be named, running or not.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gridedge.app.views import ApplianceShare
from gridedge.bus.envelope import CallbackSubscription, Envelope

if TYPE_CHECKING:
    from gridedge.home.nilm.engine import ApplianceEvent, NilmEngine

__all__ = ["NILM_NOTE_EVERY_S", "SiteNilm"]

NILM_NOTE_EVERY_S = 900.0


class SiteNilm:
    """One site's appliance recognition for the dashboard: shares, names, switch-on notes."""

    def __init__(self, engine: NilmEngine) -> None:
        from gridedge.home.nilm.engine import ApplianceEvent

        self.engine = engine
        self._last_on: dict[str, int] = {}
        """Appliance label -> its latest switch-on's event id."""
        self._last_any: dict[str, int] = {}
        """Appliance label -> its latest event's id, on or off."""
        self._day_start_wh: dict[str, float] = {}
        self._noted: dict[str, float] = {}
        self._switched_on: list[ApplianceEvent] = []
        self._sub: CallbackSubscription | None = None
        if engine.transport is not None:
            bus = engine.transport
            self._sub = bus.subscribe_callback(engine.event_topic, self._on_event, ApplianceEvent)

    @property
    def subscribed(self) -> bool:
        """Whether the engine's events come over the bus (else the owner passes them to `seen`)."""
        return self._sub is not None

    def close(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    def _on_event(self, env: Envelope[ApplianceEvent]) -> None:
        self.seen(env.payload)

    def seen(self, ev: ApplianceEvent) -> None:
        """One event the engine reported (a provisional one, its final report, or its cancellation)."""
        if ev.cancelled:  # a transient, not a switch: nothing to name it from
            for book in (self._last_on, self._last_any):
                for label in [k for k, v in book.items() if v == ev.event_id]:
                    del book[label]
            return
        self._last_any[ev.label] = ev.event_id
        if ev.on:
            self._last_on[ev.label] = ev.event_id
            if ev.final:
                self._switched_on.append(ev)

    def new_day(self) -> None:
        """Midnight: the day's energy counts from here."""
        self._day_start_wh = {s.label: s.energy_wh for s in self.engine.states()}

    def shares(self) -> tuple[ApplianceShare, ...]:
        out = []
        for s in self.engine.states():
            today = max(s.energy_wh - self._day_start_wh.get(s.label, 0.0), 0.0) / 1000.0
            out.append(ApplianceShare(s.label, s.label, s.power_w, today, s.on))
        return tuple(out)

    def label(self, appliance_id: str, label: str) -> int:
        """Name the appliance shown as `appliance_id` (e.g. "unknown") from its latest switch-on, or
        its latest event when no switch-on was seen; the library learns that signature. Returns the
        event's id (KeyError: no recent event of that appliance)."""
        from gridedge.home.nilm.tracker import UNKNOWN_LABEL

        event_id = self._last_on.get(appliance_id)
        from_on = event_id is not None
        if event_id is None:
            event_id = self._last_any.get(appliance_id)
        if event_id is None:
            raise KeyError(f"no recent NILM event of appliance {appliance_id!r}")
        self.engine.label(event_id, label)
        if from_on:
            self._last_on[label] = event_id
        self._last_any[label] = event_id
        if appliance_id not in (label, UNKNOWN_LABEL):
            self._last_on.pop(appliance_id, None)
            self._last_any.pop(appliance_id, None)
        return event_id

    def take_notes(self, now: float) -> list[str]:
        """Appliances that switched on since the last call (`now`: monotonic s), at most one note
        per appliance every `NILM_NOTE_EVERY_S` (a cycling heat pump or fridge would drown every
        other notification)."""
        from gridedge.home.nilm.tracker import UNKNOWN_LABEL

        out = []
        events, self._switched_on = self._switched_on, []
        for ev in events:
            if now - self._noted.get(ev.label, -math.inf) < NILM_NOTE_EVERY_S:
                continue
            self._noted[ev.label] = now
            if ev.label == UNKNOWN_LABEL:
                out.append(
                    f"NILM: an appliance it does not know switched on ({ev.delta_p_w:+.0f} W): name it"
                )
            else:
                out.append(f"NILM: {ev.label} on ({ev.delta_p_w:+.0f} W, {ev.confidence:.0%} sure)")
        return out
