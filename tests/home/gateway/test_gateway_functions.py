"""Signed function updates end to end in simulated time, on the in-process bus: the grid side
(`grid.updates`) builds, signs and publishes; the gateway verifies, self-tests, swaps between two
readings, persists, rolls back and answers; a test head-end receives and acks the records.

The marker files prove "rejected before any code runs": every package's module writes its marker
when it is imported, so a rejected package whose marker exists would have run."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import cbor2
import pytest
from gateway_support import KEY, METER, START, HeadEnd, reading

from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.rawlink import InProcessRawLink
from gridedge.bus.security import KeyRing, Signer, TimeSeededSequence
from gridedge.clock import SimClock
from gridedge.grid.updates import Gateway, Group, StatusTracker, UpdatePublisher, build_package
from gridedge.grid.updates.publisher import SignedUpdate
from gridedge.home.gateway.db import open_db
from gridedge.home.gateway.functions import UPDATE_SOURCE
from gridedge.home.gateway.functions.store import PackageStore
from gridedge.home.gateway.service import GatewayConfig, GatewayService, InlineDb, ack_topic
from gridedge.model.telemetry import LoadCurve

UPDATE_KEY = Signer.generate(kid=b"updates-1")
DSO_KEY = Signer.generate(kid=b"dso-1")
WH0 = 1_000_000
SEQUENCE = TimeSeededSequence()
"""One signer, one sequence: every message signed here has a higher number than the last."""


def keyring() -> KeyRing:
    ring = KeyRing()
    ring.provision(UPDATE_KEY.public_key, kid=UPDATE_KEY.kid, sources={UPDATE_SOURCE})
    ring.provision(DSO_KEY.public_key, kid=DSO_KEY.kid, sources={"dso"})  # a key for other things
    return ring


def curve_source(version: str, marker: Path, body: str = "") -> str:
    """A load-curve function: the built-in's algorithm, remembering what it emitted, plus `body`."""
    return f"""
from pathlib import Path
from gridedge.home.gateway.functions.builtin import LoadCurveFunction

Path({str(marker)!r}).write_text("imported")


class LoadCurves(LoadCurveFunction):
    version = {version!r}

    def __init__(self, context):
        super().__init__(context)
        self.emitted = []
        self.readings = 0

    def on_reading(self, reading, arrival):
        self.readings += 1
{body or "        pass"}
        out = list(super().on_reading(reading, arrival))
        self.emitted += out
        return out

    def tick(self, now):
        out = list(super().tick(now))
        self.emitted += out
        return out


def create(context):
    return LoadCurves(context)
"""


