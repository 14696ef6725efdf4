"""A declaration, its versions, and the status the trader sees."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base
from concord.errors import Conflict

TERMINAL = ("released", "refused", "cancelled")


class Declaration(Base):
    __tablename__ = "declarations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trader_id: Mapped[str] = mapped_column(String(40))
    lrn: Mapped[str] = mapped_column(String(35))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    body_sha256: Mapped[str] = mapped_column(String(64))  # of the latest submitted body, to tell replays
    type: Mapped[str] = mapped_column(String(2))
    office_of_entry: Mapped[str] = mapped_column(String(6))
    # Facets of the current version (",08,03,"), so agreement conditions filter in the query, not after it.
    hs_chapters: Mapped[str] = mapped_column(String(400))
    origins: Mapped[str] = mapped_column(String(400))
    # {agency: {"fields": [...], "rules": [...]}} of the current version: the access check reads it from the row
    engaged: Mapped[dict]
    status: Mapped[str] = mapped_column(String(24))
    lane: Mapped[str | None] = mapped_column(String(8))
    version: Mapped[int]
    lodged_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    arrived_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    outcome_reason: Mapped[str | None] = mapped_column(Text)  # the refusing agency's reason, or why cancelled

    __table_args__ = (
        UniqueConstraint("trader_id", "lrn"),
        UniqueConstraint("trader_id", "idempotency_key"),
        Index("ix_declarations_status", "status", "lodged_at"),
        Index("ix_declarations_trader_lodged", "trader_id", "lodged_at"),  # a trader's own, newest first
        Index("ix_declarations_lodged", "lodged_at", "id"),  # everyone's list and search, newest first
        Index("ix_declarations_office", "office_of_entry", "lodged_at"),  # agreements scoped to offices
        Index("ix_declarations_lrn", "lrn"),  # the console's search by an LRN, whoever lodged it
    )

    def ensure_open(self, action: str) -> None:
        if self.status in TERMINAL:
            raise Conflict(f"declaration {self.id} is {self.status}; it can no longer be {action}")


def facets(document: dict) -> tuple[str, str]:
    """The HS chapters and origins of a declaration, as ",a,b," strings for LIKE conditions."""
    items = document["items"]
    chapters = sorted({i["hs_code"][:2] for i in items})
    origins = sorted({i["origin"] for i in items})
    return "," + ",".join(chapters) + ",", "," + ",".join(origins) + ","


class DeclarationVersion(Base):
    __tablename__ = "declaration_versions"

    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[dict]
    submitted_at: Mapped[datetime]
    submitted_by: Mapped[str] = mapped_column(String(64))
    risk: Mapped[dict]  # the assessment: lane, score, reasons, versions (officers only)
    engagements: Mapped[list]  # agencies engaged, with rule, items and legal basis
