"""Italy's Chain 2 (CEI TS 13-82..13-84) as home devices expose it.

The Chain 2 wire format (PLC in CENELEC band C between the 2G "Open Meter" and the user device) is
not public, so gridedge reads what certified user devices publish (`shared/notes/meter-ports.md`
§D.2): the Chain2Gate's local WebSocket JSON (`chain2gate`, read by `reader.Chain2GateReader`)
and the Sinapsi Alfa's Modbus TCP registers (`sinapsi`, polled by `alfa_reader.AlfaReader`).
Their frames carry the meter's quarter-hour energy and average power with the ARERA band, the
instantaneous power on every 300 W step, and the warning that the available power is exceeded
with the seconds left before the meter disconnects. `readings` maps them into `MeterReading`s
(`P1Variant.CHAIN2`); the warnings become `model.overload.OverloadWarning`s.
"""
