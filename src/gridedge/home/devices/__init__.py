"""Controllable devices: a registry of adapters, one per device, over S2, OCPP, SunSpec Modbus or
the simulator (`gridedge.model.devices` holds the protocol-neutral types)."""
