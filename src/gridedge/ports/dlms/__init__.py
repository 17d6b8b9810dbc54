"""DLMS/COSEM support for meter ports: push messages, their framing, ciphering and content.

Used by the Luxembourg Smarty P1 port (DSMR telegrams inside ``general-glo-ciphering``,
:mod:`.cipher`) and by DLMS HAN push ports: :func:`decode_push` for one captured message,
:class:`PushStream` for a serial or TCP byte stream.  Framing is HDLC (:mod:`.hdlc`, IEC 62056-46:
Nordic, Swiss ports) or wired M-Bus long frames (:mod:`.mbus`, EN 13757-2 with the IEC 62056-7-3
DLMS transport: Austrian customer interfaces); the content is a data-notification (:mod:`.apdu`)
of A-XDR data (:mod:`.axdr`) holding COSEM objects (:mod:`.cosem`).
"""

from gridedge.ports.dlms.cipher import (
    AUTH_TAG_LENGTH,
    GENERAL_DED_CIPHERING,
    GENERAL_GLO_CIPHERING,
    KEY_LENGTH,
    LUXEMBOURG_SMARTY_AUTHENTICATION_KEY,
    SC_AUTHENTICATED,
    SC_AUTHENTICATED_ENCRYPTED,
    SC_BROADCAST_KEY,
    SC_COMPRESSED,
    SC_ENCRYPTED,
    SERVICE_SPECIFIC_CIPHERING_TAGS,
    SYSTEM_TITLE_LENGTH,
    CipheredApdu,
    SecurityKeys,
    TagPolicy,
    decrypt,
    encrypt,
    parse_general_glo_ciphering,
    parse_hex_dump,
    parse_service_specific_ciphering,
)
from gridedge.ports.dlms.cosem import CosemObject, Obis
from gridedge.ports.dlms.errors import (
    DlmsAuthenticationError,
    DlmsError,
    DlmsFrameError,
    DlmsKeyError,
    DlmsTruncatedError,
    HexDumpError,
)
from gridedge.ports.dlms.hdlc import Deframer, FrameFault, HdlcFrame, fcs16
from gridedge.ports.dlms.hdlc import parse_frame as parse_hdlc_frame
from gridedge.ports.dlms.hdlc import reassemble as reassemble_hdlc
from gridedge.ports.dlms.mbus import (
    MBusDeframer,
    MBusFrame,
    MBusSegmentJoiner,
    join_mbus_segments,
    mbus_checksum,
    mbus_frame,
    parse_mbus_frame,
)
from gridedge.ports.dlms.push import (
    Framing,
    PushMessage,
    PushStream,
    UndecodedMessage,
    decode_apdu,
    decode_frames,
    decode_push,
    detect_framing,
)

__all__ = [
    "AUTH_TAG_LENGTH",
    "GENERAL_DED_CIPHERING",
    "GENERAL_GLO_CIPHERING",
    "KEY_LENGTH",
    "LUXEMBOURG_SMARTY_AUTHENTICATION_KEY",
    "SC_AUTHENTICATED",
    "SC_AUTHENTICATED_ENCRYPTED",
    "SC_BROADCAST_KEY",
    "SC_COMPRESSED",
    "SC_ENCRYPTED",
    "SERVICE_SPECIFIC_CIPHERING_TAGS",
    "SYSTEM_TITLE_LENGTH",
    "CipheredApdu",
    "CosemObject",
    "Deframer",
    "DlmsAuthenticationError",
    "DlmsError",
    "DlmsFrameError",
    "DlmsKeyError",
    "DlmsTruncatedError",
    "FrameFault",
    "Framing",
    "HdlcFrame",
    "HexDumpError",
    "MBusDeframer",
    "MBusFrame",
    "MBusSegmentJoiner",
    "Obis",
    "PushMessage",
    "PushStream",
    "SecurityKeys",
    "TagPolicy",
    "UndecodedMessage",
    "decode_apdu",
    "decode_frames",
    "decode_push",
    "decrypt",
    "detect_framing",
    "encrypt",
    "fcs16",
    "join_mbus_segments",
    "mbus_checksum",
    "mbus_frame",
    "parse_general_glo_ciphering",
    "parse_hdlc_frame",
    "parse_hex_dump",
    "parse_mbus_frame",
    "parse_service_specific_ciphering",
    "reassemble_hdlc",
]
