"""Helpers for tests that run `gridedge` commands as separate processes."""

from __future__ import annotations

import subprocess
import time


def announced(proc: subprocess.Popen[str], what: str, *, timeout_s: float = 30.0) -> str:
    """The address a process prints on stderr as '<what> ... on <address>' (the virtual meter's
    ports, the energy manager's servers); kills the process and fails when it never comes."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:  # the process ended without saying it
            break
        if line.startswith(what):
            return line.split(" on ", 1)[1].strip()
    proc.kill()
    raise AssertionError(f"{what} was never announced")
