"""The Home Assistant bridge: discovery configs, availability, states and commands over a `RawLink`.

What Home Assistant (HA) expects of a device that announces itself over MQTT
(https://www.home-assistant.io/integrations/mqtt/, "MQTT Discovery"), and how this bridge does it:

* configs are published **retained** (HA finds them after its own restart) and again whenever
  HA announces itself with `online` on `<discovery_prefix>/status` ("Birth and last will
  messages": HA recommends that devices re-send their configs then, because a broker without
  persistence forgets retained messages);
* an entity is deleted by an **empty retained** config ("Removing"): a device that leaves the
  registry takes its entities (and its retained state document) with it, and so does an optional
  reading that goes away (the entity set is recomputed from every snapshot);
* availability is one retained topic with `online`/`offline`: `online` after every (re)connect,
  `offline` on a clean stop, and, with `HaMqttLink`, as the broker-held last will, so a crashed
  or cut-off energy manager shows as "unavailable" instead of as stale numbers;
* states travel as **one retained JSON document per HA device** (the site, each gridedge device),
  read by each entity's `value_template`. Why not one topic per entity: one publish (and one
  PUBACK) per device per interval instead of ~15, and the values HA shows side by side come from
  the same snapshot (grid power and LPC limit never from two different cycles). HA subscribes
  once per topic, however many entities share it;
* commands arrive on `<state_prefix>/<site>/ha/<owner>/<key>/set` and are checked strictly before
  anything happens: a switch takes exactly `ON` or `OFF`, a number a finite decimal inside the
  range its config announced; anything else, an unknown topic, or a command the handler declines
  is logged and counted (`BridgeStats.refused`, by reason, and the site's "Refused Home Assistant
  commands" sensor) and never acted on.

The bridge only talks MQTT; what a command *does* is up to the `on_command` handler its owner
gives it (`gridedge cem` parks a device outside the energy manager's control when its
"Managed by gridedge" switch goes OFF, see `cli_cem.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gridedge.bus.rawlink import LinkDown, LinkEvent, LinkEventKind, MqttRawLink, RawLink, RawSubscription
from gridedge.clock import Clock
from gridedge.home.ha.discovery import (
    CONTROL_MANAGED,
    Entity,
    HaDevice,
    HaTopics,
    NumberCommand,
    SwitchCommand,
    config_payload,
    device_entities,
    device_features,
    device_state_document,
    encode,
    site_entities,
    site_features,
)

__all__ = [
    "BridgeStats",
    "CommandHandler",
    "HaCommand",
    "HaMqttLink",
    "HaSnapshot",
    "HomeAssistantBridge",
]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0
"""How long `close` waits for the broker to take the `offline` message."""
MAX_COMMAND_BYTES = 64
"""Longer command payloads are refused unread: `ON`, `OFF` and a decimal are all a few bytes."""


@dataclass(frozen=True, slots=True)
class HaSnapshot:
    """What the bridge shows, taken at one moment: the site's state document
    (`discovery.site_state_document`) and the devices behind the energy manager."""

    site: Mapping[str, Any]
    devices: tuple[HaDevice, ...] = ()


@dataclass(frozen=True, slots=True)
class HaCommand:
    """A validated command from HA: `control` on device `device_id` (None: the site) is to take
    `value` (a bool for a switch, a float inside the announced range for a number)."""

    device_id: str | None
    control: str
    value: bool | float


CommandHandler = Callable[[HaCommand], str | None]
"""Acts on a command; returns None when done, or why it declined (counted as refused)."""


@dataclass(slots=True)
class BridgeStats:
    """Counters of one bridge (updated in place)."""

    configs_published: int = 0
    configs_deleted: int = 0
    states_published: int = 0
    births: int = 0
    """`online` messages from HA on its status topic (each one re-sends every config)."""
    commands: int = 0
    """Commands that passed validation and were acted on."""
    refused: dict[str, int] = field(default_factory=dict)
    """Commands refused, by reason: unknown-topic, too-long, bad-payload, not-a-number,
    out-of-range, no-handler, declined, handler-failed."""
    publish_failures: int = 0

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())


class HomeAssistantBridge:
    """Publishes a site's entities to HA over `link` and turns HA's commands into `on_command`.

    `controls` names the per-device controls announced (`discovery.CONTROL_MANAGED`,
    `CONTROL_POWER_LIMIT`): announce only what the handler acts on. Use `run` for the periodic
    loop, or `start`/`update`/`close` to drive it by hand.
    """

    def __init__(
        self,
        link: RawLink,
        clock: Clock,
        site_id: str,
        discovery_prefix: str = "homeassistant",
        state_prefix: str = "gridedge",
        *,
        on_command: CommandHandler | None = None,
        controls: Iterable[str] = (CONTROL_MANAGED,),
    ) -> None:
        self.link = link
        self.clock = clock
        self.topics = HaTopics(site_id, discovery_prefix, state_prefix)
        self.on_command = on_command
        self.controls = frozenset(controls)
        self.stats = BridgeStats()
        self._published: dict[str, bytes] = {}
        """Config and state topics -> what was last published there (retained)."""
        self._features: dict[str, frozenset[str]] = {}
        self._site_features: frozenset[str] = frozenset()
        self._commands: dict[str, Entity] = {}
        self._resync = True
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._subs: list[RawSubscription] = []
        self._unlisten: Callable[[], None] | None = None

    # ---- lifecycle

    async def start(self) -> None:
        """Listen for HA's birth message and for commands; re-send everything on reconnect."""
        self._subs.append(self.link.subscribe(self.topics.birth, self._on_birth))
        self._subs.append(self.link.subscribe(self.topics.command_filter, self._on_command))
        self._unlisten = self.link.add_listener(self._on_link)
        await self.link.start()

    async def close(self) -> None:
        """Say `offline` (retained) and stop listening; the configs stay, so HA keeps the
        entities (shown unavailable) and their history across a restart."""
        for sub in self._subs:
            sub.close()
        self._subs.clear()
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        # bounded: a shutdown must not wait out a dead connection's PUBACK timeout (the broker's
        # last will says `offline` for us then)
        sending = asyncio.ensure_future(self.link.publish(self.topics.availability, b"offline", retain=True))
        timer = asyncio.ensure_future(self.clock.sleep(CLOSE_TIMEOUT_S))
        try:
            await asyncio.wait({sending, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not sending.done():
                sending.cancel()
            with contextlib.suppress(LinkDown, asyncio.CancelledError):
                await sending

    async def run(
        self, snapshot: Callable[[], HaSnapshot], stop: asyncio.Event, every_s: float = 10.0
    ) -> None:
        """Start, publish a snapshot every `every_s` seconds (and at once after `wake`, a birth
        message, an accepted command or a reconnect) until `stop` is set, then close."""
        await self.start()
        try:
            while not stop.is_set():
                try:
                    await self.update(snapshot())
                except Exception:  # a bug in a snapshot must not end the energy manager
                    log.exception("Home Assistant bridge: update failed")
                await self._wait(stop, every_s)
        finally:
            await self.close()

    def wake(self) -> None:
        """Publish now (the device set changed)."""
        self._wake.set()

    async def _wait(self, stop: asyncio.Event, seconds: float) -> None:
        waits = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.clock.sleep(seconds)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            self._wake.clear()

    # ---- publishing

    def _desired(self, snap: HaSnapshot) -> tuple[dict[str, bytes], dict[str, bytes], dict[str, Entity]]:
        """The configs and state documents `snap` calls for, and the command topics they open."""
        t = self.topics
        configs: dict[str, bytes] = {}
        commands: dict[str, Entity] = {}
        self._site_features |= site_features(snap.site)
        for e in site_entities(self._site_features):
            configs[t.config(e)] = encode(config_payload(t, e))
        site = dict(snap.site)
        site["ha_commands_refused"] = self.stats.refused_total
        states = {t.state(None): encode(site)}
        present = set()
        for dev in snap.devices:
            did = dev.info.device_id
            present.add(did)
            have = self._features.get(did, frozenset()) | device_features(dev.info, dev.state)
            self._features[did] = have
            for e in device_entities(dev.info, have, self.controls):
                configs[t.config(e)] = encode(config_payload(t, e, dev))
                if e.command is not None:
                    commands[t.command(e)] = e
            states[t.state(did)] = encode(device_state_document(dev))
        for gone in set(self._features) - present:
            del self._features[gone]
        return configs, states, commands

    async def update(self, snap: HaSnapshot) -> None:
        """Bring the broker in line with `snap`: delete configs and states no longer wanted,
        publish new or changed configs (all of them after a reconnect or a birth message), then
        the state documents. A lost link is counted and everything is re-sent on reconnect."""
        async with self._lock:
            if not self.link.up:  # nothing can go out; the reconnect wakes us for a full re-send
                self._resync = True
                return
            configs, states, commands = self._desired(snap)
            self._commands = commands
            resync = self._resync
            self._resync = False
            wanted = configs.keys() | states.keys()
            try:
                for topic in sorted(self._published.keys() - wanted):
                    await self.link.publish(topic, b"", retain=True)
                    if topic.endswith("/config"):
                        self.stats.configs_deleted += 1
                    del self._published[topic]
                if resync:
                    await self.link.publish(self.topics.availability, b"online", retain=True)
                for topic, payload in configs.items():
                    if resync or self._published.get(topic) != payload:
                        await self.link.publish(topic, payload, retain=True)
                        self._published[topic] = payload
                        self.stats.configs_published += 1
                for topic, payload in states.items():
                    await self.link.publish(topic, payload, retain=True)
                    self._published[topic] = payload
                    self.stats.states_published += 1
            except LinkDown as exc:
                self.stats.publish_failures += 1
                self._resync = True
                log.warning("Home Assistant bridge: %s (re-sending everything on reconnect)", exc)

    # ---- inbound

    def _on_link(self, event: LinkEvent) -> None:
        if event.kind is LinkEventKind.CONNECTED:
            # the broker may have delivered our last will meanwhile: say online, re-send configs
            self._resync = True
            self._wake.set()

    def _on_birth(self, topic: str, data: bytes) -> None:
        if data.strip() == b"online":
            self.stats.births += 1
            log.info("Home Assistant came online: re-sending the discovery configs")
            self._resync = True
            self._wake.set()

    def _refuse(self, reason: str, topic: str, data: bytes) -> None:
        self.stats.refused[reason] = self.stats.refused.get(reason, 0) + 1
        log.warning("Home Assistant command refused (%s) on %s: %r", reason, topic, data[:MAX_COMMAND_BYTES])

    def _on_command(self, topic: str, data: bytes) -> None:
        entity = self._commands.get(topic)
        if entity is None or entity.command is None:
            self._refuse("unknown-topic", topic, data)
            return
        if len(data) > MAX_COMMAND_BYTES:
            self._refuse("too-long", topic, data)
            return
        value: bool | float
        cmd = entity.command
        if isinstance(cmd, SwitchCommand):
            if data not in (b"ON", b"OFF"):
                self._refuse("bad-payload", topic, data)
                return
            value = data == b"ON"
        else:
            assert isinstance(cmd, NumberCommand)
            try:
                value = float(data.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                self._refuse("not-a-number", topic, data)
                return
            if not math.isfinite(value):
                self._refuse("not-a-number", topic, data)
                return
            if not cmd.minimum <= value <= cmd.maximum:
                self._refuse("out-of-range", topic, data)
                return
        if self.on_command is None:
            self._refuse("no-handler", topic, data)
            return
        command = HaCommand(entity.device_id, entity.key, value)
        try:
            why = self.on_command(command)
        except Exception:
            log.exception("Home Assistant command handler failed on %s", command)
            self._refuse("handler-failed", topic, data)
            return
        if why is not None:
            log.warning("Home Assistant command %s declined: %s", command, why)
            self._refuse("declined", topic, data)
            return
        self.stats.commands += 1
        log.info("Home Assistant command %s", command)
        self._wake.set()  # show the new state at once


class HaMqttLink(MqttRawLink):
    """`MqttRawLink` with a last will: the broker publishes `offline` (retained, QoS 1) on the
    bridge's availability topic when the connection dies without a clean DISCONNECT (MQTT 5
    §3.1.2.5), which is how HA's availability is meant to work ("Birth and last will messages").
    Keyword arguments go to `MqttRawLink`.
    """

    def __init__(self, clock: Clock, *, will_topic: str, will_payload: bytes = b"offline", **kw: Any) -> None:
        super().__init__(clock, will=(will_topic, will_payload), **kw)
