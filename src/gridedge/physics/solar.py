"""PV output from location, orientation and weather: the pvlib chain, once per day per minute.

Per day and per minute: solar position (pvlib SPA, NREL numpy), the plane-of-array irradiance of
the weather's GHI/DNI/DHI (`irradiance.get_total_irradiance`, Hay-Davies sky diffuse, albedo
0.2), the Fresnel incidence-angle loss of the beam (`iam.physical`), the cell temperature
(Faiman, IEC 61853-2, wind 1 m/s), PVWatts DC (gamma -0.37 %/K, a typical mono-Si module),
`system_losses` (soiling, wiring, mismatch: PVWatts' 14 % default) and the PVWatts inverter
(nominal efficiency 96 %, clipping at `inverter_kw`, by default 0.9 x the peak power).

The simulated PV system (`gridedge.sim.pv`) and the energy manager's forecast
(`gridedge.home.cem.forecast`) both run this, so a forecast on the simulator's weather is exact.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from gridedge.model.scenario import PVConfig, SiteConfig
from gridedge.physics.weather import DAY_S, Weather, irradiance_many, temperature_many

__all__ = [
    "ETA_INVERTER",
    "GAMMA_PDC",
    "PVArray",
    "day_ac_power",
    "plane_of_array_day",
    "solar_position_day",
]

FloatArray = npt.NDArray[np.float64]

ETA_INVERTER: Final = 0.96
GAMMA_PDC: Final = -0.0037


@lru_cache(maxsize=64)
def solar_position_day(latitude: float, longitude: float, epoch0: float) -> tuple[FloatArray, FloatArray]:
    """Apparent zenith and azimuth (degrees) every 60 s of the day from `epoch0` (1441 points)."""
    import pandas as pd
    import pvlib

    times = pd.DatetimeIndex(pd.to_datetime(epoch0 + 60.0 * np.arange(1441), unit="s", utc=True))
    with warnings.catch_warnings():  # pvlib 0.16 on pandas 3 warns about its own use of dayofyear
        warnings.simplefilter("ignore", DeprecationWarning)
        sp = pvlib.solarposition.get_solarposition(times, latitude, longitude)
    zen = sp["apparent_zenith"].to_numpy(np.float64)
    azi = sp["azimuth"].to_numpy(np.float64)
    zen.setflags(write=False)
    azi.setflags(write=False)
    return zen, azi


@lru_cache(maxsize=256)
def plane_of_array_day(
    weather: Weather, latitude: float, longitude: float, epoch0: float, day: int, tilt: float, azimuth: float
) -> tuple[FloatArray, FloatArray]:
    """Effective plane-of-array irradiance (W/m², after the incidence-angle loss) and cell
    temperature (°C) every 60 s of sim day `day`, for a plane at `tilt` / `azimuth`.

    Cached per weather instance, plane and day: the homes of a street share their weather
    (`weather_from_config`), so arrays of the same orientation cost one pvlib run per day.
    """
    import pandas as pd
    import pvlib

    ts: FloatArray = day * DAY_S + 60.0 * np.arange(1441, dtype=np.float64)
    ghi, dni, dhi = irradiance_many(weather, ts)
    temp_air = temperature_many(weather, ts)
    zen, azi = solar_position_day(latitude, longitude, epoch0)
    times = pd.DatetimeIndex(pd.to_datetime(epoch0 + 60.0 * np.arange(1441), unit="s", utc=True))
    dni_extra = pvlib.irradiance.get_extra_radiation(times).to_numpy(np.float64)
    dni = np.where(zen < 90.0, dni, 0.0)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, zen, azi, dni, ghi, dhi, dni_extra=dni_extra, albedo=0.2, model="haydavies"
    )
    aoi = pvlib.irradiance.aoi(tilt, azimuth, zen, azi)
    iam = np.nan_to_num(np.asarray(pvlib.iam.physical(aoi), dtype=np.float64))
    direct = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=np.float64))
    diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=np.float64))
    glob = np.nan_to_num(np.asarray(poa["poa_global"], dtype=np.float64))
    effective = np.clip(direct * iam + diffuse, 0.0, None)
    t_cell = np.asarray(pvlib.temperature.faiman(glob, temp_air, wind_speed=1.0), dtype=np.float64)
    effective.setflags(write=False)
    t_cell.setflags(write=False)
    return effective, t_cell


@dataclass(frozen=True, slots=True)
class PVArray:
    """One array and its inverter where it stands: what the AC power depends on."""

    latitude: float
    longitude: float
    tilt_deg: float
    azimuth_deg: float
    pdc0_w: float
    """DC rating (kWp x 1000)."""
    pac_max_w: float
    """Inverter AC limit."""
    system_losses: float

    @staticmethod
    def from_config(cfg: PVConfig, site: SiteConfig) -> PVArray:
        return PVArray(
            latitude=site.latitude,
            longitude=site.longitude,
            tilt_deg=cfg.tilt_deg,
            azimuth_deg=cfg.azimuth_deg,
            pdc0_w=cfg.kwp * 1000.0,
            pac_max_w=(cfg.inverter_kw if cfg.inverter_kw is not None else 0.9 * cfg.kwp) * 1000.0,
            system_losses=cfg.system_losses,
        )


def day_ac_power(array: PVArray, weather: Weather, epoch0: float, day: int) -> FloatArray:
    """Available AC power (W, >= 0) every 60 s over day `day` after `epoch0` (1441 points).

    `epoch0` is the UTC epoch of the weather's time 0 (the simulation start): day `day` starts
    `day` x 86400 s later.
    """
    with warnings.catch_warnings():  # pvlib 0.16 on pandas 3 warns about its own use of dayofyear
        warnings.simplefilter("ignore", DeprecationWarning)
        import pvlib

        start = epoch0 + day * DAY_S
        effective, t_cell = plane_of_array_day(
            weather, array.latitude, array.longitude, start, day, array.tilt_deg, array.azimuth_deg
        )
        pdc = np.asarray(
            pvlib.pvsystem.pvwatts_dc(effective, t_cell, array.pdc0_w, GAMMA_PDC), dtype=np.float64
        )
        pdc = np.clip(np.nan_to_num(pdc), 0.0, None) * (1.0 - array.system_losses)
        pac = pvlib.inverter.pvwatts(pdc, array.pac_max_w / ETA_INVERTER, eta_inv_nom=ETA_INVERTER)
        out: FloatArray = np.clip(np.nan_to_num(np.asarray(pac, dtype=np.float64)), 0.0, array.pac_max_w)
        return out
