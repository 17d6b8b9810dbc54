"""Appliance recognition (NILM): events on the S1 cycle stream or P1 readings, identification,
live per-appliance power and energy.

Entry point: `NilmEngine` (`engine`). Building blocks: `CycleEventDetector` (`events`, 50 Hz
cycles), `LowRateDetector` (`lowrate`, 1 Hz P1), `ApplianceTracker` (`tracker`), the appliance
library (`library`) and the event signature (`signature`).
"""
