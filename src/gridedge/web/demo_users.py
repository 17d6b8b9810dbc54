"""The demo's users: one per role, each with a fresh random password for `gridedge demo` to print.

Passwords are 16 characters of `secrets.token_urlsafe` (96 bits). Running the demo again on the
same data directory replaces these three users (and so ends their old sessions and tokens): the
passwords printed last are the ones that work. The home owner is bound to the featured home.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from gridedge.web.users import Role, UserStore

__all__ = ["DEMO_USERS", "Credential", "provision"]

DEMO_USERS: dict[Role, str] = {
    Role.HOME_OWNER: "owner",
    Role.INSTALLER: "installer",
    Role.GRID_OPERATOR: "operator",
}
"""The demo's user name for each role."""


@dataclass(frozen=True, slots=True)
class Credential:
    name: str
    role: Role
    password: str

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"Credential(name={self.name!r}, role={self.role.value!r}, password='***')"


def provision(store: UserStore, *, owner_site: str | None = None) -> list[Credential]:
    """Create (or re-create) one user per role with a generated password; the credentials, in role order.
    `owner_site` binds the home owner to that home (the demo's featured one): they act on it only."""
    out: list[Credential] = []
    for role, name in DEMO_USERS.items():
        password = secrets.token_urlsafe(12)
        if store.user(name) is not None:
            store.remove_user(name)
        store.add_user(name, role, password, site=owner_site if role is Role.HOME_OWNER else None)
        out.append(Credential(name, role, password))
    return out
