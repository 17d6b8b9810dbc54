"""Signed OpenADR events (tariffs and capacity limits): the service provider signs what an event
says; the VEN uses an event only when the signature checks out: unsigned, altered, forged,
re-used and stale events are refused, each counted once however often the VEN polls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from gridedge.bus.document_security import DocumentSigner, DocumentVerifier
from gridedge.bus.security import KeyRing, Signer
from gridedge.model.openadr import Event, price_event, signed_content
from gridedge.model.tariff import PriceSeries

T0 = datetime(2026, 1, 15, 12, tzinfo=UTC)
ESP = Signer.generate(b"esp-1")
MALLORY = Signer.generate(b"mallory")


def ring() -> KeyRing:
    r = KeyRing()
    r.provision(ESP.public_key, kid=ESP.kid, sources=["aggregator"])
    r.provision(MALLORY.public_key, kid=MALLORY.kid, sources=["somebody-else"])
    return r


def event(name: str = "tariff-2026-01-16", price: float = 0.25) -> Event:
    series = PriceSeries(T0 + timedelta(hours=12), 900, np.full(96, price), source="test")
    return price_event("p1", series, event_name=name)


def signed(e: Event, signer: Signer = ESP, at: datetime = T0) -> Event:
    sig = DocumentSigner(signer).sign(signed_content(e), at)
    # as the VTN stores and serves it: JSON out, JSON in
    return Event.model_validate_json(
        e.model_copy(update={"gridedge_signature": sig, "id": "e1"}).model_dump_json(by_alias=True)
    )


def check(v: DocumentVerifier, e: Event, at: datetime = T0) -> str | None:
    return v.check(e.id or "", signed_content(e), e.gridedge_signature, at)


def test_a_signed_event_survives_the_vtn_and_checks_out() -> None:
    v = DocumentVerifier(ring(), "aggregator")
    e = signed(event())
    assert e.gridedge_signature and check(v, e) is None
    assert check(v, e, T0 + timedelta(minutes=1)) is None  # polled again: remembered, no replay
    assert v.accepted == 1 and not v.rejected


def test_unsigned_altered_forged_reused_and_stale_events_are_refused() -> None:
    v = DocumentVerifier(ring(), "aggregator", max_age=timedelta(days=3))
    good = signed(event())
    altered = good.model_copy(update={"intervals": event(price=0.01).intervals})
    forged = signed(event("tariff-x"), MALLORY).model_copy(update={"id": "e2"})
    copied = {"id": "e3", "gridedge_signature": good.gridedge_signature}
    reused = event("tariff-2026-01-17").model_copy(update=copied)  # a signature taken from another event
    stale = signed(event("tariff-old"), at=T0 - timedelta(days=4)).model_copy(update={"id": "e4"})
    unsigned = event("tariff-y").model_copy(update={"id": "e5"})
    assert (check(v, altered) or "").startswith("bad_signature")
    assert (check(v, forged) or "").startswith("key_not_for_source")
    assert (check(v, reused) or "").startswith(("bad_signature", "replay"))
    assert (check(v, stale) or "").startswith("too_old")
    assert check(v, unsigned) == "unsigned"
    for _ in range(3):  # polling again changes no count
        check(v, unsigned)
        check(v, altered)
    assert sum(v.rejected.values()) == 5 and v.accepted == 0
