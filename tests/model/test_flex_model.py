"""model.flex: flexibility messages are checked on construction and travel over the bus codec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from gridedge.bus.codec import DEFAULT_REGISTRY, decode_envelope, encode_envelope
from gridedge.bus.envelope import Envelope
from gridedge.model.flex import (
    FLEX_PAYLOAD_TYPES,
    FlexDirection,
    FlexDispatch,
    FlexOffer,
    FlexRequest,
    FlexSettlement,
    dispatch_topic,
    offer_topic,
    register_flex_payloads,
    request_topic,
    settlement_topic,
)

T0 = datetime(2025, 1, 15, 16, 0, tzinfo=UTC)


def _request(**kw: object) -> FlexRequest:
    args: dict[str, object] = dict(
        request_id="r1",
        direction=FlexDirection.REDUCE,
        power_kw=3.0,
        start=T0,
        end=T0 + timedelta(hours=2),
        price_eur_per_kwh=0.3,
        offer_deadline=T0 - timedelta(minutes=30),
        group="ghent",
    )
    args.update(kw)
    return FlexRequest(**args)  # type: ignore[arg-type]


def test_request_window_in_steps() -> None:
    r = _request()
    assert r.steps == 8 and r.step_h == 0.25
    assert r.energy_kwh == pytest.approx(6.0)
    assert r.step_start(1) == T0 + timedelta(minutes=15)
    assert r.step_start(8) == r.end


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("power_kw", 0.0, "power_kw: expected a finite kW > 0"),
        ("power_kw", float("nan"), "power_kw"),
        ("price_eur_per_kwh", -0.1, "price_eur_per_kwh"),
        ("end", T0, "end: expected after start"),
        ("start", T0 + timedelta(minutes=5), "start: expected a multiple of 900 s"),
        ("end", T0 + timedelta(minutes=50), "end: expected a whole number of 900 s steps"),
        ("offer_deadline", T0 + timedelta(minutes=1), "offer_deadline: expected at or before start"),
        ("start", datetime(2025, 1, 15, 16, 0), "start: expected a timezone-aware time"),
        ("group", "", "group"),
        ("request_id", "", "request_id"),
        ("step_s", 90, "step_s"),
    ],
)
def test_request_rejects_bad_fields(field: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _request(**{field: value})


def test_offer_dispatch_settlement_validation_and_properties() -> None:
    o = FlexOffer("r1", "a", (1.0, 0.5), 0.2, T0)
    assert o.energy_kwh == pytest.approx(0.375) and not o.empty
    assert FlexOffer("r1", "a", (0.0, 0.0), 0.0, T0).empty
    with pytest.raises(ValueError, match=r"power_kw\[1\]: expected a finite kW >= 0"):
        FlexOffer("r1", "a", (1.0, -0.5), 0.2, T0)
    with pytest.raises(ValueError, match="power_kw: expected one value per step"):
        FlexOffer("r1", "a", (), 0.2, T0)
    d = FlexDispatch("r1", "a", FlexDirection.INCREASE, T0, (2.0, 0.0), 0.2)
    assert d.accepted and d.end == T0 + timedelta(minutes=30) and d.energy_kwh == pytest.approx(0.5)
    assert not FlexDispatch("r1", "a", FlexDirection.REDUCE, T0, (0.0,), 0.2).accepted
    with pytest.raises(ValueError, match="payment_eur"):
        FlexSettlement("r1", "a", 1.0, 0.5, 0.5, 0.5, 0.5, 1.0, -1.0, "x")


def test_topics() -> None:
    assert request_topic("ghent") == "flex/request/ghent"
    assert offer_topic("a") == "site/a/flex/offer"
    assert dispatch_topic("a") == "site/a/flex/dispatch"
    assert settlement_topic("a") == "site/a/flex/settlement"


def test_flex_messages_round_trip_through_the_bus_codec() -> None:
    reg = DEFAULT_REGISTRY.copy()
    register_flex_payloads(reg)
    register_flex_payloads(reg)  # idempotent
    assert all(name in reg for name, _ in FLEX_PAYLOAD_TYPES)
    assert all(name in DEFAULT_REGISTRY for name, _ in FLEX_PAYLOAD_TYPES)  # they cross MQTT as is
    payloads: list[object] = [
        _request(),
        FlexOffer("r1", "a", (1.0, 0.5), 0.2, T0),
        FlexDispatch("r1", "a", FlexDirection.INCREASE, T0, (2.0, 0.0), 0.2),
        FlexSettlement("r1", "a", 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, "10-of-10"),
    ]
    for i, p in enumerate(payloads, 1):
        env = Envelope("flex/request/g", p, "test", i, T0, UUID(int=i))
        back = decode_envelope(encode_envelope(env, reg), reg)
        assert back.payload == p
