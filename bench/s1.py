"""S1 deframer throughput: frames per second of wall time against the port's 4000 frames/s.

Run: `python bench/s1.py [--seconds 60]`.

Builds `--seconds` of a 4000 Hz poly-phase S1 stream with the virtual meter's frame encoder,
then deframes it in reads of 4 kB and of 64 kB (what a serial or TCP read returns), clean and
with 1 % of the frames corrupted by a flipped bit. Prints frames/s and the real-time factor
(goal of the issue: the deframer must not be what limits the analytics' >= 100x).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gridedge.ports.s1.deframe import S1Deframer
from gridedge.ports.s1.frame import S1FrameEncoder, S1FrameInfo

RATE = 4000


def stream(seconds: int) -> bytes:
    n = seconds * RATE
    k = np.arange(n)
    counts = np.empty((n, 7), dtype=np.int32)
    for p in range(3):
        theta = 2 * np.pi * 50 * k / RATE - 2 * np.pi * p / 3
        counts[:, 2 * p] = np.round(325 * np.sin(theta) / 0.025)
        counts[:, 2 * p + 1] = np.round(8000 * np.sin(theta - 0.2))
    counts[:, 6] = 0
    info = S1FrameInfo("1FLU0012345678", poly_phase=True, four_wire=True, neutral_current=True)
    return S1FrameEncoder(info, RATE // 100).encode(counts, 50_000)


def run(data: bytes, read: int) -> tuple[float, int]:
    d = S1Deframer()
    start = time.perf_counter()
    samples = 0
    for a in range(0, len(data), read):
        for chunk in d.feed(data[a : a + read]):
            samples += chunk.samples
    return time.perf_counter() - start, samples


def main() -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    clean = stream(args.seconds)
    dirty = bytearray(clean)
    rng = np.random.default_rng(1)
    for f in rng.choice(len(clean) // 45, len(clean) // 45 // 100, replace=False):
        dirty[int(f) * 45 + 30] ^= 0x10
    frames = len(clean) // 45
    print(f"S1 deframer, {args.seconds} s of 4000 Hz poly-phase ({frames} frames, {len(clean) / 1e6:.1f} MB)")
    for name, data in (("clean", clean), ("1 % corrupted", bytes(dirty))):
        for read in (4096, 65536):
            wall, samples = run(data, read)
            print(
                f"  {name:>14}, reads of {read // 1024:>2} kB: {samples / wall / 1e6:.2f} M frames/s,"
                f" {args.seconds / wall:.0f}x real time"
            )


if __name__ == "__main__":
    main()
