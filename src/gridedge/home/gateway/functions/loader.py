"""From a verified package to a factory: compile the source into a fresh module object.

The module is built with `importlib.util.module_from_spec` from a spec without a loader, and its
code is compiled from the package's source string and executed in that module's namespace. It is
never written to a file, never on `sys.path`, and cannot be imported by name afterwards; each
version is a separate module object, so two versions of one function live side by side (the
running one and the kept previous one) without sharing globals.

One concession: while the module body runs, it is registered in `sys.modules` under a unique name
and removed right after. `dataclasses` resolves string annotations (`from __future__ import
annotations`) through `sys.modules[cls.__module__]` (CPython Lib/dataclasses.py, `_is_type`) and
fails without it, and a function module will often define dataclasses.

What this is not: a sandbox. The module runs with the gateway's rights; Python has no way to
confine it (the interpreter's own docs on `exec`, and the retired `rexec`/`Bastion` modules). The
only gate is the signature checked before this module is called (docs/function-updates.md).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from gridedge.home.gateway.functions.api import FunctionContext, FunctionFactory, GatewayFunction
from gridedge.home.gateway.functions.package import FunctionPackage

__all__ = ["LoadError", "load_factory", "module_name"]


class LoadError(Exception):
    """The package's module does not compile, raises on import, or has no usable entry point."""


def module_name(package: FunctionPackage, sequence: int) -> str:
    safe = package.name.replace("-", "_")
    return f"gridedge_function_{safe}_{package.version.replace('.', '_')}_{sequence}"


def load_factory(package: FunctionPackage, sequence: int) -> tuple[ModuleType, FunctionFactory]:
    """Compile and execute the package's module; return it and its entry point (a factory that
    checks what it makes). Raises LoadError."""
    name = module_name(package, sequence)
    origin = f"<function package {package.name} {package.version}>"
    try:
        code = compile(package.source, origin, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise LoadError(f"does not compile: {exc}") from None
    spec = importlib.util.spec_from_loader(name, loader=None, origin=origin)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException as exc:
        if not isinstance(exc, Exception):
            raise
        raise LoadError(f"raised on import: {exc!r}") from None
    finally:
        sys.modules.pop(name, None)
    entry = getattr(module, package.entry, None)
    if not callable(entry):
        raise LoadError(f"has no callable entry point {package.entry!r}")

    def factory(context: FunctionContext) -> GatewayFunction:
        fn = entry(context)
        for attr in ("on_reading", "tick"):
            if not callable(getattr(fn, attr, None)):
                raise LoadError(f"{package.entry}() returned an object without {attr}()")
        if getattr(fn, "name", None) != package.name or getattr(fn, "version", None) != package.version:
            raise LoadError(
                f"{package.entry}() returned {getattr(fn, 'name', None)!r} {getattr(fn, 'version', None)!r}, "
                f"the package is {package.name!r} {package.version!r}"
            )
        assert isinstance(fn, GatewayFunction)
        return fn

    return module, factory
