"""Screening lists loaded into Concord, their entries, and officers' decisions on matches."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base

SHARING = ("full", "hit_no_hit")
DECISIONS = ("true_match", "false_positive")


class ScreeningList(Base):
    """A sanctions list or watchlist an administrator loaded; each reload is a new version of the same list."""

    __tablename__ = "screening_lists"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    owner_agency: Mapped[str] = mapped_column(String(16))
    sharing: Mapped[str] = mapped_column(String(12))  # full | hit_no_hit: what screeners of other agencies see
    source: Mapped[str] = mapped_column(String(300))  # file name or URL it was loaded from
    version: Mapped[int]
    entry_count: Mapped[int]
    loaded_by: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime]


class ScreeningEntry(Base):
    """One listed person or company; reloads keep its id while `ref` stays, and move `changed_in` when it changes."""

    __tablename__ = "screening_entries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # stable: hash of (list id, ref)
    list_id: Mapped[str] = mapped_column(ForeignKey("screening_lists.id"))
    ref: Mapped[str] = mapped_column(String(200))  # the source's own id, else a hash of name and qualifiers
    version: Mapped[str] = mapped_column(String(16))  # content hash (concord.screening.lists.ListedParty.version)
    record: Mapped[dict]  # names, kind, birth_dates, nationalities, identifiers, gender, place_of_birth, row
    changed_in: Mapped[int]  # list version that added or last changed (or removed) it
    removed_in: Mapped[int | None]  # list version that no longer had it

    __table_args__ = (Index("ix_screening_entries_list_changed", "list_id", "changed_in"),)


class MatchDecision(Base):
    """An officer's decision on one (screened party, entry version) pair, keyed by the match fingerprint."""

    __tablename__ = "screening_match_decisions"

    fingerprint: Mapped[str] = mapped_column(String(32), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(40))
    entry_version: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))  # true_match | false_positive
    agency: Mapped[str] = mapped_column(String(16))
    officer: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime]

    __table_args__ = (Index("ix_screening_match_decisions_entry", "entry_id"),)
