"""gridedge.bus.command_security: signed commands, and every way a command can be refused.

First on bytes with explicit times (no broker), then through the real Mosquitto on 127.0.0.1:1883
(a fresh topic prefix per test, hard timeouts): forged, altered, unsigned, replayed, stale and
wrong-source commands are rejected with their reason, counted and never reach a subscriber. Last,
in simulated time with the CEM's real limit machines: forged or replayed heartbeats do not keep
a site out of failsafe.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridedge.bus.codec import decode_envelope, encode_envelope
from gridedge.bus.command_security import (
    REASONS,
    CommandRejected,
    CommandSecurity,
    dso_command_security,
    site_command_security,
    site_source,
)
from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.bus.keyfile import (
    KeyFileError,
    load_keyring,
    load_public_key,
    load_signer,
    write_private_key,
    write_public_key,
)
from gridedge.bus.mqtt import MqttTransport
from gridedge.bus.security import KeyRing, Signer, Verifier
from gridedge.bus.security import Rejected as Rejected_
from gridedge.clock import RealClock, SimClock
from gridedge.home.cem.grid_link import GridLink, grid_topics, limit_configs
from gridedge.model.cem_config import LimitsConfig
from gridedge.model.limits import Direction, Heartbeat, LpcState, PowerLimit, Rejected

T0 = datetime(2025, 1, 15, 17, tzinfo=UTC)
LIMIT = "site/home/lpc/limit"
HEARTBEAT = "site/home/lpc/heartbeat"
DSO = Signer.generate(b"dso-2025")
MALLORY = Signer.generate(b"mallory")
AGGREGATOR = Signer.generate(b"esp-1")
SITE = Signer.generate(b"home-1")


def grid_ring() -> KeyRing:
    ring = KeyRing()
    ring.provision(DSO.public_key, kid=DSO.kid, sources=["dso"])
    ring.provision(AGGREGATOR.public_key, kid=AGGREGATOR.kid, sources=["aggregator"])
    return ring


def site_side(ring: KeyRing | None = None, **kwargs: Any) -> CommandSecurity:
    verifier = Verifier(grid_ring() if ring is None else ring, audience="home")
    return site_command_security("home", None, verifier, **kwargs)


def wire(topic: str, payload: object, source: str = "dso", sequence: int = 1, at: datetime = T0) -> bytes:
    return encode_envelope(Envelope(topic, payload, source, sequence, at, uuid4()))


def sealed(signer: Signer, topic: str, payload: object, at: datetime = T0, source: str = "dso") -> bytes:
    return dso_command_security(signer, None).seal(topic, wire(topic, payload, source, at=at), at)


def reason_of(security: CommandSecurity, topic: str, data: bytes, now: datetime = T0) -> str:
    with pytest.raises(CommandRejected) as info:
        security.open(topic, data, now)
    return info.value.reason


# --------------------------------------------------------------------------- on bytes


def test_signed_command_is_delivered_and_other_topics_are_untouched() -> None:
    dso, site = dso_command_security(DSO, None), site_side()
    data = wire(LIMIT, PowerLimit(5000.0, True))
    signed = dso.seal(LIMIT, data, T0)
    assert signed[:1] == b"\xd2" and data in signed  # COSE_Sign1 (tag 18) around the envelope bytes
    assert site.open(LIMIT, signed, T0 + timedelta(seconds=1)) == data
    assert decode_envelope(site.open(HEARTBEAT, dso.seal(HEARTBEAT, wire(HEARTBEAT, Heartbeat(1)), T0), T0))
    assert (site.stats.verified, site.stats.rejected_total, dso.stats.signed) == (2, 0, 2)
    # not a command topic: neither signed nor checked
    reading = wire("site/home/meter/reading", {"w": 1})
    assert dso.seal("site/home/meter/reading", reading, T0) == reading
    assert site.open("site/home/meter/reading", reading, T0) == reading


def test_every_bad_command_is_rejected_with_its_reason_counted_and_reported() -> None:
    reported: list[CommandRejected] = []
    site = site_side(on_reject=reported.append)
    good = sealed(DSO, LIMIT, PowerLimit(5000.0, True))
    assert site.open(LIMIT, good, T0)
    same_kid_other_key = Signer(Ed25519PrivateKey.generate(), DSO.kid)
    altered = good.replace(b'"value_w":5000.0', b'"value_w":9000.0')
    assert altered != good
    cases = {
        "unsigned": wire(LIMIT, PowerLimit(1.0, True)),
        "unknown_kid": sealed(MALLORY, LIMIT, PowerLimit(1.0, True)),
        "bad_signature": sealed(same_kid_other_key, LIMIT, PowerLimit(1.0, True)),
        "replay": good,
        "too_old": sealed(DSO, LIMIT, PowerLimit(1.0, True), at=T0 - timedelta(hours=1)),
        "in_future": sealed(DSO, LIMIT, PowerLimit(1.0, True), at=T0 + timedelta(hours=1)),
        "key_not_for_source": sealed(AGGREGATOR, LIMIT, PowerLimit(1.0, True), source="dso"),
        "wrong_topic": sealed(DSO, "site/other/lpc/limit", PowerLimit(1.0, True)),
        "malformed": b"\xd2\x84garbage",
    }
    assert reason_of(site, LIMIT, altered) == "bad_signature"
    for reason, data in cases.items():
        assert reason_of(site, LIMIT, data) == reason, reason
    expected = dict.fromkeys(REASONS, 0) | dict.fromkeys(cases, 1) | {"bad_signature": 2}
    assert site.stats.rejected == expected
    assert site.stats.verified == 1 and site.stats.rejected_total == len(cases) + 1
    assert [r.reason for r in reported] == ["bad_signature", *cases]
    assert reported[1].source == "dso" and "COSE_Sign1" in reported[1].why  # claimed, from the JSON


def test_replayed_or_moved_copy_does_not_spend_the_genuine_sequence() -> None:
    """A copy moved to another topic is refused before the replay state changes, so the genuine
    message, arriving after it, is still accepted."""
    site = site_side()
    signed = sealed(DSO, LIMIT, PowerLimit(5000.0, True))
    assert reason_of(site, "site/home/lpc/failsafe", signed) == "wrong_topic"
    assert site.open(LIMIT, signed, T0)
    assert reason_of(site, LIMIT, signed) == "replay"


def test_a_command_for_one_site_is_refused_by_another() -> None:
    for_a = sealed(DSO, "site/a/lpc/limit", PowerLimit(1.0, True))
    other = site_command_security("b", None, Verifier(grid_ring(), audience="b"))
    assert reason_of(other, "site/b/lpc/limit", for_a) == "wrong_topic"
    # and the site id is signed as the audience, so even a verifier that skipped the topic check refuses
    with pytest.raises(Rejected_, match="wrong_audience"):
        Verifier(grid_ring(), audience="b").verify(for_a, source="dso", now=T0)
    assert Verifier(grid_ring(), audience="a").verify(for_a, source="dso", now=T0).sequence > 0


def test_dso_accepts_site_reports_only_from_that_sites_key() -> None:
    other = Signer.generate(b"other-1")
    ring = KeyRing()
    ring.provision(SITE.public_key, kid=SITE.kid, sources=[site_source("home")])
    ring.provision(other.public_key, kid=other.kid, sources=[site_source("other")])
    dso = dso_command_security(DSO, Verifier(ring))
    state = "site/home/lpc/cs-heartbeat"

    def report(signer: Signer, source: str) -> bytes:
        return site_command_security("home", signer, None).seal(state, wire(state, Heartbeat(1), source), T0)

    assert dso.open(state, report(SITE, "site:home"), T0)
    assert reason_of(dso, state, report(other, "site:other")) == "source_not_for_topic"
    assert reason_of(dso, state, report(other, "site:home")) == "key_not_for_source"
    assert reason_of(dso, state, wire(state, Heartbeat(1), "site:home")) == "unsigned"
    with pytest.raises(ValueError, match="audience"):
        dso_command_security(DSO, Verifier(ring, audience="home"))
    with pytest.raises(ValueError, match="audience"):
        site_command_security("home", None, Verifier(ring))


def test_without_a_verifier_signed_commands_are_unwrapped_unverified() -> None:
    site = site_command_security("home", None, None)
    data = wire(LIMIT, PowerLimit(5000.0, True))
    assert not site.authenticates
    assert site.open(LIMIT, dso_command_security(DSO, None).seal(LIMIT, data, T0), T0) == data
    assert site.open(LIMIT, data, T0) == data  # plain JSON still works
    assert (site.stats.unverified, site.stats.verified, site.stats.rejected_total) == (1, 0, 0)


def test_grid_topics_are_the_command_topics() -> None:
    """The CEM's bridge topics and the security's filters name the same messages."""
    inbound, outbound = grid_topics("home")
    site = site_side()
    assert all(site.verifies(t) and not site.signs(t) for t in inbound)
    assert not any(site.verifies(t) for t in outbound)
    signing = site_command_security("home", SITE, None)
    assert all(signing.signs(t) for t in outbound) and not any(signing.signs(t) for t in inbound)
    dso = dso_command_security(DSO, Verifier(KeyRing([])))
    assert all(dso.signs(t) and not dso.verifies(t) for t in inbound)
    assert all(dso.verifies(t) and not dso.signs(t) for t in outbound)


# --------------------------------------------------------------------------- key files


def test_key_files_round_trip_private_is_owner_only(tmp_path: Path) -> None:
    write_private_key(tmp_path / "dso.key", DSO)
    assert stat.S_IMODE(os.stat(tmp_path / "dso.key").st_mode) == 0o600
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_private_key(tmp_path / "dso.key", DSO)
    loaded = load_signer(tmp_path / "dso.key")
    assert loaded.kid == DSO.kid
    assert loaded.sign(b"x", sequence=1, issued_at=T0) == DSO.sign(b"x", sequence=1, issued_at=T0)
    for fmt in ("pem", "cose"):
        write_public_key(tmp_path / f"dso.{fmt}", DSO.public_key, DSO.kid, fmt=fmt)  # type: ignore[arg-type]
        got = load_public_key(tmp_path / f"dso.{fmt}")
        assert got.kid == DSO.kid and got.public_key == DSO.public_key
    (tmp_path / "bad.key").write_text("hello")
    with pytest.raises(KeyFileError, match=r"bad\.key: expected an Ed25519 private key"):
        load_signer(tmp_path / "bad.key")


RING = """\
# the grid operator's keys; 2025 rotates to 2026 with a month of overlap
[[key]]
source = "dso"
public_key_file = "old.pem"
not_after = 2025-02-01T00:00:00Z

