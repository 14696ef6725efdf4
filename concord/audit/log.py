"""Appending entries inside the caller's transaction."""

import hashlib
from datetime import datetime

import rfc8785
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from concord.audit.models import AuditEntry, AuditHead


def leaf_hash(body: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + body).digest()


def canonical_entry(seq: int, at: datetime, note, request_id: str | None) -> bytes:
    entry = {
        "seq": seq,
        "at": at.isoformat(),
        "actor": note.actor,
        "agency": note.agency,
        "action": note.action,
        "resource": note.resource,
        "purpose": note.purpose,
        "agreement": note.agreement,
        "outcome": note.outcome,
        "request_id": request_id,
    }
    if note.detail:
        entry["detail"] = note.detail
    return rfc8785.dumps(entry)


class AuditLog:
    def append(self, session: Session, notes: list, at: datetime, request_id: str | None) -> list[int]:
        """Append entries in the caller's transaction; returns their sequence numbers."""
        n = len(notes)
        # Write first: the row lock (PostgreSQL) or the write lock (SQLite) orders appenders.
        size = session.execute(
            text("UPDATE audit_head SET size = size + :n WHERE id = 1 RETURNING size"), {"n": n}
        ).scalar()
        if size is None:
            session.add(AuditHead(id=1, size=n))
            session.flush()
            size = n
        first = size - n
        rows = []
        for i, note in enumerate(notes):
            body = canonical_entry(first + i, at, note, request_id)
            rows.append(dict(seq=first + i, at=at, actor=note.actor, agency=note.agency, action=note.action,
                             resource=note.resource, purpose=note.purpose, agreement=note.agreement,
                             outcome=note.outcome, request_id=request_id, body=body.decode(),
                             leaf_hash=leaf_hash(body)))
        session.execute(insert(AuditEntry), rows)
        return [r["seq"] for r in rows]
