"""A Chain2Net-style peer network for the devices of a home and the homes of an energy community.

Meters and More's Chain2Net profile lets devices behind a 2G meter exchange real-time energy data
and steer each other, unicast, multicast and broadcast, for self-consumption, peak management and
time of use, also across a renewable energy community (seeds/000, "Extending Chain 2 to Chain2Net
Profile"). Its specification is not public; gridedge builds the same use cases on its bus:

* `addressing`: unicast / multicast / broadcast as topic scopes, bound into each signature;
* `messages`: announce, energy data, discover, switch, modulate, reply, home summary, share offer;
* `roster`: membership per home or community, signed by the network's owner;
* `node`: `PeerNode`, signing and verifying every frame (COSE_Sign1 / Ed25519) over a `RawLink`
  (in-process bus or MQTT);
* `device`: `PeerDevice` publishes any `DeviceAdapter` on the network and obeys commands;
* `remote`: `PeerDirectory` / `RemoteDevice` put network devices into a `DeviceRegistry`;
* `sharing` and `community`: the energy-community controller sharing PV surplus among homes;
* `cem_link`: gridedge's energy manager as a member of its home network.
"""

from gridedge.home.peers.addressing import Address, Scope
from gridedge.home.peers.cem_link import CemPeerLink
from gridedge.home.peers.community import CommunityController, HomeManager
from gridedge.home.peers.device import PeerDevice, operating_point
from gridedge.home.peers.messages import (
    Announce,
    Discover,
    EnergyData,
    HomeSummary,
    Message,
    Modulate,
    PeerMessageError,
    ProfileSlot,
    Reply,
    Role,
    ShareOffer,
    Switch,
)
from gridedge.home.peers.node import PeerNode, PeerStats, PeerTimeout, Received
from gridedge.home.peers.remote import PeerDirectory, RemoteDevice
from gridedge.home.peers.roster import Member, Roster, RosterError, RosterIssuer
from gridedge.home.peers.sharing import HomeNeed, SharePlan, share_surplus

__all__ = [
    "Address",
    "Announce",
    "CemPeerLink",
    "CommunityController",
    "Discover",
    "EnergyData",
    "HomeManager",
    "HomeNeed",
    "HomeSummary",
    "Member",
    "Message",
    "Modulate",
    "PeerDevice",
    "PeerDirectory",
    "PeerMessageError",
    "PeerNode",
    "PeerStats",
    "PeerTimeout",
    "ProfileSlot",
    "Received",
    "RemoteDevice",
    "Reply",
    "Role",
    "Roster",
    "RosterError",
    "RosterIssuer",
    "Scope",
    "ShareOffer",
    "SharePlan",
    "Switch",
    "operating_point",
    "share_surplus",
]
