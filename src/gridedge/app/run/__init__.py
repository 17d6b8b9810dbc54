"""`gridedge run --config gridedge.toml`: a site's services in one process, against real hardware
and real peers (docs/running.md).

`config` is the validated configuration (`RunConfig`: the scenario schema plus where the services
meet the world); `meter` shares the one meter stream between the energy manager and the gateway
(a serial port can be opened by one reader only); `gateway` builds the communication module as
`gridedge gateway` does; `s1` reads the optional S1 port into the waveform analytics and appliance
recognition; `control` is the dashboard's view of the running site (`SiteControl`, the
`DemoControl` the web room serves). The command line (`cli_run.py`) composes them with the energy
manager of `gridedge cem`.
"""
