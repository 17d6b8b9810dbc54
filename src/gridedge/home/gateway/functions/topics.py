"""Where updates travel (the grid side's `grid.updates.topics` spells the same layout).

=====================================  ====================  =======================================
topic                                  direction             payload
=====================================  ====================  =======================================
`[P/]gateway/<meter_id>/update`        grid -> one gateway   COSE_Sign1, audience `<meter_id>`
`[P/]gateway-group/<group>/update`     grid -> a group       COSE_Sign1, audience `group:<group>`
`[P/]gateway/<meter_id>/update/status` gateway -> grid       status (CBOR), sealed with the meter key
=====================================  ====================  =======================================

The audience is inside the signature, so a package for meter A or group G cannot be replayed onto
meter B's topic. Group audiences carry a `group:` prefix so that no group name can be mistaken for
a meter id.
"""

from __future__ import annotations

from typing import Final

from gridedge.bus.envelope import validate_topic

__all__ = ["UPDATE_SOURCE", "group_audience", "group_update_topic", "status_topic", "update_topic"]

UPDATE_SOURCE: Final = "gridedge-updates"
"""The source an update key must be provisioned for (`bus.security.KeyRing`): a key that signs
telemetry acks or power limits cannot sign code."""


def _segment(what: str, value: str) -> str:
    if not value or any(c in value for c in "/+#"):
        raise ValueError(f"{what} {value!r} must be non-empty and contain no '/', '+' or '#'")
    return value


def update_topic(meter_id: str) -> str:
    topic = f"gateway/{_segment('meter id', meter_id)}/update"
    validate_topic(topic)
    return topic


def group_update_topic(group: str) -> str:
    topic = f"gateway-group/{_segment('group', group)}/update"
    validate_topic(topic)
    return topic


def status_topic(meter_id: str) -> str:
    return f"gateway/{_segment('meter id', meter_id)}/update/status"


def group_audience(group: str) -> str:
    return f"group:{_segment('group', group)}"
