"""`gridedge demo`: a virtual neighbourhood running the real services in one process.

`DemoWorld(DemoConfig(data_dir))` builds the street (`street`), each home's energy manager,
gateway and (for the featured home) NILM (`homes`, `nilm`), the grid operator and head-end
(`grid_side`), the aggregator's VTN (`aggregator`) and the scripted day (`storyline`);
`await world.run(stop)` paces it, `views_builder` turns its state into the dashboard's views.
The names are imported lazily: `app.demo.config` alone stays cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridedge.app.demo.config import DemoConfig
    from gridedge.app.demo.world import DemoWorld

__all__ = ["DemoConfig", "DemoWorld"]


def __getattr__(name: str) -> Any:
    if name == "DemoConfig":
        from gridedge.app.demo.config import DemoConfig

        return DemoConfig
    if name == "DemoWorld":
        from gridedge.app.demo.world import DemoWorld

        return DemoWorld
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
