"""The message bus: one handler per command, event handlers after commit, then the outbox relay."""

from __future__ import annotations

import inspect
import logging
from collections import defaultdict
from functools import lru_cache
from typing import Any, Callable

from concord.errors import ConcurrentWrite
from concord.messaging.messages import Command, Event

log = logging.getLogger(__name__)

HANDLER_ATTEMPTS = 3  # an event handler that met a concurrent write runs again, at most this many times in all


@lru_cache(maxsize=None)
def _wanted(handler: Callable) -> tuple[str, ...]:
    """The dependencies a handler asks for by keyword (read once per handler: inspect is slow)."""
    return tuple(p.name for p in inspect.signature(handler).parameters.values() if p.kind is p.KEYWORD_ONLY)


class MessageBus:
    def __init__(self, uow_factory: Callable[..., Any], deps: dict[str, Any], relay=None):
        self.uow_factory = uow_factory
        self.deps = deps
        self.relay = relay
        self.command_handlers: dict[type, Callable] = {}
        self.event_handlers: dict[type, list[tuple[Callable, Callable | None]]] = defaultdict(list)  # (handler, when)

    def register(self, command: type[Command], handler: Callable) -> None:
        self.command_handlers[command] = handler

    def subscribe(self, event: type[Event], handler: Callable, when: Callable | None = None) -> None:
        """Run handler after each committed event of this type; `when(event)`, if given, is asked first, so an event
        most handlers skip (a task that is not an inspection) costs no unit of work on the lodging's hot path."""
        self.event_handlers[event].append((handler, when))

    def _call(self, handler: Callable, message, uow):
        return handler(message, uow, **{name: self.deps[name] for name in _wanted(handler)})

    def handle(self, command: Command, *, subject=None, request_id: str | None = None, answered=None):
        """Run the command's handler in a fresh unit of work, then its events' handlers (each commit hands its
        outbox rows to the relay). `answered(result)`, if given, is called between the two: the command is
        committed, and its caller need not wait for what its events set off."""
        uow = self.uow_factory(subject=subject, request_id=request_id)
        result = self._call(self.command_handlers[type(command)], command, uow)
        if answered is not None:
            answered(result)
        self.dispatch(uow.committed_events)
        return result

    def dispatch(self, events: list[Event]) -> None:
        queue = list(events)
        while queue:
            event = queue.pop(0)
            for handler, when in self.event_handlers.get(type(event), ()):
                if when is not None and not when(event):
                    continue
                for attempt in range(1, HANDLER_ATTEMPTS + 1):
                    uow = self.uow_factory(subject=None)
                    try:
                        self._call(handler, event, uow)
                    except ConcurrentWrite:
                        # another request took the same record (a joint inspection's bay) and nothing was
                        # stored: run again on what is committed now, instead of dropping the event's work
                        if attempt < HANDLER_ATTEMPTS:
                            continue
                        log.exception("event handler %s failed %d times for %s", handler.__name__, attempt, event.id)
                    except Exception:  # one consumer failing must not undo a committed command
                        log.exception("event handler %s failed for %s", handler.__name__, event.id)
                    queue.extend(uow.committed_events)
                    break
