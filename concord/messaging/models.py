"""The outbox is also the event log: one row per event, written with the state it describes."""

from datetime import datetime

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base


class EventRecord(Base):
    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    declaration_id: Mapped[str | None] = mapped_column(String(32))
    agency: Mapped[str | None] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    payload: Mapped[dict]
    published_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_events_declaration", "declaration_id", "seq"),
        # Partial: only the rows the relay has still to publish, so the index stays small and a published row
        # leaves it, instead of every event of all time sitting in it.
        Index("ix_events_unpublished", "seq", sqlite_where=text("published_at IS NULL"),
              postgresql_where=text("published_at IS NULL")),
    )
