"""Build a function package from a Python file, checked before anyone signs it.

The payload format is specified in `home.gateway.functions.package` (the gateway's strict decoder);
this is its encoder. Building checks what can be checked without running the code: the name is a
slot the gateways know, the version and minimum core version are `MAJOR.MINOR.PATCH`, the source
compiles, and it defines its entry point at top level (read from the syntax tree, `ast`). Whether
the function computes the right records is for the operator's own tests before signing - the
gateway's self-test only checks that records come and are well formed.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cbor2

from gridedge import __version__ as CORE_VERSION

__all__ = [
    "FUNCTION_NAMES",
    "PACKAGE_TYPE",
    "ROLLBACK_TYPE",
    "BuildError",
    "FunctionPackageSpec",
    "build_package",
    "encode_rollback",
]

PACKAGE_TYPE: Final = "gridedge.function-package/1"
ROLLBACK_TYPE: Final = "gridedge.function-rollback/1"
FUNCTION_NAMES: Final = ("events", "load-curves", "monitoring")
"""The gateways' replaceable slots (`home.gateway.functions.api.SLOTS`)."""
_SEMVER = re.compile(r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})")


class BuildError(ValueError):
    """A package that must not be signed; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class FunctionPackageSpec:
    name: str
    version: str
    entry: str
    source: str
    min_core: str

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.source.encode("utf-8")).digest()

    def encode(self) -> bytes:
        """The CBOR payload to sign (RFC 8949 map, text keys)."""
        return cbor2.dumps({
            "type": PACKAGE_TYPE, "name": self.name, "version": self.version, "entry": self.entry,
            "source": self.source, "sha256": self.sha256, "min_core": self.min_core,
        })  # fmt: skip


def _check_version(what: str, text: str) -> str:
    if _SEMVER.fullmatch(text) is None:
        raise BuildError(f"{what} {text!r}: expected MAJOR.MINOR.PATCH, e.g. 1.4.0")
    return text


def build_package(
    source: str | Path, *, name: str, version: str, entry: str = "create", min_core: str = CORE_VERSION
) -> FunctionPackageSpec:
    """A package of `source` (the module's text, or a path to a .py file)."""
    if isinstance(source, Path):
        source = source.read_text(encoding="utf-8")
    if name not in FUNCTION_NAMES:
        raise BuildError(f"function {name!r}: the gateways replace {', '.join(FUNCTION_NAMES)}")
    _check_version("version", version)
    _check_version("min_core", min_core)
    if not entry.isidentifier():
        raise BuildError(f"entry {entry!r} is not a Python identifier")
    try:
        tree = ast.parse(source, filename=f"<{name} {version}>")
    except SyntaxError as exc:
        raise BuildError(f"source does not compile: line {exc.lineno}: {exc.msg}") from None
    defined = {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
    } | {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if entry not in defined:
        raise BuildError(f"source defines no top-level {entry!r} (the factory the gateway calls)")
    return FunctionPackageSpec(name, version, entry, source, min_core)


def encode_rollback(name: str, version: str, reason: str = "") -> bytes:
    """A rollback order's payload: go back to `version` (the gateway's kept previous or built-in)."""
    if name not in FUNCTION_NAMES:
        raise BuildError(f"function {name!r}: the gateways replace {', '.join(FUNCTION_NAMES)}")
    _check_version("version", version)
    return cbor2.dumps({"type": ROLLBACK_TYPE, "name": name, "version": version, "reason": reason})
