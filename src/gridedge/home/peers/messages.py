"""What peers say to each other: the Chain2Net use cases as typed messages.

The Meters and More brochure lists what devices exchange: "instantaneous power
consumption/generation, energy profile, rated power/capacity, state of operation/state of charge",
and how they are controlled: "switching on/off non-modulable controllable devices or modulating
power consumption of modulable controllable devices (increase or decrease)", always "subject to
the constraint to satisfy the end user's needs". Those map onto gridedge's device model
(`gridedge.model.devices`: `DeviceInfo` announces, `DeviceState` reports, a setpoint orders):

=================  ============  ======================================================
message            kind          carries
=================  ============  ======================================================
`Announce`         announce      role, groups, and for a device its `DeviceInfo`
`EnergyData`       data          `DeviceState` (power, state of charge, operation) and
                                 an optional energy profile (planned power per slot)
`Discover`         discover      "announce yourselves" (a manager that just joined)
`Switch`           switch        on/off for a non-modulable device
`Modulate`         setpoint      power / ceiling / floor, or a relative step, in W
`Reply`            reply         the outcome of a command, matched by sequence number
`HomeSummary`      home          a member home's net power and how much it can absorb
`ShareOffer`       share         the community controller's share of PV surplus for a home
=================  ============  ======================================================

The body of each is a CBOR map (RFC 8949) with short text keys; decoding checks every field and
raises `PeerMessageError` naming the message kind, the field, what was expected and what was found.
Sign convention as everywhere in gridedge: power positive when consumed (imported), negative
when produced (exported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Final, TypeVar

from gridedge.home.peers.addressing import check_name
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol

__all__ = [
    "MESSAGE_TYPES",
    "Announce",
    "Discover",
    "EnergyData",
    "HomeSummary",
    "Message",
    "Modulate",
    "PeerMessageError",
    "ProfileSlot",
    "Reply",
    "Role",
    "ShareOffer",
    "Switch",
    "decode_body",
]


class PeerMessageError(ValueError):
    """A message body that is not what its kind says: names the kind, field, expectation, finding."""

    def __init__(self, kind: str, field: str, expected: str, found: object) -> None:
        shown = repr(found)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{kind}.{field}: expected {expected}, found {shown}")
        self.kind, self.field = kind, field


class Role(StrEnum):
    """What a member may do on a network (`roster.Member.role`)."""

    DEVICE = "device"
    """Reports its data and obeys commands; may not command others."""
    MANAGER = "manager"
    """A home's energy manager: commands the home's devices, represents the home in a community."""
    CONTROLLER = "controller"
    """A community controller (the REC's operator): sends share offers to member homes."""


_E = TypeVar("_E", bound=StrEnum)


class _Body:
    """Typed access to a decoded CBOR map, each failure naming the field."""

    __slots__ = ("_kind", "_map")

    def __init__(self, kind: str, body: object) -> None:
        if not isinstance(body, Mapping):
            raise PeerMessageError(kind, "(body)", "a CBOR map", body)
        self._kind, self._map = kind, body

    def _fail(self, field: str, expected: str) -> PeerMessageError:
        return PeerMessageError(self._kind, field, expected, self._map.get(field))

    def num(self, field: str, default: float | None = None, *, required: bool = False) -> float | None:
        v = self._map.get(field)
        if v is None:
            if required:
                raise self._fail(field, "a number")
            return default
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self._fail(field, "a finite number")
        try:
            f = float(v)  # an integer of 400 digits does not fit: OverflowError
        except OverflowError:
            raise self._fail(field, "a finite number") from None
        if not math.isfinite(f):
            raise self._fail(field, "a finite number")
        return f

    def req(self, field: str) -> float:
        v = self.num(field, required=True)
        assert v is not None
        return v

    def text(self, field: str, default: str | None = None) -> str:
        v = self._map.get(field, default)
        if not isinstance(v, str):
            raise self._fail(field, "a text string")
        return v

    def flag(self, field: str, default: bool | None = None) -> bool:
        v = self._map.get(field, default)
        if not isinstance(v, bool):
            raise self._fail(field, "true or false")
        return v

    def opt_flag(self, field: str) -> bool | None:
        return None if self._map.get(field) is None else self.flag(field)

    def time(self, field: str) -> datetime:
        v = self._map.get(field)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._fail(field, "milliseconds since 1970 (an integer)")
        try:
            return datetime.fromtimestamp(v / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise self._fail(field, "a time within 1970-9999") from None

    def enum(self, field: str, enum: type[_E]) -> _E:
        v = self._map.get(field)
        try:
            return enum(str(v))
        except ValueError:
            raise self._fail(field, "one of " + ", ".join(e.value for e in enum)) from None

    def names(self, field: str) -> tuple[str, ...]:
        v = self._map.get(field, [])
        if not isinstance(v, list):
            raise self._fail(field, "an array of names")
        try:
            return tuple(check_name(field, x) for x in v)
        except ValueError:
            raise self._fail(field, "an array of names (A-Z a-z 0-9 . _ -)") from None

    def items(self, field: str) -> list[Any]:
        v = self._map.get(field, [])
        if not isinstance(v, list):
            raise self._fail(field, "an array")
        return v

    def sub(self, field: str) -> _Body | None:
        v = self._map.get(field)
        return None if v is None else _Body(f"{self._kind}.{field}", v)


def _ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError(f"time {t.isoformat()} must be timezone-aware")
    return round(t.timestamp() * 1000)


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


class Message:
    """Base of the peer messages: `KIND` names it on the wire and in the topic."""

    KIND: ClassVar[str]

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def parse(cls, body: _Body) -> Message:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Announce(Message):
    """A member says what it is: its role, its groups, and for a device its capabilities
    (rated power and range, how it is controlled: Chain2Net's "rated power/capacity")."""

    KIND: ClassVar[str] = "announce"
    role: Role
    groups: tuple[str, ...] = ()
    device: DeviceInfo | None = None

    def body(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role.value, "groups": list(self.groups)}
        if self.device is not None:
            i = self.device
            d["device"] = _clean({
                "id": i.device_id, "kind": i.kind.value, "control": i.control.value,
                "min": i.min_power_w, "max": i.max_power_w, "phases": list(i.phases),
                "steps": list(i.steps_w) or None, "run": i.min_running_w or None,
                "g14a": i.guaranteed_min_w, "vendor": i.vendor or None, "model": i.model or None,
            })  # fmt: skip
        return d

    @classmethod
    def parse(cls, body: _Body) -> Announce:
        dev = body.sub("device")
        info = None
        if dev is not None:
            phases = dev.items("phases") or [1, 2, 3]
            if not all(p in (1, 2, 3) for p in phases):
                raise PeerMessageError("announce", "device.phases", "phases 1..3", phases)
            steps = dev.items("steps")
            if not all(isinstance(s, int | float) and not isinstance(s, bool) for s in steps):
                raise PeerMessageError("announce", "device.steps", "an array of numbers", steps)
            try:
                info = DeviceInfo(
                    dev.text("id"), dev.enum("kind", DeviceKind), Protocol.CHAIN2NET,
                    dev.enum("control", ControlMode), dev.req("min"), dev.req("max"), tuple(phases),
                    tuple(float(s) for s in steps), dev.num("g14a"), dev.text("vendor", ""),
                    dev.text("model", ""), dev.num("run", 0.0) or 0.0,
                )  # fmt: skip
            except ValueError as e:
                if isinstance(e, PeerMessageError):
                    raise
                raise PeerMessageError(
                    "announce", "device", "a consistent device description", str(e)
                ) from None
        return cls(body.enum("role", Role), body.names("groups"), info)


@dataclass(frozen=True, slots=True)
class ProfileSlot:
    """One slot of an energy profile: from `start`, for `duration_s`, at `power_w` on average."""

    start: datetime
    duration_s: float
    power_w: float


@dataclass(frozen=True, slots=True)
class EnergyData(Message):
    """A device's (or a home's) real-time energy data: Chain2Net's instantaneous power, state of
    operation or charge, and energy profile (what it plans to draw next)."""

    KIND: ClassVar[str] = "data"
    state: DeviceState
    profile: tuple[ProfileSlot, ...] = ()

    @property
    def running(self) -> bool:
        """State of operation: running when it draws or produces more than 1 W."""
        return abs(self.state.power_w) > 1.0

    def body(self) -> dict[str, Any]:
        s = self.state
        d = _clean({
            "id": s.device_id, "at": _ms(s.at), "p": s.power_w, "online": s.online, "soc": s.soc,
            "temp": s.temperature_c, "conn": s.connected, "wants": s.wants_power, "e": s.energy_kwh,
        })  # fmt: skip
        if self.profile:
            d["profile"] = [[_ms(p.start), p.duration_s, p.power_w] for p in self.profile]
        return d

    @classmethod
    def parse(cls, body: _Body) -> EnergyData:
        soc = body.num("soc")
        if soc is not None and not 0.0 <= soc <= 1.0:
            raise PeerMessageError("data", "soc", "a state of charge in 0..1", soc)
        state = DeviceState(
            body.text("id"), body.time("at"), body.req("p"), body.flag("online", True), soc,
            body.num("temp"), body.opt_flag("conn"), body.flag("wants", True), body.num("e"),
        )  # fmt: skip
        slots = tuple(_slot(n, raw) for n, raw in enumerate(body.items("profile")))
        return cls(state, slots)


def _slot(n: int, raw: object) -> ProfileSlot:
    fail = PeerMessageError("data", f"profile[{n}]", "[start ms, duration s > 0, power W]", raw)
    if not isinstance(raw, list) or len(raw) != 3 or not isinstance(raw[0], int) or isinstance(raw[0], bool):
        raise fail
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw[1:]):
        raise fail
    try:
        start = datetime.fromtimestamp(raw[0] / 1000, UTC)
        duration, power = float(raw[1]), float(raw[2])
    except (OverflowError, OSError, ValueError):
        raise fail from None
    if not (duration > 0 and math.isfinite(duration) and math.isfinite(power)):
        raise fail
    return ProfileSlot(start, duration, power)


@dataclass(frozen=True, slots=True)
class Discover(Message):
    """Ask every member that hears it to announce itself again."""

    KIND: ClassVar[str] = "discover"

    def body(self) -> dict[str, Any]:
        return {}

    @classmethod
    def parse(cls, body: _Body) -> Discover:
        return cls()


@dataclass(frozen=True, slots=True)
class Switch(Message):
    """Switch a non-modulable device on or off (Chain2Net "switching on/off")."""

    KIND: ClassVar[str] = "switch"
    on: bool
    reason: str = ""

    def body(self) -> dict[str, Any]:
        return _clean({"on": self.on, "why": self.reason or None})

    @classmethod
    def parse(cls, body: _Body) -> Switch:
        return cls(body.flag("on"), body.text("why", ""))


@dataclass(frozen=True, slots=True)
class Modulate(Message):
    """Modulate a device's power (Chain2Net "increase or decrease"): an absolute target `power_w`,
    or a relative `delta_w` from what it draws now, bounded by `max_w` / `min_w` (as
    `gridedge.model.devices.Setpoint`). All None: back to the device's own control."""

    KIND: ClassVar[str] = "setpoint"
    power_w: float | None = None
    delta_w: float | None = None
    max_w: float | None = None
    min_w: float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.power_w is not None and self.delta_w is not None:
            raise ValueError("give power_w or delta_w, not both")
        if self.max_w is not None and self.min_w is not None and self.min_w > self.max_w:
            raise ValueError(f"min_w {self.min_w} > max_w {self.max_w}")

    def body(self) -> dict[str, Any]:
        return _clean({
            "p": self.power_w, "dp": self.delta_w, "max": self.max_w, "min": self.min_w,
            "why": self.reason or None,
        })  # fmt: skip

    @classmethod
    def parse(cls, body: _Body) -> Modulate:
        try:
            return cls(body.num("p"), body.num("dp"), body.num("max"), body.num("min"), body.text("why", ""))
        except ValueError as e:
            if isinstance(e, PeerMessageError):
                raise
            raise PeerMessageError("setpoint", "(body)", "a consistent setpoint", str(e)) from None


@dataclass(frozen=True, slots=True)
class Reply(Message):
    """The outcome of a command: `to` is the command's sequence number (unique per sender)."""

    KIND: ClassVar[str] = "reply"
    to: int
    ok: bool
    detail: str = ""
    power_w: float | None = None
    """What the device will run at after the command, when it knows."""

    def body(self) -> dict[str, Any]:
        return _clean({"to": self.to, "ok": self.ok, "detail": self.detail or None, "p": self.power_w})

    @classmethod
    def parse(cls, body: _Body) -> Reply:
        to = body.req("to")
        if to != int(to) or to < 1:
            raise PeerMessageError("reply", "to", "a sequence number >= 1", to)
        return cls(int(to), body.flag("ok"), body.text("detail", ""), body.num("p"))


@dataclass(frozen=True, slots=True)
class HomeSummary(Message):
    """A member home of an energy community, as its manager reports it to the controller.

    `net_w`: at the grid connection (import positive). `absorb_w`: how much more the home could
    consume right now from flexible devices that want power, within their ranges and the home's
    import limit (the end user's needs come first: a full car or a warm house absorbs nothing).
    `shared_w`: what it is taking now from the community's surplus on the controller's offer."""

    KIND: ClassVar[str] = "home"
    at: datetime
    net_w: float
    absorb_w: float
    shared_w: float = 0.0
    pv_w: float | None = None
    min_share_w: float = 0.0
    """The smallest share the home can use at all (its devices' lowest running power); 0 when it
    can take any amount."""

    def body(self) -> dict[str, Any]:
        return _clean({
            "at": _ms(self.at), "net": self.net_w, "absorb": self.absorb_w, "shared": self.shared_w,
            "pv": self.pv_w, "min": self.min_share_w or None,
        })  # fmt: skip

    @classmethod
    def parse(cls, body: _Body) -> HomeSummary:
        absorb = body.req("absorb")
        if absorb < 0:
            raise PeerMessageError("home", "absorb", "watts >= 0", absorb)
        return cls(
            body.time("at"), body.req("net"), absorb, body.num("shared", 0.0) or 0.0, body.num("pv"),
            max(0.0, body.num("min", 0.0) or 0.0),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ShareOffer(Message):
    """The community controller's offer: this home may absorb up to `absorb_w` of the community's
    PV surplus until `until` (after that, or on a newer offer, it falls back to zero)."""

    KIND: ClassVar[str] = "share"
    absorb_w: float
    until: datetime

    def body(self) -> dict[str, Any]:
        return {"absorb": self.absorb_w, "until": _ms(self.until)}

    @classmethod
    def parse(cls, body: _Body) -> ShareOffer:
        absorb = body.req("absorb")
        if absorb < 0:
            raise PeerMessageError("share", "absorb", "watts >= 0", absorb)
        return cls(absorb, body.time("until"))


MESSAGE_TYPES: Final[dict[str, type[Message]]] = {
    t.KIND: t for t in (Announce, EnergyData, Discover, Switch, Modulate, Reply, HomeSummary, ShareOffer)
}


def decode_body(kind: str, body: object) -> Message:
    """The typed message of `kind` from its CBOR body; `PeerMessageError` when it is not one."""
    t = MESSAGE_TYPES.get(kind)
    if t is None:
        raise PeerMessageError(kind, "(kind)", "one of " + ", ".join(MESSAGE_TYPES), kind)
    return t.parse(_Body(kind, body))
