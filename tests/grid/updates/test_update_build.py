"""The grid side: a package is checked before it is signed; signing puts the audience and a growing
sequence in the protected header; the gateway's decoder reads what the builder wrote; answers that
do not open with the meter key are counted as forged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest

from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.rawlink import InProcessRawLink
from gridedge.bus.security import KeyRing, Signer, Verifier
from gridedge.bus.telemetry import Sealer
from gridedge.clock import SimClock
from gridedge.grid.updates import BuildError, Gateway, Group, StatusTracker, UpdatePublisher, build_package
from gridedge.grid.updates.package import encode_rollback
from gridedge.grid.updates.topics import UPDATE_SOURCE

GOOD = "def create(context):\n    return None\n"
START = datetime(2025, 3, 3, 12, tzinfo=UTC)


def test_build_checks_before_signing(tmp_path: Path) -> None:
    spec = build_package(GOOD, name="load-curves", version="1.2.3")
    payload = cbor2.loads(spec.encode())
    assert payload["type"] == "gridedge.function-package/1" and payload["sha256"] == spec.sha256
    assert payload["min_core"] == "0.1.0" and payload["entry"] == "create"
    f = tmp_path / "fn.py"
    f.write_text(GOOD)
    assert build_package(f, name="events", version="2.0.0").source == GOOD
    for kwargs, message in (
        ({"name": "metrology", "version": "1.0.0"}, "the gateways replace"),
        ({"name": "load-curves", "version": "1.0"}, "MAJOR.MINOR.PATCH"),
        ({"name": "load-curves", "version": "01.0.0"}, "MAJOR.MINOR.PATCH"),
        ({"name": "load-curves", "version": "1.0.0", "entry": "make"}, "no top-level 'make'"),
        ({"name": "load-curves", "version": "1.0.0", "min_core": "x"}, "min_core"),
    ):
        with pytest.raises(BuildError, match=message):
            build_package(GOOD, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(BuildError, match="does not compile: line 1"):
        build_package("def create(:\n", name="load-curves", version="1.0.0")
    assert (
        cbor2.loads(encode_rollback("load-curves", "1.0.0", "why"))["type"] == "gridedge.function-rollback/1"
    )


def test_the_gateway_decoder_reads_what_the_builder_writes() -> None:
    from gridedge.home.gateway.functions.package import FunctionPackage, RollbackOrder, decode_request

    spec = build_package(GOOD, name="load-curves", version="1.2.3", min_core="0.1.0")
    assert decode_request(spec.encode()) == FunctionPackage(
        "load-curves", "1.2.3", "create", GOOD, spec.sha256, "0.1.0"
    )
    assert decode_request(encode_rollback("events", "1.0.0", "r")) == RollbackOrder("events", "1.0.0", "r")


def test_signing_binds_audience_and_sequence() -> None:
    clock = SimClock(START)
    signer = Signer.generate(kid=b"u")
    publisher = UpdatePublisher(signer, InProcessRawLink(InProcessBus(clock), clock), clock)
    a = publisher.sign(b"payload", Gateway("M1"))
    b = publisher.sign(b"payload", Group("feeder-7"))
    assert (a.topic, a.audience) == ("gateway/M1/update", "M1")
    assert (b.topic, b.audience) == ("gateway-group/feeder-7/update", "group:feeder-7")
    assert b.sequence > a.sequence
    ring = KeyRing()
    ring.provision(signer.public_key, kid=signer.kid, sources={UPDATE_SOURCE})
    ok = Verifier(ring, audience="group:feeder-7").verify(b.message, source=UPDATE_SOURCE, now=START)
    assert ok.payload == b"payload" and ok.sequence == b.sequence


def test_tracker_counts_answers_that_do_not_open_as_forged() -> None:
    clock = SimClock(START)
    bus = InProcessBus(clock)
    gw = InProcessRawLink(bus, clock, name="gw")
    grid = InProcessRawLink(bus, clock, name="grid")
    key = bytes(range(16))
    tracker = StatusTracker(grid, clock, lambda m: key if m == "M1" else None)
    tracker.start()
    answer = cbor2.dumps({"meter": "M1", "state": "installed", "name": "events", "version": "1.1.0",
                          "replaced": "1.0.0", "reason": "", "request": 5, "time": 0})  # fmt: skip

    async def main() -> None:
        await gw.start()
        await grid.start()
        await gw.publish("gateway/M1/update/status", Sealer("M1", bytes(16)).seal(answer))  # wrong key
        await gw.publish("gateway/M1/update/status", b"junk")
        await gw.publish("gateway/M2/update/status", Sealer("M2", key).seal(answer))  # unknown meter
        await gw.publish("gateway/M1/update/status", Sealer("M1", key).seal(answer))
        got = await tracker.wait_for("M1", request=5, timeout_s=5)
        assert got.state == "installed" and got.version == "1.1.0"
        with pytest.raises(TimeoutError):
            await tracker.wait_for(
                "M1", states={"rolled-back"}, timeout_s=timedelta(minutes=1).total_seconds()
            )

    clock.run(main())
    assert tracker.forged == 3 and len(tracker.answers) == 1
