"""Byte-stream servers against the project's own readers: real sockets on 127.0.0.1, a real pty.

Every test bounds itself with `asyncio.timeout` (real seconds), so a broken server fails instead
of hanging, and every connection is closed before the test returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest

from gridedge.model.reading import MeterReading
from gridedge.ports.p1 import decode
from gridedge.ports.p1.encoder import encode
from gridedge.ports.p1.framer import TelegramFramer
from gridedge.ports.p1.readers import ReaderError, SerialReader, TcpReader
from gridedge.ports.s1 import FRAME_SIZE, S1FrameEncoder, S1FrameInfo, decode_frame_fields
from gridedge.sim.serve import ChunkQueue, PtyStreamServer, TcpStreamServer

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
CAPTURE = Path(__file__).resolve().parents[2] / "examples" / "iskra-am550-p1-capture.txt"
FLUVIUS = CORPUS / "p1" / "ndokter_dsmr_parser" / "telegram_fluvius_v171.txt"
TIMEOUT = 10.0


def _capture_telegrams() -> list[bytes]:
    framer = TelegramFramer()
    items = framer.feed(CAPTURE.read_bytes()) + framer.flush()
    assert all(isinstance(i, bytes) for i in items)
    # the framer hands out '/' .. CRC; a meter ends the telegram with CR LF (DSMR 5.0.2 §6.2)
    return [i + b"\r\n" for i in items if isinstance(i, bytes)]


TELEGRAMS = _capture_telegrams()[:40]
# the virtual meter's path: a reading, written by our encoder
ENCODED = encode(decode(FLUVIUS.read_bytes()))


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.001)


async def _read_telegrams(chunks: AsyncIterator[bytes], count: int) -> list[MeterReading]:
    """Frame and decode what a reader delivers until `count` telegrams, then close the reader."""
    framer = TelegramFramer()
    readings: list[MeterReading] = []
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            for item in framer.feed(chunk):
                assert isinstance(item, bytes), item
                readings.append(decode(item))
            if len(readings) >= count:
                return readings
    raise AssertionError(f"stream ended after {len(readings)} of {count} telegrams")


async def _publish_all(server: TcpStreamServer | PtyStreamServer, chunks: list[bytes]) -> None:
    for chunk in chunks:
        server.publish(chunk)
        await asyncio.sleep(0)  # the simulation yields between telegrams


def _run(main: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT):
            await main()

    asyncio.run(bounded())


def _numbered_chunks(count: int, size: int) -> list[bytes]:
    return [(b"%06d:" % k).ljust(size - 1, b"x") + b"\n" for k in range(count)]


def _chunk_ids(data: bytes, size: int) -> list[int]:
    """The numbers of the whole chunks in `data`; fails on any partial or spliced chunk."""
    assert len(data) % size == 0
    ids = []
    for i in range(0, len(data), size):
        unit = data[i : i + size]
        number = int(unit[:6])
        assert unit == _numbered_chunks(number + 1, size)[number], f"chunk at byte {i} is not whole"
        ids.append(number)
    return ids


def _check_received(ids: list[int], count: int, dropped: int, newest_kept: int) -> None:
    """Received chunk numbers: in order, none twice, the first and the newest delivered, and
    the drops (oldest waiting first) leave a final run of at most `newest_kept` chunks."""
    assert ids == sorted(set(ids))
    assert len(ids) == count - dropped
    assert ids[0] == 0 and ids[-1] == count - 1
    run = 1
    while run < len(ids) and ids[-run - 1] == count - 1 - run:
        run += 1
    assert run <= newest_kept


def test_the_queue_drops_the_oldest_whole_chunks_first() -> None:
    queue = ChunkQueue(limit=10)
    assert queue.push(b"aaaa") == (0, 0)
    assert queue.push(b"bbbb") == (0, 0)
    assert queue.push(b"cccc") == (1, 4)  # 12 > 10: "aaaa" goes
    assert list(queue.chunks) == [b"bbbb", b"cccc"] and queue.size == 8
    assert queue.push(b"d" * 30) == (2, 8)  # the newest is kept even when alone too large
    assert list(queue.chunks) == [b"d" * 30]
    assert queue.pop() == b"d" * 30 and queue.size == 0
    # a chunk partly written (a pty takes partial writes) is never dropped, nor cut
    queue.push(b"eeee")
    queue.head_sent = 2
    assert queue.push(b"ffff") == (0, 0)
    assert queue.push(b"gggg") == (1, 4)
    assert list(queue.chunks) == [b"eeee", b"gggg"]


# -- TCP ------------------------------------------------------------------------------------------


def test_two_tcp_clients_each_read_every_telegram() -> None:
    expected = [decode(t) for t in TELEGRAMS]

    async def main() -> None:
        async with TcpStreamServer(max_queue_bytes=1 << 20) as server:
            readers = [TcpReader("127.0.0.1", server.port, max_failures=1) for _ in range(2)]
            tasks = [asyncio.create_task(_read_telegrams(r.chunks(), len(TELEGRAMS))) for r in readers]
            await _until(lambda: server.clients == 2)
            await _publish_all(server, TELEGRAMS)
            for task in tasks:
                assert await task == expected
            assert server.stats.published_chunks == len(TELEGRAMS)
            assert server.stats.published_bytes == sum(map(len, TELEGRAMS))
            assert server.stats.dropped_chunks == 0
            assert server.stats.connects == 2
            await _until(lambda: server.stats.disconnects == 2)  # the readers closed their ends
            assert server.clients == 0
            # all bytes but perhaps the final LF, which the framer does not wait for
            assert all(r.stats.bytes >= server.stats.published_bytes - 1 for r in readers)

    _run(main)


def test_encoded_telegrams_reach_a_tcp_reader() -> None:
    async def main() -> None:
        async with TcpStreamServer() as server:
            reader = TcpReader("127.0.0.1", server.port, max_failures=1)
            task = asyncio.create_task(_read_telegrams(reader.chunks(), 3))
            await _until(lambda: server.clients == 1)
            await _publish_all(server, [ENCODED] * 3)
            assert await task == [decode(ENCODED)] * 3

    _run(main)


def test_a_slow_client_loses_whole_oldest_chunks_and_they_are_counted() -> None:
    size, count = 1000, 2000

    async def main() -> None:
        async with TcpStreamServer(max_queue_bytes=8 * size, socket_send_buffer=4096) as server:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # a small receive window, so the kernel cannot absorb the whole stream
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
            reader, writer = await asyncio.open_connection(sock=sock)
            try:
                await _until(lambda: server.clients == 1)
                await _publish_all(server, _numbered_chunks(count, size))  # nobody reads meanwhile
                stats = server.stats
                assert stats.dropped_chunks > count // 2
                assert stats.dropped_bytes == stats.dropped_chunks * size
                # now read all that is still on its way: exactly the chunks not dropped
                data = await reader.readexactly(stats.published_bytes - stats.dropped_bytes)
                # the queue keeps 8 chunks, the transport one more
                _check_received(_chunk_ids(data, size), count, stats.dropped_chunks, newest_kept=9)
            finally:
                writer.close()
                await writer.wait_closed()

    _run(main)


def test_a_client_that_disconnects_is_removed_and_others_go_on() -> None:
    async def main() -> None:
        async with TcpStreamServer() as server:
            _, gone = await asyncio.open_connection("127.0.0.1", server.port)
            stay_reader, stay = await asyncio.open_connection("127.0.0.1", server.port)
            await _until(lambda: server.clients == 2)
            gone.close()
            await gone.wait_closed()
            await _until(lambda: server.stats.disconnects == 1)
            assert server.clients == 1
            await _publish_all(server, TELEGRAMS[:3])
            data = await stay_reader.readexactly(sum(map(len, TELEGRAMS[:3])))
            assert data == b"".join(TELEGRAMS[:3])
            # a client that connects later gets the stream from then on
            late_reader, late = await asyncio.open_connection("127.0.0.1", server.port)
            await _until(lambda: server.clients == 2)
            await _publish_all(server, TELEGRAMS[3:4])
            assert await late_reader.readexactly(len(TELEGRAMS[3])) == TELEGRAMS[3]
            assert server.stats.connects == 3
            stay.close()
            late.close()
        # closing the server ends the connections it still had
        assert server.clients == 0
        assert server.stats.disconnects == 3
        assert await late_reader.read() == b""

    _run(main)


def test_s1_frames_arrive_byte_exact_over_tcp() -> None:
    rng = np.random.default_rng(3)
    encoder = S1FrameEncoder(S1FrameInfo("1FLU0012345678", poly_phase=True, four_wire=True), 26)
    low = np.array([-(1 << 15), -(1 << 23)] * 3 + [-(1 << 23)])
    batches = [
        encoder.encode(rng.integers(low, -low - 1, (260, 7), endpoint=True).astype(np.int32), 50000 + k)
        for k in range(20)
    ]
    stream = b"".join(batches)

    async def main() -> None:
        async with TcpStreamServer(max_queue_bytes=len(stream)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await _until(lambda: server.clients == 1)
            await _publish_all(server, batches)
            assert await reader.readexactly(len(stream)) == stream
            assert server.stats.dropped_chunks == 0
            writer.close()
            await writer.wait_closed()

    _run(main)
    last = decode_frame_fields(stream[-FRAME_SIZE:])
    assert last.sequence == (20 * 260 - 1) % 256 and last.frequency_hz == pytest.approx(50.019)


def test_the_tcp_server_reports_misuse() -> None:
    server = TcpStreamServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port
    server.publish(b"nobody listens")  # like a bridge without clients: the bytes are gone
    assert server.stats.published_chunks == 1
    with pytest.raises(ValueError):
        TcpStreamServer(max_queue_bytes=0)

    async def twice() -> None:
        await server.start()
        with pytest.raises(RuntimeError, match="already"):
            await server.start()
        await server.close()
        await server.close()

    _run(twice)


# -- pseudo-terminal ------------------------------------------------------------------------------


def test_a_serial_reader_reads_telegrams_from_the_pty() -> None:
    telegrams = [*TELEGRAMS[:10], ENCODED]
    expected = [decode(t) for t in telegrams]

    async def main() -> None:
        async with PtyStreamServer() as server:
            assert server.path.startswith("/dev/pts/")
            reader = SerialReader(server.path)
            task = asyncio.create_task(_read_telegrams(reader.chunks(), len(telegrams)))
            await _until(lambda: reader.is_open)  # opening flushes the line: publish after
            await _publish_all(server, telegrams)
            assert await task == expected
            assert server.stats.dropped_chunks == 0

    _run(main)


def _read_available(fd: int, want: int) -> bytes:
    data = b""
    while len(data) < want:
        ready, _, _ = select.select([fd], [], [], 5)
        assert ready, f"no data after {len(data)} of {want} bytes"
        data += os.read(fd, 65536)
    return data


def test_the_pty_passes_every_byte_value_unchanged() -> None:
    # CR, LF, ^C, ^D, ^Q/^S, DEL, 0xFF ...: a cooked tty would translate, echo or act on them
    payload = bytes(range(256)) * 4

    async def main() -> None:
        async with PtyStreamServer() as server:
            fd = os.open(server.path, os.O_RDWR | os.O_NOCTTY)
            try:
                task = asyncio.create_task(asyncio.to_thread(_read_available, fd, len(payload)))
                await _publish_all(server, [payload[i : i + 100] for i in range(0, len(payload), 100)])
                assert await task == payload
                os.write(fd, b"the reader may talk back")
                await _until(lambda: server.received_bytes == 24)  # read and ignored
            finally:
                os.close(fd)

    _run(main)


def test_with_nobody_reading_the_pty_drops_whole_chunks_and_counts_them() -> None:
    size, count = 1000, 300

    async def main() -> None:
        async with PtyStreamServer(max_queue_bytes=4 * size) as server:
            chunks = _numbered_chunks(count, size)
            await _publish_all(server, chunks)
            stats = server.stats
            assert stats.dropped_chunks > count // 2
            assert stats.dropped_bytes == stats.dropped_chunks * size
            assert server.queued_bytes <= 5 * size
            # a reader that opens the line without flushing gets the buffered bytes, then the
            # queue as the line drains: whole chunks, in order, the newest kept
            fd = os.open(server.path, os.O_RDWR | os.O_NOCTTY)
            try:
                want = stats.published_bytes - stats.dropped_bytes
                data = await asyncio.to_thread(_read_available, fd, want)
            finally:
                os.close(fd)
            ids = _chunk_ids(data, size)
            _check_received(ids, count, stats.dropped_chunks, newest_kept=5)
            assert server.queued_bytes == 0

    _run(main)


def test_closing_the_pty_ends_a_serial_reader() -> None:
    async def main() -> None:
        server = PtyStreamServer()
        await server.start()
        reader = SerialReader(server.path)

        async def consume() -> None:
            async for _ in reader.chunks():
                pass

        task = asyncio.create_task(consume())
        await _until(lambda: reader.is_open)
        server.publish(TELEGRAMS[0])
        await _until(lambda: reader.stats.bytes >= len(TELEGRAMS[0]))
        await server.close()
        await server.close()  # twice is harmless
        with pytest.raises(ReaderError, match="read failed"):
            await task
        with pytest.raises(RuntimeError, match="not open"):
            server.publish(b"x")

    _run(main)
