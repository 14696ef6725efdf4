"""Group commit for the API: lodgings that are ready on the same event-loop turn share one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.exc import IntegrityError

from concord.declarations.messages import LodgeGroup, SubmitDeclaration
from concord.declarations.schemas import declaration_document
from concord.errors import ConcordError, Forbidden, InvalidDocument, Problem

log = logging.getLogger(__name__)


class LodgingQueue:
    """Lodges what arrived together in one transaction; each caller gets its own result.

    A group is committed at most once per `window` seconds (or when `limit` lodgings wait): a lodging that
    finds the queue idle for longer goes at once, alone; under load, those arriving within a window share
    its commit, whose fixed cost (about 1 ms) would otherwise exceed the lodging itself.

    With `threads` (PostgreSQL), each group is lodged in a thread, at most that many groups at a time, while
    the event loop goes on reading requests into the next group. On SQLite the loop lodges the group itself: its
    commit does not wait on anything (no fsync at synchronous=NORMAL), and a thread only added GIL hand-offs.
    On PostgreSQL a commit waits for the server's fsync (1-8 ms here) and every statement for a round trip;
    on the loop, that wait blocked every request (one worker: 198-324 lodgings/s with the loop a third busy).
    In a thread the wait releases the GIL, and the group that gathers meanwhile shares the next commit. Two at a
    time: one group's Python work overlaps the other's wait for the server (the audit head's row lock still
    orders their commits); two groups that collide on a key fail over to lodging each alone, as any do.
    A group's callers are answered as soon as it has committed; the thread then runs the handlers of its events
    (a joint inspection proposed: a unit of work of its own, about 7 round trips) before it takes the next group.
    Answering after them kept each lodging waiting for others' proposals (at the maximum rate, 40 % of the
    threads' time)."""

    def __init__(self, bus, window: float = 0.0, limit: int = 200, *, threads: int = 0):
        self.bus, self.window, self.limit = bus, window, limit
        self.pending: list = []
        self._timer = None
        self._last = 0.0  # loop time of the last commit
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="group-commit") if threads else None
        self._threads = threads
        self._busy = 0  # groups being lodged in the threads: with all of them busy, the next group waits

    async def lodge(self, subject, document: dict, key: str | None) -> dict:
        """Lodge one declaration; resolves when its group has committed (or raises its own error)."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((subject, document, key, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if (self._busy and self._busy >= self._threads) or not self.pending:
            return  # a group lodged in a thread schedules the next when it is done
        if len(self.pending) >= self.limit:
            self._flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            wait = self._last + self.window - loop.time()
            self._timer = loop.call_later(wait, self._flush) if wait > 0 else loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self.pending = self.pending[:self.limit], self.pending[self.limit:]
        if not group:
            return
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        items = [(s, d, k) for s, d, k, _ in group]
        if self._executor is None:
            _settle(group, lodge_isolated(self.bus, items))
            self._schedule()  # what is left past the limit
            return
        self._busy += 1

        def answered(results):  # committed: the callers are answered while the thread runs the events' handlers
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
                loop.call_soon_threadsafe(_settle, group, results)

        loop.run_in_executor(self._executor, lodge_isolated, self.bus, items, answered).add_done_callback(
            lambda done: self._lodged(group, done))

    def _lodged(self, group: list, done) -> None:
        self._busy -= 1
        try:
            error = done.exception()
        except BaseException as e:  # noqa: BLE001  (cancelled: the loop is closing)
            error = e
        _settle(group, [error] * len(group) if error is not None else done.result())
        self._schedule()

    def close(self) -> None:
        """Let the group in flight finish; the thread ends with it."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)


def _settle(group: list, results: list) -> None:
    for (*_, future), result in zip(group, results):
        if future.done():  # the caller went away (its request was cancelled)
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


MAX_BATCH = 1000  # declarations per upload; a bigger file goes in several requests
CHUNK = 100  # declarations per transaction over the API: bounds how long an upload holds up single lodgings
BULK_CHUNK = 500  # on the hub (CLI), with no requests to hold up: a transaction costs ~0.3 ms whatever its size


def lodge_batch(bus, subject, body: bytes, chunk: int = CHUNK) -> dict:
    """Lodge an NDJSON upload (one declaration per line) as group commits; each line succeeds or fails alone.

    What a broker's system sends at the end of a shift. Blank lines are skipped but counted, so every result
    names the line of the file it answers. Nothing of a faulty line is stored; the others are lodged."""
    if not subject.is_trader:
        raise Forbidden("only traders and brokers lodge declarations")
    lines = body.splitlines()
    filled = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not filled:
        raise InvalidDocument("the upload is empty", [Problem("", "send one declaration (a JSON object) per line")])
    if len(filled) > MAX_BATCH:
        raise InvalidDocument(f"the upload has {len(filled)} declarations", [
            Problem("", f"send at most {MAX_BATCH} declarations per request; split the file")])
    results: dict[int, object] = {}
    valid: list[tuple[int, dict]] = []
    for n, line in filled:
        try:
            valid.append((n, declaration_document(line)))
        except InvalidDocument as e:
            results[n] = e
    for i in range(0, len(valid), chunk):
        part = valid[i:i + chunk]
        outcome = lodge_isolated(bus, [(subject, doc, None) for _, doc in part])
        results.update((n, r) for (n, _), r in zip(part, outcome))
    out = []
    for n, _ in filled:
        r = results[n]
        if isinstance(r, ConcordError):
            r = r.as_dict()
        elif isinstance(r, BaseException):  # a fault of ours on this line alone (logged): the other lines stand
            r = {"error": {"code": "internal", "message": "an unexpected error on our side; send the line again"}}
        out.append({"line": n} | r)
    return {"lodged": sum(1 for r in out if "id" in r and not r["replayed"]),
            "replayed": sum(1 for r in out if r.get("replayed")),
            "failed": sum(1 for r in out if "error" in r), "results": out}


def lodge_isolated(bus, items: list, answered=None) -> list:
    """Lodge (subject, document, key) items in one transaction; if it fails, each alone, so that none fails another.

    Validation should leave the database nothing to refuse, but a unique key taken by a concurrent lodging, or
    any refusal we did not foresee, fails the whole transaction: then each item is lodged in its own, as if they
    had come one by one, and only the faulty one fails (with its own error; an unforeseen one is logged).
    `answered(results)` hears the group's results once committed, before its events' handlers run (each alone:
    only at the end, from the return value)."""
    try:
        return bus.handle(LodgeGroup(items=items), answered=answered)
    except IntegrityError:  # two lodgings collided on a unique key (a replay racing its first): the usual case
        pass
    except Exception:
        log.exception("a group of %d lodgings failed; lodging each alone", len(items))
    return [_alone(bus, subject, document, key) for subject, document, key in items]


def _alone(bus, subject, document, key):
    try:
        return bus.handle(SubmitDeclaration(document=document, idempotency_key=key), subject=subject)
    except ConcordError as e:
        return e
    except Exception as e:  # this lodging alone hit a fault of ours: it fails, with a 500; the others do not
        log.exception("a lodging failed alone")
        return e
