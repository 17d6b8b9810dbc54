"""Decode DLMS push messages (frames -> data-notification -> COSEM objects -> reading).

The layers, each in its own module: :mod:`.hdlc` (IEC 62056-46 frames, segmentation) or
:mod:`.mbus` (EN 13757-2 wired M-Bus long frames, IEC 62056-7-3 transport segmentation),
:mod:`.cipher` (general-glo-ciphering), :mod:`.apdu` (IEC 62056-5-3 data-notification),
:mod:`.axdr` (IEC 62056-6-2 data types) and :mod:`.cosem` (push list shapes, OBIS codes, scaler
and unit).  :meth:`PushMessage.to_reading` maps the well-known OBIS codes (IEC 62056-6-1 / Green
Book §7.5 abstract and electricity codes) onto :class:`gridedge.model.reading.MeterReading` in its
canonical units.

Framing: Nordic, Swiss and most HAN ports send HDLC (starts with the flag 0x7E); Austrian
customer interfaces (EVN / Netz NÖ, Kaifa, Sagemcom) send wired M-Bus long frames (start
character 0x68).  :class:`Framing` ``AUTO`` (the default) recognises which by the first valid
frame of either kind, i.e. a frame whose check sequence (HDLC HCS/FCS) or checksum, lengths and
stop character (M-Bus) agree, never by a lone start byte: 0x68 and 0x7E both occur in
ciphertext and in garbage.  Once recognised, a stream keeps its framing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from gridedge.model.reading import MeterReading, P1Variant, PhaseReading, RawObject
from gridedge.ports.dlms.apdu import DataNotification, parse_data_notification
from gridedge.ports.dlms.axdr import DataTag, date_time
from gridedge.ports.dlms.cipher import SecurityKeys, TagPolicy, decrypt, parse_general_glo_ciphering
from gridedge.ports.dlms.cosem import CosemObject, objects_from_body
from gridedge.ports.dlms.errors import DlmsError, DlmsFrameError, DlmsTruncatedError
from gridedge.ports.dlms.hdlc import Deframer, FrameFault, HdlcFrame, reassemble
from gridedge.ports.dlms.mbus import MBusDeframer, MBusFrame, MBusSegmentJoiner, join_mbus_segments

__all__ = [
    "Framing",
    "PushMessage",
    "PushStream",
    "UndecodedMessage",
    "decode_apdu",
    "decode_frames",
    "decode_push",
    "detect_framing",
]

Frame = HdlcFrame | MBusFrame


class Framing(enum.StrEnum):
    """How push messages are framed on the port (``--framing`` of ``gridedge dlms read``)."""

    AUTO = "auto"
    """Recognise HDLC or M-Bus by the first valid frame of either kind."""
    HDLC = "hdlc"
    """HDLC frame format type 3, IEC 62056-46 (flag 0x7E)."""
    MBUS = "mbus"
    """Wired M-Bus long frames, EN 13757-2, with IEC 62056-7-3 DLMS transport (start 0x68)."""


_ENERGY_SCALE = {"Wh": Decimal("0.001"), "kWh": Decimal(1), None: Decimal("0.001")}
"""Energy registers without unit are taken as Wh (what Kamstrup and Iskra send)."""


@dataclass(frozen=True, slots=True)
class PushMessage:
    """A decoded push message; ``frames`` (HDLC or M-Bus) is empty when the APDU came unframed."""

    frames: tuple[Frame, ...]
    notification: DataNotification
    shape: str
    objects: tuple[CosemObject, ...]

    @property
    def crc_valid(self) -> bool:
        """Every frame's check sequence holds (M-Bus frames with a bad checksum are never accepted)."""
        return all(f.hcs_valid and f.fcs_valid for f in self.frames if isinstance(f, HdlcFrame))

    @property
    def framing(self) -> Framing | None:
        """The framing the message came in, None when it came unframed."""
        if not self.frames:
            return None
        return Framing.MBUS if isinstance(self.frames[0], MBusFrame) else Framing.HDLC

    @property
    def invoke_id(self) -> int:
        return self.notification.invoke_id

    @property
    def timestamp(self) -> datetime | None:
        return self.notification.timestamp

    @property
    def truncated(self) -> bool:
        """The notification body ended before all its announced elements."""
        return self.notification.body.truncated

    def find(self, obis: str) -> CosemObject | None:
        """The first object with the logical name ``obis`` (``"1-0:1.8.0"``, F ignored)."""
        for obj in self.objects:
            if obj.obis is not None and str(obj.obis) == obis:
                return obj
        return None

    def to_reading(self) -> MeterReading:
        """Map the well-known OBIS codes onto a :class:`MeterReading` (W, kWh, V, A, var, kvarh, Hz).

        Value group B (channel) is ignored: Kamstrup sends 1-1:..., Aidon 1-0:....  Objects not
        mapped are kept in ``other`` as :class:`RawObject`.
        """
        reading = MeterReading(variant=P1Variant.DLMS_PUSH, header=f"dlms:{self.shape}")
        phases: dict[int, PhaseReading] = {}
        import_kwh: dict[int, float] = {}
        export_kwh: dict[int, float] = {}
        react_imp: dict[int, float] = {}
        react_exp: dict[int, float] = {}
        other: list[RawObject] = []
        for obj in self.objects:
            if obj.obis is None:
                continue
            code = (obj.obis.a, obj.obis.c, obj.obis.d, obj.obis.e)
            number = obj.number
            value = float(number) if number is not None else None
            if code[0] == 0 and code[1:] in ((96, 1, 0), (96, 1, 1), (42, 0, 0)) and obj.value is not None:
                if reading.meter_id is None or code[1:] == (96, 1, 0):
                    reading.meter_id = obj.value_text() if obj.value.tag is not DataTag.OCTET_STRING \
                        else _text_or_hex(obj)
                continue
            if code[0] == 0 and code[1:] == (96, 14, 0) and obj.value is not None:
                raw_tariff = obj.value.value  # current tariff: unsigned, or octet-string as in ECE list 2
                if isinstance(raw_tariff, bytes) and 0 < len(raw_tariff) <= 4:
                    reading.tariff = int.from_bytes(raw_tariff, "big")
                    continue
                if isinstance(raw_tariff, int) and not isinstance(raw_tariff, bool):
                    reading.tariff = raw_tariff
                    continue
            if code[0] == 0 and code[1:] == (1, 0, 0) and obj.value is not None:
                raw = obj.value.value
                if isinstance(raw, bytes) and len(raw) == 12:
                    try:
                        reading.timestamp = date_time(raw, obj.value.offset)
                    except DlmsError:
                        reading.timestamp = None
                    continue
            if code[0] == 1 and value is not None and _map_electricity(reading, phases, code[1:], obj, value,
                                                                          (import_kwh, export_kwh,
                                                                           react_imp, react_exp)):
                continue
            other.append(RawObject(str(obj.obis), (obj.value_text(),) + ((obj.unit_text,) if obj.unit_text
                                                                          else ())))
        if reading.timestamp is None:
            reading.timestamp = self.timestamp
        reading.energy_import_kwh = import_kwh
        reading.energy_export_kwh = export_kwh
        reading.reactive_energy_import_kvarh = react_imp
        reading.reactive_energy_export_kvarh = react_exp
        reading.phases = tuple(phases[n] for n in sorted(phases))
        reading.other = tuple(other)
        return reading


