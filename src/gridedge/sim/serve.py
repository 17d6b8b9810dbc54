"""Serve a virtual meter's byte stream as real hardware offers it: a TCP bridge or a serial line.

A P1 reader is usually connected to a ser2net / ESP-link style bridge (TCP, raw bytes) or to a
USB cable (a serial device). `TcpStreamServer` plays the bridge on a loopback port;
`PtyStreamServer` plays the cable with a pseudo-terminal whose slave end (`/dev/pts/N`) a serial
reader opens as a tty. Both take byte chunks with `publish(data)`, which never blocks the
simulation: P1 and S1 are unidirectional pushes (DSMR 5.0.2 §5.3, e-MUCS H §4.2), and a meter
never waits for its reader either.

Why whole chunks are dropped: a reader that cannot keep up loses data on a real line too. The
servers buffer up to a byte limit per destination, then drop the *oldest whole chunks* still
waiting, and count them. A chunk handed on is never cut, so when the publisher sends whole P1
telegrams (or whole S1 frames) the reader sees a stream of whole units with gaps, which its
framer resynchronises on (`ports.p1.framer`), instead of spliced halves.

The servers keep no timers and read no clock: they only react to `publish` and to I/O readiness.
`publish` must be called on the event loop thread that started the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import termios
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Self

__all__ = [
    "DEFAULT_QUEUE_BYTES",
    "ChunkQueue",
    "PtyStreamServer",
    "StreamStats",
    "TcpStreamServer",
    "TcpStreamStats",
]

log = logging.getLogger(__name__)

DEFAULT_QUEUE_BYTES = 256 * 1024
"""Default per-destination backlog: minutes of 1 Hz P1 telegrams, about 0.15 s of S1 frames."""


@dataclass
class StreamStats:
    """What was published, and what was dropped because a destination fell behind."""

    published_chunks: int = 0
    published_bytes: int = 0
    dropped_chunks: int = 0
    dropped_bytes: int = 0


@dataclass
class TcpStreamStats(StreamStats):
    """Plus client connections accepted and ended. Drops add up over all clients."""

    connects: int = 0
    disconnects: int = 0


class ChunkQueue:
    """Chunks waiting for one destination, at most `limit` bytes; the oldest whole chunks go first.

    The newest chunk is always kept, even when it alone exceeds the limit: dropping it would
    starve a destination of everything larger than the limit. `head_sent` bytes of the first
    chunk may already be written (a pty takes partial writes); a started chunk is never dropped.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.head_sent = 0

    def push(self, chunk: bytes) -> tuple[int, int]:
        """Queue `chunk`; return (chunks, bytes) dropped to stay within the limit."""
        self.chunks.append(chunk)
        self.size += len(chunk)
        dropped = dropped_bytes = 0
        keep = 1 if self.head_sent else 0  # the chunk being written stays
        while self.size > self.limit and len(self.chunks) > keep + 1:
            old = self.chunks[keep]
            del self.chunks[keep]
            self.size -= len(old)
            dropped += 1
            dropped_bytes += len(old)
        return dropped, dropped_bytes

    def pop(self) -> bytes:
        chunk = self.chunks.popleft()
        self.size -= len(chunk)
        self.head_sent = 0
        return chunk


class _TcpClient:
    def __init__(self, writer: asyncio.StreamWriter, limit: int) -> None:
        self.writer = writer
        self.queue = ChunkQueue(limit)
        self.wakeup = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None


