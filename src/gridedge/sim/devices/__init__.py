"""Simulated devices behind real device protocols (S2 resource managers, and the other protocol
simulators in this package)."""