def _text_or_hex(obj: CosemObject) -> str:
    raw = obj.value.value if obj.value is not None else None
    if isinstance(raw, bytes) and raw and all(0x20 <= b < 0x7F for b in raw):
        return raw.decode("ascii")
    return obj.value_text()


def _map_electricity(reading: MeterReading, phases: dict[int, PhaseReading], cde: tuple[int, int, int],
                     obj: CosemObject, value: float, registers: tuple[dict[int, float], ...]) -> bool:
    """Store one electricity value (OBIS A=1); False when the code is not one we map."""
    c, d, e = cde
    if d == 8 and c in (1, 2, 3, 4):
        scale = _ENERGY_SCALE.get(obj.unit_text, Decimal("0.001"))
        number = obj.number
        if number is None:
            return False
        registers[c - 1][e] = float(number * scale)
        return True
    if d != 7 or e != 0:
        return False
    total = {1: "power_import_w", 2: "power_export_w", 3: "reactive_power_import_var",
             4: "reactive_power_export_var", 14: "frequency_hz", 13: "power_factor"}
    if c in total:
        setattr(reading, total[c], value)
        return True
    phase, field = divmod(c, 20)
    per_phase = {11: "current_a", 12: "voltage_v", 1: "power_import_w", 2: "power_export_w",
                 3: "reactive_power_import_var", 4: "reactive_power_export_var", 13: "power_factor"}
    if phase in (1, 2, 3) and field in per_phase:
        target = phases.setdefault(phase, PhaseReading(phase=phase))
        setattr(target, per_phase[field], value)
        return True
    return False


