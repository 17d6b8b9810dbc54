"""The Fluvius S1 port: raw voltage and current samples in 45-byte HDLC frames (e-MUCS H Ed. 1.3 §4).

`fcs` computes the HDLC FCS-16, `frame` writes frames from samples (the virtual meter's side)
and reads the fields of one frame back.
"""

from gridedge.ports.s1.fcs import AffineFcs16, fcs16, fcs16_many
from gridedge.ports.s1.frame import (
    CHANNELS,
    FRAME_SIZE,
    S1FrameEncoder,
    S1FrameError,
    S1FrameFields,
    S1FrameInfo,
    Saturation,
    decode_frame_fields,
    sampling_byte_for,
    to_counts,
)

__all__ = [
    "CHANNELS",
    "FRAME_SIZE",
    "AffineFcs16",
    "S1FrameEncoder",
    "S1FrameError",
    "S1FrameFields",
    "S1FrameInfo",
    "Saturation",
    "decode_frame_fields",
    "fcs16",
    "fcs16_many",
    "sampling_byte_for",
    "to_counts",
]
