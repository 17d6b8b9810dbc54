"""What the long-running commands (`gridedge run`, `gridedge gateway`, ...) do alike as processes:
stop cleanly on SIGINT/SIGTERM or after `--duration`, and write status records as JSON lines."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

__all__ = ["stop_on_signals", "write_json_line"]


def stop_on_signals(stop: asyncio.Event, duration: float | None = None) -> None:
    """Set `stop` on SIGINT or SIGTERM, and after `duration` seconds when given (call it on the
    running loop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)


def write_json_line(record: dict[str, Any]) -> None:
    """One JSON object on its own line of stdout, at once (a status reader sees it at once).

    One `write` system call per line, below the pipe's atomic size (PIPE_BUF, 4 KiB on Linux) for a
    status record: processes sharing one stdout (the head-end's workers) never interleave lines."""
    import os

    import orjson

    sys.stdout.flush()  # what print() buffered goes first
    data = orjson.dumps(record) + b"\n"
    fd = sys.stdout.fileno()
    while data:
        data = data[os.write(fd, data) :]
