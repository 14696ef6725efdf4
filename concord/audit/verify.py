"""Full log verification: recompute the tree from stored entries and check it against every signed checkpoint."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.engine import Connection

from concord.audit.merkle import TreeHasher
from concord.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from concord.audit.note import CheckpointError, verify_checkpoint

COLUMNS = ("actor", "agency", "action", "resource", "purpose", "agreement", "outcome", "request_id")
MAX_FINDINGS = 20


@dataclass
class Finding:
    seq: int
    problem: str


@dataclass
class VerifyReport:
    ok: bool = True
    entries: int = 0
    checkpoints: int = 0  # how many stored checkpoints were checked against the recomputed tree
    verified_size: int = 0  # the largest checkpoint size that matched
    first_bad_seq: int | None = None
    exact: bool = True  # False: a checkpoint root failed and only the stretch it covers is known
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)

    def add(self, seq: int, problem: str) -> None:
        self.ok = False
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(Finding(seq, problem))


def _naive_utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _check_row(report: VerifyReport, i: int, row, body: dict) -> int | None:
    """Row-level checks of entry i; returns the first bad seq they prove, if any."""
    claimed = body.get("seq")
    if claimed != i:
        # The body was signed at position `claimed`: something was inserted, deleted or moved before here.
        report.add(i, f"entry stored at {i} says it is entry {claimed}: entries inserted, deleted or reordered")
        return min(i, claimed) if isinstance(claimed, int) and claimed >= 0 else i
    for name, value in zip(COLUMNS, row[3:11]):
        if body.get(name) != value:
            report.add(i, f"column {name} was changed: the signed entry says {body.get(name)!r}")
            return i
    if _naive_utc(body.get("at", "")) != _naive_utc(row[11]):
        report.add(i, f"column at was changed: the signed entry says {body.get('at')!r}")
        return i
    return None


def verify_log(conn: Connection, vkey: str, *, batch: int = 20000) -> VerifyReport:
    """Recompute leaf hashes and the tree from every entry; check every checkpoint; report the first bad seq."""
    t0 = time.perf_counter()
    report = VerifyReport()
    checkpoints = list(conn.execute(select(AuditCheckpoint.size, AuditCheckpoint.root, AuditCheckpoint.note)
                                    .order_by(AuditCheckpoint.size)))
    roots = {}
    for size, root, note in checkpoints:
        try:
            cp = verify_checkpoint(note, vkey)
        except CheckpointError as exc:
            report.add(size, f"checkpoint {size}: {exc.message}")
            continue
        if cp.size != size or cp.root != root:
            report.add(size, f"checkpoint {size}: stored size or root differ from the signed note")
            continue
        roots[size] = root
    exact_first, cp_fail, prev_ok = None, None, 0
    tree, sha = TreeHasher(), hashlib.sha256
    cols = [AuditEntry.seq, AuditEntry.body, AuditEntry.leaf_hash, *(getattr(AuditEntry, c) for c in COLUMNS),
            AuditEntry.at]
    result = conn.execution_options(yield_per=batch).execute(select(*cols).order_by(AuditEntry.seq))
    i = 0
    for row in result:
        seq, text, stored_leaf = row[0], row[1], row[2]
        if seq != i:
            report.add(i, f"entries {i}..{seq - 1} are missing (deleted, or renumbered)")
            exact_first = i if exact_first is None else exact_first
            break  # every later position is shifted; the tree past here cannot match
        data = text.encode()
        leaf = sha(b"\x00" + data).digest()
        try:
            body = json.loads(data)
        except ValueError:
            body = {}
        bad = i if leaf != stored_leaf else None
        if bad is not None:
            report.add(i, "entry was changed: its leaf hash does not match its body")
        else:
            bad = _check_row(report, i, row, body)
        if bad is not None and exact_first is None:
            exact_first = bad
        tree.extend((leaf,))
        i += 1
        if i in roots:
            report.checkpoints += 1
            if tree.root() == roots[i]:
                prev_ok = i
                report.verified_size = i if cp_fail is None else report.verified_size
            elif cp_fail is None:
                cp_fail = (prev_ok, i)
                report.add(prev_ok, f"checkpoint {i} does not match the entries: one in [{prev_ok}, {i}) was rewritten")
    report.entries = i
    last_signed = checkpoints[-1][0] if checkpoints else 0
    if i < last_signed and exact_first is None:
        report.add(i, f"log ends at {i} but checkpoint {last_signed} was signed over more: entries truncated")
        exact_first = i
    head = conn.scalar(select(AuditHead.size).where(AuditHead.id == 1)) or 0
    if head != i and report.ok:
        report.add(min(head, i), f"log head says {head} entries but {i} are stored")
        exact_first = min(head, i)
    if cp_fail is not None and (exact_first is None or exact_first >= cp_fail[1]):
        report.first_bad_seq, report.exact = cp_fail[0], False
    else:
        report.first_bad_seq = exact_first
    report.ok = report.ok and report.first_bad_seq is None
    report.seconds = round(time.perf_counter() - t0, 3)
    return report
