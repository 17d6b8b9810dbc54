"""The grid side, in front of the meter: head-end system (`hes`), grid operator (`dso`, the
Energy Guard of LPC/LPP) and energy service provider (`aggregator`, with the OpenADR 3 VTN).

The grid side never imports the home side: they talk over the bus (MQTT at scale) and OpenADR.
"""
