"""Flexibility messages as signed commands (issue 6: "every command ... flexibility request ...
signed"): the service provider signs requests to a group, dispatches and settlements to a site;
sites verify them with the audience each carries and sign their offers; keys cannot cross roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from gridedge.bus.codec import decode_envelope, encode_envelope
from gridedge.bus.command_security import (
    CommandRejected,
    aggregator_command_security,
    dso_command_security,
    site_command_security,
    site_source,
)
from gridedge.bus.envelope import Envelope
from gridedge.bus.security import KeyRing, Signer, Verifier
from gridedge.model.flex import FlexDirection, FlexDispatch, FlexOffer, FlexRequest
from gridedge.model.limits import PowerLimit

T0 = datetime(2026, 1, 15, 15, tzinfo=UTC)
DSO = Signer.generate(b"dso-1")
ESP = Signer.generate(b"esp-1")
HOME = Signer.generate(b"home-1")
REQUEST = FlexRequest("r1", FlexDirection.REDUCE, 3.0, T0 + timedelta(hours=2), T0 + timedelta(hours=4), 0.25,
                      T0 + timedelta(hours=1), "ghent")  # fmt: skip
DISPATCH = FlexDispatch("r1", "home", FlexDirection.REDUCE, T0 + timedelta(hours=2), (1.0,) * 8, 0.2)


def ring() -> KeyRing:
    r = KeyRing()
    r.provision(DSO.public_key, kid=DSO.kid, sources=["dso"])
    r.provision(ESP.public_key, kid=ESP.kid, sources=["aggregator"])
    r.provision(HOME.public_key, kid=HOME.kid, sources=[site_source("home")])
    return r


def wire(topic: str, payload: object, source: str, sequence: int = 1) -> bytes:
    return encode_envelope(Envelope(topic, payload, source, sequence, T0, uuid4()))


def test_requests_and_dispatches_signed_by_the_aggregator_are_accepted_by_the_site() -> None:
    esp = aggregator_command_security(ESP, None)
    home = site_command_security("home", None, Verifier(ring(), audience="home"), flex_groups=["ghent"])
    request = esp.seal("flex/request/ghent", wire("flex/request/ghent", REQUEST, "aggregator", 1), T0)
    to_home = "site/home/flex/dispatch"
    dispatch = esp.seal(to_home, wire(to_home, DISPATCH, "aggregator", 2), T0)
    assert request != wire("flex/request/ghent", REQUEST, "aggregator", 1)  # signed, not plain
    assert decode_envelope(home.open("flex/request/ghent", request, T0)).payload == REQUEST
    assert decode_envelope(home.open("site/home/flex/dispatch", dispatch, T0)).payload == DISPATCH
    assert home.stats.verified == 2 and home.stats.rejected_total == 0


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unsigned", "unsigned"),
        ("replayed", "replay"),
        ("other group", "wrong_audience"),
        ("dispatch for another site", "wrong_audience"),
        ("the dso's key on flex", "source_not_for_topic"),
        ("the aggregator's key on a limit", "source_not_for_topic"),
    ],
)
def test_forged_or_misused_flex_commands_are_rejected(case: str, reason: str) -> None:
    esp = aggregator_command_security(ESP, None)
    verifier = Verifier(ring(), audience="home")
    home = site_command_security("home", None, verifier, flex_groups=["ghent", "bruges"])
    first = esp.seal("flex/request/ghent", wire("flex/request/ghent", REQUEST, "aggregator", 1), T0)
    home.open("flex/request/ghent", first, T0)
    if case == "unsigned":
        topic, data = "flex/request/ghent", wire("flex/request/ghent", REQUEST, "aggregator", 5)
    elif case == "replayed":
        topic, data = "flex/request/ghent", first
    elif case == "other group":  # a request for Ghent moved to Bruges's topic, re-wrapped as if sent there
        bruges = wire("flex/request/bruges", REQUEST, "aggregator", 7)
        signed_for_ghent = aggregator_command_security(ESP, None)
        signed_for_ghent.audience = lambda _t: "group:ghent"
        topic, data = "flex/request/bruges", signed_for_ghent.seal("flex/request/bruges", bruges, T0)
    elif case == "dispatch for another site":
        other = wire("site/home/flex/dispatch", DISPATCH, "aggregator", 8)
        wrong = aggregator_command_security(ESP, None)
        wrong.audience = lambda _t: "office"
        topic, data = "site/home/flex/dispatch", wrong.seal("site/home/flex/dispatch", other, T0)
    elif case == "the dso's key on flex":
        topic = "site/home/flex/dispatch"
        data = aggregator_command_security(DSO, None).seal(topic, wire(topic, DISPATCH, "dso", 9), T0)
    else:
        topic = "site/home/lpc/limit"
        limit = wire(topic, PowerLimit(1.0, True), "aggregator", 10)
        data = dso_command_security(ESP, None).seal(topic, limit, T0)
    with pytest.raises(CommandRejected) as err:
        home.open(topic, data, T0)
    assert err.value.reason == reason, err.value
    assert home.stats.rejected_nonzero() == {reason: 1}


def test_offers_are_signed_by_the_site_and_verified_by_the_aggregator() -> None:
    home = site_command_security("home", HOME, None, flex_groups=["ghent"])
    esp = aggregator_command_security(None, Verifier(ring()))
    offer = FlexOffer("r1", "home", (1.0,) * 8, 0.2, T0 + timedelta(hours=1))
    topic = "site/home/flex/offer"
    data = home.seal(topic, wire(topic, offer, site_source("home"), 1), T0)
    assert decode_envelope(esp.open(topic, data, T0)).payload == offer
    # another site's key (or the site speaking for another) is refused
    office = "site/office/flex/offer"
    office_side = site_command_security("office", HOME, None)
    moved = office_side.seal(office, wire(office, offer, site_source("home"), 2), T0)
    with pytest.raises(CommandRejected) as err:
        esp.open("site/office/flex/offer", moved, T0)
    assert err.value.reason == "source_not_for_topic"
