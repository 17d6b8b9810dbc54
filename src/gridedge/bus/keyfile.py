"""Key files for signed commands: a private key to sign with, public keys, and the key ring file.

Why these formats:

* Private key: PKCS#8 PEM (RFC 5958, RFC 8410 for Ed25519), readable by OpenSSL and every
  crypto library, written with mode 0600. The key id travels with it on a `gridedge-kid: <hex>`
  line before the PEM block; RFC 7468 §5.2 lets explanatory text precede the encapsulation
  boundary, so other tools still read the file. Without that line the signer's kid is the default
  of `gridedge.bus.security.Signer` (the first 8 bytes of the key's RFC 9679 thumbprint).
* Public key: SubjectPublicKeyInfo PEM (RFC 8410 §4) with the same kid line, or a COSE_Key
  (RFC 9052 §7, OKP/Ed25519 per RFC 9053 §7.2), which carries its kid itself.
* Key ring: TOML, one `[[key]]` table per provisioned key, so a person can read and review who
  may command a site, and rotation is two entries whose validity overlaps::

      [[key]]
      source = "dso"                       # or: sources = ["dso", "dso-standby"]
      kid = "dso-2025"                     # text (UTF-8), or kid_hex = "0a1b..."; optional when
                                           # the key file names it
      public_key_file = "dso-2025.pub.pem" # PEM or COSE_Key, relative to the ring file;
                                           # or inline: public_key = '''-----BEGIN PUBLIC KEY-----...'''
      not_before = 2025-01-01T00:00:00Z    # optional, with a UTC offset
      not_after = 2026-01-31T00:00:00Z     # optional

A bad file raises `KeyFileError` naming the file, the entry (number and line of its `[[key]]`
header), the field, what was expected and what was found.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gridedge.bus.security import (
    KeyEntry,
    KeyRing,
    Signer,
    export_public_cose_key,
    export_public_pem,
    import_public_cose_key,
    import_public_pem,
)

__all__ = [
    "KeyFileError",
    "PublicKeyFile",
    "load_keyring",
    "load_public_key",
    "load_signer",
    "public_key_from_bytes",
    "write_private_key",
    "write_public_key",
]

_KID_LINE = re.compile(rb"^gridedge-kid:\s*([0-9A-Fa-f]+)\s*$", re.MULTILINE)
_KEY_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*key[ \t]*\]\]", re.MULTILINE)
_ENTRY_FIELDS = (
    "source", "sources", "kid", "kid_hex", "public_key", "public_key_file", "not_before", "not_after",
)  # fmt: skip


class KeyFileError(ValueError):
    """A key or key ring file that cannot be used; the message says where and what is wrong."""


@dataclass(frozen=True, slots=True)
class PublicKeyFile:
    """A public key read from a file, with the kid the file names (None if it names none)."""

    public_key: Ed25519PublicKey
    kid: bytes | None


# --------------------------------------------------------------------------- single keys


def _kid_line(kid: bytes) -> bytes:
    return b"gridedge-kid: " + kid.hex().encode() + b"\n"


def _file_kid(data: bytes, where: str) -> bytes | None:
    head = data.split(b"-----BEGIN", 1)[0]
    found = _KID_LINE.findall(head)
    if len(found) > 1:
        raise KeyFileError(f"{where}: more than one gridedge-kid line")
    return bytes.fromhex(found[0].decode()) if found else None


def write_private_key(path: str | Path, signer: Signer, *, overwrite: bool = False) -> None:
    """Write `signer`'s key as PKCS#8 PEM with its kid line, readable by the owner only (0600).

    The file is created with mode 0600 from the start (never world-readable, not even briefly);
    an existing file is refused unless `overwrite`.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: exists; refusing to overwrite a private key") from None
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # O_CREAT's mode does not apply to a file that already existed
        f.write(_kid_line(signer.kid) + signer.export_private_pem())


def load_signer(path: str | Path, *, password: bytes | None = None) -> Signer:
    """The `Signer` of a private key file written by `write_private_key` (or any PKCS#8 Ed25519 PEM)."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{where}: cannot read: {exc.strerror or exc}") from None
    kid = _file_kid(data, where)
    try:
        return Signer.from_private_pem(data, kid, password)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{where}: expected an Ed25519 private key in PKCS#8 PEM: {exc}") from None


def write_public_key(
    path: str | Path, public_key: Ed25519PublicKey, kid: bytes, *, fmt: Literal["pem", "cose"] = "pem"
) -> None:
    """Write a public key as PEM (with its kid line) or as a COSE_Key (which holds the kid)."""
    if fmt == "cose":
        data = export_public_cose_key(public_key, kid)
    else:
        data = _kid_line(kid) + export_public_pem(public_key)
    Path(path).write_bytes(data)


def public_key_from_bytes(data: bytes, where: str) -> PublicKeyFile:
    """A public key from PEM (SubjectPublicKeyInfo, optional kid line) or COSE_Key bytes."""
    if b"-----BEGIN" in data:
        kid = _file_kid(data, where)
        try:
            return PublicKeyFile(import_public_pem(data), kid)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{where}: expected an Ed25519 public key in PEM: {exc}") from None
    try:
        kid, key = import_public_cose_key(data)
    except (ValueError, TypeError, cbor2.CBORDecodeError) as exc:
        raise KeyFileError(f"{where}: expected a PEM public key or a COSE_Key: {exc}") from None
    return PublicKeyFile(key, kid)


def load_public_key(path: str | Path) -> PublicKeyFile:
    """A public key file written by `write_public_key` (PEM or COSE_Key, told apart by content)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return public_key_from_bytes(data, str(path))