def decode_apdu(apdu: bytes, frames: tuple[Frame, ...] = ()) -> PushMessage:
    """Decode a data-notification APDU (already out of its frames) into a :class:`PushMessage`."""
    notification = parse_data_notification(apdu)
    shape, objects = objects_from_body(notification.body)
    return PushMessage(frames, notification, shape, tuple(objects))


def _first_frame(events: Iterable[Frame | FrameFault]) -> int | None:
    return next((e.offset for e in events if not isinstance(e, FrameFault)), None)


def _detect(hdlc: Iterable[HdlcFrame | FrameFault], mbus: Iterable[MBusFrame | FrameFault]) -> Framing | None:
    hdlc_at, mbus_at = _first_frame(hdlc), _first_frame(mbus)
    if mbus_at is not None and (hdlc_at is None or mbus_at < hdlc_at):
        return Framing.MBUS
    return Framing.HDLC if hdlc_at is not None else None


def _scan(data: bytes) -> tuple[list[HdlcFrame | FrameFault], list[MBusFrame | FrameFault]]:
    hdlc = Deframer()
    mbus = MBusDeframer()
    return hdlc.feed(data) + list(hdlc.flush()), mbus.feed(data) + mbus.flush()


def detect_framing(data: bytes) -> Framing | None:
    """HDLC or M-Bus: whichever has the first valid frame in ``data``; None when neither has one."""
    return _detect(*_scan(data))


def _raise_truncated(faults: Iterable[FrameFault]) -> None:
    cut = [f for f in faults if isinstance(f.error, DlmsTruncatedError)]
    if cut:
        first = min(cut, key=lambda f: f.offset)
        assert isinstance(first.error, DlmsTruncatedError)
        raise DlmsTruncatedError(first.error.detail, first.offset, first.error.required)


def decode_push(
    data: bytes,
    keys: SecurityKeys | None = None,
    *,
    policy: TagPolicy = TagPolicy.REQUIRE,
    framing: Framing | str = Framing.AUTO,
) -> PushMessage:
    """Decode one push message: the frame(s) carrying one data-notification, in clear or wrapped
    in general-glo-ciphering (tag 0xDB, IEC 62056-5-3 §9.2.7; Nordic/Austrian HAN ports), which
    `keys` decipher (`cipher.decrypt`, the tag checked per `policy`, see :class:`TagPolicy`:
    the encrypted-only frames of Austrian M-Bus meters need ``VERIFY_IF_PRESENT`` or ``IGNORE``).

    ``framing``: HDLC (IEC 62056-46), wired M-Bus (EN 13757-2 / IEC 62056-7-3) or ``auto``
    (:func:`detect_framing`).  Garbage around the frames is skipped.  Raises
    :class:`DlmsTruncatedError` when the data ends inside a frame or before the last segment,
    :class:`DlmsFrameError` when no frame is found or a ciphered APDU comes without keys; a wrong
    key or a bad tag raises the cipher's error.  A bad HDLC FCS does not raise: see
    :attr:`PushMessage.crc_valid`; a bad M-Bus checksum drops the frame (EN 13757-2).
    """
    chosen = Framing(framing)
    if chosen is Framing.AUTO:
        hdlc_events, mbus_events = _scan(data)
        detected = _detect(hdlc_events, mbus_events)
        if detected is None:
            _raise_truncated(e for e in [*hdlc_events, *mbus_events] if isinstance(e, FrameFault))
            raise DlmsFrameError(f"expected an HDLC frame (0x7E 0xA...) or an M-Bus long frame "
                                 f"(0x68 L L 0x68), found none in {len(data)} bytes", 0)
        chosen = detected
    elif chosen is Framing.MBUS:
        mbus_deframer = MBusDeframer()
        mbus_events = mbus_deframer.feed(data) + mbus_deframer.flush()
    else:
        deframer = Deframer()
        hdlc_events = deframer.feed(data) + list(deframer.flush())
    if chosen is Framing.MBUS:
        mbus_frames = tuple(e for e in mbus_events if isinstance(e, MBusFrame))
        _raise_truncated(e for e in mbus_events if isinstance(e, FrameFault))
        if not mbus_frames:
            raise DlmsFrameError(f"expected an M-Bus long frame (0x68 L L 0x68), found none in {len(data)} "
                                 "bytes", 0)
        return decode_frames(mbus_frames, keys, policy=policy)
    frames = tuple(e for e in hdlc_events if isinstance(e, HdlcFrame))
    _raise_truncated(e for e in hdlc_events if isinstance(e, FrameFault))
    if not frames:
        raise DlmsFrameError(f"expected an HDLC frame (0x7E 0xA...), found none in {len(data)} bytes", 0)
    return decode_frames(frames, keys, policy=policy)


