"""The controller interface: one method, over a frozen snapshot, writing into the cycle's orders."""

from __future__ import annotations

from typing import Protocol

from gridedge.home.cem.orders import Orders
from gridedge.home.cem.snapshot import Snapshot


class Controller(Protocol):
    @property
    def name(self) -> str: ...

    def run(self, snap: Snapshot, orders: Orders) -> None: ...
