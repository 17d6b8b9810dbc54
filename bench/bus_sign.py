"""Bus message security benchmark: COSE_Sign1 / Ed25519 sign and verify rates, single vs batched.

Run: `python bench/bus_sign.py` (add `--processes 2` to check that verification scales across cores).

Workload: a ~600-byte JSON near-real-time meter reading (P, E import/export per tariff, per-phase V, I,
P, frequency). Measured per core (one process):
- raw Ed25519 (`cryptography`) sign/verify of the 600 bytes, the floor set by RFC 8032 §5.1;
- `Signer.sign` / `Verifier.verify` of one reading per COSE_Sign1 (full path: CBOR, cwt, key ring,
  time window, replay state);
- `Signer.sign_batch` / `Verifier.verify_batch` with `--batch-size` readings per COSE_Sign1.

Then what it means for the head-end of 1,000,000 meters sending one reading every 10 s
(100,000 readings/s): cores needed for verification alone, per scheme.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridedge.bus.security import KeyRing, Signer, Verifier

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
FLEET = 1_000_000
PERIOD_S = 10
READINGS_PER_S = FLEET // PERIOD_S
SOURCE = "site-0001"


def reading(i: int) -> bytes:
    """One near-real-time reading as the gateway would publish it (about 600 bytes of JSON)."""
    value = {
        "meter_id": f"1SAG{1100000000 + i:010d}",
        "site": SOURCE,
        "timestamp": (T0 + timedelta(seconds=10 * i)).isoformat(),
        "obis": "1-0:1.7.0",
        "power_import_w": 1834.2 + i % 97,
        "power_export_w": 0.0,
        "energy_import_t1_wh": 12345678.9 + i,
        "energy_import_t2_wh": 9876543.2 + i,
        "energy_export_t1_wh": 1234567.8,
        "energy_export_t2_wh": 2345678.9,
        "voltage_v": [231.2, 229.8, 230.5],
        "current_a": [3.41, 2.97, 1.85],
        "power_import_per_phase_w": [788.4, 682.5, 426.2],
        "power_export_per_phase_w": [0.0, 0.0, 0.0],
        "frequency_hz": 49.987,
        "tariff": 1,
        "breaker_state": "closed",
        "limiter_threshold_w": 9999.0,
        "gas_m3": 4321.123,
        "gas_timestamp": (T0 + timedelta(seconds=10 * i - 300)).isoformat(),
        "firmware": "GE-P1-5.0.2",
        "quality": "valid",
        "sequence": i,
    }
    return orjson.dumps(value)


def rate(label: str, count: int, run: Callable[[], None], unit: str) -> float:
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    per_s = count / elapsed
    print(f"  {label:<44} {per_s:>10,.0f} {unit}/s   {1e6 / per_s:>7.1f} us each")
    return per_s


def _verify_worker(args: tuple[int, int, int]) -> float:
    """Verify `count` messages in a fresh process (one core); return messages per second."""
    _worker, count, batch_size = args
    signer = Signer(Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32), kid=b"bench")
    ring = KeyRing()
    ring.provision(signer.public_key, kid=signer.kid, sources={SOURCE})
    verifier = Verifier(ring)
    items = [reading(i) for i in range(batch_size)]
    messages = [signer.sign_batch(items, sequence=n + 1, issued_at=T0) for n in range(count)]
    start = time.perf_counter()
    for message in messages:
        verifier.verify_batch(message, source=SOURCE, now=T0)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=20_000, help="messages per measurement")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--processes", type=int, default=0, help="also verify batches on N processes")
    args = parser.parse_args()
    n, size = args.count, args.batch_size

    private = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
    public = private.public_key()
    signer = Signer(private, kid=b"bench")
    ring = KeyRing()
    ring.provision(public, kid=signer.kid, sources={SOURCE})

    payloads = [reading(i) for i in range(n)]
    mean_len = sum(map(len, payloads)) / n
    print(f"reading: {mean_len:.0f} bytes of JSON; {n:,} messages per measurement; one process = one core")

    print("raw Ed25519 (cryptography), 600-byte message:")
    signatures: list[bytes] = []
    rate("sign", n, lambda: signatures.extend(private.sign(p) for p in payloads), "sig")

    def raw_verify() -> None:
        for p, s in zip(payloads, signatures, strict=True):
            public.verify(s, p)

    raw_verify_rate = rate("verify", n, raw_verify, "sig")

    print("COSE_Sign1, one reading per message:")
    singles: list[bytes] = []

    def sign_single() -> None:
        singles.extend(signer.sign(p, sequence=i + 1, issued_at=T0) for i, p in enumerate(payloads))

    sign_single_rate = rate("Signer.sign", n, sign_single, "msg")
    verifier = Verifier(ring)

    def verify_single() -> None:
        for m in singles:
            verifier.verify(m, source=SOURCE, now=T0)

    verify_single_rate = rate("Verifier.verify", n, verify_single, "msg")
    assert verifier.accepted == n
    print(
        f"  on the wire: {len(singles[0])} bytes "
        f"({len(singles[0]) - len(payloads[0])} bytes of COSE overhead)"
    )

    nb = max(1, n // size)
    batches_in = [payloads[k * size : (k + 1) * size] for k in range(nb)]
    print(f"COSE_Sign1 batch, {size} readings per message:")
    batches: list[bytes] = []

    def sign_batches() -> None:
        batches.extend(signer.sign_batch(b, sequence=k + 1, issued_at=T0) for k, b in enumerate(batches_in))

    sign_batch_rate = rate("Signer.sign_batch", nb, sign_batches, "batch")
    verifier = Verifier(ring)

    def verify_batches() -> None:
        for m in batches:
            verifier.verify_batch(m, source=SOURCE, now=T0)

    verify_batch_rate = rate("Verifier.verify_batch", nb, verify_batches, "batch")
    assert verifier.accepted == nb
    overhead = len(batches[0]) - sum(map(len, batches_in[0]))
    print(f"  on the wire: {len(batches[0])} bytes ({overhead / size:.1f} bytes of overhead per reading)")

    print(
        f"\n1,000,000 meters, one reading per {PERIOD_S} s = {READINGS_PER_S:,} readings/s at the head-end:"
    )
    rows = [
        ("raw Ed25519 verify per reading (floor)", raw_verify_rate),
        ("COSE_Sign1 verify per reading", verify_single_rate),
        (f"COSE_Sign1 verify per batch of {size}", verify_batch_rate * size),
    ]
    for label, readings_per_core in rows:
        cores = READINGS_PER_S / readings_per_core
        print(f"  {label:<44} {readings_per_core:>10,.0f} readings/s/core -> {cores:5.1f} cores")
    print(
        f"  signing at the gateways is spread over the fleet: one site signs 1 reading per {PERIOD_S} s "
        f"({sign_single_rate:,.0f}/s/core single, {sign_batch_rate * size:,.0f} readings/s/core batched)"
    )

    if args.processes:
        per_process = max(1, n // size)
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            start = time.perf_counter()
            rates = pool.map(_verify_worker, [(w, per_process, size) for w in range(args.processes)])
            wall = time.perf_counter() - start
        total = sum(rates) * size
        print(
            f"\n{args.processes} processes verifying batches of {size}: {total:,.0f} readings/s "
            f"({', '.join(f'{r * size:,.0f}' for r in rates)} per process; {wall:.1f} s wall incl. signing)"
        )


if __name__ == "__main__":
    main()
