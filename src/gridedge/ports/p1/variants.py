"""Recognise the telegram dialect from the telegram itself, and what its tariff numbers mean.

Rules, first match wins (facts from `shared/notes/meter-ports.md` §A):
1. `0-0:96.1.4` (e-MUCS version information, replaces 1-3:0.2.8) -> Belgium, e-MUCS H.
2. Header flag `/Lux` -> Luxembourg. `0-0:42.0.0` (COSEM logical device name as equipment id):
   Luxembourg when a DSMR version object is sent, else E.ON Hungary.
3. Import energy in `Wh` (integer registers) -> Austria (Sagemcom T210-D-r).
4. `1-3:0.2.8` = 5x -> DSMR 5, = 4x -> DSMR 4.
5. Value group F (`*255`) -> generic IEC 62056-21 (e.g. EasyMeter Q3D).
6. A total register 1-0:1.8.0 without tariff registers, with CRC -> Nordic (Kamstrup OMNIA).
7. No CRC: the limiter threshold's unit decides, kW for DSMR 2.2, A for DSMR 3.0 (DSMR 3.0 §6
   and its change list); without a limiter, a hex-text equipment id means DSMR 3.0.
8. Otherwise a CRC-carrying DSMR 4-style telegram without version object (e.g. Iskra Ireland).
"""

from __future__ import annotations

from gridedge.model.reading import P1Variant, TariffPeriod


def detect(
    *,
    header: str,
    version_dsmr: str | None,
    version_emucs: str | None,
    has_crc: bool,
    has_logical_name: bool,
    import_unit: str | None,
    has_total_register: bool,
    has_tariff_registers: bool,
    limiter_unit: str | None,
    meter_id: str | None,
    f_group: bool,
) -> P1Variant:
    """The variant of a decoded telegram; see the module docstring for the rules."""
    if version_emucs is not None:
        return P1Variant.EMUCS_H
    if header.startswith("Lux"):
        return P1Variant.LUXEMBOURG
    if has_logical_name:
        return P1Variant.LUXEMBOURG if version_dsmr is not None else P1Variant.HUNGARY
    if import_unit is not None and import_unit.lower() == "wh":
        return P1Variant.AUSTRIA
    if version_dsmr is not None:
        if version_dsmr.startswith("5"):
            return P1Variant.DSMR_5
        if version_dsmr.startswith("4"):
            return P1Variant.DSMR_4
    if f_group:
        return P1Variant.GENERIC
    if has_total_register and not has_tariff_registers and has_crc:
        return P1Variant.NORDIC
    if not has_crc:
        if limiter_unit == "W":
            return P1Variant.DSMR_2_2
        if limiter_unit == "A" or (meter_id is not None and not meter_id.isdigit()):
            return P1Variant.DSMR_3
        return P1Variant.DSMR_2_2
    return P1Variant.DSMR_4


def tariff_period(variant: P1Variant, tariff: int | None) -> TariffPeriod | None:
    """What tariff indicator `tariff` means: reversed between Belgium and the Netherlands.

    e-MUCS H §3.3.1: in Belgium tariff 1 is normal (day), 2 is low (night).
    DSMR 5.0.2 §7.1 note: in the Netherlands tariff 1 is low, 2 is normal.
    Other countries: unknown, None.
    """
    if tariff not in (1, 2):
        return None
    if variant is P1Variant.EMUCS_H:
        return TariffPeriod.NORMAL if tariff == 1 else TariffPeriod.LOW
    if variant in (P1Variant.DSMR_2_2, P1Variant.DSMR_3, P1Variant.DSMR_4, P1Variant.DSMR_5):
        return TariffPeriod.LOW if tariff == 1 else TariffPeriod.NORMAL
    return None
