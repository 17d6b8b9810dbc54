"""Signed documents: tariffs and capacity limits published over OpenADR 3, checked by the VEN.

OpenADR 3.0.1 secures the channel (TLS, OAuth2 bearer tokens) but not the message: whoever can
write an event on the VTN (or sits in front of it) can change the prices an energy manager plans
with. gridedge's service provider therefore signs what each event says (`signed_content`, canonical
JSON) with COSE_Sign1/Ed25519 (`gridedge.bus.security.Signer`: key id, sequence, issue time
protected) and carries the signature in the event's `gridedgeSignature` extension property; the VEN
uses only events whose signature checks out with the provider's key ring:

- unknown key, key of another source, key outside its validity, altered content or signature:
  rejected and counted, never used;
- replay protection: sequence numbers per source with a reorder window (a VEN may first see events
  in any order), and a time window on the issue time (`max_age`, default 3 days: a day-ahead price
  event is published the day before it applies). The signed content names the program, the event
  and its intervals with their times, so an old event replayed cannot move to another day.

A VEN polls the same events again and again: each (event id, signature) is verified once and the
answer remembered, so polling does not trip the replay check.
"""

from __future__ import annotations

import base64
from collections import Counter, OrderedDict
from datetime import datetime, timedelta

from gridedge.bus.security import KeyRing, Reason, Rejected, Signer, TimeSeededSequence, Verifier

__all__ = ["DocumentSigner", "DocumentVerifier"]

_REMEMBERED = 10_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DocumentSigner:
    """Signs documents of one source (e.g. the service provider's events)."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self._sequence = TimeSeededSequence()

    def sign(self, content: bytes, now: datetime) -> str:
        """The COSE_Sign1 over `content`, base64url (for a JSON property)."""
        return _b64(self.signer.sign(content, sequence=self._sequence.next(now), issued_at=now))


class DocumentVerifier:
    """Checks signed documents of `source` against a key ring; remembers what it checked."""

    def __init__(
        self,
        keyring: KeyRing,
        source: str,
        *,
        max_age: timedelta = timedelta(days=3),
        reorder_window: int = 4096,
    ) -> None:
        self.source = source
        self._verifier = Verifier(keyring, max_age=max_age, reorder_window=reorder_window)
        self._seen: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self.accepted = 0
        self.rejected: Counter[str] = Counter()

    def check(self, document_id: str, content: bytes, signature: str | None, now: datetime) -> str | None:
        """None when `signature` is the source's valid signature of exactly `content`; else why not
        (`unsigned`, or a `security.Reason` with detail). Answers are remembered per document."""
        key = (document_id, signature or "")
        if key in self._seen:
            return self._seen[key]
        if signature is None:
            return self._remember(key, self._count("unsigned"))
        try:
            message = _unb64(signature)
            verified = self._verifier.verify(message, source=self.source, now=now)
        except (ValueError, Rejected) as exc:
            why = f"{exc.reason.value}: {exc.detail}" if isinstance(exc, Rejected) else f"malformed: {exc}"
            # (a replayed signature on another document id ends here as `replay`)
            return self._remember(key, self._count(why))
        if verified.payload != content:
            return self._remember(key, self._count(f"{Reason.BAD_SIGNATURE.value}: content differs"))
        self.accepted += 1
        return self._remember(key, None)

    def _count(self, why: str) -> str:
        self.rejected[why.split(":", 1)[0]] += 1
        return why

    def _remember(self, key: tuple[str, str], answer: str | None) -> str | None:
        self._seen[key] = answer
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return answer
