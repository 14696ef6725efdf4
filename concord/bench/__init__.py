"""Benchmarks: each module's run() returns a dict of figures beside a baseline measured in the same run."""

import socket


def free_port() -> int:
    """A loopback port nobody listens on, for a server a benchmark starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_loop(coro):
    """Run a load generator's coroutine on uvloop when it is installed (it is, with uvicorn[standard])."""
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        import asyncio

        return asyncio.run(coro)
