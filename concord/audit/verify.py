"""Full log verification: recompute the tree from stored entries and check it against every signed checkpoint."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.engine import Connection

from concord.audit.canonical import entry_frame
from concord.audit.merkle import TreeHasher
from concord.audit.models import AuditCheckpoint, AuditHead
from concord.audit.note import CheckpointError, verify_checkpoint


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


# Columns in the order their keys take in the canonical body, so the body can be rebuilt around them.
SCAN = ("SELECT seq, body, leaf_hash, action, actor, agency, agreement, outcome, owner, purpose, request_id, resource,"
        " at FROM audit_entries ORDER BY seq")
SCAN_COLUMNS = ("action", "actor", "agency", "agreement", "outcome", "owner", "purpose", "request_id", "resource")
_decode = json.JSONDecoder().decode


def _naive_utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _signed_at(i: int, r) -> str | None:
    """The body's time if the body is exactly the canonical JSON of this row's columns at seq i (plus any detail).

    Rebuilding the JSON around the columns costs a third of parsing it, which keeps a full verify fast.
    """
    b = r[1]
    head, tail = entry_frame(i, *r[3:12])
    if not (b.startswith(head) and b.endswith(tail)):
        return None
    end = b.find('"', len(head))
    if end < 0 or not (end + 1 == len(b) - len(tail) or b.startswith(',"detail":{', end + 1)):
        return None
    return b[len(head):end]


def _same_time(signed: str, column) -> bool:
    """The body's ISO time and the column hold the same instant (SQLite returns the column as text)."""
    if isinstance(column, str) and signed.endswith("+00:00") and len(column) == 26:
        frac = column[19:]  # isoformat() leaves out a zero microsecond part
        return signed == column[:10] + "T" + column[11:19] + ("" if frac == ".000000" else frac) + "+00:00"
    try:
        return _naive_utc(signed) == _naive_utc(column)
    except (TypeError, ValueError):
        return False


def _diagnose(report: VerifyReport, i: int, row, leaf: bytes) -> int | None:
    """Say what is wrong with row i, if anything; returns the first bad seq it proves."""
    if leaf != row[2]:
        report.add(i, "entry was changed: its leaf hash does not match its body")
        return i
    at = _signed_at(i, row)
    if at is not None:
        if _same_time(at, row[12]):
            return None
        report.add(i, f"column at was changed: the signed entry says {at!r}")
        return i
    try:
        body = _decode(row[1])
    except ValueError:
        body = {}
    claimed = body.get("seq") if isinstance(body, dict) else None
    if claimed != i:
        # The body was hashed at position `claimed`: something was inserted, deleted or moved before here.
        report.add(i, f"entry stored at {i} says it is entry {claimed}: entries inserted, deleted or moved")
        return min(i, claimed) if isinstance(claimed, int) and claimed >= 0 else i
    for name, value in zip(SCAN_COLUMNS, row[3:12]):
        if body.get(name) != value:
            report.add(i, f"column {name} was changed: the signed entry says {body.get(name)!r}")
            return i
    report.add(i, "entry body is not in canonical form")
    return i


def _check_rows(report: VerifyReport, first: int, rows, leaves: list[bytes]) -> int | None:
    """Row-level checks of a batch starting at seq `first`; returns the first bad seq they prove, if any."""
    bad = None
    if leaves != [r[2] for r in rows]:
        bad = next(k for k, r in enumerate(rows) if leaves[k] != r[2])
    last_ok = (None, None)  # entries of one transaction share a time: compare it once
    for k, r in enumerate(rows[:bad]):
        at = _signed_at(first + k, r)
        if at is not None and ((at, r[12]) == last_ok or _same_time(at, r[12])):
            last_ok = (at, r[12])
            continue
        bad = k
        break
    if bad is None:
        return None
    # Slow path from the first suspect row: say what is wrong, and find a few more for the report.
    found = None
    for k in range(bad, len(rows)):
        seq = _diagnose(report, first + k, rows[k], leaves[k])
        found = seq if found is None or (seq is not None and seq < found) else found
        if len(report.findings) >= MAX_FINDINGS:
            break
    return found


