"""Models of the physical world shared by the simulator and the energy manager's forecasts.

Weather (clear sky, the DWD 2015 year), PV output from location, orientation and weather
(pvlib), the standard load profiles and the other corpus data sets they read. The virtual
household (`gridedge.sim`) runs on them, and the energy manager (`gridedge.home.cem.forecast`)
forecasts with the very same models, without the home room importing the simulator
(DESIGN.md, rooms). Depends on `gridedge.model` only.
"""
