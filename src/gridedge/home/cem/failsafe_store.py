"""Keeps the Energy Guard's failsafe values across restarts (LPC-TS-044).

After a restart the CS must begin limited by the failsafe limit (LPC-901, LPC-TS-017); if the EG
changed that limit (LPC-TS-011/1) the CS SHOULD persist the change, so the limit applied in the
first seconds after a power cut is the DSO's, not the vendor default. One small JSON file per
direction, written atomically (temporary file in the same directory, fsync, `os.replace`), so a
crash mid-write leaves the old file or the new one, never half of each.

The write is synchronous: it is a few hundred bytes, happens only when the EG writes failsafe
values (rarely), and LPC-TS-044 is best honoured before the write is acknowledged.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from gridedge.model.limits import Direction, FailsafeValues, LimitValueError

__all__ = ["FORMAT", "FailsafeStore", "FailsafeStoreError"]

FORMAT = "gridedge.failsafe/1"


class FailsafeStoreError(ValueError):
    """The failsafe file exists but cannot be used; names the file and the field."""

    def __init__(self, path: Path, field: str, expected: str, found: object) -> None:
        self.path = path
        self.field = field
        super().__init__(f"failsafe store {path}: field {field!r}: expected {expected}, found {found!r}")


class FailsafeStore:
    """Load and save the `FailsafeValues` of one direction in one JSON file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    @property
    def path(self) -> Path:
        return self._path

    def load(self, direction: Direction) -> FailsafeValues | None:
        """The stored values, or None when the file does not exist (first start).

        Raises FailsafeStoreError for a file that is not JSON, has another format, holds the other
        direction's values, or a value out of range.
        """
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise FailsafeStoreError(
                self._path, "<document>", "a JSON object", f"{e.msg} at line {e.lineno} column {e.colno}"
            ) from None
        if not isinstance(data, dict):
            raise FailsafeStoreError(self._path, "<document>", "a JSON object", type(data).__name__)
        if data.get("format") != FORMAT:
            raise FailsafeStoreError(self._path, "format", repr(FORMAT), data.get("format"))
        if data.get("direction") != direction.value:
            raise FailsafeStoreError(self._path, "direction", repr(direction.value), data.get("direction"))
        try:
            return FailsafeValues.from_dict(data)
        except LimitValueError as e:
            raise FailsafeStoreError(self._path, e.field, e.expected, e.found) from None

    def save(self, values: FailsafeValues) -> None:
        """Write `values` atomically; raises OSError when the directory is not writable."""
        doc = {
            "format": FORMAT,
            "direction": values.direction.value,
            "limit_w": values.limit_w,
            "duration_min_s": values.duration_min_s,
        }
        parent = self._path.parent
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
