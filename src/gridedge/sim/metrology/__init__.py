"""The virtual meter's metrology: per-second measurements from waveform samples or from phasors.

`waveform` measures the way an electronic meter does, from sampled voltage and current (the same
samples the S1 port sends). `phasor` computes the same quantities directly from the per-cycle
harmonic phasors of the household, about a hundred times cheaper, for households without S1;
the two agree within 0.1 % (tests/sim/metrology).
"""

from gridedge.sim.metrology.phasor import measure_phasors, measure_phasors_many
from gridedge.sim.metrology.waveform import measure_samples

__all__ = ["measure_phasors", "measure_phasors_many", "measure_samples"]
