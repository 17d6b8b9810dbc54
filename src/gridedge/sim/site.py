"""A virtual site: household, grid, metrology and smart meter, advanced one second at a time.

`VirtualSite.step()` is the whole pipeline of one second: scripted events, the household's
cycles, the metrology (sample-based when the S1 port is on or asked for, phasor-based
otherwise), the meter's registers and breaker, and the bytes the P1 and S1 ports would send.
It touches no clock and no socket; `sim.runner` paces it on a `Clock` and serves the ports.

Ground truth for tests: `truth_import_wh` / `truth_export_wh` integrate the household's power
computed analytically from the phasors, independent of the sample-based metrology that feeds the
meter's registers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from gridedge.model.reading import MeterReading
from gridedge.model.scenario import EventAction, EventConfig, S1Config, S1Sampling, Scenario
from gridedge.physics.weather import Weather
from gridedge.ports.s1.frame import S1FrameEncoder, S1FrameInfo, to_counts
from gridedge.sim.control import (
    CurrentSettable,
    PowerSettable,
    Programmable,
    Switchable,
    TemperatureSettable,
)
from gridedge.sim.electrical import Load, SiteContext
from gridedge.sim.gas import GasUse
from gridedge.sim.grid import GridSupply, VoltageEvent
from gridedge.sim.household import CycleBlock, Household, SteadySecond, steady_blocks
from gridedge.sim.measurement import SecondMeasurement
from gridedge.sim.meter import VirtualMeter, telegram
from gridedge.sim.metrology import measure_phasors, measure_samples
from gridedge.sim.script import EventScript
from gridedge.sim.waveform import Samples, WaveformSynth

log = logging.getLogger(__name__)


class Metrology(StrEnum):
    """How the virtual meter measures."""

    AUTO = "auto"
    """Waveform when the meter has an S1 port, phasor otherwise."""
    WAVEFORM = "waveform"
    PHASOR = "phasor"


@dataclass(slots=True)
class SiteSecond:
    """What one second of the site produced."""

    t: float
    block: CycleBlock
    measurement: SecondMeasurement
    reading: MeterReading | None
    """None while the meter is unpowered (outage on every phase)."""
    telegram: bytes | None
    samples: Samples | None
    s1_frames: bytes | None


class VirtualSite:
    """One household behind one virtual meter."""

    def __init__(
        self,
        scenario: Scenario,
        loads: Sequence[Load],
        *,
        weather: Weather | None = None,
        gates: dict[str, int] | None = None,
        metrology: Metrology = Metrology.AUTO,
        p1: bool = True,
        s1: bool | None = None,
        encrypt: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.scenario = scenario
        site = scenario.site
        self.ctx = SiteContext(site.start_aware, site.zone, weather)
        self.grid = GridSupply(scenario.grid, site.seed)
        self.meter = VirtualMeter(scenario.meter, site)
        self._gates = dict(gates or {})
        gate = self._gate if self._gates else None
        self.household = Household(
            loads, self.grid, self.ctx, phases=scenario.meter.phases, seed=site.seed, gate=gate
        )
        s1_config = scenario.meter.s1
        self.s1 = s1_config is not None if s1 is None else s1
        if self.s1 and s1_config is None:
            raise ValueError("S1 output asked for but the scenario's meter has no [meter.s1] table")
        if metrology is Metrology.AUTO:
            metrology = Metrology.WAVEFORM if self.s1 else Metrology.PHASOR
        self.metrology = metrology
        self.synth: WaveformSynth | None = None
        self.s1_encoder: S1FrameEncoder | None = None
        if metrology is Metrology.WAVEFORM:
            cfg = s1_config or S1Config()
            self.synth = WaveformSynth(cfg, seed=site.seed, neutral=cfg.neutral_current)
            if self.s1:
                per_period = cfg.sampling is S1Sampling.PER_PERIOD
                info = S1FrameInfo(
                    meter_id=scenario.meter.equipment_id[:14],
                    poly_phase=scenario.meter.phases == 3,
                    per_period=per_period,
                    four_wire=scenario.meter.phases == 3,
                    samples_valid=True,
                    neutral_current=cfg.neutral_current,
                )
                rate_byte = cfg.samples_per_period if per_period else cfg.rate_hz // 100
                self.s1_encoder = S1FrameEncoder(info, rate_byte)
        self.p1 = p1
        self._encrypt = encrypt
        self.gas = GasUse(scenario.meter.gas, site.seed) if scenario.meter.gas is not None else None
        self.script = EventScript(scenario.events, site.start_aware, site.zone)
        self.t = 0.0
        self.truth_import_wh = 0.0
        self.truth_export_wh = 0.0

    def _gate(self, load: Load) -> bool:
        out = self._gates.get(load.name)
        return out is None or self.meter.load_control_closed(out)

    def load(self, name: str) -> Load:
        return self.household.load(name)

    def step(self) -> SiteSecond:
        """Advance the site by one second."""
        got = self.begin()
        block = got if isinstance(got, CycleBlock) else steady_blocks((got,))[0]
        return self.finish(block)

    def begin(self) -> CycleBlock | SteadySecond:
        """First half of `step`: scripted events and the household's loads over the next second.

        A steady second comes back as a `SteadySecond` for `steady_blocks`, which a street
        (`sim.neighbourhood`) computes for all its homes at once; `finish` does the rest.
        """
        t0 = self.t
        for t, ev in self.script.due(t0, t0 + 1.0):
            self.apply(ev, t)
        self.household.connected = self.meter.supplies_load
        return self.household.begin(t0, t0 + 1.0)

    def finish(self, block: CycleBlock, truth: SecondMeasurement | None = None) -> SiteSecond:
        """Second half of `step`: metrology, meter and port bytes of the second `begin` started
        (`truth`: the block's phasor measurement when the caller already has it)."""
        t0 = self.t
        t1 = t0 + 1.0
        if truth is None:
            truth = measure_phasors(block)
        samples: Samples | None = None
        if self.synth is not None:
            samples = self.synth.samples(block)
            m = measure_samples(samples, self.grid.config.frequency_hz)
        else:
            m = truth
        self.truth_import_wh += truth.energy_import_wh
        self.truth_export_wh += truth.energy_export_wh
        gas = self.gas.step(t0, t1, self.ctx) if self.gas is not None else 0.0
        reading = self.meter.update(m, gas)
        self.ctx.net_power_w = m.net_power_w
        self.ctx.voltage_v = m.voltage_v
        data: bytes | None = None
        if reading is not None and self.p1:
            data = telegram(reading, self.scenario.meter.profile)
            if self._encrypt is not None:
                data = self._encrypt(data)
        frames: bytes | None = None
        if self.s1_encoder is not None and samples is not None:
            counts = to_counts(samples.voltage_v, samples.current_a, samples.neutral_a)
            frames = self.s1_encoder.encode(counts, round(m.frequency_hz * 1000))
        self.t = t1
        return SiteSecond(t0, block, m, reading, data, samples, frames)

    def apply(self, ev: EventConfig, t: float) -> None:
        """Carry out a scripted event at sim time t."""
        a = ev.action
        if ev.target == "grid":
            if a in (EventAction.SAG, EventAction.SWELL, EventAction.OUTAGE):
                factor = 0.0 if a is EventAction.OUTAGE else float(ev.value if ev.value is not None else 0.7)
                duration = ev.duration_s or 1.0
                phases = tuple(p - 1 for p in ev.phases)
                self.grid.add_event(VoltageEvent(t, t + duration, factor, phases))
                return
            raise ValueError(f"grid event at {ev.at}: action {a.value!r} is not sag, swell or outage")
        if ev.target == "meter":
            if a is EventAction.RECONNECT:
                self.meter.press_reconnect(t)
            elif a is EventAction.LOAD_CONTROL:
                if ev.value is None or ev.closed is None:
                    raise ValueError(f"meter event at {ev.at}: load-control needs value (output) and closed")
                self.meter.set_load_control(int(ev.value), ev.closed, t)
            elif a is EventAction.OFF:
                self.meter.disconnect(t)
            elif a is EventAction.ON:
                self.meter.reconnect_remote(t)
            else:
                raise ValueError(f"meter event at {ev.at}: action {a.value!r} is not supported")
            return
        dev = self.load(ev.target)
        if a in (EventAction.ON, EventAction.OFF) and isinstance(dev, Switchable):
            dev.switch(a is EventAction.ON, t)
            if a is EventAction.ON and ev.duration_s is not None:
                off = ev.model_copy(update={"action": EventAction.OFF, "duration": None})
                self.script.schedule(t + ev.duration_s, off)
        elif a is EventAction.START and isinstance(dev, Programmable):
            dev.start_programme(t)
        elif a is EventAction.SETPOINT and ev.value is not None:
            if isinstance(dev, PowerSettable):
                dev.set_power(ev.value, t)
            elif isinstance(dev, CurrentSettable):
                dev.set_current(ev.value, t)
            elif isinstance(dev, TemperatureSettable):
                dev.set_temperature(ev.value, t)
            else:
                dev.command("setpoint", ev.value)
        else:
            dev.command(a.value, ev.value)

    def run(self, seconds: int) -> list[SiteSecond]:
        """Step `seconds` times and return every second (tests; keeps all samples in memory)."""
        return [self.step() for _ in range(seconds)]
