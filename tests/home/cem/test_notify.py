"""The near-limit notifier on a real Fluvius telegram (e-MUCS H 1.7.1: limiter 0-0:17.0.0 in kW,
fuse supervision 1-0:31.4.0 in A), with its power and currents changed step by step."""

from dataclasses import replace

import pytest

from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.cem.notify import (
    ActiveLimits,
    LimitSource,
    NearLimit,
    NearLimitConfig,
    NearLimitLevel,
    NearLimitNotifier,
    near_limit_topic,
)
from gridedge.model.reading import Measure, MeterReading, PhaseReading
from gridedge.physics.profiles import corpus_file
from gridedge.ports.p1.decoder import decode

FLUVIUS = corpus_file("p1/ndokter_dsmr_parser/telegram_fluvius_v171.txt")


def _base() -> MeterReading:
    text = FLUVIUS.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return decode(text, check_crc=False)


def _at(r: MeterReading, import_w: float = 0.0, export_w: float = 0.0, amps: float = 0.0) -> MeterReading:
    phases = tuple(replace(p, current_a=amps) for p in r.phases)
    return replace(r, power_import_w=import_w, power_export_w=export_w, phases=phases)


def test_the_corpus_telegram_carries_the_thresholds_the_notifier_reads() -> None:
    r = _base()
    assert r.limiter_threshold == Measure(999_900, "W")
    l1 = r.phase(1)
    assert l1 is not None and l1.fuse_threshold_a == 999


def test_lpc_limit_near_over_and_clear_with_hysteresis_and_margin() -> None:
    base = _base()
    n = NearLimitNotifier("home")
    limits = ActiveLimits(import_w=6_000)
    assert n.observe(_at(base, 5_000), limits) == []  # 83 %: clear
    near = n.observe(_at(base, 5_500), limits)  # 91.7 %
    assert [(x.source, x.level, x.margin, x.unit) for x in near] == [
        (LimitSource.LPC, NearLimitLevel.NEAR, 500.0, "W")
    ]
    assert n.observe(_at(base, 5_450), limits) == []  # still near, margin grew: nothing new
    assert n.observe(_at(base, 5_200), limits) == []  # 86.7 % >= clear share 85 %: stays near
    over = n.observe(_at(base, 6_300), limits)
    assert [(x.level, x.margin) for x in over] == [(NearLimitLevel.OVER, -300.0)]
    assert "over the lpc limit: 6300 of 6000 W" in over[0].message()
    clear = n.observe(_at(base, 5_000), limits)
    assert [x.level for x in clear] == [NearLimitLevel.CLEAR]


def test_update_while_near_when_the_margin_shrinks_by_a_step() -> None:
    n = NearLimitNotifier("home", config=NearLimitConfig(share=0.8, clear_share=0.75, step_share=0.05))
    limits = ActiveLimits(import_w=10_000)
    base = _base()
    assert [x.margin for x in n.observe(_at(base, 8_000), limits)] == [2_000.0]
    assert n.observe(_at(base, 8_400), limits) == []  # shrank by 400 < 500
    assert [x.margin for x in n.observe(_at(base, 8_600), limits)] == [1_400.0]


def test_export_limit_from_lpp_uses_net_export() -> None:
    n = NearLimitNotifier("home")
    out = n.observe(_at(_base(), 0, 4_700), ActiveLimits(export_w=5_000))
    assert [(x.source, x.direction, x.level, x.margin) for x in out] == [
        (LimitSource.LPP, "export", NearLimitLevel.NEAR, 300.0)
    ]


def test_meter_limiter_threshold_in_kw_and_fuse_per_phase() -> None:
    base = _base()
    r = replace(base, limiter_threshold=Measure(9_200, "W"))
    r = replace(r, phases=tuple(replace(p, fuse_threshold_a=40.0) for p in r.phases))
    n = NearLimitNotifier("home")
    out = n.observe(_at(r, 8_500, amps=12.0))
    assert [(x.source, x.level, x.unit, x.margin) for x in out] == [
        (LimitSource.LIMITER, NearLimitLevel.NEAR, "W", 700.0)
    ]
    hot = replace(r, power_import_w=8_500.0, phases=(replace(r.phases[0], current_a=37.0), *r.phases[1:]))
    out = n.observe(hot)
    assert [(x.source, x.phase, x.level, x.margin) for x in out] == [
        (LimitSource.FUSE, 1, NearLimitLevel.NEAR, 3.0)
    ]


def test_limiter_in_kva_uses_apparent_power_when_sent() -> None:
    r = replace(_base(), limiter_threshold=Measure(10, "kVA"), apparent_power_import_va=9_600.0)
    out = NearLimitNotifier("home").observe(_at(r, 8_000))
    assert [(x.measured, x.unit) for x in out] == [(9.6, "kVA")]


def test_limiter_in_amperes_compares_the_highest_phase_current() -> None:
    phases = tuple(PhaseReading(i + 1, current_a=a) for i, a in enumerate((10.0, 23.5, 4.0)))
    r = replace(_base(), limiter_threshold=Measure(25, "A"), phases=phases)
    out = NearLimitNotifier("home").observe(r)
    assert [(x.measured, x.margin, x.unit) for x in out] == [(23.5, 1.5, "A")]


def test_a_lifted_limit_clears_the_warning() -> None:
    n = NearLimitNotifier("home")
    base = _base()
    assert n.observe(_at(base, 5_800), ActiveLimits(import_w=6_000))
    out = n.observe(_at(base, 5_800), ActiveLimits())
    assert [(x.source, x.level) for x in out] == [(LimitSource.LPC, NearLimitLevel.CLEAR)]
    assert n.observe(_at(base, 5_800), ActiveLimits()) == []


def test_zero_limit_any_import_is_over() -> None:
    n = NearLimitNotifier("home")
    out = n.observe(_at(_base(), 50), ActiveLimits(import_w=0))
    assert [x.level for x in out] == [NearLimitLevel.OVER]


def test_notifications_are_published_on_the_bus() -> None:
    bus = InProcessBus(SimClock())
    got: list[Envelope[NearLimit]] = []
    bus.subscribe_callback("site/+/cem/near-limit", got.append, NearLimit)
    n = NearLimitNotifier("home", transport=bus)
    n.observe(_at(_base(), 5_900), ActiveLimits(import_w=6_000))
    assert [e.topic for e in got] == [near_limit_topic("home")]
    assert got[0].payload.margin == 100.0 and got[0].source == "cem"


@pytest.mark.parametrize(("share", "clear"), [(0.0, 0.5), (1.2, 0.5), (0.9, 0.95)])
def test_config_rejects_bad_shares(share: float, clear: float) -> None:
    with pytest.raises(ValueError, match="share"):
        NearLimitConfig(share=share, clear_share=clear)
