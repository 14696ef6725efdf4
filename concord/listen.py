"""PostgreSQL LISTEN on a thread of its own, reconnecting: how a process learns at once what another one wrote
(credentials changed: concord.access.handlers; notifications stored: concord.notifications.store)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def listen(url: str, channel: str, stop: threading.Event, *, name: str, listening: Callable, heard: Callable,
           lost: Callable = lambda: None) -> None:
    """LISTEN on `channel` until `stop` is set, connecting again a second after the connection is lost.

    `listening(conn)` runs once the LISTEN is in place (what was written before it went unheard), and returns
    False to leave; `heard()` runs for each notification; `lost()` after the connection ends, whatever ended it."""
    import psycopg

    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5,
                                 application_name=f"concord-{name}:{os.getpid()}") as conn:
                conn.execute(f"LISTEN {channel}")
                if listening(conn) is False:
                    return
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        heard()
                    # a dead connection shows here, not in a quiet notifies(); what arrives meanwhile is queued
                    conn.execute("SELECT pg_backend_pid()")
        except Exception as e:  # noqa: BLE001 - the server restarted or the network failed: listen again
            log.warning("%s listener lost its connection (%s); retrying", name, e.__class__.__name__)
        lost()
        stop.wait(1.0)
