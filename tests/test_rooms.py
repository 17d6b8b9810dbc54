"""The rooms of DESIGN.md and who may import whom, checked on the source tree.

`model` and `clock` depend on nothing else of gridedge; `physics` on `model` only; the ports,
the simulator, the home and the grid side never import one another (they talk over the bus or
through narrow interfaces passed in); only the command line (`cli*.py`) puts rooms together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gridedge"

ALLOWED: dict[str, set[str]] = {
    "model": {"model"},
    "clock": set(),
    "physics": {"model", "physics"},
    "bus": {"bus", "model", "clock"},
    "store": {"store", "model", "clock"},
    "ports": {"ports", "model", "clock", "bus"},
    "sim": {"sim", "model", "clock", "physics", "ports", "bus"},
    "home": {"home", "model", "clock", "physics", "bus", "ports", "store"},
    "grid": {"grid", "model", "clock", "bus", "store"},
    "app": {"app", "model", "clock", "bus", "store", "home", "grid", "sim", "physics", "ports"},
    "web": {"web", "app", "model", "clock", "bus", "store", "home", "grid", "sim", "physics", "ports"},
}
"""Room -> the rooms it may import. The simulator serves the meter's ports with the ports' own
encoders; the home side reads meters through the ports and stores through the store; the web room
shows both sides (it is an edge, like the CLI), and no room imports it. `app` is the composition root
(the demo's neighbourhood, `gridedge run`): it puts the rooms together, as the CLI does."""


def _imports(path: Path) -> set[str]:
    """The gridedge rooms a module imports (at any depth, TYPE_CHECKING included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rooms = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "gridedge" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms


def _room(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_rooms_import_only_what_they_may(room: str) -> None:
    files = [SRC / f"{room}.py"] if (SRC / f"{room}.py").is_file() else sorted((SRC / room).rglob("*.py"))
    assert files, f"room {room} not found"
    wrong = {
        str(f.relative_to(SRC)): sorted(bad)
        for f in files
        if (bad := {r for r in _imports(f) if r not in ALLOWED[room] and r != "__version__"})
    }
    assert not wrong, f"{room} imports rooms it may not: {wrong}"
