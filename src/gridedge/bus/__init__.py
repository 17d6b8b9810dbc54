"""Messages between rooms and machines: typed envelopes, MQTT-style topics, transports.

`Transport` is the contract; `InProcessBus` is the embedded transport (one process, one loop).
"""

from gridedge.bus.envelope import (
    CallbackSubscription,
    Envelope,
    Subscription,
    TopicFilter,
    Transport,
    topic_matches,
    validate_topic,
)
from gridedge.bus.inprocess import (
    CallbackHandle,
    InProcessBus,
    OverflowPolicy,
    QueueSubscription,
    SubscriptionOverflowError,
)

__all__ = [
    "CallbackHandle",
    "CallbackSubscription",
    "Envelope",
    "InProcessBus",
    "OverflowPolicy",
    "QueueSubscription",
    "Subscription",
    "SubscriptionOverflowError",
    "TopicFilter",
    "Transport",
    "topic_matches",
    "validate_topic",
]
