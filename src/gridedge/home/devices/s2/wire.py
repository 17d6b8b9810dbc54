"""S2 frames <-> s2-python messages, and the ReceptionStatus every received message earns.

EN 50491-12-2 (S2) acknowledges every message except a ReceptionStatus with a ReceptionStatus
(s2-ws-json, "State of communication"). The status says how far the receiver got:

- INVALID_DATA: the frame is not a JSON object, carries no usable `message_id`, or does not
  match the schema of its `message_type` (the diagnostic names the field, what was expected and
  what was found);
- INVALID_MESSAGE: a well-formed message this side does not take (an unknown `message_type`, or
  one only the other role sends);
- INVALID_CONTENT: schema-valid, but the values do not fit the session (an unknown operation
  mode, a control type that is not active, no common protocol version);
- OK.

A frame without a usable message id is answered with the all-zero id, as s2-python's own
connection does. Parsing goes through `s2python.s2_parser.S2Parser` so both sides of a gridedge
link read exactly what the reference library reads.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Final

from pydantic import ValidationError
from s2python.common import ReceptionStatus, ReceptionStatusValues
from s2python.message import S2Message
from s2python.s2_parser import TYPE_TO_MESSAGE_CLASS, S2Parser
from s2python.s2_validation_error import S2ValidationError

ZERO_ID: Final = uuid.UUID(int=0)
"""Subject of a ReceptionStatus for a frame whose own id could not be read."""


class Rejected(Exception):
    """A received frame that is answered with a non-OK ReceptionStatus instead of being handled.

    `message_type` is empty when the frame had none; `subject_id` is `ZERO_ID` when it had no
    readable message id.
    """

    def __init__(self, status: ReceptionStatusValues, subject_id: uuid.UUID, diagnostic: str,
                 message_type: str = "") -> None:
        super().__init__(f"{status.value}: {diagnostic}")
        self.status = status
        self.subject_id = subject_id
        self.diagnostic = diagnostic
        self.message_type = message_type

    def reception_status(self) -> ReceptionStatus:
        return ReceptionStatus(subject_message_id=self.subject_id, status=self.status,
                               diagnostic_label=self.diagnostic)


def _found(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def explain(exc: ValidationError, message_type: str) -> str:
    """One line per failing field of a pydantic error: field path, what was expected, what was found."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(message)"
        found = "nothing" if err["type"] == "missing" else _found(err.get("input"))
        parts.append(f"field {loc!r}: expected {err['msg'].lower()}, found {found}")
    more = len(exc.errors()) - 5
    if more > 0:
        parts.append(f"and {more} more")
    return f"{message_type}: " + "; ".join(parts)


def _message_id(frame: dict[str, Any]) -> uuid.UUID | None:
    raw = frame.get("message_id")
    if not isinstance(raw, str):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def decode(raw: str | bytes) -> S2Message:
    """Parse one frame with s2-python's parser; raise `Rejected` saying why it cannot be used.

    A ReceptionStatus that fails to parse is rejected too; the caller must not answer that one
    (a status is never acknowledged), which it can tell from `Rejected.message_type`.
    """
    try:
        frame = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(ReceptionStatusValues.INVALID_DATA, ZERO_ID, f"frame is not JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise Rejected(ReceptionStatusValues.INVALID_DATA, ZERO_ID,
                       f"frame: expected a JSON object, found {type(frame).__name__}")
    message_type = frame.get("message_type")
    if not isinstance(message_type, str):
        raise Rejected(ReceptionStatusValues.INVALID_DATA, _message_id(frame) or ZERO_ID,
                       f"field 'message_type': expected a string, found {_found(message_type)}")
    if message_type == "ReceptionStatus":
        subject = ZERO_ID
    else:
        subject_or_none = _message_id(frame)
        if subject_or_none is None:
            raise Rejected(ReceptionStatusValues.INVALID_DATA, ZERO_ID,
                           f"{message_type}: field 'message_id': expected a UUID, "
                           f"found {_found(frame.get('message_id'))}", message_type)
        subject = subject_or_none
    if message_type not in TYPE_TO_MESSAGE_CLASS:
        raise Rejected(ReceptionStatusValues.INVALID_MESSAGE, subject,
                       f"field 'message_type': {message_type!r} is not an S2 message type", message_type)
    try:
        return S2Parser.parse_as_any_message(frame)
    except S2ValidationError as exc:
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            text = explain(cause, message_type)
        else:
            text = f"{message_type}: {exc}"
        raise Rejected(ReceptionStatusValues.INVALID_DATA, subject, text, message_type) from None


def ok(subject_id: uuid.UUID) -> ReceptionStatus:
    return ReceptionStatus(
        subject_message_id=subject_id, status=ReceptionStatusValues.OK, diagnostic_label=None
    )


def refuse(subject_id: uuid.UUID, status: ReceptionStatusValues, diagnostic: str) -> ReceptionStatus:
    return ReceptionStatus(subject_message_id=subject_id, status=status, diagnostic_label=diagnostic)
