"""Forward chosen topics between two transports: a process's in-process bus and a broker.

A service keeps its chatter (every control cycle's decision, notices, plans with numpy arrays) on
its own in-process bus, and only what crosses a machine boundary goes over MQTT: for the energy
manager, the grid operator's LPC/LPP messages in, and the limit state, the CS heartbeat and the
rejections out. `Bridge` subscribes to the `inbound` filters on the remote transport and
republishes there payloads locally, and the other way round for `outbound`; the payload object
goes through unchanged (the remote transport's codec encodes it, so it must be a registered type).

The two sets of filters must not overlap (checked at construction): a message forwarded out
would otherwise come back in (an MQTT client receives its own publications, MQTT 5 §3.8.3.1,
No Local = 0). The envelope's original source is kept in the republished message's source,
prefixed by the bridge's name, so the receiver still sees who spoke.
"""

from __future__ import annotations

from collections.abc import Sequence

from gridedge.bus.envelope import CallbackSubscription, Envelope, Transport

__all__ = ["Bridge"]


class Bridge:
    def __init__(
        self,
        local: Transport,
        remote: Transport,
        *,
        inbound: Sequence[str] = (),
        outbound: Sequence[str] = (),
        name: str = "bridge",
    ) -> None:
        for a in inbound:
            for b in outbound:
                if _overlap(a, b):
                    raise ValueError(
                        f"inbound filter {a!r} overlaps outbound filter {b!r}: messages would loop"
                    )
        self.local = local
        self.remote = remote
        self.inbound = tuple(inbound)
        self.outbound = tuple(outbound)
        self.name = name
        self.forwarded_in = 0
        self.forwarded_out = 0
        self._subs: list[CallbackSubscription] = []

    def start(self) -> None:
        for pattern in self.inbound:
            self._subs.append(self.remote.subscribe_callback(pattern, self._in))
        for pattern in self.outbound:
            self._subs.append(self.local.subscribe_callback(pattern, self._out))

    def close(self) -> None:
        for s in self._subs:
            s.close()
        self._subs.clear()

    def _in(self, env: Envelope[object]) -> None:
        self.forwarded_in += 1
        self.local.publish(env.topic, env.payload, source=f"{self.name}:{env.source}")

    def _out(self, env: Envelope[object]) -> None:
        self.forwarded_out += 1
        self.remote.publish(env.topic, env.payload, source=f"{self.name}:{env.source}")


def _overlap(a: str, b: str) -> bool:
    """Whether one topic can match both filters (checked level by level: `+` matches any one
    level, `#` the rest)."""
    la, lb = a.split("/"), b.split("/")
    for x, y in zip(la, lb, strict=False):
        if x == "#" or y == "#":
            return True
        if x != y and "+" not in (x, y):
            return False
    if len(la) == len(lb):
        return True
    longer = la if len(la) > len(lb) else lb
    return longer[min(len(la), len(lb))] == "#"  # "a/b/#" matches "a/b" too (MQTT 5 §4.7.1.2)
