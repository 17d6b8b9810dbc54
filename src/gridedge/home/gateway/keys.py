"""The gateway's per-meter AES-128 key in a file: 32 hex digits, readable by its owner only.

The key authenticates and encrypts every record (`bus.telemetry`, COSE_Encrypt0, like the
DLMS/COSEM per-meter unicast key) and the head-end's acknowledgements; the head-end holds the same
key for this meter. It is generated on the device (`gridedge gateway keygen`) and written with
mode 0600, created exclusively so an existing key is never overwritten by accident.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gridedge.bus.telemetry import KEY_BYTES, new_key

__all__ = ["KeyFileError", "load_key", "write_new_key"]


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file and what is wrong."""


def load_key(path: str | os.PathLike[str]) -> bytes:
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyFileError(f"key file {p}: not found (make one with `gridedge gateway keygen`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"key file {p}: cannot read: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(
            f"key file {p}: expected {2 * KEY_BYTES} hex digits, found {text[:40]!r}"
        ) from None
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"key file {p}: expected {2 * KEY_BYTES} hex digits, found {len(text)}")
    if os.name == "posix" and p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {p}: readable by others (mode {p.stat().st_mode & 0o777:o}); chmod 600 it"
        )
    return key


def write_new_key(path: str | os.PathLike[str]) -> bytes:
    """Generate a key and write it to a new file with mode 0600; FileExistsError if it exists."""
    key = new_key()
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return key
