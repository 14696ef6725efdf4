"""Witnessing: does today's log still hold what a witness kept? Checked from the entries, never the hub's own tree.

A witness keeps a signed checkpoint, and in a witness copy (witness_copy.py) the leaf hash of every entry it has
seen. It recomputes every leaf from the entries the hub holds today (from their bodies: not the stored hashes, not
the stored tree nodes, which an editor of the database would leave alone), and checks that they reproduce what it kept
and the root of the hub's latest signed checkpoint. An edited, deleted, moved or truncated entry, a rewritten
history, a checkpoint signed with another key: each changes one of these, and the witness names the first entry.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concord.audit.checkpoints import latest_checkpoint
from concord.audit.merkle import ProofError, TreeHasher, verify_consistency
from concord.audit.models import AuditEntry, AuditHead
from concord.audit.note import CheckpointError, verify_checkpoint
from concord.audit.scan import scan_range

PAGE = 1 << 16  # leaves per API request


@dataclass
class WitnessReport:
    ok: bool
    kept_size: int | None = None
    current_size: int | None = None
    reason: str = ""
    first_bad_seq: int | None = None
    unsigned_tail: int = 0  # entries the hub holds after its latest signed checkpoint: not witnessed yet
    checkpoint: str = ""  # the hub's latest signed checkpoint, as checked (for the witness to keep and cosign)
    status: str = "failed"  # ok | unsigned-tail (the signed log checks out; entries after it are not signed) | failed

    def as_dict(self) -> dict:
        return asdict(self)


def root_of_leaves(leaves: bytes, size: int) -> bytes:
    """MTH of the first `size` leaf hashes of a run of 32-byte hashes."""
    tree = TreeHasher()
    tree.extend([leaves[k:k + 32] for k in range(0, size * 32, 32)])
    return tree.root()


def _first_difference(a: bytes, b: bytes) -> int | None:
    n = min(len(a), len(b)) // 32
    lo, hi = 0, n  # compare in halves: two runs of a million hashes differ, or not, in a few memcmp calls
    if a[:n * 32] == b[:n * 32]:
        return None if len(a) == len(b) else n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo * 32:mid * 32] != b[lo * 32:mid * 32]:
            hi = mid
        else:
            lo = mid
    return lo


def check_leaves(kept_note: str, kept_leaves: bytes | None, leaves: bytes, latest_note: str, vkey: str,
                 problems: list[tuple[int, str]] = (), head: int | None = None) -> WitnessReport:
    """Check the hub's entries today (their recomputed leaves) against what the witness kept, and the hub's latest
    signed checkpoint against those entries. Pure: no database, no network.

    `head`: the log size the hub's database records, read after the entries (honest appends only raise it)."""
    try:
        kept = verify_checkpoint(kept_note, vkey)
        latest = verify_checkpoint(latest_note, vkey)
    except CheckpointError as exc:
        return WitnessReport(False, reason=f"{exc.message} (a checkpoint signed with another key: history rewritten?)")
    held = len(leaves) // 32
    report = WitnessReport(False, kept.size, latest.size, unsigned_tail=max(0, held - latest.size),
                           checkpoint=latest_note)

    def bad(seq: int, why: str) -> WitnessReport:
        report.first_bad_seq, report.reason = seq, why
        return report

    if latest.origin != kept.origin:
        return bad(0, f"the checkpoints are of different logs: {kept.origin!r} and {latest.origin!r}")
    if kept_leaves is not None:
        kept_leaves = kept_leaves[:kept.size * 32]  # the copy writes its leaves before its checkpoint
        if len(kept_leaves) // 32 != kept.size or root_of_leaves(kept_leaves, kept.size) != kept.root:
            return bad(0, "the witness copy does not match its own checkpoint: the copy itself was changed")
        first = _first_difference(kept_leaves, leaves[:len(kept_leaves)])
        if first is not None:
            what = "is missing (deleted or truncated)" if first >= held else "differs from the copy (edited, " \
                                                                              "deleted, inserted or moved)"
            return bad(first, f"entry {first} {what}: history was rewritten")
    if problems:
        seq, why = min(problems)
        if seq < max(kept.size, latest.size):
            return bad(seq, why)
    if held < kept.size:
        return bad(held, f"the log holds {held} entries but the kept checkpoint covers {kept.size}: truncated")
    if kept_leaves is None and root_of_leaves(leaves, kept.size) != kept.root:
        return bad(0, f"entries 0..{kept.size - 1} no longer hash to the kept checkpoint: edited, deleted or rewritten")
    if latest.size < kept.size:
        return bad(latest.size, f"the hub's latest checkpoint ({latest.size}) is smaller than the kept one "
                                f"({kept.size}): history was rewritten")
    if held < latest.size:
        return bad(held, f"the hub signed {latest.size} entries but holds {held}: entries deleted")
    if root_of_leaves(leaves, latest.size) != latest.root:
        return bad(kept.size, f"the hub's entries do not hash to its latest checkpoint ({latest.size}): an entry "
                              f"in {kept.size}..{latest.size - 1} was changed")
    if head is not None and head < held:
        return bad(head, f"the log head says {head} entries but {held} are stored: the head was replaced, or "
                         "entries were added behind the log's back")
    report.reason = f"entries 0..{kept.size - 1} are unchanged and the log grew to a signed {latest.size}"
    if report.unsigned_tail:
        report.status = "unsigned-tail"
        report.reason += (f"; entries {latest.size}..{held - 1} are after the latest signed checkpoint: "
                          "not witnessed until one is signed")
    else:
        report.ok, report.status = True, "ok"
    return report


