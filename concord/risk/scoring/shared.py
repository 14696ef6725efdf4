"""One lane budget for several workers: each worker's decisions, exchanged through the database.

The thresholds of a lane are quantiles of the office's last `window` scores. With several workers each keeping
its own window, each would select the top 5 % of what the load balancer happened to send it, not of the office's
trade: a keep-alive connection sticks to a worker, so a risky trader's declarations would compete only with each
other. Here every worker adds the others' decisions to its windows, a fraction of a second late, so all apply
thresholds of the same window and the lanes hold their targets across workers. Off the lodging path: a decision
costs an append in memory; a background job sends and receives them in one round trip each.

Every process that lodges takes part, the server's workers and a CLI upload alike: the first decision starts
the exchange's thread, and `close` sends what is left (a CLI run ends before the next tick).

The random draw needs no sharing: each worker draws at the configured rate, so their union does too."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import Engine

from concord.risk.scoring.lanes import LaneBudget

log = logging.getLogger(__name__)

EVERY = 0.25  # seconds between exchanges: at 400 lodgings a second, a hundred decisions late at most
KEEP = timedelta(minutes=10)  # rows older than this are deleted: a worker reads the others' within a second
PENDING_LIMIT = 100_000  # decisions held while the database is away; the oldest are dropped (statistics only)


def worker_name() -> str:
    """This worker's name in the exchange: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[-64:]


class SharedLanes:
    """Sends this worker's lane decisions and adds the other workers' to its budget's windows (`exchange`)."""

    def __init__(self, engine: Engine, budget: LaneBudget, worker: str | None = None):
        self.engine, self.budget = engine, budget
        self.worker = worker or worker_name()
        self.pending: deque = deque(maxlen=PENDING_LIMIT)
        self.cursor: int | None = None  # the last row of the exchange read
        self._exchanging = threading.Lock()  # the thread's tick and a caller's exchange (close, tests) take turns
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        budget.on_decided = self.record

    def start(self) -> "SharedLanes":
        """Exchange every EVERY seconds in a thread until `close` (started by the first decision if not before)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lane-exchange", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(EVERY):
            try:
                self.exchange()
                failing = False
            except Exception:  # the database away: logged once until it is back; the next tick tries again
                if not failing:
                    log.exception("lane exchange failed")
                failing = True

    def close(self) -> None:
        """Stop the thread and send the decisions not sent yet (a CLI run's last ones)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.pending:
            try:
                self.exchange()
            except Exception:
                log.exception("lane exchange failed at close: %d decisions not shared", len(self.pending))

    def record(self, office: str, scale, score, floor: int, final: int, drawn: bool) -> None:
        """A decision of this worker (called by the budget on the lodging path: an append, nothing more)."""
        self.pending.append((office, None if scale is None else str(scale), score, floor, final, drawn))
        if self._thread is None and not self._stop.is_set():
            self.start()

    def exchange(self) -> int:
        """Send this worker's decisions since the last exchange, add the others' to the windows; how many added.

        Rows are read by sequence: a row whose insert commits after a later one was read is missed, a decision or
        two in a window of thousands, which moves no threshold."""
        with self._exchanging:
            return self._exchange()

    def _exchange(self) -> int:
        sent = []
        while self.pending:
            sent.append(self.pending.popleft())
        with self.engine.connect() as conn:
            if self.cursor is None:
                self.cursor = conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM lane_decisions").scalar()
            if sent:
                office, scale, score, floor, final, drawn = (list(c) for c in zip(*sent))
                conn.exec_driver_sql(
                    "INSERT INTO lane_decisions (office, scale, score, floor, final, drawn, worker, decided_at) "
                    "SELECT o, s, sc, f, fi, d, %(w)s, %(t)s FROM unnest(%(o)s::varchar[], %(s)s::varchar[], "
                    "%(sc)s::float8[], %(f)s::int2[], %(fi)s::int2[], %(d)s::bool[]) AS u(o, s, sc, f, fi, d)",
                    {"o": office, "s": scale, "sc": score, "f": floor, "fi": final, "d": drawn, "w": self.worker,
                     "t": datetime.now(timezone.utc).replace(tzinfo=None)})
            rows = conn.exec_driver_sql(
                "SELECT seq, office, scale, score, floor, final FROM lane_decisions "
                "WHERE seq > %(c)s AND worker <> %(w)s ORDER BY seq", {"c": self.cursor, "w": self.worker}).all()
            conn.commit()
        if not rows:
            return 0
        self.cursor = rows[-1][0]
        added = 0
        with self.budget.lock:
            for _, office, scale, score, floor, final in rows:
                current = self.budget.windows.get(office)
                # Scores of another model version are on another scale; a window not seeded yet seeds from the
                # stored assessments, the others' included.
                if score is not None and current is not None and _same(current[0], scale):
                    current[1].add(score, floor, final)
                    added += 1
        return added

    def prune(self) -> int:
        """Delete the exchange's rows older than KEEP (the leader's periodic job); how many."""
        with self.engine.connect() as conn:
            gone = conn.exec_driver_sql("DELETE FROM lane_decisions WHERE decided_at < %(t)s",
                                        {"t": datetime.now(timezone.utc).replace(tzinfo=None) - KEEP}).rowcount
            conn.commit()
        return gone


def _same(scale, stored) -> bool:
    return (None if scale is None else str(scale)) == stored
