"""POST /auth/token (spec: `fetchToken`, `clientCredentialRequest` -> `clientCredentialResponse`,
errors as `authError`) and GET /auth/server (OpenADR 3.1 token discovery; not in the 3.0.1 yaml,
offered so that 3.1 clients find the token URL).

The body is application/x-www-form-urlencoded as RFC 6749 §4.4.2 and the spec require; it is
parsed here with the standard library (no multipart dependency). Client credentials may also come
as HTTP Basic (RFC 6749 §2.3.1). A refused request is a 400 with an `authError` (RFC 6749 §5.2
allows 400 `invalid_client` for credentials in the body), or a 401 when Basic credentials fail
(§5.2 requires it then). The token response is never cached (`Cache-Control: no-store`, §5.1).
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from gridedge.grid.aggregator.auth import AuthFailure, TokenIssuer
from gridedge.model.openadr import (
    AuthError,
    AuthServerInfo,
    ClientCredentialRequest,
    ClientCredentialResponse,
)

__all__ = ["token_router"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _auth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="openadr3"'
    body = AuthError.model_validate({"error": error, "error_description": description}).dump()
    return JSONResponse(body, status_code=status, headers=headers)


def _form(raw: bytes, content_type: str) -> dict[str, str] | str:
    """The request's fields, or a sentence saying why they cannot be read."""
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("application/json"):
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return "the body is not valid JSON"
        if not isinstance(data, dict):
            return "the body is not a JSON object"
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    fields = parse_qs(text, keep_blank_values=True)
    repeated = sorted(k for k, v in fields.items() if len(v) > 1)
    if repeated:
        return f"parameter(s) {repeated} repeated (RFC 6749 §3.2)"
    return {k: v[0] for k, v in fields.items()}


def _basic(header: str) -> tuple[str, str] | None:
    kind, _, value = header.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    cid, _, secret = pair.partition(":")
    return unquote(cid), unquote(secret)


def token_router(issuer: TokenIssuer) -> APIRouter:
    r = APIRouter()

    @r.post("/auth/token", operation_id="fetchToken", tags=["Auth"])
    async def fetch_token(request: Request) -> JSONResponse:
        fields = _form(await request.body(), request.headers.get("content-type", "").lower())
        if isinstance(fields, str):
            return _auth_error("invalid_request", fields)
        basic = _basic(request.headers.get("authorization", ""))
        if basic is not None:
            fields.setdefault("client_id", basic[0])
            fields.setdefault("client_secret", basic[1])
        if fields.get("grant_type") not in (None, "client_credentials"):
            return _auth_error(
                "unsupported_grant_type", f"grant_type {fields['grant_type']!r}: only client_credentials"
            )
        try:
            req = ClientCredentialRequest.model_validate(fields)
        except ValidationError as exc:
            bad = ", ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
            return _auth_error("invalid_request", bad)
        try:
            token, who = issuer.issue(req.client_id, req.client_secret, req.scope)
        except AuthFailure as fail:
            status = 401 if basic is not None and fail.error == "invalid_client" else 400
            return _auth_error(fail.error, fail.description, status)
        body = ClientCredentialResponse(
            access_token=token,
            token_type="Bearer",
            expires_in=issuer.lifetime_s,
            scope=" ".join(sorted(s.value for s in who.scopes)),
        ).dump()
        return JSONResponse(body, headers=_NO_STORE)

    @r.get("/auth/server", operation_id="getAuthServerInfo", tags=["Auth"])
    async def auth_server(request: Request) -> JSONResponse:
        url = request.url.replace(
            query="", fragment="", path=request.url.path.removesuffix("/server") + "/token"
        )
        return JSONResponse(AuthServerInfo(token_url=str(url)).dump())

    return r
