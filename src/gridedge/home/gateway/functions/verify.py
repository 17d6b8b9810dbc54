"""Everything that is checked before a byte of a package's code runs.

Order, each step on data the previous one authenticated (docs/function-updates.md):

1. the COSE_Sign1 signature (`bus.security.Verifier`): a well-formed message, a known key id,
   provisioned for `UPDATE_SOURCE` (a telemetry or command key cannot sign code), valid now, a
   good Ed25519 signature, an audience that is this gateway or one of its groups, issued within
   `max_age`, and a sequence number higher than any accepted before for that audience (replay);
2. the payload's shape (`package.decode_request`) and the source's SHA-256 against the signed hash;
3. admission (`admit`): a known slot, a core at least `min_core`, a version strictly newer than
   the one running (a rollback order may only name the kept previous version or the built-in),
   and not a version that already failed on this gateway.

Only then does the loader compile the source. The replay state (highest sequence per audience) is
returned to the caller to persist, so that a restart does not reopen the window; a stored package
is re-verified on reload with `reverify`, which checks signature, key, audience and hash but not
age or sequence (it was accepted once; its key must still be valid *now*, so a revoked update key
takes its packages with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from gridedge.bus.security import KeyRing, Reason, Rejected, Verifier
from gridedge.home.gateway.functions.api import SLOTS
from gridedge.home.gateway.functions.package import (
    FunctionPackage,
    PackageError,
    RollbackOrder,
    decode_request,
    source_hash,
)
from gridedge.home.gateway.functions.semver import Version
from gridedge.home.gateway.functions.topics import UPDATE_SOURCE, group_audience

__all__ = ["DEFAULT_MAX_AGE", "Installed", "UpdateRejected", "UpdateVerifier", "VerifiedRequest", "admit"]

DEFAULT_MAX_AGE: Final = timedelta(days=1)
"""Longer than a command's 120 s: a package may wait in a broker's queue while the gateway is
offline. Replay protection does not depend on it (the sequence does that, persisted)."""
MAX_UPDATE_BYTES: Final = 512 * 1024
_NEVER_TOO_OLD: Final = timedelta(days=365 * 100)


class UpdateRejected(Exception):
    """An update that is not installed. `reason` is a short code (a `bus.security.Reason` value
    or one of this package's), `detail` says what exactly."""

    def __init__(
        self, reason: str, detail: str = "", *, name: str = "", version: str = "", sequence: int | None = None
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.name = name
        self.version = version
        self.sequence = sequence


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    request: FunctionPackage | RollbackOrder
    message: bytes
    """The signed message as received: what is stored, and re-verified on reload."""
    audience: str
    sequence: int
    kid: bytes
    issued_at: datetime

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def version(self) -> str:
        return self.request.version


@dataclass(frozen=True, slots=True)
class Installed:
    """What a slot runs and keeps, as admission needs to know it."""

    active: str
    previous: str | None
    builtin: str


class UpdateVerifier:
    """Signature, key, audience, replay, shape and hash of update messages for one gateway."""

    def __init__(
        self,
        keyring: KeyRing,
        meter_id: str,
        *,
        groups: Iterable[str] = (),
        max_age: timedelta = DEFAULT_MAX_AGE,
        replay: Mapping[str, int] | None = None,
        max_message_bytes: int = MAX_UPDATE_BYTES,
    ) -> None:
        self.keyring = keyring
        self.audiences = (meter_id, *(group_audience(g) for g in groups))
        self._max_bytes = max_message_bytes
        replay = replay or {}
        self._verifiers = {
            aud: Verifier(
                keyring,
                audience=aud,
                max_age=max_age,
                max_message_bytes=max_message_bytes,
                initial={UPDATE_SOURCE: replay[aud]} if aud in replay else None,
            )
            for aud in self.audiences
        }

    def replay_state(self) -> dict[str, int]:
        """Audience -> highest accepted sequence (persist it)."""
        out: dict[str, int] = {}
        for aud, verifier in self._verifiers.items():
            top = verifier.last_sequences().get(UPDATE_SOURCE)
            if top:
                out[aud] = top
        return out

    def verify(self, message: bytes, now: datetime) -> VerifiedRequest:
        """Accept a message received now, or raise UpdateRejected. Updates the replay state."""
        return self._check(message, now, self._verifiers)

    def reverify(self, message: bytes, audience: str, now: datetime) -> VerifiedRequest:
        """Check a stored message again (at reload): everything but its age and sequence."""
        if audience not in self._verifiers:
            raise UpdateRejected(Reason.WRONG_AUDIENCE.value, f"stored for {audience!r}, no longer ours")
        fresh = Verifier(
            self.keyring, audience=audience, max_age=_NEVER_TOO_OLD, max_message_bytes=self._max_bytes
        )
        return self._check(message, now, {audience: fresh})

    def _check(self, message: bytes, now: datetime, verifiers: Mapping[str, Verifier]) -> VerifiedRequest:
        first: Rejected | None = None
        for aud, verifier in verifiers.items():
            try:
                ok = verifier.verify(message, source=UPDATE_SOURCE, now=now)
            except Rejected as exc:
                if exc.reason is not Reason.WRONG_AUDIENCE:
                    raise UpdateRejected(exc.reason.value, exc.detail) from None
                first = first or exc
                continue
            try:
                request = decode_request(ok.payload)
            except PackageError as exc:
                raise UpdateRejected("bad-package", str(exc), sequence=ok.sequence) from None
            if isinstance(request, FunctionPackage) and source_hash(request.source) != request.sha256:
                raise UpdateRejected(
                    "hash-mismatch", "the source does not hash to the signed sha256",
                    name=request.name, version=request.version, sequence=ok.sequence,
                )  # fmt: skip
            return VerifiedRequest(request, bytes(message), aud, ok.sequence, ok.kid, ok.issued_at)
        assert first is not None
        raise UpdateRejected(first.reason.value, first.detail)


def admit(vr: VerifiedRequest, installed: Mapping[str, Installed], failed: set[tuple[str, str]],
          core_version: str) -> None:  # fmt: skip
    """Raise UpdateRejected unless this verified request may be acted on now."""
    req = vr.request

    def no(reason: str, detail: str) -> UpdateRejected:
        return UpdateRejected(reason, detail, name=req.name, version=req.version, sequence=vr.sequence)

    slot = installed.get(req.name)
    if slot is None:
        known = ", ".join(s.name for s in SLOTS)
        raise no("unknown-function", f"no replaceable function {req.name!r} (known: {known})")
    want = Version(req.version)
    if isinstance(req, RollbackOrder):
        if slot.active == slot.builtin and slot.previous is None:
            raise no("no-previous", f"{req.name} runs its built-in version, nothing to roll back")
        if req.version not in {slot.previous, slot.builtin} or want >= Version(slot.active):
            raise no(
                "no-previous",
                f"{req.name} can go back from {slot.active} to {slot.previous or slot.builtin} only",
            )
        return
    if Version(req.min_core) > Version(core_version):
        raise no("core-too-old", f"needs core {req.min_core}, this gateway runs {core_version}")
    if want <= Version(slot.active):
        what = "downgrade" if want < Version(slot.active) else "same version"
        raise no("not-newer", f"{what}: {req.name} {req.version}, installed {slot.active}")
    if (req.name, req.version) in failed:
        raise no("failed-before", f"{req.name} {req.version} failed on this gateway; publish a newer version")
