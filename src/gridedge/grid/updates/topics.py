"""The update topics, grid side (the gateway's `home.gateway.functions.topics` spells the same).

- `[P/]gateway/<meter_id>/update`: a signed package or rollback order for one gateway
  (COSE_Sign1 audience = the meter id);
- `[P/]gateway-group/<group>/update`: the same for every gateway of a group (audience
  `group:<group>`);
- `[P/]gateway/<meter_id>/update/status`: the gateway's answers, sealed with its meter key.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "STATUS_FILTER",
    "UPDATE_SOURCE",
    "group_audience",
    "group_update_topic",
    "status_topic",
    "update_topic",
]

UPDATE_SOURCE: Final = "gridedge-updates"
"""What the gateways provision the update key for; a key for anything else cannot sign code."""
STATUS_FILTER: Final = "gateway/+/update/status"


def _segment(what: str, value: str) -> str:
    if not value or any(c in value for c in "/+#"):
        raise ValueError(f"{what} {value!r} must be non-empty and contain no '/', '+' or '#'")
    return value


def update_topic(meter_id: str) -> str:
    return f"gateway/{_segment('meter id', meter_id)}/update"


def group_update_topic(group: str) -> str:
    return f"gateway-group/{_segment('group', group)}/update"


def status_topic(meter_id: str) -> str:
    return f"gateway/{_segment('meter id', meter_id)}/update/status"


def group_audience(group: str) -> str:
    return f"group:{_segment('group', group)}"
