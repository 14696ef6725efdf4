"""Group commit for audit-only writes (reads, authentication events): many callers, one transaction per batch."""

from __future__ import annotations

import threading
from contextlib import nullcontext

from sqlalchemy.orm import sessionmaker

from concord.audit.log import AuditLog
from concord.clock import Clock


class _Batch:
    """The requests committed together; one event wakes all their callers."""

    __slots__ = ("groups", "done", "seqs", "error")

    def __init__(self) -> None:
        self.groups: list = []
        self.done = threading.Event()
        self.seqs: list[list[int]] = []
        self.error: BaseException | None = None


class Ticket:
    """A caller's claim on its entries' sequence numbers, redeemed once their batch has committed."""

    __slots__ = ("_batch", "_index")

    def __init__(self, batch: _Batch, index: int):
        self._batch, self._index = batch, index

    def result(self, timeout: float | None = None) -> list[int]:
        """Wait for the commit; the entries' sequence numbers, or the error that kept them from being written."""
        if not self._batch.done.wait(timeout):
            raise TimeoutError("audit entries not committed in time")
        if self._batch.error is not None:
            raise self._batch.error
        return self._batch.seqs[self._index]


class GroupCommitter:
    """Callers block in record() until their entries are committed; a writer thread commits whatever has queued.

    A commit (and, with synchronous=FULL, an fsync) costs the same for one entry or a thousand, so under load the
    batch grows by itself and throughput follows; when idle a lone entry is committed at once.
    """

    def __init__(self, session_factory: sessionmaker, log: AuditLog, clock: Clock, *,
                 write_lock: threading.Lock | None = None):
        self._factory, self._log, self._clock = session_factory, log, clock
        self._lock = write_lock or nullcontext()
        self._work = threading.Condition()
        self._batch = _Batch()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="audit-group-commit", daemon=True)
        self._thread.start()

    def submit(self, notes: list, request_id: str | None = None) -> Ticket:
        """Queue entries for the next commit; the ticket's result() is their sequence numbers."""
        item = (notes, self._clock.now(), request_id)
        with self._work:
            if self._closed:
                raise RuntimeError("group committer is closed")
            batch = self._batch
            batch.groups.append(item)
            if len(batch.groups) == 1:  # the writer sleeps only on an empty batch
                self._work.notify()
            return Ticket(batch, len(batch.groups) - 1)

    def record(self, notes: list, request_id: str | None = None, timeout: float | None = 30) -> list[int]:
        """Append entries durably and return their sequence numbers once committed."""
        return self.submit(notes, request_id).result(timeout)

    def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        with self._work:
            self._closed = True
            self._work.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._work:
                while not self._batch.groups and not self._closed:
                    self._work.wait()
                batch, self._batch = self._batch, _Batch()
                last = self._closed
            if batch.groups:
                self._commit(batch)
            if last:
                return

    def _commit(self, batch: _Batch) -> None:
        try:
            with self._lock, self._factory() as session:
                batch.seqs = self._log.append_groups(session, batch.groups)
                session.commit()
        except Exception as exc:  # every waiter learns that its entries were not written
            batch.error = exc
        batch.done.set()
