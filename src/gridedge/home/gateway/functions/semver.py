"""Version numbers of functions: `MAJOR.MINOR.PATCH` of Semantic Versioning 2.0.0 (semver.org §2).

Only the three numbers: no pre-release or build suffix (§9, §10). A gateway compares versions to
refuse downgrades, and "1.2.0-rc.1 < 1.2.0" (§11) is a rule an operator can trip over when a
release candidate is already installed; three numbers leave nothing to interpret.
"""

from __future__ import annotations

import re
from functools import total_ordering

__all__ = ["Version"]

_SEMVER = re.compile(r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})")


@total_ordering
class Version:
    """A parsed `MAJOR.MINOR.PATCH`; compares numerically (semver.org §11.2)."""

    __slots__ = ("parts",)

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or _SEMVER.fullmatch(text) is None:
            raise ValueError(f"version {text!r}: expected MAJOR.MINOR.PATCH, e.g. 1.4.0 (no leading zeros)")
        major, minor, patch = (int(x) for x in text.split("."))
        self.parts = (major, minor, patch)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.parts == other.parts

    def __lt__(self, other: Version) -> bool:
        return self.parts < other.parts

    def __hash__(self) -> int:
        return hash(self.parts)

    def __str__(self) -> str:
        return ".".join(str(p) for p in self.parts)

    def __repr__(self) -> str:
        return f"Version({str(self)!r})"