[[key]]
sources = ["dso"]
kid = "dso-2026"
public_key_file = "new.cose"
not_before = 2025-01-01T00:00:00Z
"""


def test_key_ring_file_and_rotation(tmp_path: Path) -> None:
    old, new = DSO, Signer.generate(b"dso-2026")
    write_public_key(tmp_path / "old.pem", old.public_key, old.kid)
    write_public_key(tmp_path / "new.cose", new.public_key, new.kid, fmt="cose")
    (tmp_path / "ring.toml").write_text(RING)
    ring = load_keyring(tmp_path / "ring.toml")
    assert {e.kid for e in ring} == {b"dso-2025", b"dso-2026"}
    site = site_side(ring)
    overlap, after = datetime(2025, 1, 20, tzinfo=UTC), datetime(2025, 2, 1, 0, 0, 1, tzinfo=UTC)
    assert site.open(LIMIT, sealed(old, LIMIT, PowerLimit(1.0, True), at=overlap), overlap)
    later = overlap + timedelta(seconds=1)  # (sequence numbers follow the signers' clocks)
    assert site.open(LIMIT, sealed(new, LIMIT, PowerLimit(2.0, True), at=later), later)
    late = sealed(old, LIMIT, PowerLimit(3.0, True), at=after)
    assert reason_of(site, LIMIT, late, after) == "key_not_valid"
    assert site.open(LIMIT, sealed(new, LIMIT, PowerLimit(4.0, True), at=after), after)


ONE = "[[key]]\nsource = 'dso'\npublic_key_file = 'k.pem'\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[key]]\nsource = 'dso'\n", "key #1, line 1: public_key: expected exactly one of"),
        (ONE + "\n[[key]]\nsource = 1\npublic_key_file = 'k.pem'\n",
         "key #2, line 5: source: expected a non-empty string"),
        ("[[key]]\nsource = 'dso'\npublic_key_file = 'k.pem'\nkid = 'x'\n",
         "key #1, line 1: kid: expected the key file's kid 64736f2d32303235"),
        ("[[key]]\nsource = 'dso'\npublic_key_file = 'k.pem'\nnot_after = 2025-01-01T00:00:00\n",
         "not_after: expected an RFC 3339 date-time with UTC offset"),
        (ONE + "colour = 'red'\n", "colour: expected no such field"),
        ("[[key]]\nsource = 'dso'\npublic_key_file = 'missing.pem'\n", "public_key_file: "),
        ("[[key]]\nsource = 'dso'\npublic_key = 'not a key'\n", "expected a PEM public key or a COSE_Key"),
        (ONE + "\n[[key]]\nsource = 'x'\npublic_key_file = 'k.pem'\n",
         "key #2, line 5: kid 64736f2d32303235 is already provisioned"),
        ("[[key]\n", "not valid TOML"),
        ("", "no [[key]] entries"),
    ],
)  # fmt: skip
def test_key_ring_file_errors_name_the_entry_and_field(tmp_path: Path, text: str, message: str) -> None:
    write_public_key(tmp_path / "k.pem", DSO.public_key, DSO.kid)
    (tmp_path / "ring.toml").write_text(text)
    with pytest.raises(KeyFileError) as info:
        load_keyring(tmp_path / "ring.toml")
    assert message in str(info.value) and str(tmp_path / "ring.toml") in str(info.value)


def test_key_ring_takes_inline_pem_and_hex_kids(tmp_path: Path) -> None:
    pem = tmp_path / "k.pem"
    write_public_key(pem, DSO.public_key, DSO.kid)
    text = f"[[key]]\nsource = 'dso'\nkid_hex = '{DSO.kid.hex()}'\npublic_key = '''\n{pem.read_text()}'''\n"
    (tmp_path / "ring.toml").write_text(text)
    (entry,) = load_keyring(tmp_path / "ring.toml")
    assert entry.kid == DSO.kid and entry.sources == {"dso"}


# --------------------------------------------------------------------------- through Mosquitto

TIMEOUT = 20.0
R = TypeVar("R")


def run(main: Callable[[str], Awaitable[R]]) -> R:
    async def bounded() -> R:
        async with asyncio.timeout(TIMEOUT):
            return await main(f"gridedge-test/{uuid4().hex}")

    return asyncio.run(bounded())


class ShiftedClock(RealClock):
    """Real time moved by `offset` (a signer with a wrong clock; a receiver living later)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + self.offset


