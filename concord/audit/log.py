"""Appending entries inside the caller's transaction."""

import json
from datetime import datetime

import rfc8785
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from concord.audit.merkle import leaf_hash
from concord.audit.models import AuditEntry, AuditHead

_SAFE_INT = 2**53  # RFC 8785 numbers are IEEE doubles: larger integers have no exact form


def _plain(value) -> bool:
    """True when json.dumps renders value byte for byte as RFC 8785 does: no floats, ASCII keys, safe ints."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return -_SAFE_INT < value < _SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def canonical_json(value) -> bytes:
    """RFC 8785 canonical JSON; the C json encoder where it provably agrees (ten times faster), else rfc8785."""
    if _plain(value):
        try:
            return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        except UnicodeEncodeError:  # a lone surrogate: leave the verdict to rfc8785
            pass
    return rfc8785.dumps(value)


def canonical_entry(seq: int, at: datetime, note, request_id: str | None) -> bytes:
    """The entry as the leaf hash covers it: RFC 8785 JSON of the note, its position, time and request."""
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
    return canonical_json(entry)


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
