"""SunSpec over Modbus TCP: the register map, a client, and the device adapter for PV and storage
inverters (SunSpec Information Model Specification; models 1, 101-103, 120, 121, 123, 124)."""
