"""Prometheus metrics of the energy manager (issue 7, item 5).

A custom collector (prometheus_client, Apache-2.0) reads the `CemService` at scrape time, so the
figures are exactly what the service holds when Prometheus asks: nothing updates them in the
background, and nothing goes stale between scrapes. Names and units follow the Prometheus naming
conventions (base units: watts, seconds, ratios; `_total` for counters; one metric per quantity
with labels for the device, not one metric per device).

`metrics_app(service)` is the ASGI app to mount at `/metrics` (text exposition format 0.0.4).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp

from gridedge.home.cem.service import CemService
from gridedge.model.limits import Direction, LpcState

__all__ = ["CemCollector", "metrics_app", "metrics_registry"]

_DIRECTIONS = {Direction.CONSUMPTION: "lpc", Direction.PRODUCTION: "lpp"}


class CemCollector(Collector):
    """The energy manager's state as Prometheus metrics, read from `service` at each scrape."""

    def __init__(self, service: CemService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        s = self.service
        site = s.site_id
        grid = s.loop.snapshot().grid
        power = GaugeMetricFamily(
            "gridedge_grid_power_watts", "Net power at the grid connection (import positive)", labels=["site"]
        )
        power.add_metric([site], math.nan if grid is None else grid.net_power_w)
        yield power
        readings = CounterMetricFamily("gridedge_meter_readings", "Meter readings received", labels=["site"])
        readings.add_metric([site], s.readings)
        yield readings

        limit = GaugeMetricFamily(
            "gridedge_grid_limit_watts",
            "Limit in force at the grid connection (NaN: none); lpc = consumption, lpp = production",
            labels=["site", "direction"],
        )
        state = GaugeMetricFamily(
            "gridedge_grid_limit_state", "LPC/LPP state machine: 1 for the state it is in",
            labels=["site", "direction", "state"],
        )  # fmt: skip
        for direction, name in _DIRECTIONS.items():
            report = s.grid.report(direction)
            if report is None:
                continue
            value = report.effective_limit_w
            limit.add_metric([site, name], math.nan if value is None else value)
            for each in LpcState:
                state.add_metric([site, name, each.value], 1.0 if report.state is each else 0.0)
        yield limit
        yield state

        peak = GaugeMetricFamily("gridedge_month_peak_watts", "This month's quarter-hour peak demand",
                                 labels=["site"])  # fmt: skip
        kw = s.tracker.month_peak_kw
        peak.add_metric([site], math.nan if kw is None else kw * 1000.0)
        yield peak

        stats = s.loop.stats
        for name, help_text, value in (
            ("gridedge_control_cycles", "Control cycles run", stats.cycles),
            ("gridedge_setpoints_sent", "Setpoints sent to devices", stats.sent),
            ("gridedge_setpoints_failed", "Setpoints a device refused or did not answer", stats.failed),
            (
                "gridedge_over_import_seconds",
                "Seconds the import was above the limit",
                stats.seconds_over_import,
            ),
            (
                "gridedge_over_export_seconds",
                "Seconds the export was above the limit",
                stats.seconds_over_export,
            ),
            (
                "gridedge_rejected_grid_messages",
                "Grid operator messages the limit machines refused",
                s.grid.rejected,
            ),
            ("gridedge_plans", "Plans made", s.plans_made),
        ):
            counter = CounterMetricFamily(name, help_text, labels=["site"])
            counter.add_metric([site], float(value))
            yield counter

        device_power = GaugeMetricFamily(
            "gridedge_device_power_watts",
            "Device power (consumption positive)",
            labels=["site", "device", "kind"],
        )
        soc = GaugeMetricFamily(
            "gridedge_device_soc_ratio", "State of charge 0..1", labels=["site", "device"]
        )
        online = GaugeMetricFamily(
            "gridedge_device_online", "1 when the device reports", labels=["site", "device"]
        )
        for adapter in s.registry:
            info, now = adapter.info, adapter.state()
            online.add_metric([site, info.device_id], 1.0 if now is not None and now.online else 0.0)
            if now is None:
                continue
            device_power.add_metric([site, info.device_id, info.kind.value], now.power_w)
            if now.soc is not None:
                soc.add_metric([site, info.device_id], now.soc)
        yield device_power
        yield soc
        yield online


def metrics_registry(service: CemService) -> CollectorRegistry:
    """A registry with only gridedge's collector (no process metrics of the test runner etc.)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CemCollector(service))
    return registry


def metrics_app(service: CemService) -> ASGIApp:
    """The ASGI app serving the metrics; mount it at `/metrics`."""
    return make_asgi_app(registry=metrics_registry(service))
