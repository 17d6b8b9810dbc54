"""Users, sessions and API tokens, and the guard on state-changing endpoints: nothing changes state
without logging in, roles bound what a user may do, cookies need the anti-forgery header, expiry runs
on the injected clock."""

import asyncio
import hashlib
import os
import sqlite3
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from gridedge.clock import SimClock
from gridedge.web import users as users_module
from gridedge.web.auth import CSRF_HEADER, SESSION_COOKIE, Auth, auth_router
from gridedge.web.users import (
    AuthError,
    HashingBusy,
    LoginThrottle,
    Role,
    ScryptParams,
    Throttled,
    User,
    UserStore,
    hash_password,
    verify_password,
)

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
    assert r.status_code == 200 and r.json() == {"name": "anna", "role": "home-owner", "site": None}
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
    assert op.get("/api/me").json() == {"name": "dso", "role": "grid-operator", "site": None}
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


# --- review findings: memory, guessing, file mode, sites ---------------------------------------


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Instrument scrypt (at the cheap test cost): how many ran, and the most at once."""
    seen = {"calls": 0, "running": 0, "peak": 0}
    lock = threading.Lock()
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        with lock:
            seen["calls"] += 1
            seen["running"] += 1
            seen["peak"] = max(seen["peak"], seen["running"])
        try:
            time.sleep(0.01)  # long enough for the others to pile up
            return real(*args, **kwargs)
        finally:
            with lock:
                seen["running"] -= 1

    monkeypatch.setattr(users_module.hashlib, "scrypt", counting)
    return seen


def test_at_most_two_password_hashes_run_at_once(tmp_path: Path, scrypt_calls: dict[str, int]) -> None:
    users = UserStore(tmp_path / "users.db", SimClock(T0), params=FAST, hash_wait_s=30)
    users.add_user("anna", Role.HOME_OWNER, PW)

    def attempt(i: int) -> str:
        try:  # right and wrong passwords, known and unknown users: every one verifies a hash
            return users.login("anna" if i % 2 else f"guess{i}", PW).user.name
        except AuthError:
            return "refused"

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(attempt, range(32)))
    assert got.count("anna") == 16 and got.count("refused") == 16
    assert scrypt_calls["calls"] >= 33 and scrypt_calls["peak"] == 2  # as 30 threads of a web server


def test_a_login_that_finds_every_hashing_slot_busy_gets_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = UserStore(tmp_path / "users.db", SimClock(T0), params=FAST, max_hashing=1, hash_wait_s=0.05)
    users.add_user("anna", Role.HOME_OWNER, PW)
    api, _ = app(users)
    inside, release = threading.Event(), threading.Event()
    real = hashlib.scrypt

    def slow(*args: Any, **kwargs: Any) -> bytes:
        inside.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(users_module.hashlib, "scrypt", slow)
    first = threading.Thread(target=lambda: users.login("anna", PW))
    first.start()
    try:
        assert inside.wait(10)
        r = TestClient(api).post("/api/login", json={"name": "anna", "password": PW})
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and "at once" in r.json()["detail"]
        with pytest.raises(HashingBusy):
            users.add_user("ivan", Role.INSTALLER, PW)  # the same slots for every hash
    finally:
        release.set()
        first.join(10)
    monkeypatch.setattr(users_module.hashlib, "scrypt", real)
    assert TestClient(api).post("/api/login", json={"name": "anna", "password": PW}).status_code == 200


def test_failed_logins_are_throttled_per_name_on_the_clock(
    tmp_path: Path, scrypt_calls: dict[str, int]
) -> None:
    clock = SimClock(T0)
    users = store(tmp_path, clock)
    api, _ = app(users)
    client = TestClient(api)

    def login(name: str, password: str) -> Any:
        return client.post("/api/login", json={"name": name, "password": password})

    for _ in range(5):
        assert login("anna", "wrong password!!").status_code == 401
        asyncio.run(clock.advance(5))
    spent = scrypt_calls["calls"]
    r = login("anna", PW)  # even the right password: the name is locked for now
    assert r.status_code == 429 and "too many failed logins" in r.json()["detail"]
    assert r.headers["retry-after"] == "35"  # the first failure leaves the minute in 35 s
    assert scrypt_calls["calls"] == spent  # a refused attempt costs no scrypt
    assert login("dso", PW + " 2").status_code == 200  # other names are not affected
    # unknown users count the same (the decoy hash already makes them cost the same)
    for _ in range(5):
        assert login("nobody", "wrong password!!").status_code == 401
    assert login("nobody", "wrong password!!").status_code == 429
    asyncio.run(clock.advance(34))
    assert login("anna", PW).status_code == 429
    asyncio.run(clock.advance(1))
    r = login("anna", PW)  # the window moved on: the right password works again
    assert r.status_code == 200 and r.json()["name"] == "anna"
    # and a success starts the name's count again
    for _ in range(4):
        assert login("anna", "wrong password!!").status_code == 401
    assert login("anna", PW).status_code == 200
    assert login("anna", "wrong password!!").status_code == 401
    assert login("anna", PW).status_code == 200


def test_failed_logins_are_throttled_per_client_address(tmp_path: Path) -> None:
    clock = SimClock(T0)
    users = store(tmp_path, clock)
    for i in range(20):  # a different name each time, from one address
        with pytest.raises(AuthError):
            users.login(f"guess{i}", PW, address="192.0.2.7")
    with pytest.raises(Throttled) as refused:
        users.login("anna", PW, address="192.0.2.7")
    assert refused.value.retry_after_s == 60
    assert users.login("anna", PW, address="192.0.2.8").user.name == "anna"  # another address
    api, _ = app(users)
    r = TestClient(api, client=("192.0.2.7", 4711)).post("/api/login", json={"name": "anna", "password": PW})
    assert r.status_code == 429 and r.headers["retry-after"] == "60"
    asyncio.run(clock.advance(60))
    assert users.login("anna", PW, address="192.0.2.7").user.name == "anna"


def test_the_throttle_forgets_and_bounds_what_it_tracks() -> None:
    clock = SimClock(T0)
    throttle = LoginThrottle(clock, per_name=2, per_address=3, max_keys=10)
    for i in range(100):
        throttle.failed(f"n{i}", None)
    assert len(throttle._failures) <= 10
    throttle.failed("anna", "a")
    throttle.failed("anna", "a")
    with pytest.raises(Throttled):
        throttle.check("anna", None)
    throttle.succeeded("anna")
    throttle.check("anna", "a")
    throttle.failed("bert", "a")
    with pytest.raises(Throttled):
        throttle.check("carl", "a")  # the address's third failure
    with pytest.raises(ValueError):
        LoginThrottle(clock, per_name=0)


def test_the_users_database_is_private_to_its_owner(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        users = store(tmp_path, SimClock(T0))
        users._db.execute("pragma journal_mode = wal")  # SQLite gives -wal and -shm the database's mode
        users.login("anna", PW)
        made = sorted(f.name for f in tmp_path.iterdir())
        assert made == ["users.db", "users.db-shm", "users.db-wal"]
        for f in tmp_path.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        users.close()
        loose = tmp_path / "loose.db"
        sqlite3.connect(loose).close()
        loose.chmod(0o644)
        UserStore(loose, SimClock(T0), params=FAST).close()  # an existing one is narrowed
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_an_old_database_gains_the_site_column(tmp_path: Path) -> None:
    db = tmp_path / "users.db"
    old = sqlite3.connect(db)
    old.executescript(
        "create table users (name text primary key, role text not null, password text not null,"
        " created text not null);"
    )
    old.execute(
        "insert into users values ('anna', 'home-owner', ?, '2026-01-01')", (hash_password(PW, FAST),)
    )
    old.commit()
    old.close()
    users = UserStore(db, SimClock(T0), params=FAST)
    assert users.user("anna") == User("anna", Role.HOME_OWNER, None)
    assert users.login("anna", PW).user.site is None
    bound = users.add_user("bob", Role.HOME_OWNER, PW, site="home-02")
    assert bound == User("bob", Role.HOME_OWNER, "home-02") and users.user("bob") == bound
    session = users.login("bob", PW)
    assert session.user.site == "home-02" and users.session(session.token).site == "home-02"
    assert users.token(users.issue_token("bob", "t").token).site == "home-02"
    users.close()
    assert UserStore(db, SimClock(T0), params=FAST).users()[1].site == "home-02"  # migrated once
    with pytest.raises(ValueError, match="only a home owner"):
        users = UserStore(db, SimClock(T0), params=FAST)
        users.add_user("ivan", Role.INSTALLER, PW, site="home-02")
    with pytest.raises(ValueError, match="site"):
        users.add_user("carl", Role.HOME_OWNER, PW, site="a b")
