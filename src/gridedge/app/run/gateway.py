"""The home's communication module as `gridedge gateway` and `gridedge run` build it."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gridedge.bus.rawlink import MqttRawLink
from gridedge.bus.security import KeyRing
from gridedge.clock import Clock
from gridedge.home.gateway.monitoring import MonitorConfig
from gridedge.home.gateway.service import GatewayConfig, GatewayService
from gridedge.ports.p1.readers import parse_host_port

__all__ = ["GatewayFiles", "announce_subscribed", "build_gateway", "load_gateway_files"]


def build_gateway(
    clock: Clock,
    *,
    meter_id: str,
    broker: str,
    prefix: str,
    key: bytes,
    conn: sqlite3.Connection,
    recipient: str = "hes",
    nrtd_every_s: int = 300,
    groups: Sequence[str] = (),
    update_keys: KeyRing | None = None,
) -> GatewayService:
    """The gateway of `meter_id` on the head-end's `broker` (HOST:PORT, ValueError when malformed),
    its records sealed with `key`, its outbox, consent log and WAN history in `conn`."""
    host, port = parse_host_port(broker)
    link = MqttRawLink(
        clock, host=host, port=port, topic_prefix=prefix,
        # client ids are broker-wide: the prefix keeps two systems' meters named alike apart
        client_id=f"gridedge-gw-{prefix.replace('/', '-')}-{meter_id}".replace("--", "-"),
    )  # fmt: skip
    config = GatewayConfig(
        meter_id,
        recipient=recipient,
        monitor=MonitorConfig(meter_id, nrtd_every_s=nrtd_every_s),
        groups=tuple(groups),
    )
    return GatewayService(config, clock=clock, link=link, conn=conn, key=key, update_keys=update_keys)


async def announce_subscribed(gateway: GatewayService, line: str) -> None:
    """Print `line` on stderr once the broker confirmed the gateway's subscriptions (acks and, with
    update keys, updates): from then on nothing sent to it is missed. A link that cannot tell
    (not MQTT) prints nothing."""
    wait = getattr(gateway.link, "wait_subscribed", None)
    if wait is None:
        return
    await wait()
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class GatewayFiles:
    """The gateway's key and update key ring, read before anything starts."""

    key: bytes
    update_keys: KeyRing | None


def load_gateway_files(key_file: str, update_keys_file: str | None, db: str) -> GatewayFiles | str:
    """The key files, or what is wrong with them (or with where the database goes)."""
    from gridedge.bus.keyfile import KeyFileError as RingError
    from gridedge.bus.keyfile import load_keyring
    from gridedge.home.gateway.keys import KeyFileError, load_key

    try:
        key = load_key(key_file)
    except KeyFileError as exc:
        return f"gateway.key: {exc}"
    ring = None
    if update_keys_file is not None:
        try:
            ring = load_keyring(update_keys_file)
        except (OSError, RingError) as exc:
            return f"gateway.update_keys: {exc}"
    folder = Path(db).parent
    if not folder.is_dir():
        return f"gateway.db: {db}: the folder {folder} does not exist"
    return GatewayFiles(key, ring)
