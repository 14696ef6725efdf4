"""Stored audit entries; the canonical JSON body is what the Merkle leaf hash covers."""

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # leaf index, from 0
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(64))
    agency: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(80))
    resource: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str | None] = mapped_column(String(64))
    agreement: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(16))  # the agency whose data was read or changed
    request_id: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # RFC 8785 canonical JSON of the entry
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (
        Index("ix_audit_entries_resource", "resource"),
        Index("ix_audit_entries_agency_at", "agency", "at"),
        Index("ix_audit_entries_owner_at", "owner", "at"),
        Index("ix_audit_entries_actor_seq", "actor", "seq"),  # the auditor console: one actor, newest first
    )


class AuditHead(Base):
    """One row: the log size. Updating it first serializes appenders, so seq order is commit order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int]


class AuditNode(Base):
    """Hash of a complete subtree of 2**level leaves, the index-th at its level (level >= 1).

    Written by the checkpointer, never changed: proofs read O(log n) of these instead of rehashing leaves.
    One integer key (level << 40 | index) so a proof's nodes come back from one IN query. Level 0 is not
    copied here; it is audit_entries.leaf_hash.
    """

    __tablename__ = "audit_nodes"

    # INTEGER on SQLite makes the key the rowid itself: one B-tree, no separate index to search.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed tree head: the C2SP signed note over (origin, size, root), as issued."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    issued_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text)