class Rig:
    def __init__(self, tmp: Path, *, groups: tuple[str, ...] = (), start_s: float = 0.0) -> None:
        self.tmp = tmp
        self.clock = SimClock(START + timedelta(seconds=start_s))
        self.bus = InProcessBus(self.clock)
        self.link = InProcessRawLink(self.bus, self.clock, name="gateway")
        self.hes_link = InProcessRawLink(self.bus, self.clock, name="hes")
        self.grid_link = InProcessRawLink(self.bus, self.clock, name="updates")
        self.conn = open_db(tmp / "gw.db")
        self.service = GatewayService(
            GatewayConfig(METER, groups=groups), clock=self.clock, link=self.link, conn=self.conn, key=KEY,
            db=InlineDb(), update_keys=keyring(),
        )  # fmt: skip
        self.service.consent.grant("all", "hes", by="test", now=self.clock.now())
        self.service._allowed = self.service.consent.allowed_categories("hes")
        self.hes = HeadEnd()
        self.hes_link.subscribe("meter/+/up", self._up)
        self.publisher = UpdatePublisher(UPDATE_KEY, self.grid_link, self.clock, sequence=SEQUENCE)
        self.tracker = StatusTracker(self.grid_link, self.clock, lambda m: KEY if m == METER else None)
        self.tracker.start()
        self.tasks: set[asyncio.Task[None]] = set()
        self.curves_at_swap: dict[str, int] = {}

    def _up(self, topic: str, data: bytes) -> None:
        record = self.hes.take(data)
        if record is not None:
            task = asyncio.ensure_future(
                self.hes_link.publish(ack_topic(METER), self.hes.ack([record.sequence]))
            )
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def run(self, seconds: int, script: dict[int, Callable[[], object]] | None = None) -> None:
        """One reading a second (the register advances 1 Wh every 5 s), `script[i]` before reading i."""
        stop = asyncio.Event()
        await self.hes_link.start()
        await self.grid_link.start()
        runner = asyncio.ensure_future(self.service.run(stop))
        for i in range(seconds):
            action = (script or {}).get(i)
            if action is not None:
                result = action()
                if inspect.isawaitable(result):
                    await result
            self.service.on_reading(reading(self.clock.now(), WH0 + i // 5, power_w=720.0))
            await self.clock.sleep(1.0)
        for _ in range(120):
            if self.service.outbox.count == 0:
                break
            await self.clock.sleep(1.0)
        stop.set()
        await runner

    def publish(self, update: SignedUpdate | bytes, topic: str | None = None) -> Callable[[], object]:
        async def go() -> None:
            if isinstance(update, bytes):
                await self.grid_link.publish(topic or f"gateway/{METER}/update", update)
            else:
                await self.publisher.send(update)

        return go

    def states(self) -> list[str]:
        return [a.state for a in self.tracker.of(METER)]

    def curves(self) -> list[LoadCurve]:
        return [r for r in self.hes.received if isinstance(r, LoadCurve)]


TO_METER = Gateway(METER)


def sign_package(source: str, version: str, target: Gateway | Group = TO_METER, *, clock: SimClock,
                 signer: Signer = UPDATE_KEY) -> SignedUpdate:  # fmt: skip
    spec = build_package(source, name="load-curves", version=version)
    link = InProcessRawLink(InProcessBus(clock), clock)
    return UpdatePublisher(signer, link, clock, sequence=SEQUENCE).sign(spec.encode(), target)


def quarter_sum(quarter: int) -> int:
    """The register's advance over a quarter with Rig's readings (1 Wh every 5 s; a reading sits on
    each boundary, so each quarter's values add up to exactly this)."""
    return 900 // 5


# --------------------------------------------------------------------------- the happy path


def test_a_signed_update_replaces_the_load_curves_while_readings_flow(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    marker = tmp_path / "v110"
    update = sign_package(curve_source("1.1.0", marker), "1.1.0", clock=rig.clock)
    swapped: dict[str, object] = {}

    def note() -> None:
        swapped["instance"] = rig.service.functions.instance("load-curves")
        swapped["readings"] = rig.service.readings

    rig.clock.run(rig.run(2710, {1200: rig.publish(update), 1202: note}))  # 12:20, mid-quarter

    assert rig.states() == ["accepted", "installed"]
    assert all(a.request == update.sequence for a in rig.tracker.of(METER))
    assert marker.exists() and rig.service.status().functions["load-curves"] == "1.1.0"
    new = swapped["instance"]
    assert getattr(new, "version") == "1.1.0"  # noqa: B009
    assert getattr(new, "readings") == 2710 - 1200  # noqa: B009 - every reading since the swap went to it

    # every reading reached the outbox and the head-end: sequences 1..N without a gap
    st = rig.service.status()
    assert sorted(rig.hes.sequences) == list(range(1, st.acked + 1)) and st.queued == 0
    # the curves: 12:00 from the built-in, 12:15 and 12:30 from 1.1.0 - exactly what it emitted
    curves = rig.curves()
    assert [c.start.minute for c in curves] == [0, 15, 30]
    emitted = getattr(new, "emitted")  # noqa: B009
    assert [dataclasses.replace(c, sequence=1) for c in curves[1:]] == emitted
    assert rig.service.functions.produced[("load-curves", "1.0.0")] == 1
    assert rig.service.functions.produced[("load-curves", "1.1.0")] == 2
    # no reading lost at the swap: the 12:15 quarter, half before and half after, is complete
    for q in (1, 2):
        assert None not in curves[q].import_wh
        assert sum(curves[q].import_wh) == quarter_sum(q)  # type: ignore[arg-type]
    stored = {(p.name, p.version): p.role for p in PackageStore(rig.conn).rows()}
    assert stored == {("load-curves", "1.1.0"): "active"}


def test_a_group_update_reaches_the_gateways_of_the_group(tmp_path: Path) -> None:
    rig = Rig(tmp_path, groups=("feeder-7",))
    mine = sign_package(curve_source("1.1.0", tmp_path / "a"), "1.1.0", Group("feeder-7"), clock=rig.clock)
    other = sign_package(curve_source("1.2.0", tmp_path / "b"), "1.2.0", Group("feeder-8"), clock=rig.clock)
    # another group's message, even on our group's topic, is refused: the audience is signed
    rig.clock.run(rig.run(60, {5: rig.publish(mine), 20: rig.publish(other.message, mine.topic)}))
    assert rig.states() == ["accepted", "installed", "rejected"]
    assert rig.tracker.of(METER)[-1].reason.startswith("wrong_audience")
    assert not (tmp_path / "b").exists()
    assert rig.service.functions.versions()["load-curves"] == "1.1.0"


# --------------------------------------------------------------------------- rejected before code runs


def _altered(update: SignedUpdate) -> bytes:
    data = bytearray(update.message)
    i = data.index(b"imported")
    data[i] ^= 0x20  # "Imported": one bit of the source
    return bytes(data)


def _hash_mismatch(source: str, clock: SimClock) -> SignedUpdate:
    spec = build_package(source, name="load-curves", version="1.1.0")
    payload = cbor2.loads(spec.encode())
    payload["sha256"] = bytes(32)
    publisher = UpdatePublisher(
        UPDATE_KEY, InProcessRawLink(InProcessBus(clock), clock), clock, sequence=SEQUENCE
    )
    return publisher.sign(cbor2.dumps(payload), Gateway(METER))


CASES = {
    "unsigned": (
        lambda src, c: build_package(src, name="load-curves", version="1.1.0").encode(),
        "malformed",
    ),
    "unknown key": (
        lambda src, c: sign_package(src, "1.1.0", clock=c, signer=Signer.generate()),
        "unknown_kid",
    ),
    "wrong key, same kid": (
        lambda src, c: sign_package(src, "1.1.0", clock=c, signer=Signer.generate(kid=UPDATE_KEY.kid)),
        "bad_signature",
    ),
    "a key for something else": (
        lambda src, c: sign_package(src, "1.1.0", clock=c, signer=DSO_KEY),
        "key_not_for_source",
    ),
    "altered": (lambda src, c: _altered(sign_package(src, "1.1.0", clock=c)), "bad_signature"),
    "another meter's": (
        lambda src, c: sign_package(src, "1.1.0", Gateway("other-meter"), clock=c),
        "wrong_audience",
    ),
    "hash mismatch": (_hash_mismatch, "hash-mismatch"),
    "not newer": (lambda src, c: sign_package(src, "1.0.0", clock=c), "not-newer"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_packages_are_rejected_before_any_code_runs(tmp_path: Path, case: str) -> None:
    make, reason = CASES[case]
    rig = Rig(tmp_path)
    marker = tmp_path / "ran"
    before = rig.service.functions.instance("load-curves")
    version = "1.0.0" if case == "not newer" else "1.1.0"
    message = make(curve_source(version, marker), rig.clock)
    data = message.message if isinstance(message, SignedUpdate) else message
    rig.clock.run(rig.run(40, {5: rig.publish(data)}))
    assert rig.states() == ["rejected"]
    assert rig.tracker.of(METER)[0].reason.startswith(reason), rig.tracker.of(METER)[0].reason
    assert not marker.exists(), "the package's code ran"
    assert rig.service.functions.instance("load-curves") is before
    assert PackageStore(rig.conn).rows() == []


def test_replayed_and_downgrade_packages_are_rejected_before_any_code_runs(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    v110 = sign_package(curve_source("1.1.0", tmp_path / "v110"), "1.1.0", clock=rig.clock)
    v105 = sign_package(curve_source("1.0.5", tmp_path / "v105"), "1.0.5", clock=rig.clock)
    same = sign_package(curve_source("1.1.0", tmp_path / "same"), "1.1.0", clock=rig.clock)

    def forget_marker() -> None:
        (tmp_path / "v110").unlink()

    script: dict[int, Callable[[], object]] = {
        5: rig.publish(v110), 10: forget_marker, 15: rig.publish(v110), 20: rig.publish(v105),
        25: rig.publish(same),
    }  # fmt: skip
    rig.clock.run(rig.run(40, script))
    answers = rig.tracker.of(METER)
    assert [a.state for a in answers] == ["accepted", "installed", "rejected", "rejected", "rejected"]
    assert answers[2].reason.startswith("replay")
    assert answers[3].reason.startswith("not-newer: downgrade")
    assert answers[4].reason.startswith("not-newer: same version")
    assert not any((tmp_path / m).exists() for m in ("v110", "v105", "same"))


# --------------------------------------------------------------------------- failures after loading


def test_a_function_that_raises_after_n_readings_is_rolled_back_and_the_old_one_continues(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    # 1000 readings pass the self-test (it replays at most 1000); the live one fails at 1001
    flaky = curve_source("1.2.0", tmp_path / "flaky", "        if self.readings > 1000:\n"
                         "            raise RuntimeError('register overflow')")  # fmt: skip
    update = sign_package(flaky, "1.2.0", clock=rig.clock)
    again = sign_package(flaky, "1.2.0", clock=rig.clock)
    rig.clock.run(rig.run(2710, {1200: rig.publish(update), 2500: rig.publish(again)}))

    answers = rig.tracker.of(METER)
    assert [a.state for a in answers] == ["accepted", "installed", "rolled-back", "rejected"]
    back = answers[2]
    assert (back.name, back.version, back.replaced) == ("load-curves", "1.0.0", "1.2.0")
    assert "RuntimeError('register overflow')" in back.reason
    assert answers[3].reason.startswith("failed-before")
    assert rig.service.functions.versions()["load-curves"] == "1.0.0"
    # the failure was at 12:36:40, inside the 12:30 quarter: the built-in (the shadow) had every
    # reading, so that curve is complete too; nothing lost, nothing twice
    curves = rig.curves()
    assert [c.start.minute for c in curves] == [0, 15, 30]
    for q in (1, 2):
        assert None not in curves[q].import_wh and sum(curves[q].import_wh) == quarter_sum(q)  # type: ignore[arg-type]
    st = rig.service.status()
    assert sorted(rig.hes.sequences) == list(range(1, st.acked + 1))
    roles = {(p.name, p.version): p.role for p in PackageStore(rig.conn).rows()}
    assert roles == {("load-curves", "1.2.0"): "failed"}


BAD_SELF_TEST = {
    "raises": (
        "        if self.readings > 10:\n            raise ValueError('bad table')",
        "raised ValueError",
    ),
    "silent": ("        return []", "produced no records where 1.0.0 produced"),
    "wrong record type": (
        "        from gridedge.model.telemetry import MeterEvent, EventCode\n"
        "        return [MeterEvent(self.context.meter_id, 1, reading.timestamp, EventCode.NEAR_LIMIT)]",
        "produced a MeterEvent, slot load-curves may produce LoadCurve only",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SELF_TEST))
def test_a_package_failing_its_self_test_is_never_swapped_in(tmp_path: Path, case: str) -> None:
    body, why = BAD_SELF_TEST[case]
    rig = Rig(tmp_path)
    update = sign_package(curve_source("1.1.0", tmp_path / "ran", body), "1.1.0", clock=rig.clock)
    seen: dict[str, object] = {}

    def before() -> None:
        seen["fn"] = rig.service.functions.instance("load-curves")

    rig.clock.run(rig.run(1000, {299: before, 300: rig.publish(update)}))
    answers = rig.tracker.of(METER)
    assert [a.state for a in answers] == ["accepted", "rejected"]
    assert answers[1].reason.startswith("self-test-failed") and why in answers[1].reason, answers[1].reason
    assert rig.service.functions.instance("load-curves") is seen["fn"]
    curves = rig.curves()
    assert len(curves) == 1 and None not in curves[0].import_wh[1:]
    assert rig.service.functions.produced.get(("load-curves", "1.1.0")) is None
    assert [p.role for p in PackageStore(rig.conn).rows()] == ["failed"]


def test_a_signed_rollback_order_goes_back_and_only_to_the_kept_versions(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    v110 = sign_package(curve_source("1.1.0", tmp_path / "a"), "1.1.0", clock=rig.clock)
    v120 = sign_package(curve_source("1.2.0", tmp_path / "b"), "1.2.0", clock=rig.clock)

    async def order(version: str) -> None:
        await rig.publisher.rollback("load-curves", version, Gateway(METER), reason="wrong tariff table")

    rig.clock.run(rig.run(120, {
        5: rig.publish(v110), 10: rig.publish(v120), 15: lambda: order("0.9.0"), 20: lambda: order("1.1.0"),
    }))  # fmt: skip
    answers = rig.tracker.of(METER)
    assert [a.state for a in answers] == [
        "accepted", "installed", "accepted", "installed", "rejected", "accepted", "rolled-back",
    ]  # fmt: skip
    assert answers[4].reason.startswith("no-previous")
    assert (answers[6].version, answers[6].replaced, answers[6].reason) == (
        "1.1.0",
        "1.2.0",
        "wrong tariff table",
    )
    assert rig.service.functions.versions()["load-curves"] == "1.1.0"
    roles = {p.version: p.role for p in PackageStore(rig.conn).rows()}
    assert roles == {"1.1.0": "active", "1.2.0": "retired"}


# --------------------------------------------------------------------------- restart


def test_a_restart_reloads_the_installed_version_re_verified(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    update = sign_package(curve_source("1.1.0", tmp_path / "v110"), "1.1.0", clock=rig.clock)
    rig.clock.run(rig.run(60, {5: rig.publish(update)}))
    assert rig.service.functions.versions()["load-curves"] == "1.1.0"
    rig.conn.close()

    again = Rig(tmp_path, start_s=3600)  # an hour later, a new process
    assert again.service.functions.versions()["load-curves"] == "1.1.0"
    assert again.service.functions.release("load-curves").origin.sequence == update.sequence
    # the replay state survived too: the same message is refused, not re-installed
    again.clock.run(again.run(1000, {5: again.publish(update)}))
    assert again.states() == ["rejected"] and again.tracker.of(METER)[0].reason.startswith("replay")
    curves = again.curves()
    assert curves and getattr(again.service.functions.instance("load-curves"), "emitted") == [  # noqa: B009
        dataclasses.replace(c, sequence=1) for c in curves
    ]
    again.conn.close()

    # a package altered on disk does not verify: the gateway runs the built-in and says so
    conn = open_db(tmp_path / "gw.db")
    (message,) = conn.execute("SELECT message FROM function_packages WHERE role = 'active'").fetchone()
    tampered = bytes(message).replace(b"imported", b"Imported")
    conn.execute("UPDATE function_packages SET message = ?", (tampered,))
    conn.close()
    third = Rig(tmp_path, start_s=7200)
    assert third.service.functions.versions()["load-curves"] == "1.0.0"
    third.clock.run(third.run(5))
    answers = third.tracker.of(METER)
    assert [a.state for a in answers] == ["rolled-back"] and "bad_signature" in answers[0].reason
    assert [p.role for p in PackageStore(third.conn).rows()] == ["failed"]