def local_view(session: Session) -> tuple[str | None, bytes, list[tuple[int, str]], int]:
    """This database's latest checkpoint note, every entry's leaf hash recomputed from its body (up to the first
    gap), what the scan found wrong, and the log head (read last)."""
    row = latest_checkpoint(session)
    conn = session.connection()
    total = (conn.scalar(select(func.max(AuditEntry.seq))) or -1) + 1
    out, problems = [], []
    for start in range(0, total, 1 << 17):
        scan = scan_range(conn, start, min(total, start + (1 << 17)))
        out.append(scan.leaves)
        problems += scan.findings
        if scan.gap:
            break
    head = conn.scalar(select(AuditHead.size).where(AuditHead.id == 1)) or 0
    return (row.note if row else None), b"".join(out), problems, head


def witness_local(session: Session, kept_note: str | None, vkey: str,
                  kept_leaves: bytes | None = None) -> WitnessReport:
    """Check the kept checkpoint (and copy) against this database's entries and its latest signed checkpoint.

    Without a kept checkpoint (a new witness), the latest is taken on trust and checked against the entries."""
    note, leaves, problems, head = local_view(session)
    if note is None:
        return WitnessReport(False, reason="this log has no checkpoint yet")
    # None only: an empty kept note taken as "nothing kept" would check the log against itself and pass it.
    return check_leaves(note if kept_note is None else kept_note, kept_leaves, leaves, note, vkey, problems, head)


def remote_view(client, vkey: str, headers: dict) -> tuple[str, bytes]:
    """A hub's latest checkpoint note and its entries' leaf hashes (recomputed there from the bodies), over HTTP."""
    latest = client.get("checkpoint", headers=headers)
    latest.raise_for_status()
    note = latest.json()["note"]
    try:
        size = verify_checkpoint(note, vkey).size
    except CheckpointError:
        return note, b""  # check_leaves says what is wrong with it
    out = []
    for start in range(0, size, PAGE):
        r = client.get("leaves", params={"start": start, "end": min(size, start + PAGE)}, headers=headers)
        r.raise_for_status()
        page = base64.b64decode(r.json()["leaves"])
        out.append(page)
        if len(page) < (min(size, start + PAGE) - start) * 32:
            break  # a gap: the rest would be shifted
    return note, b"".join(out)


def witness_remote(base_url: str, kept_note: str | None, vkey: str, token: str | None = None, *, client=None,
                   kept_leaves: bytes | None = None) -> WitnessReport:
    """Ask a hub's API (…/api/v1/audit) for its latest checkpoint and its entries' leaf hashes; check them here."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with client or httpx.Client(base_url=base_url, timeout=60) as http:
        note, leaves = remote_view(http, vkey, headers)
    return check_leaves(note if kept_note is None else kept_note, kept_leaves, leaves, note, vkey)


def check_extends(kept_note: str, current_note: str, proof: list[bytes], vkey: str) -> WitnessReport:
    """Check, with a consistency proof, that one signed checkpoint extends another (for a client that holds no
    entries; it trusts the hub's tree to stand for the entries, which a witness does not)."""
    try:
        kept, current = verify_checkpoint(kept_note, vkey), verify_checkpoint(current_note, vkey)
        if current.size < kept.size:
            raise ProofError(f"the log shrank from {kept.size} to {current.size} entries")
        if kept.size:
            verify_consistency(kept.size, current.size, proof, kept.root, current.root)
    except (CheckpointError, ProofError) as exc:
        return WitnessReport(False, reason=f"{exc}: history was rewritten")
    return WitnessReport(True, kept.size, current.size, reason=f"entries 0..{kept.size - 1} are unchanged",
                         status="ok")


def leaves_of_bodies(bodies) -> bytes:
    """Leaf hashes of entry bodies (text), concatenated."""
    sha = hashlib.sha256
    return b"".join(sha(b"\x00" + b.encode()).digest() for b in bodies)

