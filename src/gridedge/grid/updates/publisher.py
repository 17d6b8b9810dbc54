"""Sign update payloads and publish them to one gateway or a group.

Each message is a COSE_Sign1 (`bus.security.Signer`) with the update key, a sequence number that
only grows (`TimeSeededSequence`: it survives a restart of the publisher without a counter file)
and the audience - the meter id, or `group:<name>` - in the protected header, so a message cannot
be moved to another gateway's topic. The update key should be used for nothing else: the gateways
provision it for `UPDATE_SOURCE` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridedge.bus.rawlink import RawLink
from gridedge.bus.security import Signer, TimeSeededSequence
from gridedge.clock import Clock
from gridedge.grid.updates.package import FunctionPackageSpec, encode_rollback
from gridedge.grid.updates.topics import group_audience, group_update_topic, update_topic

__all__ = ["Gateway", "Group", "SignedUpdate", "Target", "UpdatePublisher"]


@dataclass(frozen=True, slots=True)
class Gateway:
    meter_id: str


@dataclass(frozen=True, slots=True)
class Group:
    name: str


Target = Gateway | Group


@dataclass(frozen=True, slots=True)
class SignedUpdate:
    """One signed message, where it goes, and the sequence the answers will name."""

    topic: str
    audience: str
    sequence: int
    message: bytes


class UpdatePublisher:
    def __init__(
        self, signer: Signer, link: RawLink, clock: Clock, *, sequence: TimeSeededSequence | None = None
    ) -> None:
        self.signer = signer
        self.link = link
        self.clock = clock
        self._sequence = sequence or TimeSeededSequence()

    def sign(self, payload: bytes, target: Target) -> SignedUpdate:
        if isinstance(target, Gateway):
            topic, audience = update_topic(target.meter_id), target.meter_id
        else:
            topic, audience = group_update_topic(target.name), group_audience(target.name)
        now = self.clock.now()
        seq = self._sequence.next(now)
        message = self.signer.sign(payload, sequence=seq, issued_at=now, audience=audience)
        return SignedUpdate(topic, audience, seq, message)

    async def send(self, update: SignedUpdate) -> SignedUpdate:
        """Publish (QoS 1, awaiting the broker's acknowledgement; `LinkDown` if the link is down)."""
        await self.link.publish(update.topic, update.message)
        return update

    async def publish(self, package: FunctionPackageSpec, target: Target) -> SignedUpdate:
        return await self.send(self.sign(package.encode(), target))

    async def rollback(self, name: str, version: str, target: Target, reason: str = "") -> SignedUpdate:
        """Order the gateway(s) back to `version` of `name` (the kept previous version or the built-in)."""
        return await self.send(self.sign(encode_rollback(name, version, reason), target))