# --------------------------------------------------------------------------- the key ring


def load_keyring(path: str | Path) -> KeyRing:
    """The `KeyRing` of a key ring file (format in the module docstring); `KeyFileError` if bad.

    An empty ring is an error too: a receiver that trusts no key would reject every command, which
    is never what a configured `--grid-keys` means.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeyFileError(f"{path}: not valid TOML: {exc}") from None
    extra = sorted(set(doc) - {"key"})
    if extra:
        raise KeyFileError(f"{path}: unknown table or field {extra[0]!r} (expected [[key]] tables only)")
    entries = doc.get("key")
    if not isinstance(entries, list) or not entries:
        raise KeyFileError(f"{path}: no [[key]] entries")
    lines = [text.count("\n", 0, m.start()) + 1 for m in _KEY_HEADER.finditer(text)]
    ring = KeyRing()
    for i, raw in enumerate(entries):
        line = f", line {lines[i]}" if len(lines) == len(entries) else ""
        where = f"{path}: key #{i + 1}{line}"
        entry = _entry(raw, where, p.parent)
        if ring.get(entry.kid) is not None:
            raise KeyFileError(f"{where}: kid {entry.kid.hex()} is already provisioned by an earlier entry")
        ring.add(entry)
    return ring


def _bad(where: str, field: str, expected: str, found: object) -> KeyFileError:
    shown = repr(found)
    return KeyFileError(f"{where}: {field}: expected {expected}, found {shown[:120]}")


def _entry(raw: object, where: str, base: Path) -> KeyEntry:
    if not isinstance(raw, Mapping):
        raise _bad(where, "[[key]]", "a table", raw)
    extra = sorted(set(raw) - set(_ENTRY_FIELDS))
    if extra:
        raise _bad(where, extra[0], f"no such field (fields: {', '.join(_ENTRY_FIELDS)})", raw[extra[0]])

    if ("source" in raw) == ("sources" in raw):
        found = "both" if "source" in raw else "neither"
        raise _bad(where, "source", "exactly one of 'source' or 'sources'", found)
    sources = [raw["source"]] if "source" in raw else raw["sources"]
    field = "source" if "source" in raw else "sources"
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s for s in sources):
        raise _bad(where, field, "a non-empty string (or a list of them)", raw[field])

    if ("public_key" in raw) == ("public_key_file" in raw):
        raise _bad(
            where, "public_key", "exactly one of 'public_key' (PEM text) or 'public_key_file'",
            "both" if "public_key" in raw else "neither",
        )  # fmt: skip
    if "public_key" in raw:
        pem = raw["public_key"]
        if not isinstance(pem, str):
            raise _bad(where, "public_key", "a PEM string", pem)
        key = public_key_from_bytes(pem.encode(), f"{where}: public_key")
    else:
        name = raw["public_key_file"]
        if not isinstance(name, str) or not name:
            raise _bad(where, "public_key_file", "a file name", name)
        try:
            key = load_public_key(base / name)
        except KeyFileError as exc:
            raise KeyFileError(f"{where}: public_key_file: {exc}") from None

    kid = _kid(raw, where)
    if kid is None:
        kid = key.kid
    elif key.kid is not None and key.kid != kid:
        raise _bad(where, "kid", f"the key file's kid {key.kid.hex()} (or no kid field)", kid.hex())
    if kid is None:
        raise _bad(where, "kid", "a kid (the key file names none)", "nothing (field missing)")

    bounds = {name: _time(raw.get(name), where, name) for name in ("not_before", "not_after")}
    try:
        return KeyEntry(kid, key.public_key, frozenset(sources), bounds["not_before"], bounds["not_after"])
    except ValueError as exc:
        raise KeyFileError(f"{where}: {exc}") from None


def _kid(raw: Mapping[str, object], where: str) -> bytes | None:
    if "kid" in raw and "kid_hex" in raw:
        raise _bad(where, "kid", "one of 'kid' or 'kid_hex'", "both")
    if "kid" in raw:
        text = raw["kid"]
        if not isinstance(text, str) or not text:
            raise _bad(where, "kid", "a non-empty string", text)
        return text.encode()
    if "kid_hex" in raw:
        text = raw["kid_hex"]
        try:
            if not isinstance(text, str) or not text:
                raise ValueError
            return bytes.fromhex(text)
        except ValueError:
            raise _bad(where, "kid_hex", "hexadecimal digits", text) from None
    return None


def _time(value: object, where: str, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _bad(where, field, "an RFC 3339 date-time with UTC offset", value) from None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise _bad(where, field, "an RFC 3339 date-time with UTC offset (e.g. 2025-01-01T00:00:00Z)", value)
    return value
