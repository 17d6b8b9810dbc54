"""Who is asking: FastAPI dependencies for sessions (the UI) and bearer tokens (the API).

* `Auth.user` reads `Authorization: Bearer <token>` (RFC 6750 §2.1) or the session cookie.
* `Auth.require(*roles)` guards everything that changes state: 401 with `WWW-Authenticate: Bearer`
  when nobody is logged in (RFC 6750 §3), 403 when the role may not do it.
* Cookie sessions and cross-site forgery: the cookie is `HttpOnly` and `SameSite=Strict`, and a
  state-changing request (POST, PUT, PATCH, DELETE) that authenticates by cookie must also carry
  the header `X-Gridedge-Request: 1`. A browser sends no custom header cross-site without a CORS
  preflight this server never grants (OWASP CSRF Prevention Cheat Sheet, "Custom Request
  Headers"). Bearer tokens are not sent by browsers on their own, so they need no such header.
* `auth_router` serves `POST /api/login`, `POST /api/logout`, `GET /api/me` and
  `POST /api/tokens` (a token for the logged-in user, shown once). A login answers 429 with
  `Retry-After` after too many failures for the user name or from the client's address, and 503
  with `Retry-After` when every password-hashing slot is busy (`gridedge.web.users`).

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at run
time, and `Depends(...)` on a local dependency cannot be resolved from a string.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from gridedge.web.users import AuthError, HashingBusy, Role, Throttled, User, UserStore

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "Auth", "auth_router"]

SESSION_COOKIE: Final = "gridedge_session"
CSRF_HEADER: Final = "X-Gridedge-Request"
_UNSAFE: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Auth:
    def __init__(self, store: UserStore, *, secure_cookie: bool = False) -> None:
        self.store = store
        self.secure_cookie = secure_cookie

    def user(self, request: Request) -> User | None:
        """The authenticated user of `request`, or None (raises 403 on a cookie-borne unsafe
        request without the anti-forgery header)."""
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            try:
                return self.store.token(credentials.strip())
            except AuthError:
                challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                raise HTTPException(401, "invalid or expired API token", headers=challenge) from None
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            user = self.store.session(cookie)
        except AuthError:
            return None
        if request.method in _UNSAFE and request.headers.get(CSRF_HEADER) != "1":
            raise HTTPException(403, f"a state-changing request with a session cookie needs {CSRF_HEADER}: 1")
        return user

    def require(self, *roles: Role) -> Callable[[Request], User]:
        """A dependency: the user, who must be logged in and (if `roles` are given) have one of them."""
        allowed = frozenset(roles)

        def dependency(request: Request) -> User:
            user = self.user(request)
            if user is None:
                raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})
            if allowed and user.role not in allowed:
                names = ", ".join(sorted(r.value for r in allowed))
                raise HTTPException(403, f"{user.role.value} may not do this (needs {names})")
            return user

        return dependency


class LoginRequest(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    name: str
    role: Role
    site: str | None = Field(
        default=None, description="The one site this home owner may act on; null: not bound to one"
    )

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(name=user.name, role=user.role, site=user.site)


class TokenRequest(BaseModel):
    label: str = Field(min_length=1, max_length=64)
    days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    token: str
    label: str
    expires: str | None


class AuthProblem(BaseModel):
    detail: str


_REFUSED: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": AuthProblem, "description": "The body could not be read as JSON"},
    401: {"model": AuthProblem, "description": "Not logged in, or a bad API token"},
    403: {"model": AuthProblem, "description": "A cookie-borne change without the anti-forgery header"},
}
_LOGIN_REFUSED: Final[dict[int | str, dict[str, Any]]] = {
    400: _REFUSED[400],
    401: {"model": AuthProblem, "description": "Unknown user or wrong password"},
    429: {"model": AuthProblem, "description": "Too many failed logins of this name or address"},
    503: {"model": AuthProblem, "description": "Too many logins at once"},
}


def auth_router(auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["auth"])
    logged_in = auth.require()

    @router.post("/login", response_model=UserOut, responses=_LOGIN_REFUSED)
    def login(body: LoginRequest, request: Request, response: Response) -> UserOut:
        address = request.client.host if request.client is not None else None
        try:
            session = auth.store.login(body.name, body.password, address=address)
        except AuthError:
            raise HTTPException(401, "unknown user or wrong password") from None
        except Throttled as e:
            raise HTTPException(429, str(e), headers={"Retry-After": str(e.retry_after_s)}) from None
        except HashingBusy as e:
            raise HTTPException(503, str(e), headers={"Retry-After": str(e.retry_after_s)}) from None
        response.set_cookie(
            SESSION_COOKIE, session.token, httponly=True, samesite="strict", secure=auth.secure_cookie,
            max_age=int(auth.store.session_ttl.total_seconds()), path="/",
        )  # fmt: skip
        return UserOut.of(session.user)

    @router.post("/logout", status_code=204, responses=_REFUSED)
    def logout(request: Request, response: Response, user: Annotated[User, Depends(logged_in)]) -> None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            auth.store.logout(cookie)
        response.delete_cookie(SESSION_COOKIE, path="/")

    @router.get("/me", response_model=UserOut, responses={401: _REFUSED[401]})
    def me(user: Annotated[User, Depends(logged_in)]) -> UserOut:
        return UserOut.of(user)

    @router.post("/tokens", response_model=TokenOut, status_code=201, responses=_REFUSED)
    def new_token(body: TokenRequest, user: Annotated[User, Depends(logged_in)]) -> TokenOut:
        ttl = None if body.days is None else timedelta(days=body.days)
        issued = auth.store.issue_token(user.name, body.label, ttl=ttl)
        return TokenOut(
            token=issued.token, label=issued.label,
            expires=None if issued.expires is None else issued.expires.isoformat(),
        )  # fmt: skip

    return router
