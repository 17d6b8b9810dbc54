"""Signed commands on a transport: which topics carry commands, sign them out, verify them in.

A command (a power limit, a heartbeat, failsafe values, a tariff, a flexibility request, a function
update) must never be acted on unless it comes, unaltered and fresh, from a key provisioned for
its sender. `CommandSecurity` applies that at the codec boundary of a byte transport
(`MqttTransport(security=...)`): after an envelope is encoded, before it is decoded.

Outbound, on a topic matching `sign_topics`: the encoded envelope (the codec's JSON bytes, as is)
becomes the payload of a COSE_Sign1 (RFC 9052 §4.2) signed with Ed25519 (RFC 8032 §5.1.6) by
`gridedge.bus.security.Signer`. Its protected header carries the key id, a sequence number
(`TimeSeededSequence`: strictly increasing, across restarts too), the issue time (the envelope's
timestamp) and, when `audience` names one, the receiver the command is for.

Inbound, on a topic matching `verify_topics`, checks in this order, each failure counted under its
reason and reported, the message never reaching a subscriber:

1. `unsigned`: the bytes are not a tagged COSE_Sign1 (a plain JSON envelope, say);
2. `oversize` / `malformed`: too large, or not the structure of this protocol;
3. `wrong_topic`: the signed envelope names another topic than the one it arrived on (a command
   for one site or use case moved to another);
4. `source_not_for_topic`: `authorise(topic, source)` says this sender may not speak here;
5. the `Verifier`'s checks (RFC 9052 §4.4 Sig_structure, RFC 8032 §5.1.7 verification): unknown
   kid, key not provisioned for the envelope's `source`, key outside its validity, bad signature,
   wrong audience, issued too long ago or in the future, replayed sequence (per source).

Steps 1-4 read the envelope before it is authenticated, but only to refuse: the source they pass
to the verifier is then checked against the key ring, and nothing changes state before the
signature is good. The replay state advances only for a message that passed everything, so a
copy re-published on another topic cannot use up the genuine message's sequence number.

Other inbound messages on command topics (a COSE_Sign1 arriving where this side does not verify,
e.g. a receiver without a key ring, or its own signed publications coming back from the broker)
are unwrapped without verification and counted in `stats.unverified`; plain JSON passes as before.
Messages on other topics are not touched.

Replays: commands use a strictly increasing sequence per source (reorder window 0), so a command
older than one already accepted is refused even if it was never seen: a limit must not override a
newer one. This needs the broker to keep one publisher's order across its topics (Mosquitto does;
a QoS 1 redelivery after a reconnect is refused as `replay`, which is harmless: it was acted on
once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import cbor2
import orjson

from gridedge.bus.envelope import TopicFilter
from gridedge.bus.security import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Reason,
    Rejected,
    Signer,
    TimeSeededSequence,
    Verifier,
)

__all__ = [
    "AGGREGATOR_SOURCE",
    "FLEX_AGGREGATOR_LEAVES",
    "GRID_COMMAND_LEAVES",
    "REASONS",
    "SITE_REPORT_LEAVES",
    "SOURCE_NOT_FOR_TOPIC",
    "UNSIGNED",
    "USE_CASES",
    "WRONG_TOPIC",
    "CommandRejected",
    "CommandSecurity",
    "CommandSecurityStats",
    "aggregator_command_security",
    "dso_command_security",
    "site_command_security",
    "site_source",
]

_log = logging.getLogger(__name__)

UNSIGNED: Final = "unsigned"
WRONG_TOPIC: Final = "wrong_topic"
SOURCE_NOT_FOR_TOPIC: Final = "source_not_for_topic"
REASONS: Final[tuple[str, ...]] = (UNSIGNED, WRONG_TOPIC, SOURCE_NOT_FOR_TOPIC, *(r.value for r in Reason))
"""Every reason a command can be rejected for: the keys of `CommandSecurityStats.rejected`."""

_SIGN1_FIRST_BYTE: Final = 0xD2  # CBOR major type 6 (tag), value 18: COSE_Sign1 (RFC 9052 §2)
_ROUTE_CACHE: Final = 4096


class CommandRejected(Exception):
    """A message on a command topic that was not delivered: why (`reason`, one of `REASONS`), where,
    and from whom it claimed to be (`source`, unauthenticated; "" if it could not be read)."""

    def __init__(self, reason: str, topic: str, source: str, detail: str = "") -> None:
        text = f"{reason}: {detail}" if detail else reason
        super().__init__(f"command on {topic!r} from {source or '?'!r} rejected: {text}")
        self.reason = reason
        self.topic = topic
        self.source = source
        self.detail = detail

    @property
    def why(self) -> str:
        """`reason: detail`, as reported back to the sender."""
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(slots=True)
class CommandSecurityStats:
    """What happened to command messages; every rejected one is counted under its reason."""

    signed: int = 0
    """Outbound messages signed."""
    verified: int = 0
    """Inbound messages that passed every check and were delivered."""
    unverified: int = 0
    """Signed inbound messages unwrapped without verification (topics this side does not verify)."""
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    """Rejected inbound messages per reason (`REASONS`)."""

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def rejected_nonzero(self) -> dict[str, int]:
        """The reasons that occurred, for status output."""
        return {reason: n for reason, n in self.rejected.items() if n}


Audience = Callable[[str], str | None]
"""Bus topic -> the receiver a command on it is for (signed as the COSE audience), or None."""
Authorise = Callable[[str, str], bool]
"""(bus topic, envelope source) -> may this source send on this topic."""


class CommandSecurity:
    """Signs outbound and verifies inbound command messages of one transport (module docstring).

    `topics` are MQTT topic filters, matched on the bus topic (without the transport's prefix), that
    carry commands both ways; `sign_topics` / `verify_topics` override them per direction (a site
    signs its reports and verifies the grid operator's commands). `signer` None: publish unsigned;
    `verifier` None: accept without verification (and say so in the logs of whoever built it).
    `on_reject` is called with every `CommandRejected` (exceptions from it are logged, not raised).

    Not thread-safe; use it from the transport's event loop, like the `Verifier` it holds.
    """

    def __init__(
        self,
        signer: Signer | None,
        verifier: Verifier | None,
        topics: Iterable[str] = (),
        *,
        sign_topics: Iterable[str] | None = None,
        verify_topics: Iterable[str] | None = None,
        audience: Audience | None = None,
        authorise: Authorise | None = None,
        on_reject: Callable[[CommandRejected], object] | None = None,
        verifiers: Iterable[tuple[str, Verifier]] = (),
    ) -> None:
        both = tuple(topics)
        self.signer = signer
        self.verifier = verifier
        # topic filter -> the verifier for it instead of `verifier` (e.g. another audience: a
        # flexibility request to a group is addressed to the group, not to the site)
        self.topic_verifiers = tuple((TopicFilter.parse(p), v) for p, v in verifiers)
        self.sign_filters = _filters(both if sign_topics is None else sign_topics)
        self.verify_filters = _filters(both if verify_topics is None else verify_topics) + tuple(
            f for f, _ in self.topic_verifiers
        )
        self.audience = audience
        self.authorise = authorise
        self.on_reject = on_reject
        self.stats = CommandSecurityStats()
        self._sequence = TimeSeededSequence()
        self._kinds: dict[str, tuple[bool, bool]] = {}  # topic -> (sign, verify)
        self._max_bytes = verifier.max_message_bytes if verifier is not None else DEFAULT_MAX_MESSAGE_BYTES

    def __repr__(self) -> str:
        return (
            f"<CommandSecurity sign={[f.pattern for f in self.sign_filters]} "
            f"verify={[f.pattern for f in self.verify_filters]} "
            f"signer={'yes' if self.signer else 'no'} verifier={'yes' if self.verifier else 'no'}>"
        )

    @property
    def authenticates(self) -> bool:
        """Whether inbound commands are verified (a verifier and at least one topic)."""
        return (self.verifier is not None and bool(self.verify_filters)) or bool(self.topic_verifiers)

    def _kind(self, topic: str) -> tuple[bool, bool]:
        kind = self._kinds.get(topic)
        if kind is None:
            kind = (
                any(f.matches(topic) for f in self.sign_filters),
                any(f.matches(topic) for f in self.verify_filters),
            )
            if len(self._kinds) >= _ROUTE_CACHE:
                self._kinds.clear()
            self._kinds[topic] = kind
        return kind

    def signs(self, topic: str) -> bool:
        return self.signer is not None and self._kind(topic)[0]

    def verifies(self, topic: str) -> bool:
        return self._verifier_for(topic) is not None and self._kind(topic)[1]

    def _verifier_for(self, topic: str) -> Verifier | None:
        for f, v in self.topic_verifiers:
            if f.matches(topic):
                return v
        return self.verifier

    # ---- outbound

    def seal(self, topic: str, data: bytes, now: datetime) -> bytes:
        """`data` (an encoded envelope for bus topic `topic`) as sent: signed on a command topic."""
        if self.signer is None or not self._kind(topic)[0]:
            return data
        audience = self.audience(topic) if self.audience is not None else None
        sealed = self.signer.sign(data, sequence=self._sequence.next(now), issued_at=now, audience=audience)
        self.stats.signed += 1
        return sealed

    # ---- inbound

    def open(self, topic: str, data: bytes | bytearray, now: datetime) -> bytes:
        """The envelope bytes to decode from a message received on bus topic `topic`.

        Raises `CommandRejected` (after counting it and calling `on_reject`) for a command that
        fails any check; such a message must be dropped.
        """
        sign, verify = self._kind(topic)
        raw = bytes(data)
        verifier = self._verifier_for(topic) if verify else None
        if verifier is not None:
            try:
                payload = self._verify(verifier, topic, raw, now)
            except CommandRejected as rejected:
                self._rejected(rejected)
                raise
            self.stats.verified += 1
            return payload
        if (sign or verify) and raw[:1] == bytes((_SIGN1_FIRST_BYTE,)):
            try:
                payload = _sign1_payload(raw, self._max_bytes)
            except Rejected:
                return raw  # not ours to judge here: the codec reports it as undecodable
            self.stats.unverified += 1
            return payload
        return raw

    def _verify(self, verifier: Verifier, topic: str, raw: bytes, now: datetime) -> bytes:
        if raw[:1] != bytes((_SIGN1_FIRST_BYTE,)):
            raise CommandRejected(UNSIGNED, topic, _claimed_source(raw), "not a COSE_Sign1 (RFC 9052 §4.2)")
        try:
            unverified = _sign1_payload(raw, self._max_bytes)
        except Rejected as exc:
            raise CommandRejected(exc.reason.value, topic, "", exc.detail) from None
        claimed_topic, source = _envelope_route(unverified)
        if source is None or claimed_topic is None:
            detail = "the signed payload is not an envelope"
            raise CommandRejected(Reason.MALFORMED.value, topic, source or "", detail)
        if claimed_topic != topic:
            raise CommandRejected(WRONG_TOPIC, topic, source, f"signed for {claimed_topic!r}")
        if self.authorise is not None and not self.authorise(topic, source):
            raise CommandRejected(SOURCE_NOT_FOR_TOPIC, topic, source, f"{source!r} may not send here")
        try:
            verified = verifier.verify(raw, source=source, now=now)
        except Rejected as exc:
            raise CommandRejected(exc.reason.value, topic, source, exc.detail) from None
        return verified.payload

    def _rejected(self, rejected: CommandRejected) -> None:
        self.stats.rejected[rejected.reason] = self.stats.rejected.get(rejected.reason, 0) + 1
        if self.on_reject is not None:
            try:
                self.on_reject(rejected)
            except Exception:
                _log.exception("on_reject callback failed for %s", rejected)


def _filters(patterns: Iterable[str]) -> tuple[TopicFilter, ...]:
    return tuple(TopicFilter.parse(p) for p in patterns)


def _sign1_payload(raw: bytes, max_bytes: int) -> bytes:
    """The payload of a COSE_Sign1, unverified; `Rejected` if it is not one."""
    if len(raw) > max_bytes:
        raise Rejected(Reason.OVERSIZE, f"{len(raw)} bytes > {max_bytes}")
    try:
        item = cbor2.loads(raw)
    except Exception as exc:  # any decoder failure on untrusted input
        raise Rejected(Reason.MALFORMED, f"not CBOR: {exc}") from None
    if not isinstance(item, cbor2.CBORTag) or item.tag != 18:
        raise Rejected(Reason.MALFORMED, "not a tagged COSE_Sign1 (CBOR tag 18)")
    value = item.value
    if not isinstance(value, list) or len(value) != 4 or not isinstance(value[2], bytes):
        raise Rejected(Reason.MALFORMED, "COSE_Sign1 is an array of 4 with an attached payload")
    payload: bytes = value[2]
    return payload


def _envelope_route(data: bytes) -> tuple[str | None, str | None]:
    """(topic, source) of an encoded envelope, unchecked; None for what is missing or unreadable."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    topic, source = doc.get("topic"), doc.get("source")
    return (
        topic if isinstance(topic, str) else None,
        source if isinstance(source, str) and source else None,
    )


def _claimed_source(data: bytes) -> str:
    """The source an unsigned JSON envelope claims (for the report only), or ""."""
    return _envelope_route(data)[1] or ""


# --------------------------------------------------------------------------- LPC/LPP links

USE_CASES: Final = ("lpc", "lpp")
"""Topic level of the limit use cases: EEBus LPC (consumption) and LPP (production)."""
GRID_COMMAND_LEAVES: Final = ("heartbeat", "limit", "failsafe")
"""What the grid operator sends a site: `site/<id>/<lpc|lpp>/<leaf>` (`grid.dso.topics.DSO_LEAVES`)."""
SITE_REPORT_LEAVES: Final = ("state", "cs-heartbeat", "rejected")
FLEX_AGGREGATOR_LEAVES: Final = ("dispatch", "settlement")
"""What the service provider sends a site about flexibility: `site/<id>/flex/<leaf>`; requests go
to groups on `flex/request/<group>` (`gridedge.model.flex`)."""
AGGREGATOR_SOURCE: Final = "aggregator"
"""The envelope source of the service provider's flexibility messages (`FlexAggregator.source`)."""
"""What a site sends back (`grid.dso.topics.SITE_LEAVES`)."""


def site_source(site_id: str) -> str:
    """The envelope source a site's energy manager publishes under on the broker, `site:<id>`;
    its key is provisioned for this source in the grid operator's key ring."""
    return f"site:{site_id}"


def _site_of(topic: str) -> str | None:
    levels = topic.split("/")
    return levels[1] if len(levels) >= 3 and levels[0] == "site" and levels[1] else None


def _site_speaks_for_itself(topic: str, source: str) -> bool:
    site = _site_of(topic)
    return site is not None and source == site_source(site)


def dso_command_security(
    signer: Signer | None,
    verifier: Verifier | None,
    *,
    on_reject: Callable[[CommandRejected], object] | None = None,
) -> CommandSecurity:
    """The grid operator's side: sign heartbeats, limits and failsafe values to every site (each
    with the site id as audience, so a command for one site is refused by another), and verify what
    sites report (`state`, `cs-heartbeat`, `rejected`), each only from that site's own source
    (`site_source`), with keys from `verifier`'s ring (give it no audience).

    Pass it even without keys (`dso_command_security(None, None)`): sites that sign their reports
    are then still understood (unverified).
    """
    if verifier is not None and verifier.audience is not None:
        raise ValueError(f"the DSO's verifier must have no audience (sites sign none): {verifier.audience!r}")
    return CommandSecurity(
        signer,
        verifier,
        sign_topics=[f"site/+/{uc}/{leaf}" for uc in USE_CASES for leaf in GRID_COMMAND_LEAVES],
        verify_topics=[f"site/+/{uc}/{leaf}" for uc in USE_CASES for leaf in SITE_REPORT_LEAVES],
        audience=_site_of,
        authorise=_site_speaks_for_itself,
        on_reject=on_reject,
    )


def site_command_security(
    site_id: str,
    signer: Signer | None,
    verifier: Verifier | None,
    *,
    on_reject: Callable[[CommandRejected], object] | None = None,
    flex_groups: Iterable[str] = (),
    aggregator: str = AGGREGATOR_SOURCE,
) -> CommandSecurity:
    """A site's side: verify the grid operator's heartbeats, limits and failsafe values for
    `site_id` (the verifier's audience must be `site_id`), sign the site's reports with `signer`.

    The reports must be published with source `site_source(site_id)` for the grid operator to
    accept them.

    Flexibility (docs/flexibility.md): requests to each of `flex_groups` (audience `group:<g>`) and
    the dispatches and settlements for this site are verified too, and must come from the
    `aggregator` source; the grid operator's commands must not (a service provider's key cannot set
    a site's limits, nor the grid operator's key dispatch its flexibility). The site's offers are
    signed. One key ring holds both senders' keys, each provisioned for its own source.
    """
    if verifier is not None and verifier.audience != site_id:
        raise ValueError(f"the site's verifier must have audience {site_id!r}, got {verifier.audience!r}")
    groups = tuple(flex_groups)
    flex_in = [f"site/{site_id}/flex/{leaf}" for leaf in FLEX_AGGREGATOR_LEAVES]
    group_verifiers = [
        (f"flex/request/{g}", _for_audience(verifier, f"group:{g}")) for g in groups if verifier is not None
    ]

    def authorise(topic: str, source: str) -> bool:
        if _is_flex(topic):
            return source == aggregator
        return source != aggregator

    return CommandSecurity(
        signer,
        verifier,
        sign_topics=[
            *(f"site/{site_id}/{uc}/{leaf}" for uc in USE_CASES for leaf in SITE_REPORT_LEAVES),
            f"site/{site_id}/flex/offer",
        ],
        verify_topics=[
            *(f"site/{site_id}/{uc}/{leaf}" for uc in USE_CASES for leaf in GRID_COMMAND_LEAVES),
            *flex_in,
        ],
        authorise=authorise,
        on_reject=on_reject,
        verifiers=group_verifiers,
    )


def aggregator_command_security(
    signer: Signer | None,
    verifier: Verifier | None,
    *,
    on_reject: Callable[[CommandRejected], object] | None = None,
) -> CommandSecurity:
    """The energy service provider's side of flexibility: sign requests (audience `group:<g>`, so a
    request cannot be moved to another group), dispatches and settlements (audience: the site),
    and verify offers, each only from the offering site's own source (`site_source`), with keys
    from `verifier`'s ring (give it no audience)."""
    if verifier is not None and verifier.audience is not None:
        raise ValueError(f"the aggregator's verifier must have no audience: {verifier.audience!r}")
    return CommandSecurity(
        signer,
        verifier,
        sign_topics=["flex/request/+", *(f"site/+/flex/{leaf}" for leaf in FLEX_AGGREGATOR_LEAVES)],
        verify_topics=["site/+/flex/offer"],
        audience=_flex_audience,
        authorise=_site_speaks_for_itself,
        on_reject=on_reject,
    )


def _is_flex(topic: str) -> bool:
    levels = topic.split("/")
    return levels[0] == "flex" or (len(levels) >= 3 and levels[0] == "site" and levels[2] == "flex")


def _flex_audience(topic: str) -> str | None:
    levels = topic.split("/")
    if levels[0] == "flex" and len(levels) == 3 and levels[2]:
        return f"group:{levels[2]}"
    return _site_of(topic)


def _for_audience(verifier: Verifier, audience: str) -> Verifier:
    """A verifier like `verifier` (same key ring and windows) for another audience."""
    return Verifier(
        verifier.keyring,
        audience=audience,
        max_age=verifier.max_age,
        max_future=verifier.max_future,
        reorder_window=verifier.reorder_window,
        max_message_bytes=verifier.max_message_bytes,
    )
