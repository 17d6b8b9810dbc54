"""DLMS/COSEM support for meter ports: ciphered APDUs (AES-128-GCM) and hex-dump samples.

Used by the Luxembourg Smarty P1 port (DSMR telegrams inside ``general-glo-ciphering``) and by
DLMS HAN push ports.  See :mod:`gridedge.ports.dlms.cipher` for the frame layout and sources.
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
from gridedge.ports.dlms.errors import (
    DlmsAuthenticationError,
    DlmsError,
    DlmsFrameError,
    DlmsKeyError,
    DlmsTruncatedError,
    HexDumpError,
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
    "DlmsAuthenticationError",
    "DlmsError",
    "DlmsFrameError",
    "DlmsKeyError",
    "DlmsTruncatedError",
    "HexDumpError",
    "SecurityKeys",
    "TagPolicy",
    "decrypt",
    "encrypt",
    "parse_general_glo_ciphering",
    "parse_hex_dump",
    "parse_service_specific_ciphering",
]
