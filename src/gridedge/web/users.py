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
* **Time** comes from the injected `Clock`, so expiry and the login throttle are tested in milliseconds.
* **The file** is created with mode 0600 (an existing one is narrowed to it); SQLite gives its
  journal, -wal and -shm files the same mode.
* **Sites**: a home owner may be bound to one site (`User.site`): they act on that home only.
  Installers and grid operators are never bound; an unbound home owner acts on every site (a
  single-site `gridedge run`).
* **Memory**: one scrypt at the default cost needs 128 MiB, and the web server runs logins on a
  thread pool of about 40 threads. At most `max_hashing` (2) hashes or verifications run at once;
  a login that cannot start one within `hash_wait_s` is refused with `HashingBusy` (the login
  route answers 503 with `Retry-After`).
* **Guessing**: `LoginThrottle` counts failed logins per user name and per client address on the
  injected clock; after `per_name` (5) failures of a name, or `per_address` (20) from an address,
  within `window` (a minute) further attempts are refused with `Throttled` (429 with
  `Retry-After`) without spending any scrypt work until the oldest failure leaves the window.
  The address allows more, because behind a reverse proxy every browser has the proxy's address.

Login failures do not say whether the user exists, and cost the same scrypt work (and count the
same against the throttle) either way.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import math
import os
import re
import secrets
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

from gridedge.clock import Clock

