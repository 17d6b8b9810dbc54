"""Seeded random generators: one independent, reproducible stream per component.

The same seed and component name give the same numbers in every run and whatever order the
components are created in (the weather's clouds, each appliance's use, the grid's wander), so a
scenario reproduces byte for byte.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["rng_for"]


def rng_for(seed: int, name: str) -> np.random.Generator:
    """A generator for one component: stable across runs and independent of creation order."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))
