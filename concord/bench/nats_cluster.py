"""A JetStream cluster of real nats-server processes on loopback, for the node-kill test and `concord bench cluster`.

Each node gets its own config file, client and route ports (free ones, never the system server's 4222) and a
JetStream store in a temporary directory; `kill(name)` is a `kill -9`."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from concord.bench import free_port


def nats_server_binary() -> str | None:
    """The nats-server executable, or None."""
    return shutil.which("nats-server") or next((p for p in ("/usr/sbin/nats-server", "/usr/local/bin/nats-server")
                                                if os.access(p, os.X_OK)), None)


@dataclass
class Node:
    name: str
    port: int
    route_port: int
    config: Path
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


class NatsCluster:
    """`size` JetStream nodes routed to each other; a context manager that leaves no process behind."""

    def __init__(self, root: Path, size: int = 3, name: str = "concord-bench"):
        self.binary = nats_server_binary()
        if self.binary is None:
            raise RuntimeError("nats-server is not installed (https://docs.nats.io/running-a-nats-service/introduction"
                               "/installation)")
        self.root, self.cluster_name = Path(root), name
        self.nodes = [Node(f"n{i + 1}", free_port(), free_port(), self.root / f"n{i + 1}.conf",
                           self.root / f"n{i + 1}.log") for i in range(size)]
        routes = ", ".join(f"nats-route://127.0.0.1:{n.route_port}" for n in self.nodes)
        for n in self.nodes:
            store = self.root / f"{n.name}-store"
            store.mkdir(parents=True, exist_ok=True)
            n.config.write_text(
                f'server_name: {n.name}\nlisten: "127.0.0.1:{n.port}"\n'
                f'jetstream {{\n  store_dir: "{store}"\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}}\n'
                + (f'cluster {{\n  name: {name}\n  listen: "127.0.0.1:{n.route_port}"\n  routes: [{routes}]\n}}\n'
                   if size > 1 else ""))  # one node: a plain JetStream server

    @property
    def urls(self) -> str:
        """Every node's client URL, comma-separated (CONCORD_NATS_URL)."""
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def start(self, timeout: float = 30) -> "NatsCluster":
        for n in self.nodes:
            self._spawn(n)
        self.wait_ready(timeout)
        return self

    def _spawn(self, n: Node) -> None:
        with n.log.open("ab") as log:
            n.process = subprocess.Popen([self.binary, "-c", str(n.config)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until every live node accepts clients and JetStream answers (a meta leader is elected)."""
        deadline = time.monotonic() + timeout
        for n in self.nodes:
            while n.process is not None and n.process.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", n.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"NATS node {n.name} does not listen: {self.log_tail(n)}")
                    time.sleep(0.05)
            else:
                if n.process is not None:
                    raise RuntimeError(f"NATS node {n.name} exited: {self.log_tail(n)}")
        asyncio.run(self._wait_jetstream(deadline))

    async def _wait_jetstream(self, deadline: float) -> None:
        import nats

        nc = await nats.connect(servers=[n.url for n in self.nodes if self.alive(n)], connect_timeout=2)
        try:
            while True:
                try:
                    await nc.jetstream(timeout=2).account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise TimeoutError("the NATS cluster elected no JetStream meta leader in time")
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    @staticmethod
    def alive(n: Node) -> bool:
        return n.process is not None and n.process.poll() is None

    def kill(self, name: str) -> None:
        """`kill -9` one node: no goodbye to its routes or clients."""
        n = self.node(name)
        os.kill(n.process.pid, signal.SIGKILL)
        n.process.wait()

    def restart(self, name: str) -> None:
        self._spawn(self.node(name))

    def log_tail(self, n: Node, chars: int = 2000) -> str:
        return n.log.read_text(errors="replace")[-chars:] if n.log.exists() else ""

    def stop(self) -> None:
        for n in self.nodes:
            if self.alive(n):
                n.process.terminate()
        for n in self.nodes:
            if n.process is not None:
                try:
                    n.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    n.process.kill()
                    n.process.wait()

    def __enter__(self) -> "NatsCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()  # the nodes that did start
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
