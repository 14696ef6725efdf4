"""The load generator's open loop survives a server that resets connections: a request lost twice is an error,
counted by kind, and the run goes on (a soak once aborted at 227 s on a reset after reconnecting)."""

from __future__ import annotations

import asyncio
import socket
import struct

from concord.bench.loadgen import open_loop, run_generator


async def _serve(reset_every: int):
    """A peer answering 201 to every request, except that every `reset_every`-th request it resets the connection
    (SO_LINGER 0 then close: an RST, as a server dropping a connection does)."""
    seen = 0

    async def handle(reader, writer):
        nonlocal seen
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                await reader.readexactly(length)
                seen += 1
                if seen % reset_every == 0:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                writer.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _request() -> bytes:
    body = b"{}"
    return b"POST /api/v1/declarations HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def test_a_reset_is_retried_once_then_counted_and_the_run_goes_on():
    async def main(reset_every: int):
        server = await _serve(reset_every)
        port = server.sockets[0].getsockname()[1]
        try:
            return await open_loop("127.0.0.1", port, [_request()] * 200, rate=400, seconds=0.5)
        finally:
            server.close()

    some = run_generator(main(reset_every=7))
    assert some["requests"] == 200 and some["reconnects"] > 0 and some["errors"] < some["reconnects"]
    every = run_generator(main(reset_every=1))  # every request reset, the retry too: all errors, no crash
    assert every["requests"] == 200 and every["errors"] == 200
    assert sum(every["connections_lost"].values()) == 200 and set(every["connections_lost"]) <= {
        "ConnectionResetError", "IndexError", "IncompleteReadError", "BrokenPipeError"}
