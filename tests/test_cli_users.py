"""`gridedge users`: add, list, remove and change the password of the dashboard's users in the users
database of `gridedge run` (`--db`, or `--config` and its `[web] users_db`); passwords from the
terminal (asked twice) or a file; bad input exits 2 saying what is wrong; the first owner account
`gridedge run` creates on an empty database."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridedge import cli_users
from gridedge.cli_users import first_owner, main
from gridedge.clock import RealClock
from gridedge.web.users import AuthError, Role, ScryptParams, UserStore

PASSWORD = "correct horse battery"
FAST = ScryptParams(n=2**10)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's own hashes at a test's cost (the parameters are stored with each hash)."""
    monkeypatch.setattr(cli_users, "SCRYPT", FAST)


def _pw(tmp: Path, text: str, name: str = "pw.txt") -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def test_add_list_passwd_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "users.db")
    assert (
        main(
            [
                "add",
                "anna",
                "--role",
                "home-owner",
                "--db",
                db,
                "--password-file",
                _pw(tmp_path, PASSWORD + "\n"),
            ]
        )
        == 0
    )
    assert "user anna (home-owner) added to" in capsys.readouterr().err
    assert main(["add", "otto", "--role", "grid-operator", "--db", db,
                 "--password-file", _pw(tmp_path, PASSWORD)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["list", "--db", db]) == 0
    assert capsys.readouterr().out == "anna\thome-owner\notto\tgrid-operator\n"
    assert main(["list", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "anna", "role": "home-owner", "site": None},
        {"name": "otto", "role": "grid-operator", "site": None},
    ]

    # a new password: the role stays, the old password and the user's tokens no longer work
    store = UserStore(db, RealClock(), params=FAST)
    token = store.issue_token("anna", "script").token
    store.close()
    assert (
        main(["passwd", "anna", "--db", db, "--password-file", _pw(tmp_path, "a much better passphrase")])
        == 0
    )
    assert "password of anna changed" in capsys.readouterr().err
    store = UserStore(db, RealClock(), params=FAST)
    try:
        assert store.user("anna") is not None and store.user("anna").role is Role.HOME_OWNER  # type: ignore[union-attr]
        assert store.login("anna", "a much better passphrase").user.name == "anna"
        with pytest.raises(AuthError):
            store.login("anna", PASSWORD)
        with pytest.raises(AuthError):
            store.token(token)
    finally:
        store.close()

    assert main(["remove", "otto", "--db", db]) == 0
    assert "user otto removed" in capsys.readouterr().err
    assert main(["remove", "otto", "--db", db]) == 2
    said = capsys.readouterr().err
    assert "gridedge users: no user 'otto' in" in said and "(users: anna)" in said
    assert main(["remove", "anna", "--db", db]) == 0
    capsys.readouterr()
    assert main(["list", "--db", db]) == 0
    got = capsys.readouterr()
    assert got.out == "" and "no users in" in got.err


def test_passwords_asked_twice_at_the_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    db = str(tmp_path / "users.db")
    answers: Iterator[str] = iter([PASSWORD, PASSWORD + "!"])
    prompts: list[str] = []

    def fake(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", fake)
    assert main(["add", "ivan", "--role", "installer", "--db", db]) == 2
    assert prompts == ["password for ivan: ", "the same again: "]
    assert "the two passwords differ; nothing changed" in capsys.readouterr().err
    assert not Path(db).exists() or UserStore(db, RealClock(), params=FAST).users() == []
    answers = iter([PASSWORD, PASSWORD])
    assert main(["add", "ivan", "--role", "installer", "--db", db]) == 0
    answers = iter(["short", "short"])
    assert main(["passwd", "ivan", "--db", db]) == 2
    assert "the password has 5 characters; at least 12 are needed" in capsys.readouterr().err


def test_errors_say_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "users.db")
    good = _pw(tmp_path, PASSWORD)

    def err(*argv: str) -> str:
        assert main(list(argv)) == 2
        return capsys.readouterr().err

    # nothing to list or remove: no database is created by looking
    assert "no users database there" in err("list", "--db", db)
    assert not Path(db).exists()
    assert "the folder" in err("add", "anna", "--role", "home-owner", "--db", str(tmp_path / "no" / "u.db"),
                               "--password-file", good)  # fmt: skip
    assert "at least 12 are needed" in err("add", "anna", "--role", "home-owner", "--db", db,
                                           "--password-file", _pw(tmp_path, "\n", "empty.txt"))  # fmt: skip
    assert "cannot read" in err("add", "anna", "--role", "home-owner", "--db", db,
                                "--password-file", str(tmp_path / "missing.txt"))  # fmt: skip
    assert "user name 'Anna Maes'" in err("add", "Anna Maes", "--role", "home-owner", "--db", db,
                                          "--password-file", good)  # fmt: skip
    assert main(["add", "anna", "--role", "home-owner", "--db", db, "--password-file", good]) == 0
    assert "user 'anna' exists already" in err("add", "anna", "--role", "installer", "--db", db,
                                               "--password-file", good)  # fmt: skip
    assert "no user 'bob'" in err("passwd", "bob", "--db", db, "--password-file", good)
    (tmp_path / "junk.db").write_bytes(b"not a database at all, " * 100)
    assert "cannot open the users database" in err("list", "--db", str(tmp_path / "junk.db"))
    with pytest.raises(SystemExit) as exit_:
        main(["add", "anna", "--role", "admin", "--db", db])
    assert exit_.value.code == 2 and "invalid choice: 'admin'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["list"])  # --db or --config is required
    assert "one of the arguments --db --config is required" in capsys.readouterr().err


def test_the_database_of_a_run_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "gridedge.toml"
    cfg.write_text('scenario = "site.toml"\n[web]\nusers_db = "accounts.db"\n')
    assert main(["add", "anna", "--role", "home-owner", "--config", str(cfg),
                 "--password-file", _pw(tmp_path, PASSWORD)]) == 0  # fmt: skip
    assert (tmp_path / "accounts.db").is_file()
    cfg.write_text('scenario = "site.toml"\n[web]\n')  # the default: beside the configuration
    assert main(["add", "anna", "--role", "home-owner", "--config", str(cfg),
                 "--password-file", _pw(tmp_path, PASSWORD)]) == 0  # fmt: skip
    assert (tmp_path / "gridedge-users.db").is_file()
    cfg.write_text('scenario = "site.toml"\n')
    capsys.readouterr()
    assert main(["list", "--config", str(cfg)]) == 2
    assert "no [web] table" in capsys.readouterr().err
    cfg.write_text('scenario = "site.toml"\n[web]\nusers = "x.db"\n')
    assert main(["list", "--config", str(cfg)]) == 2
    assert "line 3: web.users: unknown key; did you mean 'users_db'?" in capsys.readouterr().err


def test_a_home_owner_bound_to_a_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "users.db")
    good = _pw(tmp_path, PASSWORD)
    assert (
        main(["add", "bea", "--role", "home-owner", "--site", "home-02", "--db", db, "--password-file", good])
        == 0
    )
    assert "user bea (home-owner, site home-02) added to" in capsys.readouterr().err
    assert main(["add", "anna", "--role", "home-owner", "--db", db, "--password-file", good]) == 0
    capsys.readouterr()
    assert main(["list", "--db", db]) == 0
    assert capsys.readouterr().out == "anna\thome-owner\nbea\thome-owner\thome-02\n"
    assert main(["list", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[1] == {"name": "bea", "role": "home-owner", "site": "home-02"}
    store = UserStore(db, RealClock(), params=FAST)
    try:
        assert store.login("bea", PASSWORD).user.site == "home-02"
    finally:
        store.close()
    assert (
        main(["add", "ivan", "--role", "installer", "--site", "home-02", "--db", db, "--password-file", good])
        == 2
    )
    assert "installers and grid operators act on every site" in capsys.readouterr().err
    assert (
        main(["add", "carl", "--role", "home-owner", "--site", "a b", "--db", db, "--password-file", good])
        == 2
    )
    assert "site 'a b'" in capsys.readouterr().err
    assert oct(Path(db).stat().st_mode & 0o777) == oct(0o600)  # created private


def test_first_owner_only_on_an_empty_database() -> None:
    store = UserStore(":memory:", RealClock(), params=FAST)
    try:
        first = first_owner(store)
        assert first is not None and first.name == "owner" and first.role is Role.HOME_OWNER
        assert len(first.password) == 16 and first.password not in repr(first)
        assert store.login("owner", first.password).user.role is Role.HOME_OWNER
        assert first_owner(store) is None
    finally:
        store.close()


def test_the_module_runs_as_a_command(tmp_path: Path) -> None:
    db = tmp_path / "users.db"
    out = subprocess.run(
        [sys.executable, "-m", "gridedge.cli_users", "add", "anna", "--role", "home-owner", "--db", str(db),
         "--password-file", _pw(tmp_path, PASSWORD)], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = subprocess.run([sys.executable, "-m", "gridedge.cli_users", "list", "--db", str(db)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.stdout == "anna\thome-owner\n"
