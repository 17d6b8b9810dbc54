"""Users, roles, browser sessions and API tokens of the web UI and API, kept in SQLite.

Issue 7: "Nothing that changes state (limits, device commands, labels) works without logging in:
users and roles (home owner, installer, grid operator), sessions for the UI, tokens for the API".

* **Passwords** are stored as scrypt hashes (RFC 7914, `hashlib.scrypt` from the standard library)
  with a random 16-byte salt and the parameters in the stored string, so they can be raised later
  without invalidating old hashes. The default N = 2^17, r = 8, p = 1 is the OWASP Password Storage
  Cheat Sheet's scrypt setting (128 MiB and ~0.3 s per hash on this machine: a login, not a
  request). Comparison is constant-time (`hmac.compare_digest`).
* **Sessions and API tokens** are 32 random bytes (`secrets.token_urlsafe`). Only their SHA-256 is
  stored, so a copy of the database does not let anyone in. A session lasts `session_ttl` from its
  last use (sliding, 12 h by default), an API token until it is revoked or its optional expiry.
  Tokens say which user and role they act as.
* **Time** comes from the injected `Clock`, so expiry is tested in milliseconds.

Login failures do not say whether the user exists, and cost the same scrypt work either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

from gridedge.clock import Clock

__all__ = [
    "ApiToken",
    "AuthError",
    "Role",
    "ScryptParams",
    "Session",
    "User",
    "UserStore",
    "hash_password",
    "verify_password",
]


class Role(StrEnum):
    """Who may do what (the issue's three roles)."""

    HOME_OWNER = "home-owner"
    """Their home: its devices, labels, comfort settings."""
    INSTALLER = "installer"
    """Commissioning: devices, meters and configuration of the homes they install."""
    GRID_OPERATOR = "grid-operator"
    """The grid view: power limits, heartbeats, the head-end's alarms."""


class AuthError(Exception):
    """Login refused, or a session or token that is not (or no longer) valid."""


@dataclass(frozen=True, slots=True)
class ScryptParams:
    n: int = 2**17
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1) or self.r < 1 or self.p < 1:
            raise ValueError(f"scrypt parameters: N a power of 2 > 1, r >= 1, p >= 1; got {self}")

    @property
    def maxmem(self) -> int:
        return 128 * self.r * self.n * self.p + 2 * 1024 * 1024


_HASH = re.compile(r"scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+=*)\$([A-Za-z0-9_-]+=*)")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def hash_password(password: str, params: ScryptParams = ScryptParams()) -> str:
    """`scrypt$N$r$p$salt$hash`, the parameters kept with the hash."""
    if not password:
        raise ValueError("a password must not be empty")
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=params.n, r=params.r, p=params.p,
                         maxmem=params.maxmem, dklen=32)  # fmt: skip
    return f"scrypt${params.n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    m = _HASH.fullmatch(stored)
    if m is None:
        raise ValueError("not a scrypt hash of this store")
    params = ScryptParams(int(m[1]), int(m[2]), int(m[3]))
    salt, key = base64.urlsafe_b64decode(m[4]), base64.urlsafe_b64decode(m[5])
    got = hashlib.scrypt(password.encode(), salt=salt, n=params.n, r=params.r, p=params.p,
                         maxmem=params.maxmem, dklen=len(key))  # fmt: skip
    return hmac.compare_digest(got, key)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")

_SCHEMA: Final = """
create table if not exists users (
    name text primary key, role text not null, password text not null, created text not null
);
create table if not exists sessions (
    digest text primary key, name text not null references users(name) on delete cascade,
    expires text not null
);
create table if not exists tokens (
    digest text primary key, name text not null references users(name) on delete cascade,
    label text not null, created text not null, expires text, last_used text
);
"""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    """The secret for the cookie (shown once; only its digest is stored)."""
    user: User
    expires: datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    token: str
    """The bearer secret (shown once; only its digest is stored)."""
    user: User
    label: str
    expires: datetime | None


