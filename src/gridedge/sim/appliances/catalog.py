"""Typical electrical behaviour of each appliance kind, every figure with its source.

A `Component` is one electrical part of an appliance (a heating element, a compressor, a
switched-mode supply): its typical power, displacement factor, harmonic spectrum and how its
current follows the voltage. An appliance's signature at a moment is the sum of the components
that run then (a washing machine heating while its drum turns draws heater + motor).

Harmonic spectra use the convention of `gridedge.sim.electrical`: order -> (magnitude relative to
the fundamental, angle in degrees relative to h x the phase voltage angle). Keys in `SOURCES` name
where each figure comes from; `[R]` marks a figure recalled from the literature and not re-read
from a stored copy during this work, `[M]` a modelling choice bounded by the cited limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import numpy as np

from gridedge.model.scenario import ApplianceKind
from gridedge.sim.electrical import HARMONICS, NOMINAL_V, OFF, FloatArray, LoadKind, Signature

SOURCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "kk-lab": "Lab recordings at 1 Hz of a kettle, a vacuum cleaner and a water heater (230 V, 50 Hz), "
        "github kehkok/nilmtk-ukdale @ 90af209d, in ../shared/corpus/nilm/kk_lab_1hz: kettle 2126 W at "
        "pf 0.9999; water heater 3554 W falling to 3450 W over 5 min as the element warms, pf 0.998; "
        "vacuum 1925 W, pf 0.98, I3/I1 = 0.16, about +20 % in its first second.",
        "plaid": "Medico et al., 'A voltage and current measurement dataset for plug load appliance "
        "identification in households', Sci. Data 7:49 (2020) (PLAID, 30 kHz); one-cycle event currents "
        "of the aggregated set in ../shared/corpus/nilm/plaid_awrg_subset (AWRG-NILM preprocessing; class "
        "1 = compact fluorescent lamp: I3/I1 0.75, I5/I1 0.38, pf 0.50, fundamental 39 deg leading; class "
        "11 = vacuum: I3/I1 0.15, pf 0.95; class 12 = coffee maker: pf 1.00).",
        "iec-61000-3-2": "IEC 61000-3-2 harmonic current limits as tabulated in the California Instruments "
        "CTS 3.0 manual, table 2-1: class A 2.30 A (3rd), 1.14 A (5th), 0.77 A (7th), 0.40 A (9th), "
        "0.33 A (11th); class D 3.4 / 1.9 / 1.0 / 0.5 / 0.35 mA/W for TVs and PCs of 75-600 W, no limits "
        "at or below 75 W (so small supplies omit power factor correction); lighting up to 25 W: 3rd at "
        "most 86 %, 5th at most 61 % of the fundamental [R].",
        "kettle-physics": "Water heat capacity 4186 J/(kg K); a 2.2-2.4 kW kettle boils 1 l from room "
        "temperature in about 3 min (worked examples on kettle efficiency pages; toot.liw.fi: 1 l from "
        "18 C in 3 min); cambridgeclarion.org/84: the steam cut-out lets the water boil about 20 s.",
        "kettle-use": "Murray, Liao, Stankovic, Stankovic, 'Understanding usage patterns of electric kettle "
        "and energy saving potential', Applied Energy 171 (2016): morning and evening peaks of kettle use.",
        "microwave": "kurokatta.org 'Microwave oven power granularity' (2018): 1440 W magnetron on, 38 W "
        "idle, partial power by on/off duty over about 30 s; Panasonic NN-H264 service manual: P1-P3 cycle "
        "22 s (P1 6 s on, P2 11 s, P3 17 s); powersaving.co.za microwave test: 1406 W, pf near 1 at full "
        "power, 0.5 while defrosting (the idle fan and lamp).",
        "washing": "powersaving.co.za washing machine test (Whirlpool AWM 815, cold): spin draws the most, "
        "767 W peak, mean pf 0.942, 0.26 kWh without heating; UK Household Electricity Survey: median 4.2 "
        "washes a week (energy-surprises.blogspot.com 2014).",
        "dishwasher": "dishwashereview.co.uk: eco 50 C 0.80-0.90 kWh, normal 55-65 C 1.10-1.35 kWh per "
        "cycle; engineerfix.com: heating element 800-2000 W, circulation pump in the hundreds of watts "
        "(modern pumps far less [R]); Hoak, Parker, Hermelink, ACEEE 2008: fill, heat, spray, drain, "
        "rinse sequence.",
        "fridge": "Typical running power 100-200 W, start-up surge several times running current, duty "
        "cycle 20-40 % (cycookery.com fridge pages); PLAID refrigerator events: low harmonic content "
        "(I3/I1 about 0.05) and a lagging fundamental; compressor: single-phase induction motor (Van den "
        "Keybus, Belmans, KU Leuven).",
        "vacuum": "Commission Regulation (EU) 666/2013 (ecodesign of vacuum cleaners): rated input below "
        "900 W from September 2017 [R]; universal-motor spectrum from kk-lab and PLAID.",
        "induction": "'B-field exposure from induction cooking appliances' (IT'IS report, fig. 18): heat "
        "settings 1-4 are pulse-width modulated at 0.5 Hz, the envelope of the coil current is 100 Hz, "
        "i.e. the DC link follows the rectified mains without a bulk capacitor; harmonics kept within the "
        "class A limits of iec-61000-3-2 [M].",
        "oven": "EN 60350-1 preheat-and-hold behaviour of electric ovens; conventional ovens draw about "
        "2-3.5 kW and use 0.7-1.1 kWh per standard cycle (EU label, Reg. 65/2014) [R].",
        "water-heater": "Electric storage water heater (150 l, 2.4 kW, thermostat 60 C, standing loss about "
        "1.5 kWh a day, cf. Reg. (EU) 812/2013 classes) [R]; element warm-up drift from kk-lab.",
        "led-driver": "Capacitor-input rectifier without PFC: the current flows in a short pulse before the "
        "voltage peak, so the odd harmonics are large and their angles advance by the pulse lead per order "
        "(PLAID CFL class shows 28 deg per order).",
    }
)


@dataclass(frozen=True, slots=True)
class Component:
    """One electrical part: typical power and the shape of its current."""

    power_w: float
    displacement_pf: float = 1.0
    leading: bool = False
    harmonics: Mapping[int, tuple[float, float]] = field(default_factory=dict)
    load_kind: LoadKind = LoadKind.IMPEDANCE
    sources: tuple[str, ...] = ()

    def signature(self, power_w: float | None = None, phases: Sequence[int] = (1,)) -> Signature:
        """This component drawing `power_w` (default: its typical power) spread over `phases`."""
        return Signature.from_power(
            self.power_w if power_w is None else power_w,
            phases=phases,
            power_factor=self.displacement_pf,
            leading=self.leading,
            harmonics=self.harmonics or None,
            kind=self.load_kind,
        )


def rectifier_spectrum(conduction_deg: float, lead_deg: float) -> dict[int, tuple[float, float]]:
    """Odd harmonics of a capacitor-input rectifier: a cos²-shaped current pulse per half cycle.

    `conduction_deg` is the pulse width (narrow: a big bulk capacitor), `lead_deg` how far the pulse
    centre sits before the voltage peak. Returns order -> (ratio to fundamental, angle in degrees) in
    the signature convention. Source: led-driver.
    """
    n = 3600
    theta = np.arange(n) * (2 * math.pi / n)
    width = math.radians(conduction_deg)
    centre = -math.radians(lead_deg)

    def pulse(c: float) -> FloatArray:
        d = (theta - c + math.pi) % (2 * math.pi) - math.pi
        out: FloatArray = np.where(np.abs(d) < width / 2, np.cos(math.pi * d / width) ** 2, 0.0)
        return out

    # the voltage is cos(theta) here: its phasor angle is 0, so np.angle(c) is already relative
    coeff = np.fft.rfft(pulse(centre) - pulse(centre + math.pi))[HARMONICS]
    return {
        int(h): (float(abs(c) / abs(coeff[0])), to_sine_angle(int(h), float(np.angle(c))))
        for h, c in zip(HARMONICS[1:], coeff[1:], strict=True)
    }


def to_sine_angle(order: int, rel_cos_rad: float) -> float:
    """Angle (degrees, in [-180, 180)) of harmonic `order` in the signature convention.

    `rel_cos_rad` is the harmonic's cosine-Fourier angle minus `order` x the voltage's, as an FFT of
    sampled waveforms gives it. Signatures use the sine convention of `CycleBlock` (x = Im(X e^{jhθ})):
    converting both phasors adds 90° x (1 - order), so orders 3, 7, 11 ... turn by 180°. A narrow
    pulse at the voltage peak then has its 3rd harmonic at 180°, as in IEEE 1459 examples.
    """
    deg = math.degrees(rel_cos_rad) + 90.0 * (1 - order)
    return (deg + 180.0) % 360.0 - 180.0


PLAID_CFL_SPECTRUM: Final[Mapping[int, tuple[float, float]]] = MappingProxyType(
    {
        3: (0.746, -92.0),
        5: (0.379, 140.0),
        7: (0.230, 54.0),
        9: (0.197, -32.0),
        11: (0.125, -174.0),
        13: (0.107, 34.0),
        15: (0.090, 22.0),
        17: (0.097, -60.0),
        19: (0.092, -162.0),
        21: (0.082, 94.0),
        23: (0.080, -24.0),
        25: (0.060, -149.0),
        27: (0.041, 133.0),
        29: (0.072, 28.0),
        31: (0.065, -94.0),
        33: (0.050, 160.0),
        35: (0.037, 55.0),
        37: (0.038, -8.0),
        39: (0.039, -87.0),
    }
)
"""Median magnitude and circular-mean angle of the 20 PLAID class-1 (CFL) event cycles in the corpus
(the test `test_appliance_catalog.py` recomputes it). LED lamps below 25 W use the same
capacitor-input front end. Source: plaid."""

PLAID_CFL_LEAD_DEG: Final = 39.0
"""PLAID class-1 fundamental: 39° leading (pulse lead plus the EMI capacitor's current)."""

UNIVERSAL_MOTOR_SPECTRUM: Final[Mapping[int, tuple[float, float]]] = MappingProxyType(
    {3: (0.15, 151.0), 5: (0.047, 5.0), 7: (0.016, -6.0), 9: (0.011, 176.0)}
)
"""PLAID class-11 (vacuum) medians; kk-lab's vacuum has I3/I1 = 0.16, I5/I1 = 0.025. Source: plaid, kk-lab."""

# --- components --------------------------------------------------------------------------------

HEATING_ELEMENT: Final = Component(2000.0, sources=("kk-lab",))
"""Resistive element: unity displacement, no current harmonics of its own (the 1-1.5 % kk-lab sees
is the supply's voltage distortion, which the household applies to impedance loads)."""

COMPRESSOR: Final = Component(
    110.0,
    0.72,
    harmonics={3: (0.05, -60.0), 5: (0.02, 0.0), 7: (0.01, 0.0)},
    load_kind=LoadKind.POWER,
    sources=("fridge", "plaid"),
)
"""Hermetic compressor, single-phase induction motor: 80-150 W, displacement 0.72 lagging."""

UNIVERSAL_MOTOR: Final = Component(
    850.0, 0.98, harmonics=UNIVERSAL_MOTOR_SPECTRUM, sources=("vacuum", "kk-lab", "plaid")
)
"""Vacuum cleaner motor: brushed series motor, nearly resistive at full speed."""

WASHER_MOTOR: Final = Component(
    200.0,
    0.85,
    harmonics={3: (0.25, -30.0), 5: (0.10, 10.0), 7: (0.05, 170.0), 9: (0.03, 170.0)},
    sources=("washing", "plaid"),
)
"""Drum motor (universal motor on triac phase control): phase control delays the current, hence a
lower displacement factor and more 3rd harmonic than the vacuum's full-speed motor [M]."""

PUMP: Final = Component(
    40.0,
    0.60,
    harmonics={3: (0.06, -40.0), 5: (0.02, 0.0)},
    load_kind=LoadKind.POWER,
    sources=("dishwasher",),
)
"""Small wet-rotor pump (circulation, drain): shaded-pole or PSC induction motor [M]."""

CONTROLS: Final = Component(
    6.0, 0.8, True, dict(rectifier_spectrum(70.0, 15.0)), LoadKind.POWER, ("led-driver",)
)
"""Electronics and valves of a white-goods appliance while a programme runs [M]."""

MAGNETRON: Final = Component(
    1250.0,
    0.97,
    harmonics={3: (0.22, 180.0), 5: (0.08, 0.0), 7: (0.04, 180.0), 9: (0.02, 0.0)},
    sources=("microwave", "iec-61000-3-2"),
)
"""Leakage transformer + half-wave doubler feeding the magnetron: near-unity pf at full power,
a 3rd harmonic well inside class A (2.3 A) [M]."""

MICROWAVE_IDLE: Final = Component(38.0, 0.50, sources=("microwave",))
"""Fan, lamp and turntable while the magnetron is off."""

LED_LAMPS: Final = Component(
    40.0,
    math.cos(math.radians(PLAID_CFL_LEAD_DEG)),
    True,
    PLAID_CFL_SPECTRUM,
    LoadKind.POWER,
    ("plaid", "led-driver", "iec-61000-3-2"),
)
"""A room's LED lamps: identical drivers on one phase add their spectra linearly."""

LAPTOP_SUPPLY: Final = Component(
    45.0,
    math.cos(math.radians(10.0)),
    True,
    dict(rectifier_spectrum(60.0, 10.0)),
    LoadKind.POWER,
    ("led-driver", "iec-61000-3-2"),
)
"""External charger below 75 W: no PFC, narrow pulse (I3/I1 about 0.86, pf about 0.64)."""

SMALL_TV_SUPPLY: Final = Component(
    60.0,
    math.cos(math.radians(12.0)),
    True,
    dict(rectifier_spectrum(70.0, 12.0)),
    LoadKind.POWER,
    ("led-driver", "iec-61000-3-2"),
)
"""TV of at most 75 W: no class D limits, so no PFC."""

PFC_TV_SUPPLY: Final = Component(
    100.0,
    0.995,
    True,
    {3: (0.06, 180.0), 5: (0.03, 0.0), 7: (0.02, 180.0), 9: (0.015, 0.0)},
    LoadKind.POWER,
    ("iec-61000-3-2",),
)
"""TV above 75 W: class D limits force power factor correction; an active boost stage leaves a few
per cent of low-order harmonics and a near-unity, slightly leading fundamental [M]."""

PFC_TV_THRESHOLD_W: Final = 75.0

INDUCTION_ZONE: Final = Component(
    1800.0,
    0.98,
    harmonics={3: (0.12, 180.0), 5: (0.06, 0.0), 7: (0.03, 180.0), 9: (0.02, 0.0)},
    load_kind=LoadKind.POWER,
    sources=("induction", "iec-61000-3-2"),
)
"""One induction zone: rectifier with a film DC link (no bulk capacitor), resonant inverter."""

OVEN_AUX: Final = Component(40.0, 0.85, sources=("oven",))
"""Convection fan and lamp, on for the whole session [M]."""


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Catalog entry of an appliance kind: rated power and typical use."""

    power_w: float
    """Rated power used when the scenario gives none."""
    uses_per_day: float
    """Spontaneous uses a day when the scenario gives none (fridge: door openings; water heater: draws)."""
    main: Component
    sources: tuple[str, ...]


CATALOG: Final[Mapping[ApplianceKind, KindSpec]] = MappingProxyType(
    {
        ApplianceKind.KETTLE: KindSpec(
            2200.0, 4.0, HEATING_ELEMENT, ("kk-lab", "kettle-physics", "kettle-use")
        ),
        ApplianceKind.OVEN: KindSpec(2400.0, 0.4, HEATING_ELEMENT, ("oven",)),
        ApplianceKind.WATER_HEATER: KindSpec(2400.0, 6.0, HEATING_ELEMENT, ("water-heater", "kk-lab")),
        ApplianceKind.FRIDGE: KindSpec(110.0, 30.0, COMPRESSOR, ("fridge",)),
        ApplianceKind.WASHING_MACHINE: KindSpec(2000.0, 0.6, HEATING_ELEMENT, ("washing",)),
        ApplianceKind.DISHWASHER: KindSpec(2000.0, 0.6, HEATING_ELEMENT, ("dishwasher",)),
        ApplianceKind.TV: KindSpec(100.0, 1.5, PFC_TV_SUPPLY, ("iec-61000-3-2",)),
        ApplianceKind.LAPTOP: KindSpec(45.0, 1.0, LAPTOP_SUPPLY, ("led-driver",)),
        ApplianceKind.LED_LIGHTING: KindSpec(40.0, 2.0, LED_LAMPS, ("plaid", "led-driver")),
        ApplianceKind.INDUCTION_HOB: KindSpec(7200.0, 1.0, INDUCTION_ZONE, ("induction",)),
        ApplianceKind.VACUUM: KindSpec(850.0, 0.3, UNIVERSAL_MOTOR, ("vacuum", "kk-lab")),
        ApplianceKind.MICROWAVE: KindSpec(1250.0, 1.5, MAGNETRON, ("microwave",)),
    }
)


def combine(*parts: Signature) -> Signature:
    """The sum of several components' currents; the kind of the largest part wins.

    A signature carries one voltage behaviour; white goods mix a dominant heater with small motors,
    so taking the dominant part's kind errs by a few watts at most during a sag.
    """
    live = [p for p in parts if not p.is_zero]
    if not live:
        return OFF
    if len(live) == 1:
        return live[0]
    cur = live[0].currents.copy()
    for p in live[1:]:
        cur += p.currents
    cur.setflags(write=False)
    kind = max(live, key=lambda s: abs(s.power_w)).kind
    return Signature(cur, kind)


def rms_current_a(sig: Signature, phase: int) -> float:
    """True RMS current on `phase` (1..3) at nominal voltage: all harmonics."""
    return float(np.sqrt((np.abs(sig.currents[phase - 1]) ** 2).sum()))


def current_thd(sig: Signature, phase: int) -> float:
    """Current THD on `phase` (1..3): RMS of the harmonics over the fundamental (IEC 61000-4-7 style)."""
    row = np.abs(sig.currents[phase - 1])
    if row[0] == 0:
        return 0.0
    return float(np.sqrt((row[1:] ** 2).sum()) / row[0])


def true_power_factor(sig: Signature) -> float:
    """P / S with S = V x I_rms summed over phases (distortion included)."""
    s = sum(NOMINAL_V * rms_current_a(sig, p) for p in (1, 2, 3))
    return sig.power_w / s if s else 1.0