class TcpStreamServer:
    """A TCP server that sends every published chunk to every connected client.

    Like a ser2net bridge in raw mode: clients get the bytes from the moment they connect, and
    what a client sends is read and ignored. Each client has its own queue of at most
    `max_queue_bytes`; a slow client loses whole chunks (`stats.dropped_chunks`), others do not
    wait for it. The transport keeps no more than one chunk beyond the queue, so nearly all
    backlog is in the queue, where it can be dropped by whole chunks.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_queue_bytes: int = DEFAULT_QUEUE_BYTES,
        socket_send_buffer: int | None = None,
    ) -> None:
        """`socket_send_buffer`: SO_SNDBUF for each client socket. The OS default grows to
        megabytes on loopback; a few kB behaves like a Wi-Fi bridge with little RAM, so a slow
        client shows up in `stats.dropped_chunks` at once instead of after megabytes."""
        if max_queue_bytes <= 0:
            raise ValueError(f"max_queue_bytes must be positive, got {max_queue_bytes}")
        self.host = host
        self.socket_send_buffer = socket_send_buffer
        self._requested_port = port
        self.max_queue_bytes = max_queue_bytes
        self.stats = TcpStreamStats()
        self._server: asyncio.Server | None = None
        self._clients: set[_TcpClient] = set()
        self._handlers: set[asyncio.Task[None]] = set()  # connections, until fully closed

    @property
    def port(self) -> int:
        """The listening port (the one picked by the OS when created with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def clients(self) -> int:
        """Clients connected now."""
        return len(self._clients)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the server is already started")
        self._server = await asyncio.start_server(self._handle, self.host, self._requested_port)

    def publish(self, data: bytes) -> None:
        """Queue `data` for every connected client; returns at once."""
        if not data:
            return
        chunk = bytes(data)
        self.stats.published_chunks += 1
        self.stats.published_bytes += len(chunk)
        for client in self._clients:
            dropped, dropped_bytes = client.queue.push(chunk)
            self.stats.dropped_chunks += dropped
            self.stats.dropped_bytes += dropped_bytes
            client.wakeup.set()

    async def close(self) -> None:
        """Stop listening and end every client connection; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # ending a client's pump ends its handler, which closes the connection; the handler
        # itself is not cancelled (asyncio's stream callback reports a cancelled handler as an error)
        for client in self._clients:
            if client.pump is not None:
                client.pump.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._server is None:  # accepted just before close()
            writer.close()
            return
        if self.socket_send_buffer is not None:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.socket_send_buffer)
        # no transport buffering beyond the chunk being written: the backlog stays droppable
        writer.transport.set_write_buffer_limits(high=0)
        client = _TcpClient(writer, self.max_queue_bytes)
        self._clients.add(client)
        self._handlers.add(task)
        self.stats.connects += 1
        peer = writer.get_extra_info("peername")
        log.debug("stream client %s connected", peer)
        pump = client.pump = asyncio.create_task(self._pump(client))
        watch = asyncio.create_task(self._watch(reader))
        try:
            await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._clients.discard(client)
            pump.cancel()
            watch.cancel()
            await asyncio.gather(pump, watch, return_exceptions=True)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self.stats.disconnects += 1
            self._handlers.discard(task)
            log.debug("stream client %s disconnected", peer)

    @staticmethod
    async def _pump(client: _TcpClient) -> None:
        """Write the client's queue, one whole chunk at a time; ends when the connection fails."""
        queue = client.queue
        while True:
            while not queue.chunks:
                client.wakeup.clear()
                await client.wakeup.wait()
            client.writer.write(queue.pop())
            await client.writer.drain()

    @staticmethod
    async def _watch(reader: asyncio.StreamReader) -> None:
        """Read and ignore what the client sends, until it closes its end."""
        with contextlib.suppress(OSError):
            while await reader.read(4096):
                pass


class PtyStreamServer:
    """A pseudo-terminal whose slave end (`path`, e.g. /dev/pts/3) reads like a serial device.

    The slave is put in raw mode (no line editing, echo, CR/LF translation or signal characters),
    so bytes arrive exactly as published, as from a USB P1 cable. A serial reader's own settings
    (baud rate, 8N1 or 7E1) are accepted and have no effect on a pty.

    Why the server keeps the slave open: a pty whose slave has no open descriptor is hung up.
    Reading the master then fails with EIO (Linux), and on BSD and macOS writing to it does too,
    so between two readers the server would see errors instead of an idle line. With the slave
    held open the line behaves like a cable with nobody listening: published bytes fill the line
    buffer (some tens of kB) and then whole chunks are dropped and counted. A reader that opens
    the device flushes what is buffered, as a real serial port does.

    Writes are non-blocking; what the master does not take now is written when it becomes
    writable (the event loop watches it), from a queue of at most `max_queue_bytes`. Bytes a
    reader writes to the device are read and discarded, so it never blocks on a full buffer.
    """

    def __init__(self, *, max_queue_bytes: int = DEFAULT_QUEUE_BYTES) -> None:
        if max_queue_bytes <= 0:
            raise ValueError(f"max_queue_bytes must be positive, got {max_queue_bytes}")
        self.max_queue_bytes = max_queue_bytes
        self.stats = StreamStats()
        self.received_bytes = 0
        """Bytes a reader wrote to the device (ignored, as the meter ignores them)."""
        self._queue = ChunkQueue(max_queue_bytes)
        self._master: int | None = None
        self._slave: int | None = None
        self._path: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writing = False

    @property
    def path(self) -> str:
        """The slave device a serial reader opens."""
        if self._path is None:
            raise RuntimeError("the pty is not open")
        return self._path

    async def start(self) -> None:
        if self._master is not None:
            raise RuntimeError("the pty is already open")
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        try:
            _set_raw(slave)
            os.set_blocking(master, False)
            self._path = os.ttyname(slave)
        except OSError:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave = master, slave
        self._loop.add_reader(master, self._discard_input)

    def publish(self, data: bytes) -> None:
        """Queue `data` for the line and write what the pty takes now; returns at once."""
        if self._master is None:
            raise RuntimeError("the pty is not open")
        if not data:
            return
        chunk = bytes(data)
        self.stats.published_chunks += 1
        self.stats.published_bytes += len(chunk)
        dropped, dropped_bytes = self._queue.push(chunk)
        self.stats.dropped_chunks += dropped
        self.stats.dropped_bytes += dropped_bytes
        if not self._writing:
            self._flush()

    @property
    def queued_bytes(self) -> int:
        """Published bytes not yet taken by the pty."""
        return self._queue.size - self._queue.head_sent

    def _flush(self) -> None:
        """Write queued chunks until the pty is full; then wait for it to become writable."""
        assert self._master is not None and self._loop is not None
        queue = self._queue
        while queue.chunks:
            head = queue.chunks[0]
            try:
                written = os.write(self._master, memoryview(head)[queue.head_sent :])
            except BlockingIOError:
                written = 0
            except OSError as exc:  # not expected while the slave is held open
                log.warning("pty %s: write failed: %s; dropping the backlog", self._path, exc)
                self.stats.dropped_chunks += len(queue.chunks)
                self.stats.dropped_bytes += queue.size - queue.head_sent
                queue.chunks.clear()
                queue.size = queue.head_sent = 0
                break
            queue.head_sent += written
            if queue.head_sent < len(head):
                if not self._writing:
                    self._loop.add_writer(self._master, self._flush)
                    self._writing = True
                return
            queue.pop()
        if self._writing:
            self._loop.remove_writer(self._master)
            self._writing = False

    def _discard_input(self) -> None:
        assert self._master is not None
        try:
            self.received_bytes += len(os.read(self._master, 4096))
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:  # EIO: only if the slave was closed under us
            assert self._loop is not None
            self._loop.remove_reader(self._master)

    async def close(self) -> None:
        """Close the pty (a reader then sees end of file or EIO); safe to call twice."""
        master, slave = self._master, self._slave
        if master is None or slave is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(master)
        if self._writing:
            self._loop.remove_writer(master)
            self._writing = False
        self._master = self._slave = None
        os.close(slave)
        os.close(master)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _set_raw(fd: int) -> None:
    """Raw mode as cfmakeraw(3) sets it: bytes pass the line discipline unchanged, both ways."""
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(
        termios.IGNBRK
        | termios.BRKINT
        | termios.PARMRK
        | termios.ISTRIP
        | termios.INLCR
        | termios.IGNCR
        | termios.ICRNL
        | termios.IXON
    )
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag = (cflag & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    cc = list(cc)
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])
