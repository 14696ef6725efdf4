"""Witnessing: does today's log extend a checkpoint that another agency kept? A rewritten history cannot."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from concord.audit.checkpoints import latest_checkpoint
from concord.audit.merkle import ProofError, verify_consistency
from concord.audit.note import CheckpointError, verify_checkpoint
from concord.audit.tree import consistency_proof


@dataclass
class WitnessReport:
    ok: bool
    kept_size: int | None = None
    current_size: int | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def check_extends(kept_note: str, current_note: str, proof: list[bytes], vkey: str) -> WitnessReport:
    """Check, with the hub's verifier key, that the current checkpoint extends the kept one (pure: no database)."""
    try:
        kept = verify_checkpoint(kept_note, vkey)
        current = verify_checkpoint(current_note, vkey)
    except CheckpointError as exc:
        return WitnessReport(False, reason=exc.message)
    report = WitnessReport(False, kept.size, current.size)
    if current.origin != kept.origin:
        report.reason = f"the checkpoints are of different logs: {kept.origin!r} and {current.origin!r}"
    elif current.size < kept.size:
        report.reason = f"the log shrank from {kept.size} to {current.size} entries: history was rewritten"
    elif kept.size == 0:
        report.ok, report.reason = True, "every log extends the empty log"
    else:
        try:
            verify_consistency(kept.size, current.size, proof, kept.root, current.root)
        except ProofError as exc:
            report.reason = f"the log does not extend the kept checkpoint ({exc}): history was rewritten"
        else:
            report.ok, report.reason = True, f"entries 0..{kept.size - 1} are unchanged in the current log"
    return report


def witness_local(session: Session, kept_note: str, vkey: str) -> WitnessReport:
    """Check the kept checkpoint against this database's latest checkpoint, with a proof built from its tree."""
    row = latest_checkpoint(session)
    if row is None:
        return WitnessReport(False, reason="this log has no checkpoint yet")
    try:
        kept = verify_checkpoint(kept_note, vkey)
        proof = consistency_proof(session, kept.size, row.size) if 0 < kept.size <= row.size else []
    except (CheckpointError, ProofError) as exc:
        return WitnessReport(False, reason=str(exc))
    return check_extends(kept_note, row.note, proof, vkey)


def witness_remote(base_url: str, kept_note: str, vkey: str, token: str | None = None, *,
                   client=None) -> WitnessReport:
    """Ask a hub's API (…/api/v1/audit) for its latest checkpoint and a consistency proof, and check them here."""
    import httpx

    try:
        kept = verify_checkpoint(kept_note, vkey)
    except CheckpointError as exc:
        return WitnessReport(False, reason=exc.message)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = client or httpx.Client(base_url=base_url, timeout=30)
    with client:
        latest = client.get("checkpoint", headers=headers)
        latest.raise_for_status()
        current = latest.json()
        proof: list[bytes] = []
        if 0 < kept.size < current["size"]:
            r = client.get("proofs/consistency", params={"old": kept.size, "new": current["size"]}, headers=headers)
            r.raise_for_status()
            proof = [base64.b64decode(p) for p in r.json()["proof"]]
    return check_extends(kept_note, current["note"], proof, vkey)
