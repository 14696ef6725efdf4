"""Officer-written risk rules, shared watchlists, inspection outcomes (the labels) and rule hits."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Float, Index, Integer, Numeric, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base

SEVERITIES = ("low", "medium", "high", "critical")  # ascending
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
WATCHLIST_KINDS = ("party", "container", "vessel", "route", "hs_origin")
RESULTS = ("irregular", "compliant")


class RiskRule(Base):
    """One version of an analyst's rule; a change is a new version, old versions stay for the record."""

    __tablename__ = "risk_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    expression: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    agency: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(8))
    lane: Mapped[str] = mapped_column(String(8))
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)  # only the latest version of a rule may be active
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    retired_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_risk_rules_active", "active"),)


class WatchlistEntry(Base):
    """An agency's entry on the shared watchlist: what to match, why, how severe, until when."""

    __tablename__ = "risk_watchlist_entries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    agency: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(12))
    # kind-specific: party {identifier, name, country}, container {number}, vessel {imo}, route {from, to},
    # hs_origin {hs_prefix, origin}
    value: Mapped[dict]
    reason: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_risk_watchlist_entries_live", "removed_at", "agency"),)


class InspectionOutcome(Base):
    """What an inspection found on one declaration version: the label the model and rule statistics learn from."""

    __tablename__ = "risk_inspection_outcomes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    agency: Mapped[str] = mapped_column(String(16))
    result: Mapped[str] = mapped_column(String(10))
    revenue_recovered: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]

    # by time: every worker reads the outcomes recorded since its last look (learning/hub.py, OutcomeFeed)
    __table_args__ = (UniqueConstraint("declaration_id", "version", "agency"),
                      Index("ix_risk_inspection_outcomes_recorded", "recorded_at"))


class RuleHit(Base):
    """A rule version that hit a declaration version: per-rule hit statistics join these with outcomes."""

    __tablename__ = "risk_rule_hits"

    # No foreign key to declarations: hits are written by the risk step in the lodging transaction,
    # before the declaration's staged row, and statistics must survive a rule's later versions.
    rule_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule_version: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    declaration_version: Mapped[int] = mapped_column(primary_key=True)
    hit_at: Mapped[datetime]

    __table_args__ = (Index("ix_risk_rule_hits_declaration", "declaration_id"),)


class HistoryEntry(Base):
    """What rules read of the past (catalogue/history_store.py): per declaration and HS6, its importer, when it was
    assessed and its value, written in the lodging's transaction and shared by every worker.

    Time in microseconds and value in cents of the base currency: integers, so that windows compare and sums add
    up exactly alike on SQLite and PostgreSQL. The key leads with importer and time: a window is one range."""

    __tablename__ = "risk_history"

    importer: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    declaration_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hs6: Mapped[str] = mapped_column(String(6), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_risk_history_declaration", "declaration_id"), {"sqlite_with_rowid": False})


class RiskCatalog(Base):
    """A version counter per catalogue ("rules", "watchlists"): the risk step recompiles when it moves."""

    __tablename__ = "risk_catalogs"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int]
    changed_at: Mapped[datetime]


class LaneDecisionRecord(Base):
    """One lane decision of one worker, for the other workers' lane budgets (concord.risk.scoring.shared).

    An exchange, not a record: the declaration's version keeps its assessment; rows older than a few minutes are
    deleted. Lanes are ranks (0 green .. 3 red); `floor` is what forced hits and the random draw bound it to."""

    __tablename__ = "lane_decisions"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    office: Mapped[str] = mapped_column(String(16))
    scale: Mapped[str | None] = mapped_column(String(64))  # the model version the score is on; None: no model
    score: Mapped[float | None] = mapped_column(Float)
    floor: Mapped[int] = mapped_column(SmallInteger)
    final: Mapped[int] = mapped_column(SmallInteger)
    drawn: Mapped[bool]
    worker: Mapped[str] = mapped_column(String(64))  # host:pid
    decided_at: Mapped[datetime]
