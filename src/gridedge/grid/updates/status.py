"""The gateways' answers, grid side: opened with the meter's key, decoded.

Format: `home.gateway.functions.status` (a CBOR map sealed as COSE_Encrypt0 with the meter key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cbor2

__all__ = ["FINAL", "STATES", "GatewayAnswer", "decode_answer"]

STATES = frozenset({"accepted", "rejected", "installed", "rolled-back", "committed"})
FINAL = frozenset({"rejected", "installed", "rolled-back"})
"""States that end the handling of a request (committed comes later, after probation)."""


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    meter_id: str
    state: str
    name: str
    version: str
    replaced: str
    reason: str
    request: int | None
    time: datetime | None


def decode_answer(data: bytes) -> GatewayAnswer:
    """ValueError if it is not a status map of a known state."""
    try:
        m: Any = cbor2.loads(data)
    except Exception as exc:
        raise ValueError(f"status is not CBOR: {exc}") from None
    if not isinstance(m, dict) or m.get("state") not in STATES or not isinstance(m.get("meter"), str):
        raise ValueError("status is not a map with a meter and a known state")
    request, t = m.get("request"), m.get("time")
    return GatewayAnswer(
        m["meter"], m["state"], str(m.get("name", "")), str(m.get("version", "")), str(m.get("replaced", "")),
        str(m.get("reason", "")), request if isinstance(request, int) else None,
        datetime.fromtimestamp(t / 1000, UTC) if isinstance(t, int) else None,
    )  # fmt: skip
