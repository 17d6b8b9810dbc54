"""Messages between rooms and machines: typed envelopes, MQTT-style topics, transports.

`Transport` is the contract; `InProcessBus` is the embedded transport (one process, one loop);
`gridedge.bus.mqtt.MqttTransport` carries the bus over an MQTT 5 broker, with envelopes encoded by
`gridedge.bus.codec`. The MQTT transport is not imported here, so that using the in-process bus
does not load aiomqtt/paho: import it from `gridedge.bus.mqtt`. Likewise for signed commands
(`gridedge.bus.command_security`, on `gridedge.bus.security`; key files in `gridedge.bus.keyfile`),
which load `cwt` and `cryptography`.
"""

from gridedge.bus.codec import (
    DEFAULT_REGISTRY,
    CodecError,
    PayloadRegistry,
    decode_envelope,
    encode_envelope,
)
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
    "DEFAULT_REGISTRY",
    "CallbackHandle",
    "CallbackSubscription",
    "CodecError",
    "Envelope",
    "InProcessBus",
    "OverflowPolicy",
    "PayloadRegistry",
    "QueueSubscription",
    "Subscription",
    "SubscriptionOverflowError",
    "TopicFilter",
    "Transport",
    "decode_envelope",
    "encode_envelope",
    "topic_matches",
    "validate_topic",
]