class UserStore:
    """Users, sessions and API tokens in one SQLite file (or `:memory:`)."""

    def __init__(
        self,
        path: str | Path,
        clock: Clock,
        *,
        params: ScryptParams = ScryptParams(),
        session_ttl: timedelta = timedelta(hours=12),
    ) -> None:
        self.clock = clock
        self.params = params
        self.session_ttl = session_ttl
        self._lock = threading.Lock()  # FastAPI runs sync endpoints in a thread pool
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("pragma foreign_keys = on")
        self._db.executescript(_SCHEMA)
        # one hash to spend on unknown users, so a failed login costs the same either way
        self._decoy = hash_password(secrets.token_urlsafe(16), params)

    def close(self) -> None:
        self._db.close()

    # --- users ----------------------------------------------------------------------------------

    def add_user(self, name: str, role: Role, password: str) -> User:
        if not _NAME.fullmatch(name):
            raise ValueError(f"user name {name!r}: expected 1-64 of a-z 0-9 . _ @ - starting alphanumeric")
        if len(password) < 12:
            raise ValueError("a password needs at least 12 characters")
        stored = hash_password(password, self.params)
        with self._lock:
            try:
                self._db.execute(
                    "insert into users values (?, ?, ?, ?)",
                    (name, role.value, stored, self.clock.now().isoformat()),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"user {name!r} exists already") from None
        return User(name, role)

    def user(self, name: str) -> User | None:
        with self._lock:
            row = self._db.execute("select role from users where name = ?", (name,)).fetchone()
        return None if row is None else User(name, Role(row[0]))

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("select name, role from users order by name").fetchall()
        return [User(n, Role(r)) for n, r in rows]

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session and API token of the user ends with the old one
        (OWASP ASVS 3.3.3: a credential change terminates the other sessions)."""
        if len(password) < 12:
            raise ValueError("a password needs at least 12 characters")
        stored = hash_password(password, self.params)
        with self._lock:
            changed = self._db.execute("update users set password = ? where name = ?", (stored, name))
            if changed.rowcount == 0:
                raise KeyError(f"no user {name!r}")
            self._db.execute("delete from sessions where name = ?", (name,))
            self._db.execute("delete from tokens where name = ?", (name,))

    def remove_user(self, name: str) -> None:
        """Remove a user with their sessions and tokens."""
        with self._lock:
            self._db.execute("delete from users where name = ?", (name,))

    # --- sessions -------------------------------------------------------------------------------

    def login(self, name: str, password: str) -> Session:
        """A new session, or `AuthError` (the same for an unknown user and a wrong password)."""
        with self._lock:
            row = self._db.execute("select role, password from users where name = ?", (name,)).fetchone()
        ok = verify_password(password, row[1] if row is not None else self._decoy)
        if row is None or not ok:
            raise AuthError("unknown user or wrong password")
        token = secrets.token_urlsafe(32)
        expires = self.clock.now() + self.session_ttl
        with self._lock:
            self._db.execute(
                "insert into sessions values (?, ?, ?)", (_digest(token), name, expires.isoformat())
            )
        return Session(token, User(name, Role(row[0])), expires)

    def session(self, token: str) -> User:
        """The user of a live session; its expiry slides forward. `AuthError` otherwise."""
        now = self.clock.now()
        with self._lock:
            row = self._db.execute(
                "select s.name, u.role, s.expires from sessions s join users u on u.name = s.name"
                " where digest = ?",
                (_digest(token),),
            ).fetchone()
            if row is None or datetime.fromisoformat(row[2]) <= now:
                if row is not None:
                    self._db.execute("delete from sessions where digest = ?", (_digest(token),))
                raise AuthError("no such session, or it expired")
            self._db.execute(
                "update sessions set expires = ? where digest = ?",
                ((now + self.session_ttl).isoformat(), _digest(token)),
            )
        return User(row[0], Role(row[1]))

    def logout(self, token: str) -> None:
        with self._lock:
            self._db.execute("delete from sessions where digest = ?", (_digest(token),))

    # --- API tokens -----------------------------------------------------------------------------

    def issue_token(self, name: str, label: str, *, ttl: timedelta | None = None) -> ApiToken:
        user = self.user(name)
        if user is None:
            raise ValueError(f"no user {name!r}")
        token = "ge_" + secrets.token_urlsafe(32)
        now = self.clock.now()
        expires = None if ttl is None else now + ttl
        with self._lock:
            self._db.execute(
                "insert into tokens values (?, ?, ?, ?, ?, null)",
                (
                    _digest(token),
                    name,
                    label,
                    now.isoformat(),
                    None if expires is None else expires.isoformat(),
                ),
            )
        return ApiToken(token, user, label, expires)

    def token(self, token: str) -> User:
        """The user a bearer token acts as, or `AuthError`."""
        now = self.clock.now()
        with self._lock:
            row = self._db.execute(
                "select t.name, u.role, t.expires from tokens t join users u on u.name = t.name"
                " where digest = ?",
                (_digest(token),),
            ).fetchone()
            if row is None or (row[2] is not None and datetime.fromisoformat(row[2]) <= now):
                raise AuthError("no such API token, or it expired")
            self._db.execute(
                "update tokens set last_used = ? where digest = ?", (now.isoformat(), _digest(token))
            )
        return User(row[0], Role(row[1]))

    def revoke_token(self, token: str) -> bool:
        with self._lock:
            cur = self._db.execute("delete from tokens where digest = ?", (_digest(token),))
        return cur.rowcount > 0