def decode_frames(
    frames: Iterable[Frame], keys: SecurityKeys | None = None, *, policy: TagPolicy = TagPolicy.REQUIRE
) -> PushMessage:
    """Decode the frames of one message (its segments, in order, all HDLC or all M-Bus),
    deciphering with `keys`."""
    ordered = tuple(frames)
    mbus = [f for f in ordered if isinstance(f, MBusFrame)]
    hdlc = [f for f in ordered if isinstance(f, HdlcFrame)]
    if mbus and hdlc:
        raise DlmsFrameError("expected the frames of one message in one framing, found HDLC and M-Bus "
                             "frames mixed", ordered[0].offset)
    apdu = join_mbus_segments(mbus) if mbus else reassemble(hdlc)
    if apdu[:1] == b"\xdb":
        if keys is None:
            raise DlmsFrameError("general-glo-ciphering APDU (0xDB): the meter's keys are needed", 0)
        ciphered, _ = parse_general_glo_ciphering(apdu)
        apdu = decrypt(ciphered, keys, policy=policy)
    return decode_apdu(apdu, ordered)


@dataclass(frozen=True, slots=True)
class UndecodedMessage:
    """A complete message (all its segments arrived) whose APDU could not be deciphered or decoded."""

    frames: tuple[Frame, ...]
    error: DlmsError

    @property
    def offset(self) -> int:
        return self.frames[0].offset


StreamEvent = PushMessage | UndecodedMessage | FrameFault
_MAX_HDLC_SEGMENTS: Final = 64
_MAX_EARLY_FAULTS: Final = 32


