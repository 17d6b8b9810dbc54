"""The signed payload of an update: a function package, or an order to roll one back.

Both are a CBOR map (RFC 8949) with text keys, carried as the payload of a COSE_Sign1
(`bus.security`); the signature covers every byte of it. A package::

    {"type": "gridedge.function-package/1", "name": "load-curves", "version": "1.1.0",
     "entry": "create", "source": "<the module's Python source>",
     "sha256": h'<SHA-256 of the UTF-8 source>', "min_core": "0.1.0"}

and a rollback order (the only way to go back to an older version)::

    {"type": "gridedge.function-rollback/1", "name": "load-curves", "version": "1.0.0",
     "reason": "curve values off by one interval"}

The hash is redundant with the signature on the wire, on purpose: it is what the operator's build
records and audits name ("which source runs on meter X"), and the gateway checks it again when it
reloads a stored package. This module only decodes and checks the shape - strictly, since nothing
here is trusted until the signature is; the grid side's encoder is `grid.updates.package`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

import cbor2

from gridedge.home.gateway.functions.semver import Version

__all__ = [
    "PACKAGE_TYPE",
    "ROLLBACK_TYPE",
    "FunctionPackage",
    "PackageError",
    "RollbackOrder",
    "decode_request",
    "source_hash",
]

PACKAGE_TYPE: Final = "gridedge.function-package/1"
ROLLBACK_TYPE: Final = "gridedge.function-rollback/1"
MAX_SOURCE_CHARS: Final = 200_000


class PackageError(ValueError):
    """A payload that is not a well-formed package or order; the message names the field."""


@dataclass(frozen=True, slots=True)
class FunctionPackage:
    name: str
    version: str
    entry: str
    source: str
    sha256: bytes
    min_core: str


@dataclass(frozen=True, slots=True)
class RollbackOrder:
    name: str
    version: str
    """The version to go back to: the one kept as previous, or the built-in."""
    reason: str


def source_hash(source: str) -> bytes:
    return hashlib.sha256(source.encode("utf-8")).digest()


def _text(m: dict[Any, Any], key: str, *, limit: int = 200) -> str:
    value = m.get(key)
    if not isinstance(value, str) or not value:
        raise PackageError(f"field {key!r}: expected a non-empty text string, found {type(value).__name__}")
    if len(value) > limit:
        raise PackageError(f"field {key!r}: {len(value)} characters, at most {limit}")
    return value


def _version(m: dict[Any, Any], key: str) -> str:
    text = _text(m, key)
    try:
        Version(text)
    except ValueError as exc:
        raise PackageError(f"field {key!r}: {exc}") from None
    return text


def decode_request(payload: bytes) -> FunctionPackage | RollbackOrder:
    """The package or order in a (verified) payload; PackageError if it is not well formed."""
    try:
        m = cbor2.loads(payload)
    except Exception as exc:
        raise PackageError(f"payload is not CBOR: {exc}") from None
    if not isinstance(m, dict):
        raise PackageError("payload is not a CBOR map")
    kind = m.get("type")
    name = _text(m, "name", limit=64)
    if kind == ROLLBACK_TYPE:
        reason = m.get("reason", "")
        if not isinstance(reason, str):
            raise PackageError("field 'reason': expected text")
        return RollbackOrder(name, _version(m, "version"), reason[:500])
    if kind != PACKAGE_TYPE:
        raise PackageError(f"field 'type': {kind!r}, expected {PACKAGE_TYPE!r} or {ROLLBACK_TYPE!r}")
    entry = _text(m, "entry", limit=64)
    if not entry.isidentifier():
        raise PackageError(f"field 'entry': {entry!r} is not a Python identifier")
    source = _text(m, "source", limit=MAX_SOURCE_CHARS)
    digest = m.get("sha256")
    if not isinstance(digest, bytes) or len(digest) != 32:
        raise PackageError("field 'sha256': expected 32 bytes")
    return FunctionPackage(name, _version(m, "version"), entry, source, digest, _version(m, "min_core"))
