"""One leader among the server's workers: the one that holds a PostgreSQL advisory lock on its own connection.

Several workers (`concord serve --workers N`, or servers behind a load balancer) share one database. Jobs that
must run once at a time (the audit checkpointer, the outbox sweep, the deadline checks, the retention) run on the
leader only. A session-level advisory lock lives as long as its connection: when the leader dies, even by
`kill -9`, the server ends its session and frees the lock, and the next worker to try takes it (within `retry`).
SQLite serves one process (`concord serve` refuses several workers there), which is always the leader."""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

# Advisory lock keys are one namespace per database: distinct from concord.notifications.store._PG_LOCK ('CONC').
LEADER_LOCK = 0x434F4E434C454144  # 'CONCLEAD'


class Leadership:
    """Whether this process is the leader, kept by a thread that holds (or keeps trying for) the advisory lock."""

    def __init__(self, dsn: str | None, *, key: int = LEADER_LOCK, retry: float = 1.0):
        self.dsn, self.key, self.retry = dsn, key, retry
        self._leading = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if dsn is None:  # a single process (SQLite): the leader from the start, nothing to hold
            self._leading.set()

    @classmethod
    def of(cls, engine, **kwargs) -> "Leadership":
        """The leadership for an engine's database: elected on PostgreSQL, this process alone elsewhere."""
        if engine.dialect.name != "postgresql":
            return cls(None)
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(url, **kwargs)

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds to become the leader; whether it is."""
        return self._leading.wait(timeout)

    def only_when_leading(self, job):
        """`job` wrapped to do nothing on a worker that is not the leader (the leader's run is the one)."""
        def gated(*args, **kwargs):
            if self.leading:
                return job(*args, **kwargs)
            return None

        gated.__name__ = getattr(job, "__name__", "job")
        return gated

    def start(self) -> "Leadership":
        if self.dsn is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Step down: the lock goes with the connection, and another worker takes over within its `retry`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.dsn is not None:
            self._leading.clear()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                                     application_name=f"concord-worker:{os.getpid()}") as conn:
                    while not self._stop.is_set():
                        if self.leading:
                            conn.execute("SELECT pg_backend_pid()")  # still connected, so still holding the lock
                        elif conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:
                            log.info("this worker (pid %d) is now the leader", os.getpid())
                            self._leading.set()
                        self._stop.wait(self.retry)
            except Exception as e:  # the connection is gone, and the lock with it: step down, then try again
                if self.leading:
                    log.warning("leadership lost with its connection (%s); retrying", e.__class__.__name__)
                self._leading.clear()
                self._stop.wait(self.retry)
        self._leading.clear()

