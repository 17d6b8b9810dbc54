"""The gateway's answers on `gateway/<meter_id>/update/status`.

One CBOR map (RFC 8949) per answer, sealed with the meter's key like its telemetry
(`bus.telemetry.Sealer`, COSE_Encrypt0): the grid can trust that "installed" came from this
gateway. Keys::

    {"meter": "E004...", "state": "installed", "name": "load-curves", "version": "1.1.0",
     "replaced": "1.0.0", "reason": "", "request": 1741003200000, "time": 1741003200123}

`state` is one of `StatusKind`; `request` is the signed request's sequence number (null when the
message did not verify far enough to have one), `time` the gateway's clock in ms since the epoch.
One update produces `accepted` (verified and admitted, before loading), then `installed` or
`rejected` (it failed loading, its self-test or taking over); later possibly `rolled-back` (with
the reason) and `committed` (probation passed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import cbor2

__all__ = ["StatusKind", "UpdateStatus", "decode_status", "encode_status"]


class StatusKind(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    INSTALLED = "installed"
    ROLLED_BACK = "rolled-back"
    COMMITTED = "committed"


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    meter_id: str
    state: StatusKind
    name: str = ""
    version: str = ""
    """The version the answer is about (installed, rejected; for a rollback: the one running now)."""
    replaced: str = ""
    reason: str = ""
    request: int | None = None
    time: datetime | None = None


def encode_status(s: UpdateStatus) -> bytes:
    return cbor2.dumps({
        "meter": s.meter_id, "state": s.state.value, "name": s.name, "version": s.version,
        "replaced": s.replaced, "reason": s.reason, "request": s.request,
        "time": None if s.time is None else round(s.time.timestamp() * 1000),
    })  # fmt: skip


def decode_status(data: bytes) -> UpdateStatus:
    """ValueError if it is not a status map."""
    m: Any = cbor2.loads(data)
    if not isinstance(m, dict):
        raise ValueError("status is not a CBOR map")
    try:
        t = m.get("time")
        request = m.get("request")
        return UpdateStatus(
            str(m["meter"]), StatusKind(m["state"]), str(m.get("name", "")), str(m.get("version", "")),
            str(m.get("replaced", "")), str(m.get("reason", "")),
            int(request) if request is not None else None,
            datetime.fromtimestamp(t / 1000, UTC) if isinstance(t, int) else None,
        )  # fmt: skip
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"status: {exc}") from None
