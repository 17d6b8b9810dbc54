"""The head-end's per-meter telemetry keys.

Each meter's gateway seals its records with its own AES-128 key (`gridedge.bus.telemetry`), as
DLMS/COSEM meters use a per-meter global unicast key (IEC 62056-5-3 §9.2.7). The head-end holds the
keys of its fleet; one leaked key exposes one meter. Keys are provisioned when a meter is
commissioned and rotated by provisioning a new one (`rotate`): the old key stays valid for a grace
period, so records sealed before the gateway switched still open.

The key file is JSON lines, one `{"meter_id": ..., "key": "<32 hex digits>"}` per line, written
with mode 0600. A production head-end keeps keys in an HSM; the file is for the demo, the tests
and small installations.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from gridedge.bus.telemetry import KEY_BYTES, new_key

__all__ = ["KeyFileError", "MeterKeys"]


class KeyFileError(ValueError):
    """A key file line that is not a meter key; the message names the line and field."""


@dataclass(slots=True)
class _Entry:
    key: bytes
    previous: bytes | None = None


class MeterKeys:
    """Meter id -> current key (and the previous key during a rotation)."""

    def __init__(self, keys: dict[str, bytes] | None = None) -> None:
        self._entries: dict[str, _Entry] = {}
        for meter_id, key in (keys or {}).items():
            self.add(meter_id, key)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, meter_id: object) -> bool:
        return meter_id in self._entries

    def meters(self) -> list[str]:
        return sorted(self._entries)

    def add(self, meter_id: str, key: bytes) -> None:
        if not meter_id:
            raise ValueError("meter_id must not be empty")
        if len(key) != KEY_BYTES:
            raise ValueError(f"key of {meter_id!r}: expected {KEY_BYTES} bytes, found {len(key)}")
        self._entries[meter_id] = _Entry(key)

    def provision(self, meter_id: str) -> bytes:
        """A new random key for a meter being commissioned (replacing any key it had)."""
        key = new_key()
        self.add(meter_id, key)
        return key

    def rotate(self, meter_id: str) -> bytes:
        """A new key for `meter_id`; the old one still opens messages until `end_rotation`."""
        entry = self._entries.get(meter_id)
        if entry is None:
            raise KeyError(f"meter {meter_id!r} has no key to rotate")
        key = new_key()
        self._entries[meter_id] = _Entry(key, previous=entry.key)
        return key

    def end_rotation(self, meter_id: str) -> None:
        entry = self._entries.get(meter_id)
        if entry is not None:
            entry.previous = None

    def revoke(self, meter_id: str) -> None:
        self._entries.pop(meter_id, None)

    def get(self, meter_id: str) -> bytes | None:
        entry = self._entries.get(meter_id)
        return None if entry is None else entry.key

    def previous(self, meter_id: str) -> bytes | None:
        entry = self._entries.get(meter_id)
        return None if entry is None else entry.previous

    def save(self, path: str | Path) -> None:
        """Write the current keys as JSON lines, readable by the owner only (0600)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for meter_id in self.meters():
                f.write(json.dumps({"meter_id": meter_id, "key": self._entries[meter_id].key.hex()}) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> MeterKeys:
        keys = cls()
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{path}:{n}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise KeyFileError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
                if not isinstance(obj, dict):
                    raise KeyFileError(f"{where}: expected an object, found {type(obj).__name__}")
                meter_id, key = obj.get("meter_id"), obj.get("key")
                if not isinstance(meter_id, str) or not meter_id:
                    raise KeyFileError(f"{where}: meter_id: expected a non-empty string, found {meter_id!r}")
                try:
                    raw = bytes.fromhex(key) if isinstance(key, str) else b""
                except ValueError:
                    raw = b""
                if len(raw) != KEY_BYTES:
                    raise KeyFileError(f"{where}: key: expected {2 * KEY_BYTES} hex digits, found {key!r}")
                keys.add(meter_id, raw)
        return keys
