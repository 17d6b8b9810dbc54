"""Peer messages: every kind survives its CBOR body unchanged; a wrong body names the kind and
field; no body, however odd, raises anything but `PeerMessageError`; addresses and topics."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.home.peers import (
    Address,
    Announce,
    Discover,
    EnergyData,
    HomeSummary,
    Modulate,
    PeerMessageError,
    ProfileSlot,
    Reply,
    Role,
    ShareOffer,
    Switch,
)
from gridedge.home.peers.addressing import parse_topic
from gridedge.home.peers.messages import MESSAGE_TYPES, Message, decode_body
from gridedge.model.devices import ControlMode, DeviceInfo, DeviceKind, DeviceState, Protocol

T = datetime(2026, 6, 21, 12, 0, 0, 123000, tzinfo=UTC)
EV = DeviceInfo("ev-1", DeviceKind.EV_CHARGER, Protocol.CHAIN2NET, ControlMode.POWER, 0.0, 11040.0,
                min_running_w=4140.0, vendor="acme")  # fmt: skip
HEATER = DeviceInfo("boiler", DeviceKind.APPLIANCE, Protocol.CHAIN2NET, ControlMode.MODES, 0.0, 2000.0, (2,),
                    steps_w=(0.0, 2000.0))  # fmt: skip

EXAMPLES: list[Message] = [
    Announce(Role.DEVICE, ("thermal", "south"), EV),
    Announce(Role.DEVICE, (), HEATER),
    Announce(Role.MANAGER),
    EnergyData(DeviceState("ev-1", T, 7360.5, soc=0.42, connected=True, wants_power=True, energy_kwh=12.5)),
    EnergyData(
        DeviceState("hp", T, 0.0, online=False, temperature_c=20.5, wants_power=False),
        (ProfileSlot(T, 900.0, 1800.0), ProfileSlot(T + timedelta(minutes=15), 900.0, 0.0)),
    ),
    Discover(),
    Switch(True, "surplus"),
    Switch(False),
    Modulate(power_w=3000.0, max_w=3500.0, min_w=0.0, reason="pv"),
    Modulate(delta_w=-500.0),
    Modulate(),
    Reply(1_780_000_000_123, True, "", 2000.0),
    Reply(5, False, "does not want power"),
    HomeSummary(T, -3200.0, 0.0, 0.0, 4100.0),
    HomeSummary(T, 150.0, 6900.0, 2500.0, None, 4140.0),
    ShareOffer(2500.0, T + timedelta(seconds=10)),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.KIND)
def test_every_message_survives_its_cbor_body(message: Message) -> None:
    wire = cbor2.dumps(message.body())
    assert decode_body(message.KIND, cbor2.loads(wire)) == message


@pytest.mark.parametrize(
    ("kind", "body", "field", "expected"),
    [
        ("switch", {"on": "yes"}, "on", "true or false"),
        ("data", {"id": "x", "at": 1, "p": float("nan")}, "p", "a finite number"),
        ("data", {"id": "x", "at": 1, "p": 1.0, "soc": 1.5}, "soc", "a state of charge in 0..1"),
        ("data", {"id": "x", "at": "noon", "p": 1.0}, "at", "milliseconds since 1970"),
        ("data", {"id": "x", "at": 1, "p": 1, "profile": [[1, 0, 5]]}, "profile[0]", "duration s > 0"),
        ("announce", {"role": "king"}, "role", "one of device, manager, controller"),
        ("announce", {"role": "device", "groups": ["a/b"]}, "groups", "an array of names"),
        ("announce", {"role": "device", "device": {"id": "x", "kind": "ev-charger", "control": "power",
                                                     "min": 5.0, "max": 1.0}}, "device", "consistent"),
        ("setpoint", {"p": 1.0, "dp": 2.0}, "(body)", "a consistent setpoint"),
        ("reply", {"to": 0, "ok": True}, "to", "a sequence number >= 1"),
        ("home", {"at": 1, "net": 0, "absorb": -5}, "absorb", "watts >= 0"),
        ("share", [1, 2], "(body)", "a CBOR map"),
        ("teleport", {}, "(kind)", "one of announce"),
    ],
)  # fmt: skip
def test_a_wrong_body_names_kind_field_and_expectation(
    kind: str, body: Any, field: str, expected: str
) -> None:
    with pytest.raises(PeerMessageError) as info:
        decode_body(kind, body)
    assert info.value.field == field and expected in str(info.value), str(info.value)
    assert str(info.value).startswith(f"{kind}.{field}: expected ") or kind == "announce"


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=6),
    max_leaves=20,
)
KEYS = "id at p dp on role groups device soc profile to ok net absorb until min max kind control steps"
known_keys = st.sampled_from(KEYS.split())


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(MESSAGE_TYPES)), st.dictionaries(known_keys, cbor_values, max_size=8) | cbor_values
)
def test_no_body_raises_anything_but_a_peer_message_error(kind: str, body: Any) -> None:
    with contextlib.suppress(PeerMessageError):
        decode_body(kind, body)


def test_addresses_and_topics() -> None:
    assert Address.peer("ev-1").topic("home-1", "switch", "cem") == "peers/home-1/peer/ev-1/switch/cem"
    assert Address.group("thermal").audience == "group:thermal"
    assert Address.broadcast().topic("rec", "data", "pv") == "peers/rec/all/data/pv"
    for a in (Address.peer("x"), Address.group("g"), Address.broadcast()):
        assert Address.from_audience(a.audience) == a
        parts = parse_topic(a.topic("n1", "data", "src"))
        assert (parts.network, parts.address, parts.kind, parts.source) == ("n1", a, "data", "src")
    for bad in ("peers/n1/peer/x/data", "peers/n1/all/data", "other/n1/all/data/s", "peers/n1/moon/x/data/s"):
        with pytest.raises(ValueError):
            parse_topic(bad)
    for name in ("", "a/b", "+", "#", "x" * 65, "-lead"):
        with pytest.raises(ValueError):
            Address.peer(name)
