"""Builders for peer-network tests: a network with an owner, members, links on one bus."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.rawlink import InProcessRawLink, RawLink
from gridedge.bus.security import Signer
from gridedge.clock import Clock, SimClock
from gridedge.home.peers import Member, PeerNode, Role, Roster, RosterIssuer
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol, Setpoint

START = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)


@dataclass
class Net:
    """A network: its owner key, roster and the members' keys."""

    name: str
    owner: Signer
    roster: Roster
    keys: dict[str, Signer] = field(default_factory=dict)

    @classmethod
    def make(cls, name: str, members: Iterable[tuple[str, Role, tuple[str, ...]]]) -> Net:
        owner = Signer.generate()
        keys = {peer: Signer.generate() for peer, _, _ in members}
        roster = Roster(name, 1, tuple(Member.of(p, keys[p], role, groups) for p, role, groups in members))
        return cls(name, owner, roster, keys)

    def issuer(self) -> RosterIssuer:
        return RosterIssuer(self.name, self.owner)

    def node(self, peer: str, link: RawLink, clock: Clock, **kw: object) -> PeerNode:
        signer = self.keys.get(peer) or self.keys.setdefault(peer, Signer.generate())
        return PeerNode(peer, signer, self.roster, self.owner, link, clock, **kw)  # type: ignore[arg-type]


def sim_links(n: int = 0) -> tuple[SimClock, InProcessBus]:
    clock = SimClock(START)
    return clock, InProcessBus(clock)


def link(bus: InProcessBus, clock: Clock, name: str) -> InProcessRawLink:
    return InProcessRawLink(bus, clock, name=name)


class WaterHeater:
    """A non-modulable 2 kW water heater with a tank: on or off, wants power until the tank is hot."""

    def __init__(self, clock: Clock, device_id: str = "heater", rated_w: float = 2000.0) -> None:
        self.clock = clock
        self.rated_w = rated_w
        self._info = DeviceInfo(
            device_id, DeviceKind.APPLIANCE, Protocol.SIM, ControlMode.MODES, 0.0, rated_w, (1,),
            steps_w=(0.0, rated_w),
        )  # fmt: skip
        self.on = False
        self.need_wh = 3000.0
        self.applied: list[Setpoint] = []
        self._last = clock.monotonic()

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def power_w(self) -> float:
        return self.rated_w if self.on and self.need_wh > 0 else 0.0

    def advance(self) -> None:
        now = self.clock.monotonic()
        self.need_wh = max(0.0, self.need_wh - self.power_w * (now - self._last) / 3600.0)
        self._last = now

    def state(self) -> DeviceState:
        self.advance()
        return DeviceState(self._info.device_id, self.clock.now(), self.power_w, wants_power=self.need_wh > 0)

    async def apply(self, setpoint: Setpoint) -> None:
        self.advance()
        self.applied.append(setpoint)
        target = setpoint.target()
        self.on = target is None or target >= self.rated_w / 2
