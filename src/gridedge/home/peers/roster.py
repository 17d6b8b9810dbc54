"""Membership of a peer network: who belongs, with which key, role and groups, signed by the owner.

A network belongs to a home (its owner: the home owner's energy manager) or to an energy community
(its owner: the community's operator). The owner keeps one Ed25519 key offline-grade safe and signs
the roster, a versioned list of members. Every member trusts only the owner's public key and the
current roster, so:

* a message counts only if its sender is a member and it is signed with that member's key
  (`gridedge.bus.security.Verifier` with a key ring built from the roster: a key is provisioned
  for exactly one peer id, so one member cannot speak for another);
* a member's role bounds what it may send (`Role`: devices report and obey, managers command the
  home's devices, a controller makes share offers to member homes);
* joining and leaving are a new roster version. Members accept a roster only if the owner
  signed it for this network and its version is higher than theirs, so an old roster replayed
  cannot bring a removed member back.

The roster travels as a COSE_Sign1 (RFC 9052 §4.2) over a CBOR map, signed with the owner's key
(kid, sequence and issue time protected, as for commands) for the audience ``roster:<network>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gridedge.bus.security import KeyRing, Rejected, Signer, TimeSeededSequence, Verifier
from gridedge.home.peers.addressing import check_name
from gridedge.home.peers.messages import Role

__all__ = [
    "ROSTER_MAX_AGE",
    "Member",
    "Roster",
    "RosterError",
    "RosterIssuer",
    "claimed_network",
    "open_roster",
    "owner_source",
    "owner_verifier",
]

ROSTER_MAX_AGE: Final = timedelta(days=3650)
"""How old the roster file a member is provisioned with may be: it stays valid until a newer version
replaces it. Rosters heard on the network must be fresh (`PeerNode(roster_max_age=...)`)."""


class RosterError(ValueError):
    """A roster that is not signed by the owner, not for this network, or malformed."""


def owner_source(network: str) -> str:
    return f"owner:{network}"


def _audience(network: str) -> str:
    return f"roster:{network}"


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class Member:
    """One member: its peer id, its key (kid + Ed25519 public key), role and groups."""

    peer_id: str
    kid: bytes
    public_key: Ed25519PublicKey = field(compare=False)
    role: Role
    groups: tuple[str, ...] = ()
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        check_name("peer id", self.peer_id)
        for g in self.groups:
            check_name("group", g)
        if not self.kid:
            raise ValueError(f"{self.peer_id}: empty kid")

    @classmethod
    def of(cls, peer_id: str, signer: Signer, role: Role, groups: Iterable[str] = ()) -> Member:
        return cls(peer_id, signer.kid, signer.public_key, role, tuple(groups))


@dataclass(frozen=True, slots=True)
class Roster:
    network: str
    version: int
    members: tuple[Member, ...]

    def __post_init__(self) -> None:
        check_name("network", self.network)
        if self.version < 1:
            raise ValueError(f"roster version must be >= 1, got {self.version}")
        ids = [m.peer_id for m in self.members]
        kids = [m.kid for m in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError(f"roster {self.network} v{self.version}: a peer id appears twice")
        if len(set(kids)) != len(kids):
            raise ValueError(f"roster {self.network} v{self.version}: a kid appears twice")

    def member(self, peer_id: str) -> Member | None:
        for m in self.members:
            if m.peer_id == peer_id:
                return m
        return None

    def in_group(self, group: str) -> tuple[Member, ...]:
        return tuple(m for m in self.members if group in m.groups)

    def keyring(self) -> KeyRing:
        """The key ring a member verifies messages with: each key speaks for its peer id only."""
        ring = KeyRing()
        for m in self.members:
            ring.provision(m.public_key, kid=m.kid, sources=(m.peer_id,), not_after=m.not_after)
        return ring

    def with_member(self, member: Member) -> Roster:
        """The next version with `member` added (or replaced, same peer id)."""
        kept = tuple(m for m in self.members if m.peer_id != member.peer_id)
        return replace(self, version=self.version + 1, members=(*kept, member))

    def without(self, peer_id: str) -> Roster:
        """The next version without `peer_id` (a member leaves or is expelled)."""
        return replace(
            self, version=self.version + 1, members=tuple(m for m in self.members if m.peer_id != peer_id)
        )

    def to_cbor(self) -> bytes:
        members = [
            [m.peer_id, m.kid, _raw(m.public_key), m.role.value, list(m.groups),
             None if m.not_after is None else round(m.not_after.timestamp() * 1000)]
            for m in self.members
        ]  # fmt: skip
        return cbor2.dumps({"net": self.network, "v": self.version, "members": members})

    @classmethod
    def from_cbor(cls, data: bytes) -> Roster:
        try:
            doc: Any = cbor2.loads(data)
        except Exception as e:
            raise RosterError(f"roster: not CBOR ({e})") from None
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("net"), str)
            or not isinstance(doc.get("v"), int)
        ):
            raise RosterError("roster: expected a map with net (text), v (integer), members (array)")
        raw_members = doc.get("members")
        if not isinstance(raw_members, list):
            raise RosterError("roster.members: expected an array")
        members: list[Member] = []
        for n, raw in enumerate(raw_members):
            try:
                peer_id, kid, key, role, groups, not_after = raw
                if not isinstance(kid, bytes) or not isinstance(key, bytes) or len(key) != 32:
                    raise ValueError("kid and a 32-byte Ed25519 key expected")
                if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
                    raise ValueError("groups: an array of names expected")
                expiry = None if not_after is None else datetime.fromtimestamp(not_after / 1000, UTC)
                members.append(
                    Member(
                        peer_id,
                        kid,
                        Ed25519PublicKey.from_public_bytes(key),
                        Role(role),
                        tuple(groups),
                        expiry,
                    )
                )
            except (TypeError, ValueError, OverflowError, OSError) as e:
                raise RosterError(f"roster.members[{n}]: {e}") from None
        try:
            return cls(doc["net"], doc["v"], tuple(members))
        except ValueError as e:
            raise RosterError(str(e)) from None


class RosterIssuer:
    """The owner's side: signs roster versions with the owner key."""

    def __init__(self, network: str, owner: Signer) -> None:
        self.network = check_name("network", network)
        self.owner = owner
        self._sequence = TimeSeededSequence()

    def sign(self, roster: Roster, now: datetime) -> bytes:
        if roster.network != self.network:
            raise ValueError(f"roster is for {roster.network!r}, this issuer signs for {self.network!r}")
        return self.owner.sign(
            roster.to_cbor(),
            sequence=self._sequence.next(now),
            issued_at=now,
            audience=_audience(self.network),
        )


