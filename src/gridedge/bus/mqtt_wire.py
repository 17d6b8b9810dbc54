"""MQTT 5 packets for the bulk client (`gridedge.bus.mqtt_bulk`): encoding and a streaming parser.

Only what a high-rate ingest client needs (OASIS MQTT Version 5.0, 2019): CONNECT/CONNACK (§3.1,
§3.2), PUBLISH (§3.3), PUBACK (§3.4), SUBSCRIBE/SUBACK (§3.8, §3.9), PINGREQ/PINGRESP (§3.12,
§3.13), DISCONNECT (§3.14). The parser works on a byte buffer holding any number of packets and
returns all complete ones at once, so the cost per message is a few slices, not a Python call
chain per packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "ConnAck",
    "MqttProtocolError",
    "Other",
    "PubAck",
    "Publish",
    "SubAck",
    "encode_connect",
    "encode_disconnect",
    "encode_pingreq",
    "encode_puback",
    "encode_publish",
    "encode_subscribe",
    "encode_varint",
    "parse_packets",
]

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = (
    1, 2, 3, 4, 8, 9, 12, 13, 14,
)  # fmt: skip

# property identifiers (§2.2.2.2)
_SESSION_EXPIRY = 0x11
_RECEIVE_MAXIMUM = 0x21


class MqttProtocolError(ValueError):
    """Bytes from the broker that break MQTT 5; the message says which packet and what."""


def encode_varint(n: int) -> bytes:
    """Variable Byte Integer (§1.5.5)."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"variable byte integer out of range: {n}")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(s: str) -> bytes:
    data = s.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_varint(len(body)) + body


