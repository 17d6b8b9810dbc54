"""P1 readers: async byte sources for the pipeline (serial line, TCP bridge, capture file).

Every reader has `name`, `stats` and `chunks()`, an async iterator of byte chunks in which `b""`
marks a break in the stream. Modules with third-party imports (serialx) import them lazily.
"""

from gridedge.ports.p1.readers.base import ChunkSource, ReaderError, ReaderStats
from gridedge.ports.p1.readers.file import FileReader, FileStats, Pace, looks_like_hex_dump
from gridedge.ports.p1.readers.serial import DSMR_2_2_SERIAL, DSMR_5_SERIAL, SerialReader, SerialSettings
from gridedge.ports.p1.readers.tcp import TcpReader, TcpStats, parse_host_port

__all__ = [
    "DSMR_2_2_SERIAL",
    "DSMR_5_SERIAL",
    "ChunkSource",
    "FileReader",
    "FileStats",
    "Pace",
    "ReaderError",
    "ReaderStats",
    "SerialReader",
    "SerialSettings",
    "TcpReader",
    "TcpStats",
    "looks_like_hex_dump",
    "parse_host_port",
]
