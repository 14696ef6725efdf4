"""Group commit for the API: lodgings that are ready on the same event-loop turn share one transaction."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import IntegrityError

from concord.declarations.messages import LodgeGroup, SubmitDeclaration
from concord.declarations.schemas import declaration_document
from concord.errors import ConcordError, Forbidden, InvalidDocument, Problem

log = logging.getLogger(__name__)


class LodgingQueue:
    """Lodges what arrived together in one transaction; each caller gets its own result.

    A group is committed at most once per `window` seconds (or when `limit` lodgings wait): a lodging that
    finds the queue idle for longer goes at once, alone; under load, those arriving within a window share
    its commit, whose fixed cost (about 1 ms) would otherwise exceed the lodging itself."""

    def __init__(self, bus, window: float = 0.0, limit: int = 200):
        self.bus, self.window, self.limit = bus, window, limit
        self.pending: list = []
        self._timer = None
        self._last = 0.0  # loop time of the last commit

    async def lodge(self, subject, document: dict, key: str | None) -> dict:
        """Lodge one declaration; resolves when its group has committed (or raises its own error)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((subject, document, key, future))
        if len(self.pending) >= self.limit:
            self._flush()
        elif len(self.pending) == 1:
            wait = self._last + self.window - loop.time()
            self._timer = loop.call_later(wait, self._flush) if wait > 0 else loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self.pending = self.pending, []
        if not group:
            return
        self._last = asyncio.get_running_loop().time()
        results = lodge_isolated(self.bus, [(s, d, k) for s, d, k, _ in group])
        for (*_, future), result in zip(group, results):
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


def lodge_isolated(bus, items: list) -> list:
    """Lodge (subject, document, key) items in one transaction; if it fails, each alone, so that none fails another.

    Validation should leave the database nothing to refuse, but a unique key taken by a concurrent lodging, or
    any refusal we did not foresee, fails the whole transaction: then each item is lodged in its own, as if they
    had come one by one, and only the faulty one fails (with its own error; an unforeseen one is logged)."""
    try:
        return bus.handle(LodgeGroup(items=items))
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