def _scan(conn: Connection, batch: int):
    """Entries in seq order, in lists of `batch` rows; SQLite reads through its driver to skip row processing."""
    if conn.dialect.name == "sqlite":
        cur = conn.connection.driver_connection.execute(SCAN)
        try:
            while rows := cur.fetchmany(batch):
                yield rows
        finally:
            cur.close()
        return
    result = conn.execution_options(stream_results=True, yield_per=batch).exec_driver_sql(SCAN)
    try:
        yield from result.partitions(batch)
    finally:
        result.close()


def verify_log(conn: Connection, vkey: str, *, batch: int = 20000) -> VerifyReport:
    """Recompute leaf hashes and the tree from every entry; check every checkpoint; report the first bad seq."""
    t0 = time.perf_counter()
    report = VerifyReport()
    roots, last_signed = _signed_roots(conn, vkey, report)
    # Read the head before and after the scan: honest concurrent appends keep head_before <= stored <= head_after.
    head_before = _head(conn)
    exact_first, cp_fail, prev_ok = None, None, 0
    tree, sha = TreeHasher(), hashlib.sha256
    i, gap = 0, False
    for part in _scan(conn, batch):
        if part[0][0] != i or part[-1][0] != i + len(part) - 1:  # seq is unique and sorted: ends tell all
            cut = next(k for k, r in enumerate(part) if r[0] != i + k)
            report.add(i + cut, f"entries {i + cut}..{part[cut][0] - 1} are missing (deleted, or renumbered)")
            part, gap = part[:cut], True
        leaves = [sha(b"\x00" + r[1].encode()).digest() for r in part]
        bad = _check_rows(report, i, part, leaves) if part else None
        if gap:
            bad = i + len(part) if bad is None else bad
        if bad is not None and exact_first is None:
            exact_first = bad
        i += len(part)
        for size, matched in _feed(tree, leaves, roots):
            report.checkpoints += 1
            if matched:
                prev_ok = size
                report.verified_size = size if cp_fail is None else report.verified_size
            elif cp_fail is None:
                cp_fail = (prev_ok, size)
                report.add(prev_ok, f"checkpoint {size} does not match the entries: one in [{prev_ok}, {size}) was rewritten")
        if gap:
            break
    report.entries = i
    head_after = _head(conn)
    if exact_first is None and i < max(head_before, last_signed):
        report.add(i, f"log ends at {i} but {max(head_before, last_signed)} entries were logged: entries removed")
        exact_first = i
    elif exact_first is None and i > head_after:
        report.add(head_after, f"log head says {head_after} entries but {i} are stored: entries added outside the log")
        exact_first = head_after
    if cp_fail is not None and (exact_first is None or exact_first >= cp_fail[1]):
        report.first_bad_seq, report.exact = cp_fail[0], False
    else:
        report.first_bad_seq = exact_first
    report.ok = report.ok and report.first_bad_seq is None
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _feed(tree: TreeHasher, leaves: list[bytes], roots: dict[int, bytes]):
    """Add leaves to the tree, yielding (size, root matches) at every checkpoint size passed."""
    start = 0
    for size in sorted(s for s in roots if tree.size < s <= tree.size + len(leaves)):
        stop = size - tree.size + start
        tree.extend(leaves[start:stop])
        start = stop
        yield size, tree.root() == roots[size]
    tree.extend(leaves[start:])


def _signed_roots(conn: Connection, vkey: str, report: VerifyReport) -> tuple[dict[int, bytes], int]:
    """Roots of the stored checkpoints whose signatures verify; and the largest size any checkpoint claims."""
    roots, last = {}, 0
    for size, root, note in conn.execute(select(AuditCheckpoint.size, AuditCheckpoint.root, AuditCheckpoint.note)):
        last = max(last, size)
        try:
            cp = verify_checkpoint(note, vkey)
        except CheckpointError as exc:
            report.add(size, f"checkpoint {size}: {exc.message}")
            continue
        if cp.size != size or cp.root != root:
            report.add(size, f"checkpoint {size}: stored size or root differ from the signed note")
            continue
        roots[size] = root
    return roots, last


def _head(conn: Connection) -> int:
    return conn.scalar(select(AuditHead.size).where(AuditHead.id == 1)) or 0
