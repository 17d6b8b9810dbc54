"""OAuth2 client credentials for the VTN (spec: `securitySchemes.oAuth2ClientCredentials` and
POST /auth/token with `clientCredentialRequest` / `clientCredentialResponse` / `authError`).

Scopes are the spec's: `read_all`, `write_programs`, `write_events` (the business-logic role, BL),
`write_reports` (VENs only), `write_subscriptions` and `write_vens` (both). A client is configured
with a role, which gives its default scopes; a token request may ask for fewer (`scope`, space
separated, RFC 6749 §3.3) but never for more (`invalid_scope`).

Tokens are opaque random strings kept in memory with an expiry taken from the injected clock;
a restart of the VTN invalidates them and clients fetch new ones (the VEN does on 401).
Secrets are compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from gridedge.clock import Clock

__all__ = [
    "ALL_SCOPES",
    "ROLE_SCOPES",
    "AuthFailure",
    "Client",
    "Principal",
    "Role",
    "Scope",
    "TokenIssuer",
]


class Scope(StrEnum):
    """The scopes of `oAuth2ClientCredentials` in openadr3-3.0.1.yaml."""

    READ_ALL = "read_all"
    WRITE_PROGRAMS = "write_programs"
    WRITE_EVENTS = "write_events"
    WRITE_REPORTS = "write_reports"
    WRITE_SUBSCRIPTIONS = "write_subscriptions"
    WRITE_VENS = "write_vens"


class Role(StrEnum):
    """BL: the business logic (the energy service provider's publisher, an operator UI); VEN: a
    customer's client. A VEN sees only the vens, resources, subscriptions and reports it made."""

    BL = "BL"
    VEN = "VEN"


ALL_SCOPES: Final = frozenset(Scope)
ROLE_SCOPES: Final[dict[Role, frozenset[Scope]]] = {
    Role.BL: frozenset(
        {
            Scope.READ_ALL,
            Scope.WRITE_PROGRAMS,
            Scope.WRITE_EVENTS,
            Scope.WRITE_SUBSCRIPTIONS,
            Scope.WRITE_VENS,
        }
    ),
    Role.VEN: frozenset({Scope.READ_ALL, Scope.WRITE_REPORTS, Scope.WRITE_SUBSCRIPTIONS, Scope.WRITE_VENS}),
}
"""Default scopes per role, as the spec's scope descriptions assign them."""


@dataclass(frozen=True, slots=True)
class Client:
    """A configured client: id, secret, role, and its scopes (default: the role's)."""

    client_id: str
    secret: str
    role: Role
    scopes: frozenset[Scope] | None = None

    @property
    def allowed(self) -> frozenset[Scope]:
        return ROLE_SCOPES[self.role] if self.scopes is None else self.scopes


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as a verified token says."""

    client_id: str
    role: Role
    scopes: frozenset[Scope]

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes

    @property
    def sees_all(self) -> bool:
        """BL clients see every object; a VEN only its own vens, resources, subscriptions, reports."""
        return self.role is Role.BL


class AuthFailure(Exception):
    """A refused token request: an RFC 6749 §5.2 error code and a sentence."""

    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}")


@dataclass(slots=True)
class _Grant:
    principal: Principal
    expires: datetime


@dataclass(slots=True)
class TokenIssuer:
    """Issues and verifies bearer tokens for the configured clients."""

    clients: Iterable[Client]
    clock: Clock
    lifetime_s: int = 3600
    _by_id: dict[str, Client] = field(init=False)
    _tokens: dict[str, _Grant] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_id = {}
        for c in self.clients:
            if c.client_id in self._by_id:
                raise ValueError(f"clients: client_id {c.client_id!r} appears twice")
            self._by_id[c.client_id] = c
        if self.lifetime_s <= 0:
            raise ValueError(f"lifetime_s: expected seconds > 0, found {self.lifetime_s}")

    def issue(self, client_id: str, secret: str, scope: str | None = None) -> tuple[str, Principal]:
        """A new token for valid credentials; `AuthFailure` otherwise."""
        client = self._by_id.get(client_id)
        # compare against something even for an unknown id, so timing does not tell ids apart
        expected = client.secret if client is not None else secrets.token_hex(16)
        if not hmac.compare_digest(secret.encode(), expected.encode()) or client is None:
            raise AuthFailure("invalid_client", "unknown client_id or wrong client_secret")
        if scope is None or not scope.strip():
            granted = client.allowed
        else:
            asked = set(scope.split())
            unknown = sorted(asked - {s.value for s in Scope})
            if unknown:
                raise AuthFailure("invalid_scope", f"unknown scope(s) {unknown}")
            granted = frozenset(Scope(s) for s in asked)
            if not granted <= client.allowed:
                extra = sorted(s.value for s in granted - client.allowed)
                raise AuthFailure("invalid_scope", f"client {client_id!r} may not have scope(s) {extra}")
        self._purge()
        token = secrets.token_urlsafe(32)
        principal = Principal(client.client_id, client.role, granted)
        self._tokens[token] = _Grant(principal, self.clock.now() + timedelta(seconds=self.lifetime_s))
        return token, principal

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unexpired token; None otherwise."""
        grant = self._tokens.get(token)
        if grant is None:
            return None
        if self.clock.now() >= grant.expires:
            del self._tokens[token]
            return None
        return grant.principal

    def _purge(self) -> None:
        now = self.clock.now()
        for t in [t for t, g in self._tokens.items() if now >= g.expires]:
            del self._tokens[t]
