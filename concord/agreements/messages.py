"""Commands and events of agreements and access grants."""

from dataclasses import dataclass

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class DraftAgreement(Command):
    document: dict  # AgreementIn, JSON mode
    amend: bool = False  # a new version of an existing key


@dataclass(kw_only=True)
class SignAgreement(Command):
    agreement_id: str


@dataclass(kw_only=True)
class ChangeAgreementStatus(Command):
    agreement_id: str
    status: str  # suspended | active (resume) | revoked
    reason: str


@dataclass(kw_only=True)
class RequestAccess(Command):
    resource: str  # "declaration/ID", "watchlist_entry/ID"
    purpose: str
    justification: str
    provider: str | None = None  # the agency to ask (a hit's ask_agency); declarations: the lead agency


@dataclass(kw_only=True)
class DecideAccessRequest(Command):
    request_id: str
    grant: bool
    reason: str
    hours: int = 72


@dataclass(kw_only=True)
class BreakGlass(Command):
    resource: str
    purpose: str
    justification: str
    provider: str | None = None  # as in RequestAccess


@dataclass(kw_only=True)
class AgreementChanged(Event):
    name = "agreement.changed"
    agreement_id: str
    key: str
    version: int
    status: str


@dataclass(kw_only=True)
class AccessRequested(Event):
    name = "access.requested"
    request_id: str
    resource: str
    requester_agency: str
    purpose: str


@dataclass(kw_only=True)
class AccessDecided(Event):
    name = "access.decided"
    request_id: str
    granted: bool


@dataclass(kw_only=True)
class BreakGlassOpened(Event):
    """Sent to the provider agency at once: its liaison must learn of every emergency access."""

    name = "access.break_glass_opened"
    grant_id: str
    resource: str
    requester: str
    requester_agency: str
    justification: str
