"""Users, sessions and API tokens, and the guard on state-changing endpoints: nothing changes state
without logging in, roles bound what a user may do, cookies need the anti-forgery header, expiry runs
on the injected clock."""

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from gridedge.clock import SimClock
from gridedge.web.auth import CSRF_HEADER, SESSION_COOKIE, Auth, auth_router
from gridedge.web.users import AuthError, Role, ScryptParams, User, UserStore, hash_password, verify_password

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
FAST = ScryptParams(n=2**10)  # the storage format is the same; the OWASP default is tested once below
PW = "correct horse battery"


def store(tmp: Path, clock: SimClock) -> UserStore:
    s = UserStore(tmp / "users.db", clock, params=FAST, session_ttl=timedelta(hours=1))
    s.add_user("anna", Role.HOME_OWNER, PW)
    s.add_user("dso", Role.GRID_OPERATOR, PW + " 2")
    return s


def app(users: UserStore) -> tuple[FastAPI, list[str]]:
    auth = Auth(users)
    api = FastAPI()
    api.include_router(auth_router(auth))
    done: list[str] = []

    @api.post("/api/limits")
    def set_limit(user: Annotated[User, Depends(auth.require(Role.GRID_OPERATOR))]) -> dict[str, str]:
        done.append(user.name)
        return {"by": user.name}

    @api.get("/api/state")
    def state() -> dict[str, bool]:
        return {"ok": True}

    return api, done


def test_passwords_are_salted_scrypt_hashes_with_the_owasp_default() -> None:
    a, b = hash_password(PW), hash_password(PW)
    assert a != b and a.startswith("scrypt$131072$8$1$")  # OWASP: N=2^17, r=8, p=1
    assert verify_password(PW, a) and not verify_password(PW + "x", a)
    with pytest.raises(ValueError):
        hash_password("")


def test_login_sessions_and_tokens_with_expiry_on_the_clock(tmp_path: Path) -> None:
    clock = SimClock(T0)
    users = store(tmp_path, clock)
    with pytest.raises(AuthError):
        users.login("anna", "wrong password!!")
    with pytest.raises(AuthError):
        users.login("nobody", PW)
    session = users.login("anna", PW)
    assert users.session(session.token) == User("anna", Role.HOME_OWNER)
    # sliding expiry: used after 50 min, still valid after 100 min, gone 61 min after the last use
    asyncio.run(clock.advance(50 * 60))
    users.session(session.token)
    asyncio.run(clock.advance(50 * 60))
    users.session(session.token)
    asyncio.run(clock.advance(61 * 60))
    with pytest.raises(AuthError):
        users.session(session.token)
    token = users.issue_token("dso", "scada", ttl=timedelta(days=1))
    assert users.token(token.token) == User("dso", Role.GRID_OPERATOR)
    assert users.revoke_token(token.token) and not users.revoke_token(token.token)
    with pytest.raises(AuthError):
        users.token(token.token)
    # only digests and hashes are stored: a copy of the database lets nobody in
    db = sqlite3.connect(tmp_path / "users.db")
    dump = "\n".join(str(row) for table in ("users", "sessions", "tokens")
                     for row in db.execute(f"select * from {table}"))  # fmt: skip
    assert PW not in dump and session.token not in dump and token.token not in dump
    with pytest.raises(ValueError, match="at least 12"):
        users.add_user("short", Role.INSTALLER, "short")
    with pytest.raises(ValueError, match="exists"):
        users.add_user("anna", Role.INSTALLER, PW)


def test_nothing_changes_state_without_the_right_login(tmp_path: Path) -> None:
    clock = SimClock(T0)
    users = store(tmp_path, clock)
    api, done = app(users)
    client = TestClient(api)
    assert client.get("/api/state").status_code == 200  # reading needs no login here
    r = client.post("/api/limits")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/login", json={"name": "anna", "password": "nope"}).status_code == 401
    # a home owner may not set grid limits
    r = client.post("/api/login", json={"name": "anna", "password": PW})
    assert r.status_code == 200 and r.json() == {"name": "anna", "role": "home-owner"}
    cookie = r.cookies[SESSION_COOKIE]
    assert (
        "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    )
    assert client.post("/api/limits", headers={CSRF_HEADER: "1"}).status_code == 403
    # the grid operator may, but a cookie alone (as a forged cross-site form would send) is refused
    op = TestClient(api)
    assert op.post("/api/login", json={"name": "dso", "password": PW + " 2"}).status_code == 200
    assert op.post("/api/limits").status_code == 403
    assert op.post("/api/limits", headers={CSRF_HEADER: "1"}).json() == {"by": "dso"}
    assert op.get("/api/me").json() == {"name": "dso", "role": "grid-operator"}
    # an API token works without the header; a wrong one is 401 with the RFC 6750 error
    token = op.post("/api/tokens", json={"label": "scada"}, headers={CSRF_HEADER: "1"}).json()["token"]
    api_client = TestClient(api)
    assert api_client.post("/api/limits", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    bad = api_client.post("/api/limits", headers={"Authorization": "Bearer ge_nope"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
    # logging out ends the session
    assert op.post("/api/logout", headers={CSRF_HEADER: "1"}).status_code == 204
    assert TestClient(api, cookies={SESSION_COOKIE: cookie}).get("/api/me").status_code == 200  # anna's
    op.cookies.clear()
    assert op.post("/api/limits", headers={CSRF_HEADER: "1"}).status_code == 401
    assert done == ["dso", "dso"]


def test_a_new_password_ends_the_old_sessions_and_tokens(tmp_path: Path) -> None:
    clock = SimClock(T0)
    users = store(tmp_path, clock)
    session = users.login("anna", PW)
    token = users.issue_token("anna", "script")
    users.set_password("anna", "a brand new passphrase")
    for check in (lambda: users.session(session.token), lambda: users.token(token.token)):
        with pytest.raises(AuthError):
            check()
    with pytest.raises(AuthError):
        users.login("anna", PW)
    assert users.login("anna", "a brand new passphrase").token
    assert users.user("anna") == User("anna", Role.HOME_OWNER)  # the role stays
    with pytest.raises(ValueError, match="at least 12"):
        users.set_password("anna", "short")
    with pytest.raises(KeyError, match="nobody"):
        users.set_password("nobody", "a brand new passphrase")
