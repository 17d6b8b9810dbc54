"""Typed views of the `ocpp` package's routing decorators (the package ships no type hints).

`on(action)` marks the handler whose return value answers a CALL; `after(action)` runs once that
answer has been sent (used to register a charger only after its BootNotification was accepted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ocpp.routing import after as _after
from ocpp.routing import on as _on

F = TypeVar("F", bound=Callable[..., Any])


def on(action: str) -> Callable[[F], F]:
    decorator: Callable[[F], F] = _on(action)
    return decorator


def after(action: str) -> Callable[[F], F]:
    decorator: Callable[[F], F] = _after(action)
    return decorator
