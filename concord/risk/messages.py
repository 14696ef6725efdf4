"""Commands and events of the risk engine's catalogues: rules, watchlist entries, inspection outcomes."""

from dataclasses import dataclass
from datetime import datetime

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class CreateRule(Command):
    """A new rule, or a new version of the rule with the same id (the previous version stops applying)."""

    rule: dict  # RuleIn fields


@dataclass(kw_only=True)
class RetireRule(Command):
    rule_id: str
    reason: str


@dataclass(kw_only=True)
class AddWatchlistEntry(Command):
    entry: dict  # WatchlistEntryIn fields


@dataclass(kw_only=True)
class RemoveWatchlistEntry(Command):
    entry_id: str
    reason: str


@dataclass(kw_only=True)
class RecordOutcome(Command):
    outcome: dict  # OutcomeIn fields


@dataclass(kw_only=True)
class TryRule(Command):
    """Run an expression over past declarations (a read, audited because it reads the whole history)."""

    expression: str
    since: datetime | None = None


@dataclass(kw_only=True)
class RuleCreated(Event):
    name = "risk.rule_created"
    rule_id: str
    version: int
    lane: str
    severity: str


@dataclass(kw_only=True)
class RuleRetired(Event):
    name = "risk.rule_retired"
    rule_id: str
    version: int
    reason: str


@dataclass(kw_only=True)
class WatchlistEntryAdded(Event):
    # The payload names the entry, not what it lists: subscribers without rights must not learn it.
    name = "risk.watchlist_entry_added"
    entry_id: str
    kind: str


@dataclass(kw_only=True)
class WatchlistEntryRemoved(Event):
    name = "risk.watchlist_entry_removed"
    entry_id: str
    kind: str


@dataclass(kw_only=True)
class OutcomeRecorded(Event):
    name = "risk.outcome_recorded"
    version: int
    result: str


@dataclass(kw_only=True)
class CheckModelDrift(Command):
    """Compare the latest declarations with the active model's training period (the server runs it hourly)."""

    declarations: int = 2000
    alert_at: float | None = None  # score PSI that raises the alert (default: drift.ALERT, 0.25)


@dataclass(kw_only=True)
class ModelDrifted(Event):
    # No declaration and no agency: addressed to the lead agency, whose risk unit keeps the model.
    name = "risk.model_drifted"
    model_version: str
    score_psi: float
    status: str  # "watch" or "alert"
    features: list  # the most drifted feature names, worst first
