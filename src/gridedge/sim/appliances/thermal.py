"""First-order thermal bodies, solved in closed form so thermostats cost nothing between switchings.

A body with heat capacity C (J/K) and loss coefficient UA (W/K) to an ambient Ta, heated (or, a
fridge, cooled) with P watts, relaxes exponentially towards T_eq = Ta + P / UA with time constant
tau = C / UA. A thermostat's next switching is the time that curve needs to reach a threshold, so
an appliance schedules one event per switching instead of integrating every second.
"""

from __future__ import annotations

import math


def relax(t0_c: float, eq_c: float, tau_s: float, dt_s: float) -> float:
    """Temperature after `dt_s` seconds, starting at `t0_c` and heading for `eq_c`."""
    return eq_c + (t0_c - eq_c) * math.exp(-dt_s / tau_s)


def time_to(t0_c: float, eq_c: float, tau_s: float, target_c: float) -> float:
    """Seconds until the body reaches `target_c`; inf if it never does (target beyond eq)."""
    a = t0_c - eq_c
    b = target_c - eq_c
    if a == 0 or b == 0 or (a > 0) != (b > 0) or abs(b) > abs(a):
        return 0.0 if t0_c == target_c else math.inf
    return tau_s * math.log(a / b)