def encode_connect(
    client_id: str,
    *,
    keepalive_s: int = 30,
    clean_start: bool = True,
    session_expiry_s: int = 0,
    receive_maximum: int = 65535,
    username: str | None = None,
    password: bytes | None = None,
) -> bytes:
    """CONNECT (§3.1) with Session Expiry and Receive Maximum properties."""
    props = bytes([_SESSION_EXPIRY]) + struct.pack("!I", session_expiry_s)
    props += bytes([_RECEIVE_MAXIMUM]) + struct.pack("!H", max(1, min(receive_maximum, 65535)))
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0) | (0x40 if password else 0)
    body = _string("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive_s)
    body += encode_varint(len(props)) + props + _string(client_id)
    if username is not None:
        body += _string(username)
    if password:
        body += struct.pack("!H", len(password)) + password
    return _packet(CONNECT << 4, body)


def encode_subscribe(packet_id: int, topic_filter: str, qos: int = 1) -> bytes:
    """SUBSCRIBE (§3.8) of one filter, no properties."""
    body = struct.pack("!H", packet_id) + b"\x00" + _string(topic_filter) + bytes([qos & 0x03])
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def encode_publish(
    topic: str, payload: bytes, *, qos: int = 0, packet_id: int = 0, retain: bool = False
) -> bytes:
    """PUBLISH (§3.3), no properties."""
    head = _string(topic) + (struct.pack("!H", packet_id) if qos else b"") + b"\x00"
    return _packet((PUBLISH << 4) | (qos << 1) | int(retain), head + payload)


def encode_puback(packet_id: int) -> bytes:
    """PUBACK (§3.4) with reason Success, in its short form (remaining length 2, §3.4.2.1)."""
    return b"\x40\x02" + struct.pack("!H", packet_id)


def encode_pingreq() -> bytes:
    return b"\xc0\x00"


def encode_disconnect() -> bytes:
    return b"\xe0\x00"


class Publish(NamedTuple):
    """A PUBLISH; a tuple because an ingest client builds tens of thousands a second."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int
    dup: bool


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason: int
    receive_maximum: int = 65535
    """How many QoS 1 publishes the broker accepts unacknowledged (§3.2.2.3.3; absent: 65535)."""


@dataclass(frozen=True, slots=True)
class PubAck:
    packet_id: int
    reason: int


@dataclass(frozen=True, slots=True)
class SubAck:
    packet_id: int
    reasons: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Other:
    kind: int


Packet = Publish | ConnAck | PubAck | SubAck | Other


def _varint_at(buf: bytes | bytearray, pos: int, end: int) -> tuple[int, int] | None:
    value = shift = 0
    for i in range(4):
        if pos + i >= end:
            return None
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise MqttProtocolError(f"variable byte integer at byte {pos} longer than 4 bytes")


# property id -> its value's encoding (§2.2.2.2): 1/2/4 bytes, "v" varint, "s" string, "b" binary,
# "p" string pair
_PROPERTY_TYPES = {
    0x01: 1, 0x02: 4, 0x03: "s", 0x08: "s", 0x09: "b", 0x0B: "v", 0x11: 4, 0x12: "s", 0x13: 2,
    0x15: "s", 0x16: "b", 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: "s", 0x1C: "s", 0x1F: "s", 0x21: 2,
    0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: "p", 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1,
}  # fmt: skip


def _receive_maximum(view: bytes, pos: int, stop: int) -> int:
    """Receive Maximum from CONNACK properties starting at `pos` (65535 when absent)."""
    if pos >= stop:
        return 65535
    header = _varint_at(view, pos, stop)
    if header is None:
        raise MqttProtocolError("CONNACK: truncated properties")
    length, p = header
    end = p + length
    value = 65535
    while p < end:
        pid = view[p]
        kind = _PROPERTY_TYPES.get(pid)
        p += 1
        if kind is None:
            raise MqttProtocolError(f"CONNACK: unknown property 0x{pid:02x} at byte {p - 1}")
        if pid == _RECEIVE_MAXIMUM:
            value = struct.unpack_from("!H", view, p)[0]
        if isinstance(kind, int):
            p += kind
        elif kind == "v":
            vi = _varint_at(view, p, end)
            if vi is None:
                raise MqttProtocolError("CONNACK: truncated property")
            p = vi[1]
        else:
            for _ in range(2 if kind == "p" else 1):
                p += 2 + struct.unpack_from("!H", view, p)[0]
    return value


def parse_packets(buf: bytearray) -> tuple[list[Packet], int]:
    """All complete packets at the start of `buf`, and how many bytes they used.

    The caller deletes the used bytes (`del buf[:used]`) and keeps the rest for the next read.
    """
    out: list[Packet] = []
    pos = 0
    end = len(buf)
    view = bytes(buf)  # one copy per read; slices of bytes are cheap and immutable
    unpack_h = struct.Struct("!H").unpack_from
    while pos + 2 <= end:
        first = view[pos]
        header = _varint_at(view, pos + 1, end)
        if header is None:
            break
        length, body = header
        stop = body + length
        if stop > end:
            break
        kind = first >> 4
        if kind == PUBLISH:
            qos = (first >> 1) & 0x03
            (tlen,) = unpack_h(view, body)
            p = body + 2 + tlen
            topic = view[body + 2 : p].decode()
            pid = 0
            if qos:
                (pid,) = unpack_h(view, p)
                p += 2
            props = _varint_at(view, p, stop)
            if props is None:
                raise MqttProtocolError(f"PUBLISH at byte {pos}: truncated properties")
            plen, p = props
            out.append(Publish(topic, view[p + plen : stop], qos, pid, bool(first & 0x08)))
        elif kind == PUBACK:
            (pid,) = unpack_h(view, body)
            out.append(PubAck(pid, view[body + 2] if length > 2 else 0))
        elif kind == CONNACK:
            if length < 2:
                raise MqttProtocolError(f"CONNACK at byte {pos}: {length} bytes, expected >= 2")
            receive_max = _receive_maximum(view, body + 2, stop)
            out.append(ConnAck(bool(view[body] & 0x01), view[body + 1], receive_max))
        elif kind == SUBACK:
            (pid,) = unpack_h(view, body)
            props = _varint_at(view, body + 2, stop)
            if props is None:
                raise MqttProtocolError(f"SUBACK at byte {pos}: truncated properties")
            plen, p = props
            out.append(SubAck(pid, tuple(view[p + plen : stop])))
        else:
            out.append(Other(kind))
        pos = stop
    return out, pos
