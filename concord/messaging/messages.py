"""Base classes: commands are imperative requests, events are facts in the past tense."""

from dataclasses import dataclass, field, fields
from functools import lru_cache
from datetime import datetime
from typing import ClassVar


@dataclass(kw_only=True)
class Command:
    pass


@dataclass(kw_only=True)
class Event:
    name: ClassVar[str] = "event"
    declaration_id: str | None = None
    agency: str | None = None  # the agency the event concerns, for routing to its queue
    id: str = field(default="", compare=False)
    occurred_at: datetime | None = field(default=None, compare=False)

    def payload(self) -> dict:
        """The event's own fields (JSON-compatible values by construction), without the envelope."""
        return {name: getattr(self, name) for name in _payload_fields(type(self))}


_ENVELOPE = frozenset(("id", "occurred_at", "declaration_id", "agency"))


@lru_cache(maxsize=None)
def _payload_fields(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in _ENVELOPE)
