"""The head-end system (HES): collects near-real-time data, load curves, events and WAN reports
from many meters' gateways, stores them, acknowledges what is committed, and watches the traffic
for security anomalies.

- `keys`: the per-meter telemetry keys (provisioning, rotation, a key file);
- `ingest`: opening, decoding and batching sealed records (pure);
- `security_monitor`: the per-meter traffic model that raises alarms (pure);
- `worker`: one ingest worker on MQTT (shared subscription) + a telemetry store;
- `embedded`: the same on the in-process bus, for the demo.
"""
