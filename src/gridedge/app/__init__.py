"""The composition root: puts the rooms together into running systems.

`app.demo` is the virtual neighbourhood of `gridedge demo` (embedded defaults: in-process bus,
SQLite, simulated households); `app.run` is `gridedge run --config`, the same services against real
meters, devices and peers. `app.views` is what both show: the typed home and grid views the web room
serves. Like the command line, this room may import every other room except `web`.
"""
