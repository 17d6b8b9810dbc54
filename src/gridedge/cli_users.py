"""`gridedge users`: the dashboard's accounts (`gridedge run` with `[web]`), in its users database.

    gridedge users add NAME --role home-owner|installer|grid-operator (--db FILE | --config FILE.toml)
                            [--site ID] [--password-file FILE]
    gridedge users list   (--db FILE | --config FILE.toml) [--json]
    gridedge users remove NAME (--db FILE | --config FILE.toml)
    gridedge users passwd NAME (--db FILE | --config FILE.toml) [--password-file FILE]

The database is the SQLite file of `gridedge.web.users.UserStore` (scrypt password hashes,
sessions, API tokens); `--config` takes its name from a `gridedge run` configuration's
`[web] users_db`. The password is asked for twice at the terminal (not echoed), or read from the
first line of `--password-file` (for scripts; keep that file private); it needs at least 12
characters. A user name is 1-64 of a-z 0-9 . _ @ - starting alphanumeric. `--site` binds a home
owner to one site: they may act (park devices, name appliances) on that home only; without it a
home owner acts on every site the dashboard shows (a `gridedge run` dashboard shows one). Installers
and grid operators are not bound. Removing a user, or changing their password, ends their sessions
and revokes their API tokens. `list` shows the site as a third column when a user has one.

Exit status: 0 done, 2 bad input (the message says what and where).
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gridedge.web.demo_users import Credential
    from gridedge.web.users import ScryptParams, UserStore

EXIT_OK = 0
EXIT_USAGE = 2
MIN_PASSWORD = 12
FIRST_USER = "owner"
SCRYPT: ScryptParams | None = None
"""The password hashing cost (None: `UserStore`'s default, the OWASP setting); tests lower it."""


class UsersError(Exception):
    """What is wrong with the command (printed as `gridedge users: ...`, exit 2)."""


def add_users_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "users",
        help="manage the dashboard's users (gridedge run's [web] users_db)",
        description="Add, list and remove the users who may log in to the dashboard of `gridedge run`, and"
        " change their passwords (docs/running.md).",
    )
    sub = p.add_subparsers(dest="users_command", required=True, metavar="{add,list,remove,passwd}")

    def db_options(q: argparse.ArgumentParser) -> None:
        where = q.add_mutually_exclusive_group(required=True)
        where.add_argument("--db", metavar="FILE", help="the users database (SQLite)")
        where.add_argument(
            "--config", metavar="FILE.toml", help="a gridedge run configuration: its [web] users_db"
        )

    def password_option(q: argparse.ArgumentParser) -> None:
        q.add_argument("--password-file", metavar="FILE", help="the password: first line of FILE (no prompt)")

    add = sub.add_parser("add", help="add a user", description="Add a user with a role and a password.")
    add.add_argument("name", help="user name (a-z 0-9 . _ @ -)")
    add.add_argument(
        "--role", required=True, choices=["home-owner", "installer", "grid-operator"], help="what they may do"
    )
    add.add_argument(
        "--site", metavar="ID", help="home owners only: the one site they may act on (default: any)"
    )
    db_options(add)
    password_option(add)
    add.set_defaults(func=cmd_users, parser=add)

    ls = sub.add_parser("list", help="list the users and their roles", description="List the users.")
    db_options(ls)
    ls.add_argument("--json", action="store_true", help="a JSON array of {name, role, site}")
    ls.set_defaults(func=cmd_users, parser=ls)

    rm = sub.add_parser(
        "remove", help="remove a user", description="Remove a user with their sessions and API tokens."
    )
    rm.add_argument("name")
    db_options(rm)
    rm.set_defaults(func=cmd_users, parser=rm)

    pw = sub.add_parser(
        "passwd",
        help="change a user's password",
        description="Set a new password; the user's sessions end and their API tokens are revoked.",
    )
    pw.add_argument("name")
    db_options(pw)
    password_option(pw)
    pw.set_defaults(func=cmd_users, parser=pw)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gridedge.cli_users ...` (the same as `gridedge users ...`)."""
    parser = argparse.ArgumentParser(prog="gridedge")
    add_users_parser(parser.add_subparsers())
    args = parser.parse_args(["users", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args)
    return result


def cmd_users(args: argparse.Namespace) -> int:
    try:
        db = _database(args)
        command = args.users_command
        if command == "add":
            if args.site is not None and args.role != "home-owner":
                raise UsersError(
                    "--site binds a home owner to a site; installers and grid operators act on every site"
                )
            password = _password(args, args.name)
            store = _open(db, create=True)
            try:
                from gridedge.web.users import Role

                try:
                    user = store.add_user(args.name, Role(args.role), password, site=args.site)
                except ValueError as exc:
                    raise UsersError(str(exc)) from None
            finally:
                store.close()
            where = "" if user.site is None else f", site {user.site}"
            print(f"user {user.name} ({user.role.value}{where}) added to {db}", file=sys.stderr)
        elif command == "list":
            store = _open(db)
            try:
                users = store.users()
            finally:
                store.close()
            if args.json:
                import json

                print(json.dumps([{"name": u.name, "role": u.role.value, "site": u.site} for u in users]))
            else:
                for u in users:
                    print(f"{u.name}\t{u.role.value}" + ("" if u.site is None else f"\t{u.site}"))
                if not users:
                    print(f"no users in {db}", file=sys.stderr)
        elif command == "remove":
            store = _open(db)
            try:
                _existing(store, args.name, db)
                store.remove_user(args.name)
            finally:
                store.close()
            print(f"user {args.name} removed from {db}", file=sys.stderr)
        else:
            password = _password(args, args.name)
            store = _open(db)
            try:
                set_password(store, args.name, password, db)
            finally:
                store.close()
            print(f"password of {args.name} changed (their sessions and API tokens ended)", file=sys.stderr)
    except UsersError as exc:
        print(f"gridedge users: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _database(args: argparse.Namespace) -> Path:
    if args.db is not None:
        return Path(args.db)
    from gridedge.app.run.config import RunConfigError, load_run_config

    try:
        cfg = load_run_config(args.config)
    except RunConfigError as exc:
        raise UsersError(str(exc)) from None
    if cfg.web is None:
        raise UsersError(f"{args.config}: no [web] table: the dashboard is off, it has no users database")
    return Path(cfg.web.users_db)


def _open(db: Path, *, create: bool = False) -> UserStore:
    from gridedge.clock import RealClock
    from gridedge.web.users import UserStore

    if not create and not db.is_file():
        raise UsersError(f"{db}: no users database there (gridedge users add ... creates it)")
    if not db.parent.is_dir():
        raise UsersError(f"{db}: the folder {db.parent} does not exist")
    try:
        return UserStore(db, RealClock()) if SCRYPT is None else UserStore(db, RealClock(), params=SCRYPT)
    except Exception as exc:  # sqlite3.DatabaseError: not a database, or locked
        raise UsersError(f"{db}: cannot open the users database: {exc}") from None


def _existing(store: UserStore, name: str, db: Path) -> None:
    if store.user(name) is None:
        known = ", ".join(u.name for u in store.users()) or "none"
        raise UsersError(f"no user {name!r} in {db} (users: {known})")


def _password(args: argparse.Namespace, name: str) -> str:
    """The new password: the first line of `--password-file`, or asked twice at the terminal."""
    if args.password_file is not None:
        try:
            text = Path(args.password_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsersError(f"--password-file {args.password_file}: cannot read: {exc}") from None
        lines = text.splitlines()
        password = lines[0] if lines else ""
        where = f"--password-file {args.password_file}: the first line"
    else:
        try:
            password = getpass.getpass(f"password for {name}: ")
            again = getpass.getpass("the same again: ")
        except (EOFError, KeyboardInterrupt):
            raise UsersError("no password given") from None
        if password != again:
            raise UsersError("the two passwords differ; nothing changed")
        where = "the password"
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"{where} has {len(password)} characters; at least {MIN_PASSWORD} are needed")
    return password


def set_password(store: UserStore, name: str, password: str, db: Path | str = "the users database") -> None:
    """Give `name` a new password, keeping their role; their sessions and API tokens end."""
    _existing(store, name, Path(db))
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"a password needs at least {MIN_PASSWORD} characters")
    store.set_password(name, password)


def first_owner(store: UserStore) -> Credential | None:
    """When the database holds no user: a home-owner `owner` with a generated password (16
    characters of `secrets.token_urlsafe`, 96 bits), to be shown once; else None."""
    from gridedge.web.demo_users import Credential
    from gridedge.web.users import Role

    if store.users():
        return None
    password = secrets.token_urlsafe(12)
    store.add_user(FIRST_USER, Role.HOME_OWNER, password)
    return Credential(FIRST_USER, Role.HOME_OWNER, password)


if __name__ == "__main__":
    sys.exit(main())
