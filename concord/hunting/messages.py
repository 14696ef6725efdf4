"""Commands and events of hunting."""

from dataclasses import dataclass, field

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class StartHunt(Command):
    """Match indicators against pending declarations (held), the last `lookback_days` (reported to the issuer) and
    new ones until `valid_until` (watchlist entries and a rule).

    An incident or a notice starts one with a single subscriber line, e.g.
    `app.bus.subscribe(NoticeIssued, hunt_on(lambda e: StartHunt(agency=e.agency, source=f"notice/{e.notice_id}",
    indicators=e.indicators, valid_until=e.valid_until)))` (see handlers.hunt_on)."""

    agency: str  # the issuing agency: it owns the hunt and receives its report
    source: str  # what the indicators come from: incident/ID, notice/ID, or the officer's own reference
    indicators: dict  # concord.hunting.indicators.Indicators
    valid_until: object  # datetime or ISO 8601 text: until when new declarations meet the hunt
    lookback_days: int = 30
    action: dict = field(default_factory=dict)  # HuntAction: lane, agency to engage, task
    purpose: str | None = None  # the purpose the issuer reads its report for (agreements are per purpose)


@dataclass(kw_only=True)
class HuntStarted(Event):
    # Addressed to the issuing agency alone; counts are not in it: the report cuts them per reader.
    name = "hunt.started"
    hunt_id: str
    source: str


@dataclass(kw_only=True)
class LaneRaised(Event):
    """A hunt raised a pending declaration's lane (the lead's working data: no other audience sees it)."""

    name = "declaration.lane_raised"
    version: int
    lane: str
    hunt_id: str