def owner_verifier(
    network: str, owner_key: Ed25519PublicKey, owner_kid: bytes, *, max_age: timedelta = ROSTER_MAX_AGE
) -> Verifier:
    """A verifier for roster documents of `network` (keeps the replay state of the owner's
    signatures; the version check is `open_roster`'s caller's). `max_age` bounds how long ago a
    roster may have been signed: long for the file a member is provisioned with, short for rosters
    heard on the network (`PeerNode`), which the issuer re-signs every minute."""
    ring = KeyRing()
    ring.provision(owner_key, kid=owner_kid, sources=(owner_source(network),))
    return Verifier(ring, audience=_audience(network), max_age=max_age, max_future=timedelta(minutes=5))


def claimed_network(data: bytes) -> str:
    """The network a signed roster says it is for, read *before* verification, only to choose the
    verifier (a roster file given to a member); `open_roster` then checks the signature and that
    the signed roster names that network. `RosterError` if the bytes are not a COSE_Sign1 roster."""
    try:
        tag = cbor2.loads(data)
        payload = tag.value[2] if isinstance(tag, cbor2.CBORTag) and tag.tag == 18 else None
    except Exception as e:
        raise RosterError(f"not a signed roster: {e}") from None
    if not isinstance(payload, bytes):
        raise RosterError("not a signed roster: expected a COSE_Sign1 (CBOR tag 18) with a payload")
    return Roster.from_cbor(payload).network


def open_roster(data: bytes, verifier: Verifier, network: str, now: datetime) -> Roster:
    """Verify a signed roster with the owner's verifier and decode it; `RosterError` says why not."""
    try:
        verified = verifier.verify(data, source=owner_source(network), now=now)
    except Rejected as e:
        raise RosterError(f"roster for {network}: {e.reason.value} {e}") from None
    roster = Roster.from_cbor(verified.payload)
    if roster.network != network:
        raise RosterError(f"roster is for network {roster.network!r}, expected {network!r}")
    return roster