def mqtt(
    prefix: str, security: CommandSecurity | None, clock: RealClock | None = None, **kw: Any
) -> MqttTransport:
    kw.setdefault("backoff_initial_s", 0.05)
    return MqttTransport(clock or RealClock(), topic_prefix=prefix, security=security, **kw)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_over_mosquitto_only_good_commands_reach_subscribers() -> None:
    async def main(prefix: str) -> None:
        errors: list[Exception] = []
        site = site_side()
        far_past = ShiftedClock(-timedelta(days=3))
        async with (
            mqtt(prefix, dso_command_security(DSO, None)) as dso,
            mqtt(prefix, dso_command_security(MALLORY, None)) as forger,
            mqtt(prefix, dso_command_security(DSO, None), far_past) as stale,
            mqtt(prefix, dso_command_security(AGGREGATOR, None)) as esp,
            mqtt(prefix, site, on_error=errors.append) as cem,
            aiomqtt.Client("127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5) as raw,
        ):
            got: list[Envelope[object]] = []
            cem.subscribe_callback("site/home/lpc/#", got.append)
            await raw.subscribe(f"{prefix}/site/home/lpc/#", qos=1)
            await cem.wait_subscribed(5)

            async def next_raw() -> bytes:
                message = await anext(aiter(raw.messages))
                assert isinstance(message.payload, bytes)
                return message.payload

            sent = [dso.publish(HEARTBEAT, Heartbeat(1), source="dso"),
                    dso.publish(LIMIT, PowerLimit(5000.0, True), source="dso")]  # fmt: skip
            captured = [await next_raw(), await next_raw()]
            await _until(lambda: len(got) == 2)
            assert got == sent and site.stats.verified == 2

            async def expect(reason: str, send: Callable[[], Awaitable[object] | object]) -> None:
                before = site.stats.rejected[reason]
                result = send()
                if asyncio.iscoroutine(result):
                    await result
                await _until(lambda: site.stats.rejected[reason] == before + 1)

            mqtt_limit = f"{prefix}/{LIMIT}"
            await expect("unknown_kid", lambda: forger.publish(LIMIT, PowerLimit(1.0, True), source="dso"))
            altered = captured[1].replace(b'"value_w":5000.0', b'"value_w":9000.0')
            await expect("bad_signature", lambda: raw.publish(mqtt_limit, altered, qos=1))
            unsigned = wire(LIMIT, PowerLimit(1.0, True))
            await expect("unsigned", lambda: raw.publish(mqtt_limit, unsigned, qos=1))
            await expect("replay", lambda: raw.publish(mqtt_limit, captured[1], qos=1))
            await expect("too_old", lambda: stale.publish(LIMIT, PowerLimit(1.0, True), source="dso"))
            as_dso = PowerLimit(1.0, True)
            await expect("key_not_for_source", lambda: esp.publish(LIMIT, as_dso, source="dso"))
            # a signed heartbeat after all that still gets through: nothing was spent by the rejects
            sent.append(dso.publish(HEARTBEAT, Heartbeat(2), source="dso"))
            await _until(lambda: len(got) == 3)
            assert got == sent, [e.payload for e in got]
            assert cem.stats.rejected == 6 == site.stats.rejected_total == len(errors)
            assert all(isinstance(e, CommandRejected) for e in errors)
            assert cem.stats.decode_errors == 0

    run(main)


def test_over_mosquitto_key_rotation() -> None:
    async def main(prefix: str) -> None:
        new = Signer.generate(b"dso-2026")
        clock = ShiftedClock()
        now = clock.now()
        ring = KeyRing()
        ring.provision(DSO.public_key, kid=DSO.kid, sources=["dso"], not_after=now + timedelta(hours=1))
        ring.provision(new.public_key, kid=new.kid, sources=["dso"], not_before=now - timedelta(minutes=1))
        site = site_side(ring)
        async with (
            mqtt(prefix, dso_command_security(DSO, None), clock) as old_dso,
            mqtt(prefix, dso_command_security(new, None), clock) as new_dso,
            mqtt(prefix, site, clock, on_error=lambda e: None) as cem,
        ):
            got: list[Envelope[object]] = []
            cem.subscribe_callback(HEARTBEAT, got.append)
            await cem.wait_subscribed(5)
            old_dso.publish(HEARTBEAT, Heartbeat(1), source="dso")
            await _until(lambda: len(got) == 1)
            new_dso.publish(HEARTBEAT, Heartbeat(2), source="dso")  # overlap: both valid
            await _until(lambda: len(got) == 2)
            clock.offset = timedelta(hours=1, seconds=1)  # past the old key's not_after
            old_dso.publish(HEARTBEAT, Heartbeat(3), source="dso")
            await _until(lambda: site.stats.rejected["key_not_valid"] == 1)
            new_dso.publish(HEARTBEAT, Heartbeat(4), source="dso")
            await _until(lambda: len(got) == 3)
            assert [e.payload for e in got] == [Heartbeat(1), Heartbeat(2), Heartbeat(4)]

    run(main)


# --------------------------------------------------------------------------- failsafe, simulated time


def test_forged_and_replayed_heartbeats_do_not_keep_the_site_out_of_failsafe() -> None:
    """The CEM's real LPC machine behind site-side verification, in simulated time: the DSO's
    signed heartbeats keep it limited; when they stop, forged heartbeats (another key) and replays
    of a captured genuine one are rejected, and the machine enters failsafe 120 s after the last
    genuine heartbeat (LPC-911/912)."""
    clock = SimClock(T0)
    bus = InProcessBus(clock)
    link = GridLink(site_id="home", clock=clock, transport=bus, configs=limit_configs(LimitsConfig()))
    link.start()
    reported: list[Rejected] = []
    site = site_side(on_reject=lambda r: reported.append(Rejected(r.topic, r.source, r.why)))
    dso, forger = dso_command_security(DSO, None), dso_command_security(MALLORY, None)
    lpc = Direction.CONSUMPTION
    sequence = 0

    def send(security: CommandSecurity, topic: str, payload: object) -> bytes:
        nonlocal sequence
        sequence += 1
        return security.seal(topic, wire(topic, payload, "dso", sequence, clock.now()), clock.now())

    def deliver(topic: str, data: bytes) -> None:
        """What `MqttTransport` does with a received message: verify, decode, hand to subscribers."""
        try:
            env = decode_envelope(site.open(topic, data, clock.now()))
        except CommandRejected:
            return
        bus.publish(env.topic, env.payload, source=f"mqtt:{env.source}")

    async def main() -> None:
        deliver(HEARTBEAT, send(dso, HEARTBEAT, Heartbeat(1)))
        deliver(LIMIT, send(dso, LIMIT, PowerLimit(5000.0, True)))
        last_genuine = b""
        for _ in range(5):  # five minutes of genuine heartbeats
            await clock.advance(60.0)
            last_genuine = send(dso, HEARTBEAT, Heartbeat(2))
            deliver(HEARTBEAT, last_genuine)
            link.tick()
        state = link.report(lpc)
        assert state is not None and state.state is LpcState.LIMITED and state.effective_limit_w == 5000.0
        silent_since = clock.monotonic()
        for i in range(8):  # the DSO is silent; an attacker keeps "heartbeating"
            await clock.advance(20.0)
            deliver(HEARTBEAT, send(forger, HEARTBEAT, Heartbeat(100 + i)))
            deliver(HEARTBEAT, last_genuine)
            deliver(LIMIT, send(forger, LIMIT, PowerLimit(50_000.0, True)))
            link.tick()
        state = link.report(lpc)
        assert state is not None and state.state is LpcState.FAILSAFE
        assert state.since == pytest.approx(silent_since + 120.0)
        assert state.effective_limit_w == 4200.0  # the failsafe limit, not the forged 50 kW

    asyncio.run(main())
    assert site.stats.verified == 7
    rejected = site.stats.rejected_nonzero()
    # the captured heartbeat replayed 8 times: a replay while fresh, too old after 120 s
    assert rejected == {"unknown_kid": 16, "replay": 6, "too_old": 2}, rejected
    assert len(reported) == 24 and {r.topic for r in reported} == {HEARTBEAT, LIMIT}
