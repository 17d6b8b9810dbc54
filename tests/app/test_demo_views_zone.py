"""Every time in the demo's views is the street's wall time, with its offset: status, home and grid
views, notifications, issued limits, alarms and the feeder's history alike (a reader must not mix
UTC and local times, as the dashboard once had to)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gridedge.app.demo.config import DemoConfig
from gridedge.app.demo.world import DemoWorld

Z = ZoneInfo("Europe/Brussels")


def _times(value: Any, path: str = "") -> list[tuple[str, datetime]]:
    if isinstance(value, datetime):
        return [(path, value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return [t for f in fields for t in _times(getattr(value, f.name), f"{path}.{f.name}")]
    if isinstance(value, tuple):
        return [t for i, v in enumerate(value) for t in _times(v, f"{path}[{i}]")]
    return []


def test_every_time_in_the_views_is_the_streets_wall_time(tmp_path: Path) -> None:
    w = DemoWorld(DemoConfig(tmp_path, homes=2, start=datetime(2026, 4, 15, 17, 58, 50, tzinfo=Z)))

    async def main() -> list[tuple[str, datetime]]:
        await w.start()
        await w.advance(75)  # 18:00: the storyline's limit, a note, an issued limit, feeder history
        w.grid_side.wan_alarm("home-02", w.home("home-02").notifications[0].level, "link down (test)")
        found = _times(w.status(), "status") + _times(w.grid(), "grid")
        for site in w.status().homes:
            found += _times(w.home(site), site)
        await w.close()
        return found

    found = asyncio.run(main())
    kinds = {p.split("[")[0].split(".")[0] + "." + p.split(".")[1].split("[")[0] for p, _ in found}
    for needed in ("status.now", "grid.now", "grid.limits", "grid.alarms", "grid.feeders",
                   "home-01.now", "home-01.notifications", "home-01.plan", "home-01.prices"):  # fmt: skip
        assert needed in kinds, (needed, sorted(kinds))
    wrong = [(p, t.isoformat()) for p, t in found if t.utcoffset() != t.astimezone(Z).utcoffset()]
    assert not wrong and all(t.tzinfo is not None for _, t in found), wrong[:10]
    # and the offset is the zone's (+02:00 in April), not UTC's
    assert {t.utcoffset() for _, t in found} == {datetime(2026, 4, 15, 18, tzinfo=Z).utcoffset()}