class PushStream:
    """A byte stream of push messages (serial port, TCP bridge, capture) in, decoded messages out.

    :meth:`feed` returns, in stream order, every :class:`PushMessage` completed by the bytes, an
    :class:`UndecodedMessage` for a complete message that would not decipher or decode, and a
    :class:`FrameFault` for skipped garbage, a frame dropped for its checksum, or a message whose
    segments stopped coming.  Nothing raises on bad input.  With ``Framing.AUTO`` the first valid
    frame of either kind fixes the framing for the rest of the stream; the faults seen before it
    (at most 32, then a count) are reported then, those of the other framing are dropped.
    """

    def __init__(
        self,
        keys: SecurityKeys | None = None,
        *,
        policy: TagPolicy = TagPolicy.REQUIRE,
        framing: Framing | str = Framing.AUTO,
    ) -> None:
        self.keys = keys
        self.policy = policy
        self._framing = Framing(framing)
        self._hdlc = Deframer() if self._framing in (Framing.AUTO, Framing.HDLC) else None
        self._mbus = MBusDeframer() if self._framing in (Framing.AUTO, Framing.MBUS) else None
        self._early: dict[Framing, list[FrameFault]] = {Framing.HDLC: [], Framing.MBUS: []}
        self._early_dropped: dict[Framing, int] = {Framing.HDLC: 0, Framing.MBUS: 0}
        self._pending: list[HdlcFrame] = []
        self._joiner = MBusSegmentJoiner()

    @property
    def framing(self) -> Framing:
        """HDLC or MBUS once recognised (or as given); AUTO while no frame has been seen."""
        return self._framing

    def feed(self, data: bytes) -> list[StreamEvent]:
        hdlc = self._hdlc.feed(data) if self._hdlc is not None else []
        mbus = self._mbus.feed(data) if self._mbus is not None else []
        return self._route(hdlc, mbus)

    def flush(self) -> list[StreamEvent]:
        """End of stream: what the deframers still hold, and a message left without its end."""
        hdlc: list[HdlcFrame | FrameFault] = list(self._hdlc.flush()) if self._hdlc is not None else []
        mbus = self._mbus.flush() if self._mbus is not None else []
        out = self._route(hdlc, mbus)
        if self._framing is Framing.AUTO:
            # no frame at all: report one side's view of the bytes, the M-Bus one only when it saw
            # a frame cut short by the end of the stream and the HDLC one did not
            out += self._release(Framing.MBUS if self._cut(Framing.MBUS) and not self._cut(Framing.HDLC)
                                 else Framing.HDLC)
        if self._pending:
            frames, self._pending = self._pending, []
            end = frames[-1].offset + len(frames[-1].raw)
            out.append(FrameFault(frames[0].offset, b"".join(f.raw for f in frames), DlmsTruncatedError(
                f"message of {len(frames)} HDLC segment(s) without its last segment (S bit clear): "
                "the stream ended", frames[0].offset, end - frames[0].offset)))
        out.extend(self._joiner.flush())
        return out

    def _route(
        self, hdlc: list[HdlcFrame | FrameFault], mbus: list[MBusFrame | FrameFault]
    ) -> list[StreamEvent]:
        if self._framing is Framing.AUTO:
            detected = _detect(hdlc, mbus)
            if detected is None:
                self._keep_early(Framing.HDLC, hdlc)
                self._keep_early(Framing.MBUS, mbus)
                return []
            self._framing = detected
            out = self._release(self._framing)
            if self._framing is Framing.MBUS:
                self._hdlc = None
                return out + self._mbus_events(mbus)
            self._mbus = None
            return out + self._hdlc_events(hdlc)
        if self._framing is Framing.MBUS:
            return self._mbus_events(mbus)
        return self._hdlc_events(hdlc)

    def _cut(self, framing: Framing) -> bool:
        return any(isinstance(f.error, DlmsTruncatedError) for f in self._early[framing])

    def _keep_early(self, framing: Framing, events: Iterable[Frame | FrameFault]) -> None:
        kept = self._early[framing]
        for event in events:
            if isinstance(event, FrameFault):
                if len(kept) < _MAX_EARLY_FAULTS:
                    kept.append(event)
                else:
                    self._early_dropped[framing] += 1

    def _release(self, framing: Framing) -> list[StreamEvent]:
        early = self._early[framing]
        out: list[StreamEvent] = list(early)
        dropped = self._early_dropped[framing]
        if dropped:
            at = early[-1].offset if early else 0
            out.append(FrameFault(at, b"", DlmsFrameError(f"{dropped} more run(s) of skipped bytes before "
                                                          "the first frame", at)))
        self._early = {Framing.HDLC: [], Framing.MBUS: []}
        self._early_dropped = {Framing.HDLC: 0, Framing.MBUS: 0}
        return out

    def _hdlc_events(self, events: Iterable[HdlcFrame | FrameFault]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            if isinstance(event, FrameFault):
                out.append(event)
                continue
            self._pending.append(event)
            if not event.segmented:  # the last (or only) segment of a message
                frames, self._pending = tuple(self._pending), []
                out.append(self._decode(frames))
            elif len(self._pending) > _MAX_HDLC_SEGMENTS:
                frames, self._pending = tuple(self._pending), []
                out.append(FrameFault(frames[0].offset, b"".join(f.raw for f in frames), DlmsFrameError(
                    f"expected a last segment (S bit clear) within {_MAX_HDLC_SEGMENTS} frames, "
                    "found none", frames[0].offset)))
        return out

    def _mbus_events(self, events: Iterable[MBusFrame | FrameFault]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            if isinstance(event, FrameFault):
                out.append(event)
                continue
            for item in self._joiner.add(event):
                out.append(item if isinstance(item, FrameFault) else self._decode(item))
        return out

    def _decode(self, frames: tuple[Frame, ...]) -> PushMessage | UndecodedMessage:
        try:
            return decode_frames(frames, self.keys, policy=self.policy)
        except DlmsError as exc:
            return UndecodedMessage(frames, exc)
