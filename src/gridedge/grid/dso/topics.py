"""Bus topics between the grid operator's Energy Guard and the sites' Controllable Systems.

The names are the energy manager's (`docs/energy-manager.md`, "Bus topics"): per site `<id>` and
use case `lpc` (consumption) or `lpp` (production), the DSO publishes `heartbeat`, `limit` and
`failsafe`; the site publishes `cs-heartbeat`, `state` and `rejected`. The grid side may not import
the home side (DESIGN.md, rooms), so the one-line topic function is written here again; a test
checks that both sides spell every topic the same way.
"""

from __future__ import annotations

from gridedge.model.limits import Direction

__all__ = [
    "DSO_LEAVES",
    "SITE_LEAVES",
    "USE_CASES",
    "feeder_topic",
    "meter_topic",
    "topic",
]

USE_CASES: dict[Direction, str] = {Direction.CONSUMPTION: "lpc", Direction.PRODUCTION: "lpp"}
"""The topic level of each direction: EEBus LPC for consumption, LPP for production."""

DSO_LEAVES = ("heartbeat", "limit", "failsafe")
"""What the Energy Guard publishes (LPC-TS-006 heartbeat, APCL limit, FCAPL + duration)."""

SITE_LEAVES = ("state", "cs-heartbeat", "rejected")
"""What a site's Controllable System publishes back (LPC-TS-007 heartbeat, its state, refusals)."""


def topic(site_id: str, direction: Direction, leaf: str) -> str:
    """`site/<id>/<lpc|lpp>/<leaf>`, as `gridedge.home.cem.grid_link.topic` spells it."""
    return f"site/{site_id}/{USE_CASES[direction]}/{leaf}"


def meter_topic(site_id: str) -> str:
    """Where a site's meter readings are published (`MeterReading`), as the energy manager reads them."""
    return f"site/{site_id}/meter/reading"


def feeder_topic(feeder_id: str, leaf: str) -> str:
    """`grid/dso/feeder/<id>/<leaf>`: the DSO's own reports on a feeder (plain JSON payloads)."""
    return f"grid/dso/feeder/{feeder_id}/{leaf}"
