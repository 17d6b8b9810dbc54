"""Who a peer message is for, and the topic it travels on.

Chain2Net (Meters and More brochure, "Extending Chain 2 to Chain2Net Profile") enables unicast,
multicast and broadcast between the devices of a home or an energy community. On a publish/
subscribe bus the three become topic scopes under the network:

==============  ==========================================  ===========================
addressing      topic                                        signed audience
==============  ==========================================  ===========================
unicast         ``peers/<net>/peer/<id>/<kind>/<src>``       ``peer:<id>``
multicast       ``peers/<net>/group/<group>/<kind>/<src>``   ``group:<group>``
broadcast       ``peers/<net>/all/<kind>/<src>``             ``all``
==============  ==========================================  ===========================

`kind` (the message type) and `src` (the sender) are topic levels so that a receiver subscribes
only to what it handles (a device does not receive every other device's energy data) and learns
the claimed sender before it checks the signature. Both are also inside the signed frame, and the
audience is a protected header of the signature (`gridedge.bus.security`), so a message moved to
another topic, another peer or another group is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["ROOT", "Address", "Scope", "TopicParts", "check_name", "parse_topic"]

ROOT: Final = "peers"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(what: str, value: str) -> str:
    """A network, peer or group name: 1-64 of ``A-Z a-z 0-9 . _ -``, starting alphanumeric
    (no MQTT level separators or wildcards, so a name is always exactly one topic level)."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"{what} {value!r}: expected 1-64 of A-Z a-z 0-9 . _ - starting alphanumeric")
    return value


class Scope(StrEnum):
    PEER = "peer"
    GROUP = "group"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Address:
    """A destination: one peer, a group of peers, or every member of the network."""

    scope: Scope
    name: str = ""

    def __post_init__(self) -> None:
        if self.scope is Scope.ALL:
            if self.name:
                raise ValueError("a broadcast address has no name")
        else:
            check_name(f"{self.scope.value} name", self.name)

    @classmethod
    def peer(cls, peer_id: str) -> Address:
        return cls(Scope.PEER, peer_id)

    @classmethod
    def group(cls, group: str) -> Address:
        return cls(Scope.GROUP, group)

    @classmethod
    def broadcast(cls) -> Address:
        return cls(Scope.ALL)

    @property
    def audience(self) -> str:
        """The COSE audience this address signs as (see the module table)."""
        return "all" if self.scope is Scope.ALL else f"{self.scope.value}:{self.name}"

    @classmethod
    def from_audience(cls, audience: str) -> Address:
        if audience == "all":
            return cls.broadcast()
        scope, sep, name = audience.partition(":")
        if not sep or scope not in (Scope.PEER, Scope.GROUP):
            raise ValueError(f"audience {audience!r}: expected 'all', 'peer:<id>' or 'group:<name>'")
        return cls(Scope(scope), name)

    def prefix(self, network: str) -> str:
        """The topic levels up to (not including) the kind."""
        if self.scope is Scope.ALL:
            return f"{ROOT}/{network}/all"
        return f"{ROOT}/{network}/{self.scope.value}/{self.name}"

    def topic(self, network: str, kind: str, source: str) -> str:
        return f"{self.prefix(network)}/{kind}/{source}"

    def __str__(self) -> str:
        return self.audience


@dataclass(frozen=True, slots=True)
class TopicParts:
    network: str
    address: Address
    kind: str
    source: str


def parse_topic(topic: str) -> TopicParts:
    """Split a peer topic; ValueError naming the level that is wrong."""
    levels = topic.split("/")
    if len(levels) < 5 or levels[0] != ROOT:
        raise ValueError(f"topic {topic!r}: expected {ROOT}/<net>/<scope>/.../<kind>/<src>")
    network, scope, rest = levels[1], levels[2], levels[3:]
    if scope == Scope.ALL and len(rest) == 2:
        address = Address.broadcast()
    elif scope in (Scope.PEER, Scope.GROUP) and len(rest) == 3:
        address = Address(Scope(scope), rest[0])
        rest = rest[1:]
    else:
        raise ValueError(f"topic {topic!r}: level 3 {scope!r} with {len(rest)} levels after it")
    kind, source = rest
    check_name("network", network)
    check_name("source", source)
    return TopicParts(network, address, kind, source)
