"""`AsyncReadingStore`: the store seen from the process's asyncio loop.

`append` is already non-blocking and stays synchronous. Everything that waits for the disk
(flush, close, retention, queries) runs in one dedicated worker thread, so the loop is never
blocked (DESIGN.md: blocking libraries run in one dedicated thread or executor each).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from gridedge.model.reading import MeterReading
from gridedge.store.base import Aggregate, ReadingStore, Resolution, RetentionReport, StoreStats
from gridedge.store.codec import StoredReading

T = TypeVar("T")


class AsyncReadingStore:
    """Wraps any `ReadingStore`; closing it closes the wrapped store."""

    def __init__(self, store: ReadingStore) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-query")

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def append(self, reading: MeterReading) -> bool:
        return self.store.append(reading)

    def stats(self) -> StoreStats:
        return self.store.stats()

    async def flush(self) -> None:
        await self._run(self.store.flush)

    async def close(self) -> None:
        try:
            await self._run(self.store.close)
        finally:
            self._executor.shutdown(wait=False)

    async def apply_retention(self, now: datetime) -> RetentionReport:
        return await self._run(lambda: self.store.apply_retention(now))

    async def readings(self, meter_id: str, start: datetime, end: datetime) -> list[StoredReading]:
        return await self._run(lambda: self.store.readings(meter_id, start, end))

    async def aggregates(
        self, meter_id: str, resolution: Resolution, start: datetime, end: datetime
    ) -> list[Aggregate]:
        return await self._run(lambda: self.store.aggregates(meter_id, resolution, start, end))

    async def latest(self, meter_id: str) -> StoredReading | None:
        return await self._run(lambda: self.store.latest(meter_id))

    async def latest_readings(self) -> dict[str, StoredReading]:
        return await self._run(self.store.latest_readings)
