"""Group commit for the API: lodgings that are ready on the same event-loop turn share one transaction."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import IntegrityError

from concord.declarations.messages import LodgeGroup, SubmitDeclaration
from concord.errors import ConcordError


class LodgingQueue:
    """Collects lodgings until the loop is free, then lodges them together; each caller gets its own result."""

    def __init__(self, bus):
        self.bus = bus
        self.pending: list = []

    async def lodge(self, subject, document: dict, key: str | None) -> dict:
        """Lodge one declaration; resolves when its group has committed (or raises its own error)."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((subject, document, key, future))
        if len(self.pending) == 1:
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        group, self.pending = self.pending, []
        try:
            results = self.bus.handle(LodgeGroup(items=[(s, d, k) for s, d, k, _ in group]))
        except IntegrityError:  # two of the group collided on a unique key: lodge each alone, as if sequential
            results = [self._alone(s, d, k) for s, d, k, _ in group]
        except Exception as e:  # the group could not be written at all: every caller learns it
            results = [e] * len(group)
        for (*_, future), result in zip(group, results):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _alone(self, subject, document, key):
        try:
            return self.bus.handle(SubmitDeclaration(document=document, idempotency_key=key), subject=subject)
        except ConcordError as e:
            return e
