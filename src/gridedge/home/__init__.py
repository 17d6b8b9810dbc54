"""The home side: waveform analytics, appliance recognition and (later) the energy manager."""
