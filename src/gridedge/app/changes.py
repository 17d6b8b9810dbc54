"""`Changes`: how a `DemoControl` (`app.views`) tells the web room that its views changed.

A version number goes up on every change (`bump`); a reader that saw version `after` waits for a
newer one (`wait`), so an event stream sends a view only when there is something new. Shared by
the demo's world and `gridedge run`'s `SiteControl`.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Changes"]


class Changes:
    """A change counter with a wait for the next change (one asyncio loop)."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()

    def bump(self) -> None:
        """Something the views show changed: wake every waiter."""
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, after: int, timeout_s: float) -> int:
        """The version once it is newer than `after`, or after `timeout_s` whatever it is."""
        if self.version > after:
            return self.version
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout_s)
        return self.version
