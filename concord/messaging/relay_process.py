"""The outbox relay in a process of its own, beside the workers (PostgreSQL, unless CONCORD_RELAY_PROCESS=false).

A worker's relay (each event cut for each audience, the notification store's insert, the marking) took 29 % of the
time its threads held the GIL at its maximum on PostgreSQL, and one worker there is bound by its GIL while the two
cores are not (1.35 of them busy at the maximum): moved out, the worker only commits. The relay process reads the
events back from the table every SWEEP_S seconds (the sweep, as after a restart) instead of taking them from the
worker's memory; docs/scaling.md has what it gained and cost.

`concord serve` starts it before its workers and starts it again if it dies; it ends with the server, after a last
sweep (the kernel sends it SIGTERM when the server's process ends, however: uvicorn itself ends by raising SIGTERM
again). Several servers on one database each start one; they sweep one at a time (their own advisory lock,
distinct from the workers' leader's), and another takes over within a second when it dies. The workers' streams
and webhooks receive what it stores through their tail, as they receive another worker's."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

RELAY_LOCK = 0x434F4E4352454C41  # 'CONCRELA': one sweeping relay process per database
SWEEP_S = 0.05  # how often it looks for committed events: the wait an event adds before its notifications


def run() -> None:
    """Publish the hub's events until SIGTERM or Ctrl-C (`concord relay`)."""
    import asyncio
    import signal

    from concord.bootstrap import bootstrap
    from concord.leadership import Leadership

    _die_with_parent()

    async def main() -> None:
        hub = bootstrap()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        leader = Leadership.of(hub.engine, key=RELAY_LOCK).start()
        try:
            if hub.notifications is not None:  # the store only: the streams, their tail and the webhooks' dispatch
                # are the workers' (its inserts NOTIFY their tails)
                hub.transport.subscribe_batch(hub.notifications.store.store)
            hub.bus.relay.may_sweep = lambda: leader.leading
            hub.bus.relay.start(interval=SWEEP_S)
            if hub.settings.metrics_dir is not None:  # `concord serve` made one: the workers' scrapes show this process
                await _publish_metrics(hub.settings.metrics_dir, stop)
            else:
                await stop.wait()
            hub.bus.relay.stop()  # its last sweep, while it still holds the lock
        finally:
            leader.stop()
            hub.close()

    asyncio.run(main())


async def _publish_metrics(directory, stop) -> None:
    """Until `stop`: this process's counters and memory, every second, where the workers' scrapes add them
    (observability/workers.py), its memory as concord_process_resident_memory_bytes{worker="relay"}."""
    import asyncio
    import contextlib

    from concord.observability.metrics import METRICS, resident_memory
    from concord.observability.workers import EVERY, publish_job

    publish = publish_job(directory, METRICS, lambda: {
        ("concord_process_resident_memory_bytes", (("worker", "relay"),)): resident_memory()}, role="relay")
    while not stop.is_set():
        publish()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), EVERY)
    publish()  # its counts up to the stop stay in the sums


def _die_with_parent() -> None:
    """Started by `concord serve` (CONCORD_RELAY_PARENT): SIGTERM when the server's thread that started it ends (the
    server killed by kill -9), instead of publishing on as an orphan that keeps the relay's lock from the next
    server's relay."""
    import ctypes
    import os
    import signal

    from concord.config import get_settings

    parent = get_settings().relay_parent
    if parent is None or sys.platform != "linux":
        return
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        raise SystemExit(0)


class RelayChild:
    """`concord relay` as a child of `concord serve`: started again when it exits, until `stop`."""

    def __init__(self):
        self._command = [str(Path(sys.executable).parent / "concord"), "relay"]
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a restart and `stop` one at a time: none started after the stop
        self.process = self._start()
        self._watch = threading.Thread(target=self._keep, name="relay-process", daemon=True)
        self._watch.start()

    def _start(self) -> subprocess.Popen:
        import os

        from concord.config import child_environment

        return subprocess.Popen(self._command, env=child_environment(CONCORD_RELAY_PARENT=str(os.getpid())))

    def _keep(self) -> None:
        while True:
            code = self.process.wait()
            if self._stopping.wait(1.0):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                log.warning("the relay process exited (code %s); starting it again", code)
                self.process = self._start()

    def stop(self) -> None:
        """After the workers (a server that returns; one ended by a signal leaves this to the kernel)."""
        with self._lock:
            self._stopping.set()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