__all__ = [
    "ApiToken",
    "AuthError",
    "HashingBusy",
    "LoginThrottle",
    "Role",
    "ScryptParams",
    "Session",
    "Throttled",
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


class HashingBusy(Exception):
    """Every password-hashing slot stayed busy for longer than the store waits: try again shortly."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many logins at once; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Throttled(Exception):
    """Too many failed logins for this user name or from this address within the window."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


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
_SITE = re.compile(r"[^\s/]{1,64}")

_SCHEMA: Final = """
create table if not exists users (
    name text primary key, role text not null, password text not null, created text not null,
    site text
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
    site: str | None = None
    """The one site a home owner may act on; None: not bound (every other role, or any site)."""

    def may_act_on(self, site_id: str) -> bool:
        return self.site is None or self.site == site_id


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


class LoginThrottle:
    """Failed logins per key (a user name, a client address) within a sliding window, on `clock`.

    Memory stays bounded: at most `max_keys` keys are tracked (the stalest are forgotten first),
    each with at most its limit of timestamps."""

    def __init__(
        self,
        clock: Clock,
        *,
        per_name: int = 5,
        per_address: int = 20,
        window: timedelta = timedelta(minutes=1),
        max_keys: int = 10_000,
    ) -> None:
        if per_name < 1 or per_address < 1 or window <= timedelta(0) or max_keys < 1:
            raise ValueError("login throttle: limits and window must be positive")
        self.clock = clock
        self.per_name = per_name
        self.per_address = per_address
        self.window = window
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[datetime]] = {}
        self._lock = threading.Lock()

    def _keys(self, name: str, address: str | None) -> list[tuple[tuple[str, str], int]]:
        keys = [(("name", name), self.per_name)]
        if address:
            keys.append((("address", address), self.per_address))
        return keys

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime] | None:
        seen = self._failures.get(key)
        if seen is None:
            return None
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if not seen:
            del self._failures[key]
            return None
        return seen

    def check(self, name: str, address: str | None) -> None:
        """`Throttled` (with the seconds until an attempt is allowed) when either key is at its limit."""
        now = self.clock.now()
        wait = 0.0
        with self._lock:
            for key, limit in self._keys(name, address):
                seen = self._recent(key, now)
                if seen is not None and len(seen) >= limit:
                    wait = max(wait, (seen[-limit] + self.window - now).total_seconds())
        if wait > 0:
            raise Throttled(max(1, math.ceil(wait)))

    def failed(self, name: str, address: str | None) -> None:
        now = self.clock.now()
        with self._lock:
            for key, limit in self._keys(name, address):
                seen = self._recent(key, now)
                if seen is None:
                    if len(self._failures) >= self.max_keys:
                        self._forget_stalest(now)
                    seen = self._failures[key] = deque(maxlen=limit)
                seen.append(now)

    def succeeded(self, name: str) -> None:
        """A correct password for `name`: its own count starts again (the address's stays)."""
        with self._lock:
            self._failures.pop(("name", name), None)

    def _forget_stalest(self, now: datetime) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= self.max_keys:
            stalest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[stalest]


def _private_file(path: str | Path) -> None:
    """Create the database file readable by its owner only (0600) before SQLite opens it, and take
    group and world access away from an existing one. SQLite gives its journal, -wal and -shm files
    the database file's mode."""
    text = str(path)
    if text in ("", ":memory:") or text.startswith("file:"):
        return
    fd = os.open(text, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            with contextlib.suppress(OSError):  # not ours to change: leave it
                os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class UserStore:
    """Users, sessions and API tokens in one SQLite file (or `:memory:`)."""

    def __init__(
        self,
        path: str | Path,
        clock: Clock,
        *,
        params: ScryptParams = ScryptParams(),
        session_ttl: timedelta = timedelta(hours=12),
        max_hashing: int = 2,
        hash_wait_s: float = 2.0,
        throttle: LoginThrottle | None = None,
    ) -> None:
        if max_hashing < 1 or hash_wait_s < 0:
            raise ValueError("max_hashing must be >= 1 and hash_wait_s >= 0")
        self.clock = clock
        self.params = params
        self.session_ttl = session_ttl
        self.hash_wait_s = hash_wait_s
        self.throttle = LoginThrottle(clock) if throttle is None else throttle
        self._lock = threading.Lock()  # FastAPI runs sync endpoints in a thread pool
        self._hashing = threading.BoundedSemaphore(max_hashing)  # each scrypt holds 128 MiB
        _private_file(path)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("pragma foreign_keys = on")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("pragma table_info(users)")}
        if "site" not in columns:  # a database from before sites
            self._db.execute("alter table users add column site text")
        # one hash to spend on unknown users, so a failed login costs the same either way
        self._decoy = hash_password(secrets.token_urlsafe(16), params)

    @contextlib.contextmanager
    def _hash_slot(self) -> Iterator[None]:
        """One of the `max_hashing` slots for a scrypt, or `HashingBusy` after `hash_wait_s`."""
        if not self._hashing.acquire(timeout=self.hash_wait_s):
            raise HashingBusy(max(1, math.ceil(self.hash_wait_s)))
        try:
            yield
        finally:
            self._hashing.release()

    def _hash(self, password: str) -> str:
        with self._hash_slot():
            return hash_password(password, self.params)

    def close(self) -> None:
        self._db.close()

    # --- users ----------------------------------------------------------------------------------

    def add_user(self, name: str, role: Role, password: str, *, site: str | None = None) -> User:
        """A new user; `site` binds a home owner to that one site (other roles act on every site)."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"user name {name!r}: expected 1-64 of a-z 0-9 . _ @ - starting alphanumeric")
        if len(password) < 12:
            raise ValueError("a password needs at least 12 characters")
        if site is not None:
            if role is not Role.HOME_OWNER:
                raise ValueError(f"only a home owner is bound to a site, not a {role.value}")
            if not _SITE.fullmatch(site):
                raise ValueError(f"site {site!r}: expected 1-64 characters without spaces or '/'")
        stored = self._hash(password)
        with self._lock:
            try:
                self._db.execute(
                    "insert into users (name, role, password, created, site) values (?, ?, ?, ?, ?)",
                    (name, role.value, stored, self.clock.now().isoformat(), site),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"user {name!r} exists already") from None
        return User(name, role, site)

    def user(self, name: str) -> User | None:
        with self._lock:
            row = self._db.execute("select role, site from users where name = ?", (name,)).fetchone()
        return None if row is None else User(name, Role(row[0]), row[1])

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("select name, role, site from users order by name").fetchall()
        return [User(n, Role(r), s) for n, r, s in rows]

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session and API token of the user ends with the old one
        (OWASP ASVS 3.3.3: a credential change terminates the other sessions)."""
        if len(password) < 12:
            raise ValueError("a password needs at least 12 characters")
        stored = self._hash(password)
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

    def login(self, name: str, password: str, *, address: str | None = None) -> Session:
        """A new session, or `AuthError` (the same for an unknown user and a wrong password);
        `Throttled` after too many failures for `name` or from the client `address`, `HashingBusy`
        when no hashing slot freed up in time."""
        self.throttle.check(name, address)
        with self._lock:
            row = self._db.execute(
                "select role, password, site from users where name = ?", (name,)
            ).fetchone()
        with self._hash_slot():
            ok = verify_password(password, row[1] if row is not None else self._decoy)
        if row is None or not ok:
            self.throttle.failed(name, address)
            raise AuthError("unknown user or wrong password")
        self.throttle.succeeded(name)
        token = secrets.token_urlsafe(32)
        expires = self.clock.now() + self.session_ttl
        with self._lock:
            self._db.execute(
                "insert into sessions values (?, ?, ?)", (_digest(token), name, expires.isoformat())
            )
        return Session(token, User(name, Role(row[0]), row[2]), expires)

    def session(self, token: str) -> User:
        """The user of a live session; its expiry slides forward. `AuthError` otherwise."""
        now = self.clock.now()
        with self._lock:
            row = self._db.execute(
                "select s.name, u.role, s.expires, u.site from sessions s join users u on u.name = s.name"
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
        return User(row[0], Role(row[1]), row[3])

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
                "select t.name, u.role, t.expires, u.site from tokens t join users u on u.name = t.name"
                " where digest = ?",
                (_digest(token),),
            ).fetchone()
            if row is None or (row[2] is not None and datetime.fromisoformat(row[2]) <= now):
                raise AuthError("no such API token, or it expired")
            self._db.execute(
                "update tokens set last_used = ? where digest = ?", (now.isoformat(), _digest(token))
            )
        return User(row[0], Role(row[1]), row[3])

    def revoke_token(self, token: str) -> bool:
        with self._lock:
            cur = self._db.execute("delete from tokens where digest = ?", (_digest(token),))
        return cur.rowcount > 0
