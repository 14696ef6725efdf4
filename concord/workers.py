"""`concord serve --workers N`: uvicorn's supervisor, with a listening socket of each worker's own.

uvicorn's workers accept from one shared socket, and whichever worker's event loop wakes first takes a burst of
new connections: in `concord bench http --compare` one of two workers took 74 % of the 32 connections in one run.
With SO_REUSEPORT each worker listens on a socket of its own, bound to the same port, and the kernel spreads new
connections over the sockets that listen, by the connections' addresses (47-51 % each in three runs; the
maximum was not shown higher for it: docs/scaling.md).

Built on uvicorn's supervisor (restarts, health checks, signals), which reads `self.sockets` each time it starts
a worker; tests/integration/test_workers.py checks the sockets each process holds, so an upgrade that changes
this fails there."""

from __future__ import annotations

import socket

from uvicorn import Config
from uvicorn.supervisors.multiprocess import Multiprocess


def _socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def free_port(host: str, port: int) -> int:
    """The port, if nothing listens there (OSError if something does); --port 0: one the system picks.

    Bound without SO_REUSEPORT: a server already on the port, even another Concord whose sockets would let ours
    join them, refuses it, so two hubs never share a port by mistake."""
    with _socket(host) as probe:
        probe.bind((host, port))
        return probe.getsockname()[1]


def own_socket(host: str, port: int) -> socket.socket:
    """A socket bound to the port beside the other workers' (SO_REUSEPORT), for a worker to listen on."""
    sock = _socket(host)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class SpreadWorkers(Multiprocess):
    """Each worker uvicorn starts (the first ones, a replacement for one that died, a restart) gets a socket of its
    own. The supervisor closes its copy once the worker has started with it: a dead worker's socket then leaves the
    port with it, and no connection waits in the backlog of a socket nobody accepts from."""

    def __init__(self, config: Config):
        config.port = free_port(config.host, config.port)  # a port taken is an OSError here, before any worker
        self._handed: list[socket.socket] = []
        super().__init__(config, sockets=[])

    @property
    def sockets(self) -> list[socket.socket]:  # read by uvicorn each time it starts a worker
        sock = own_socket(self.config.host, self.config.port)
        self._handed.append(sock)
        return [sock]

    @sockets.setter
    def sockets(self, _ignored) -> None:  # Multiprocess.__init__ assigns the shared sockets: there are none
        pass

    def _close_handed(self) -> None:
        for sock in self._handed:
            sock.close()
        self._handed.clear()

    def init_processes(self) -> None:
        super().init_processes()
        self._close_handed()

    def handle_signals(self) -> None:  # SIGHUP restarts every worker, SIGTTIN adds one
        super().handle_signals()
        self._close_handed()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        self._close_handed()
