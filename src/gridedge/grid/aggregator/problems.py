"""Errors of the VTN as the spec's `problem` objects (400, 401, 403, 404, 409).

The spec lists `problem` (an RFC 7807 shape) with content type application/json for every error
of every path, so that is what is sent (not application/problem+json). 401 is not among the
spec's listed responses, but a request without a valid bearer token gets it, with
`WWW-Authenticate: Bearer` (RFC 6750 §3); a valid token without the needed scope gets 403.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi.responses import JSONResponse

from gridedge.model.openadr import Problem

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "ProblemError",
    "Unauthorized",
    "problem_response",
]


class ProblemError(Exception):
    """An error the VTN answers with a `problem` body."""

    status = 500

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class BadRequest(ProblemError):
    status = 400


class Unauthorized(ProblemError):
    status = 401


class Forbidden(ProblemError):
    status = 403


class NotFound(ProblemError):
    status = 404


class Conflict(ProblemError):
    status = 409


def problem_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A `problem` JSON response: title is the HTTP reason phrase, detail says what was wrong."""
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = Problem(title=title, status=status, detail=detail).dump()
    return JSONResponse(body, status_code=status, headers=headers)
