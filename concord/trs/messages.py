"""The one milestone Concord did not record before: the goods leaving the customs area."""

from dataclasses import dataclass

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class RecordExit(Command):
    declaration_id: str
    gate: str | None = None


@dataclass(kw_only=True)
class GoodsExited(Event):
    name = "declaration.goods_exited"
    gate: str | None = None
