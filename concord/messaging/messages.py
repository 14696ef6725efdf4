"""Base classes: commands are imperative requests, events are facts in the past tense."""

from dataclasses import asdict, dataclass, field
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
        data = asdict(self)
        for key in ("id", "occurred_at", "declaration_id", "agency"):
            data.pop(key)
        return data
