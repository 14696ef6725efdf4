"""Full log verification: recompute the tree from stored entries and check it against every signed checkpoint."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from concord.audit.merkle import TreeHasher
from concord.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from concord.audit.note import CheckpointError, verify_checkpoint
from concord.audit.scan import MAX_FINDINGS, scan_range, scan_range_at

CHUNK = 1 << 17  # entries per scan task
PARALLEL_FROM = 4 * CHUNK  # below this, worker processes cost more than they save


@dataclass
class Finding:
    seq: int
    problem: str


@dataclass
class VerifyReport:
    ok: bool = True
    status: str = "ok"  # ok | unsigned-tail (no fault, but entries past the last signed checkpoint) | failed
    entries: int = 0
    checkpoints: int = 0  # how many stored checkpoints were checked against the recomputed tree
    verified_size: int = 0  # the largest checkpoint size that matched
    unsigned_tail: int = 0  # entries after the last signed checkpoint: nothing yet proves they were not forged
    first_bad_seq: int | None = None
    exact: bool = True  # False: a checkpoint root failed and only the stretch it covers is known
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1

    def as_dict(self) -> dict:
        return asdict(self)

    def add(self, seq: int, problem: str) -> None:
        self.ok = False
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(Finding(seq, problem))


def _scans(conn: Connection, total: int, workers: int):
    """Scans of [0, total) in order; in worker processes when the log is big, each with its own connection."""
    ranges = [(a, min(a + CHUNK, total)) for a in range(0, total, CHUNK)]
    if workers <= 1 or total < PARALLEL_FROM or conn.engine.url.database in (None, "", ":memory:"):
        for a, b in ranges:
            yield scan_range(conn, a, b)
        return
    url = conn.engine.url.render_as_string(hide_password=False)
    # fork where there is one: workers start at once, with the modules already imported
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        futures = [pool.submit(scan_range_at, url, a, b) for a, b in ranges]
        try:
            for fut in futures:
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def verify_log(conn: Connection, vkey: str, *, workers: int | None = None, kept=None) -> VerifyReport:
    """Recompute leaf hashes and the tree from every entry; check every checkpoint; report the first bad seq.

    `kept`: a checkpoint held outside the database (the signer's last, a witness's), checked like a stored one;
    it catches a rollback that removed the checkpoints covering the removed entries."""
    t0 = time.perf_counter()
    report = VerifyReport(workers=workers or min(os.cpu_count() or 1, 8))
    roots, last_signed = _signed_roots(conn, vkey, report)
    if kept is not None and kept.size:
        if roots.get(kept.size) != kept.root:  # the signer's checkpoint was removed from the database, or replaced
            report.add(kept.size, f"checkpoint {kept.size}, kept outside the database, is not stored as signed")
        roots[kept.size], last_signed = kept.root, max(last_signed, kept.size)
    # Read the head before and after the scan: honest concurrent appends keep head_before <= stored <= head_after.
    head_before = _head(conn)
    total = (conn.scalar(select(func.max(AuditEntry.seq))) or -1) + 1
    exact_first, cp_fail, prev_ok = None, None, 0
    tree = TreeHasher()
    for scan in _scans(conn, total, report.workers):
        for seq, problem in scan.findings:
            report.add(seq, problem)
        if scan.first_bad is not None and exact_first is None:
            exact_first = scan.first_bad
        leaves = [scan.leaves[k:k + 32] for k in range(0, len(scan.leaves), 32)]
        for size, matched in _feed(tree, leaves, roots):
            report.checkpoints += 1
            if matched:
                prev_ok = size
                report.verified_size = size if cp_fail is None else report.verified_size
            elif cp_fail is None:
                cp_fail = (prev_ok, size)
                report.add(prev_ok, f"checkpoint {size} does not match the entries: "
                                    f"one in [{prev_ok}, {size}) was rewritten")
        if scan.gap:
            break  # every later position is shifted; nothing past here can match
    i = report.entries = tree.size
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
    if report.ok and report.entries > report.verified_size:
        # Anyone who can write the database can append here and move the head: only a signature vouches for entries.
        report.unsigned_tail = report.entries - report.verified_size
        report.ok = False
        report.findings.append(Finding(report.verified_size, f"entries {report.verified_size}..{report.entries - 1} "
                                                             "are not covered by a signed checkpoint (unsigned tail)"))
    report.status = "ok" if report.ok else "unsigned-tail" if report.unsigned_tail else "failed"
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

