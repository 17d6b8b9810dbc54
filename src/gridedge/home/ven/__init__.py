"""gridedge's OpenADR 3.0.1 VEN: the home's client of an energy service provider's VTN.

`VenClient` speaks the HTTP API, `VenAgent` registers, follows programs and turns their events into
`GridSignals` (a `PriceSeries` and capacity-limit schedules, gridedge's own models), and
`NotificationReceiver` is the optional local webhook for subscriptions. See docs/openadr.md.
"""

from gridedge.home.ven.agent import VenAgent
from gridedge.home.ven.callback import NotificationReceiver
from gridedge.home.ven.client import OpenAdrError, Page, VenClient
from gridedge.home.ven.signals import GridSignals, applies_to, signals_from_events

__all__ = [
    "GridSignals",
    "NotificationReceiver",
    "OpenAdrError",
    "Page",
    "VenAgent",
    "VenClient",
    "applies_to",
    "signals_from_events",
]
