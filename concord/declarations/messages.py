"""Commands and events of the declaration lifecycle."""

from dataclasses import dataclass, field

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class SubmitDeclaration(Command):
    document: dict  # validated DeclarationIn, dumped to JSON-compatible types
    idempotency_key: str | None = None


@dataclass(kw_only=True)
class LodgeGroup(Command):
    """Lodgings that arrived together from several traders: one transaction, each item succeeding or failing alone."""

    items: list  # (subject, document, idempotency key)


@dataclass(kw_only=True)
class AmendDeclaration(Command):
    declaration_id: str
    document: dict


@dataclass(kw_only=True)
class CancelDeclaration(Command):
    declaration_id: str
    reason: str


@dataclass(kw_only=True)
class RecordArrival(Command):
    declaration_id: str
    location: str | None = None


@dataclass(kw_only=True)
class DeclarationLodged(Event):
    name = "declaration.lodged"
    version: int
    trader_id: str
    lrn: str


@dataclass(kw_only=True)
class DeclarationAccepted(Event):
    name = "declaration.accepted"
    version: int


@dataclass(kw_only=True)
class RiskAssessed(Event):
    name = "declaration.risk_assessed"
    version: int
    lane: str


@dataclass(kw_only=True)
class DeclarationAmended(Event):
    name = "declaration.amended"
    version: int


@dataclass(kw_only=True)
class DeclarationCancelled(Event):
    name = "declaration.cancelled"
    reason: str


@dataclass(kw_only=True)
class GoodsArrived(Event):
    name = "declaration.goods_arrived"
    location: str | None = None


@dataclass(kw_only=True)
class GoodsReleased(Event):
    name = "declaration.released"
    version: int


@dataclass(kw_only=True)
class DeclarationRefused(Event):
    name = "declaration.refused"
    reason: str
    by_agency: str


@dataclass(kw_only=True)
class GoodsCleared(Event):
    """Every engaged agency has cleared the goods; release waits for their arrival."""

    name = "declaration.cleared"
    version: int
    awaiting: list = field(default_factory=list)
