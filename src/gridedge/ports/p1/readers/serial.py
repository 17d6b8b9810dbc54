"""P1 over a serial line (a USB P1 cable, a UART), read with `serialx` on the event loop.

Why serialx: it is an asyncio-native serial library (non-blocking descriptor on the loop, no
thread) and maintained; dsmr-parser moved to it from `pyserial-asyncio`, unreleased since 2021.

Line settings (the cable must also invert the open-collector data line, DSMR 5.0.2 §5.7.2):
* DSMR 4.x and 5.0.x: 115200 baud, 8N1 (DSMR 5.0.2 §6.1; DSMR 4.2.2 §5.1).
* DSMR 2.2 and 3.0: 9600 baud, 7E1 (DSMR 3.0 §5.1 gives 9600 bps; 7 data bits with even parity
  as in IEC 62056-21, the mode readers of these meters use).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from gridedge.ports.p1.readers.base import ReaderError, ReaderStats, describe_error

__all__ = ["DSMR_2_2_SERIAL", "DSMR_5_SERIAL", "SerialReader", "SerialSettings"]


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Baud rate and character frame of the P1 line."""

    baudrate: int = 115200
    byte_size: int = 8
    parity: str = "N"
    stopbits: int = 1

    def __post_init__(self) -> None:
        if self.baudrate <= 0:
            raise ValueError(f"baud rate must be positive, got {self.baudrate}")
        if self.byte_size not in (7, 8):
            raise ValueError(f"byte size must be 7 or 8, got {self.byte_size}")
        if self.parity not in ("N", "E", "O"):
            raise ValueError(f"parity must be 'N', 'E' or 'O', got {self.parity!r}")
        if self.stopbits not in (1, 2):
            raise ValueError(f"stop bits must be 1 or 2, got {self.stopbits}")

    def with_baudrate(self, baudrate: int) -> SerialSettings:
        """The same frame at another speed (`--baud`)."""
        return replace(self, baudrate=baudrate)

    def __str__(self) -> str:
        return f"{self.baudrate} {self.byte_size}{self.parity}{self.stopbits}"


DSMR_5_SERIAL = SerialSettings(115200, 8, "N", 1)
"""DSMR 4.x / 5.0.x: 115200 8N1."""

DSMR_2_2_SERIAL = SerialSettings(9600, 7, "E", 1)
"""DSMR 2.2 / 3.0: 9600 7E1."""


class SerialReader:
    """Chunks from a serial device. Opening fails with a `ReaderError` saying why.

    A read error after opening (the USB cable pulled) also ends the stream with a `ReaderError`:
    the device node is gone and may come back under another name, so there is nothing sensible
    to retry automatically.
    """

    def __init__(
        self, device: str, settings: SerialSettings = DSMR_5_SERIAL, *, read_size: int = 4096
    ) -> None:
        self.device = device
        self.settings = settings
        self.read_size = read_size
        self.stats = ReaderStats()
        self._open = False

    @property
    def name(self) -> str:
        return self.device

    @property
    def is_open(self) -> bool:
        """True while the device is open. Opening flushes the line, so bytes sent before are lost."""
        return self._open

    async def chunks(self) -> AsyncIterator[bytes]:
        """Open the device, then yield what arrives until end of file or an error."""
        import serialx  # lazy: keeps `gridedge --help` fast

        s = self.settings
        port = serialx.async_serial_for_url(
            self.device,
            baudrate=s.baudrate,
            byte_size=s.byte_size,
            parity=serialx.Parity(s.parity),
            stopbits=serialx.StopBits(s.stopbits),
        )
        try:
            await port.open()
        except (OSError, serialx.SerialException) as exc:
            raise ReaderError(
                f"cannot open serial device {self.device} at {s}: {describe_error(exc)}"
            ) from exc
        self._open = True
        try:
            while True:
                try:
                    data = await port.read(self.read_size)
                except (OSError, serialx.SerialException) as exc:
                    raise ReaderError(
                        f"serial device {self.device}: read failed: {describe_error(exc)}"
                    ) from exc
                if not data:
                    return
                self.stats.bytes += len(data)
                self.stats.chunks += 1
                yield data
        finally:
            self._open = False
            port.abort()
            await port.wait_closed()
