"""The hunt index (indicator keys per declaration, filled at lodging), hunts and what they matched."""

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base

# Keys compare byte by byte, so that an HS prefix is a range scan; PostgreSQL's default collation would not.
KEY = String(140).with_variant(String(140, collation="C"), "postgresql")


class DeclarationKey(Base):
    """One indicator key of a declaration's current version (`c:MSCU1234566`, `o:EC:080390`, see keys.py).

    No foreign key: the rows are staged with the lodging and a lookup per insert would cost the hot path."""

    __tablename__ = "declaration_keys"

    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    declaration_id: Mapped[str] = mapped_column(String(32), primary_key=True)

    __table_args__ = (Index("ix_declaration_keys_declaration", "declaration_id"), {"sqlite_with_rowid": False})


class Hunt(Base):
    """A hunt: an agency's indicators matched against pending, recent and future declarations."""

    __tablename__ = "hunts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agency: Mapped[str] = mapped_column(String(16), index=True)  # the issuer: it owns the hunt and its report
    source: Mapped[str] = mapped_column(String(80))  # incident/ID, notice/ID
    indicators: Mapped[dict]
    action: Mapped[dict]
    lookback_days: Mapped[int]
    valid_until: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    watchlist_entries: Mapped[list]  # the entries and rule it installed for new declarations
    rule_id: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)


class HuntMatch(Base):
    """A declaration a hunt matched when it started: held (still pending) or reported (lodged in the look-back)."""

    __tablename__ = "hunt_matches"

    hunt_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pending: Mapped[bool]
    task_id: Mapped[str | None] = mapped_column(String(32))  # the hold placed on it
    hits: Mapped[list]  # [{"indicator": "containers", "pointer": "/transport/containers/0"}]
    matched_at: Mapped[datetime]
