"""Decode one DLMS push message (HDLC frames -> data-notification -> COSEM objects -> reading).

The layers, each in its own module: :mod:`.hdlc` (IEC 62056-46 frames, segmentation),
:mod:`.apdu` (IEC 62056-5-3 data-notification), :mod:`.axdr` (IEC 62056-6-2 data types) and
:mod:`.cosem` (push list shapes, OBIS codes, scaler and unit).  :meth:`PushMessage.to_reading`
maps the well-known OBIS codes (IEC 62056-6-1 / Green Book §7.5 abstract and electricity codes)
onto :class:`gridedge.model.reading.MeterReading` in its canonical units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from gridedge.model.reading import MeterReading, P1Variant, PhaseReading, RawObject
from gridedge.ports.dlms.apdu import DataNotification, parse_data_notification
from gridedge.ports.dlms.axdr import DataTag, date_time
from gridedge.ports.dlms.cipher import SecurityKeys, TagPolicy, decrypt, parse_general_glo_ciphering
from gridedge.ports.dlms.cosem import CosemObject, objects_from_body
from gridedge.ports.dlms.errors import DlmsError, DlmsFrameError, DlmsTruncatedError
from gridedge.ports.dlms.hdlc import Deframer, HdlcFrame, reassemble

__all__ = ["PushMessage", "decode_apdu", "decode_push"]

_ENERGY_SCALE = {"Wh": Decimal("0.001"), "kWh": Decimal(1), None: Decimal("0.001")}
"""Energy registers without unit are taken as Wh (what Kamstrup and Iskra send)."""


@dataclass(frozen=True, slots=True)
class PushMessage:
    """A decoded push message; ``frames`` is empty when the APDU came without HDLC framing."""

    frames: tuple[HdlcFrame, ...]
    notification: DataNotification
    shape: str
    objects: tuple[CosemObject, ...]

    @property
    def crc_valid(self) -> bool:
        return all(f.hcs_valid and f.fcs_valid for f in self.frames)

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


def decode_apdu(apdu: bytes, frames: tuple[HdlcFrame, ...] = ()) -> PushMessage:
    """Decode a data-notification APDU (already out of its HDLC frames) into a :class:`PushMessage`."""
    notification = parse_data_notification(apdu)
    shape, objects = objects_from_body(notification.body)
    return PushMessage(frames, notification, shape, tuple(objects))


def decode_push(
    data: bytes, keys: SecurityKeys | None = None, *, policy: TagPolicy = TagPolicy.REQUIRE
) -> PushMessage:
    """Decode one push message: HDLC frame(s) carrying one data-notification, in clear or
    wrapped in general-glo-ciphering (tag 0xDB, IEC 62056-5-3 §9.2.7; Nordic/Austrian HAN ports),
    which `keys` decipher (`cipher.decrypt`, the tag checked per `policy`).

    Garbage around the frames is skipped.  Raises :class:`DlmsTruncatedError` when the data ends
    inside a frame or before the last segment, :class:`DlmsFrameError` when no frame is found or a
    ciphered APDU comes without keys; a wrong key or a bad tag raises the cipher's error.
    A bad FCS does not raise: see :attr:`PushMessage.crc_valid`.
    """
    deframer = Deframer()
    events = deframer.feed(data) + deframer.flush()
    frames = tuple(e for e in events if isinstance(e, HdlcFrame))
    for event in events:
        if not isinstance(event, HdlcFrame) and isinstance(event.error, DlmsTruncatedError):
            raise DlmsTruncatedError(event.error.detail, event.offset, event.error.required)
    if not frames:
        raise DlmsFrameError(f"expected an HDLC frame (0x7E 0xA...), found none in {len(data)} bytes", 0)
    return decode_frames(frames, keys, policy=policy)


def decode_frames(
    frames: tuple[HdlcFrame, ...], keys: SecurityKeys | None = None, *, policy: TagPolicy = TagPolicy.REQUIRE
) -> PushMessage:
    """Decode the frames of one message (its segments, in order), deciphering with `keys`."""
    apdu = reassemble(frames)
    if apdu[:1] == b"\xdb":
        if keys is None:
            raise DlmsFrameError("general-glo-ciphering APDU (0xDB): the meter's keys are needed", 0)
        ciphered, _ = parse_general_glo_ciphering(apdu)
        apdu = decrypt(ciphered, keys, policy=policy)
    return decode_apdu(apdu, frames)
