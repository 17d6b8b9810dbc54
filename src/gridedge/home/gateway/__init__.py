"""The home's communication module (ESMIG "Next Generation Smart Metering", seeds/002): it turns the
meter's P1 readings into the upstream records of `model.telemetry` (grid-point monitoring every
10 s, NRTD, 15-min load curves of 10 s values, events, WAN reports), keeps them in a persistent
store-and-forward queue until the head-end acknowledges them, sends nothing without the user's
consent, and watches its own wide-area link.

One module per job: `categories` (what kind of data a record is), `db` (the SQLite file),
`outbox` (store-and-forward), `consent` (the gate), `monitoring` (readings -> records, pure),
`wan` (link monitoring and its local history), `keys` (the per-meter key file), `service`
(everything wired to a meter port and a `bus.rawlink.RawLink`). See docs/gateway.md.
"""
