"""Group commit for audit-only writes (reads, authentication events): many callers, one transaction per batch."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from contextlib import nullcontext

from sqlalchemy.orm import sessionmaker

from concord.audit.log import AuditLog
from concord.clock import Clock


class GroupCommitter:
    """Callers block in record() until their entries are committed; a writer thread commits whatever has queued.

    A commit (and, with synchronous=FULL, an fsync) costs the same for one entry or a thousand, so under load the
    batch grows by itself and throughput follows; when idle a lone entry is committed at once.
    """

    def __init__(self, session_factory: sessionmaker, log: AuditLog, clock: Clock, *, max_batch: int = 2000,
                 write_lock: threading.Lock | None = None):
        self._factory, self._log, self._clock = session_factory, log, clock
        self._max = max_batch
        self._lock = write_lock or nullcontext()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="audit-group-commit", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, notes: list, request_id: str | None = None) -> Future:
        """Queue entries for the next commit; the future resolves to their sequence numbers."""
        if self._closed:
            raise RuntimeError("group committer is closed")
        fut: Future = Future()
        self._queue.put((notes, self._clock.now(), request_id, fut))
        return fut

    def record(self, notes: list, request_id: str | None = None, timeout: float | None = 30) -> list[int]:
        """Append entries durably and return their sequence numbers once committed."""
        return self.submit(notes, request_id).result(timeout)

    def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch = []
            while item is not None:
                batch.append(item)
                if len(batch) >= self._max:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stop = item is None
            if batch:
                self._commit(batch)

    def _commit(self, batch: list) -> None:
        try:
            with self._lock, self._factory() as session:
                seqs = self._log.append_groups(session, [(notes, at, rid) for notes, at, rid, _ in batch])
                session.commit()
        except Exception as exc:  # every waiter learns that its entries were not written
            for *_, fut in batch:
                fut.set_exception(exc)
            return
        for (*_, fut), s in zip(batch, seqs):
            fut.set_result(s)
