"""Scanning stored entries: recompute each leaf hash, check each row against its signed body, find gaps."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.engine import Connection

from concord.audit.canonical import frame_end, frame_head, frame_mid
from concord.driver import PLACEHOLDER

MAX_FINDINGS = 20


@dataclass
class Scan:
    """What a scan of entries [start, stop) found: their leaf hashes up to the first gap, and any faults."""

    start: int
    count: int = 0  # rows in sequence from start, up to the first gap
    leaves: bytes = b""  # their recomputed leaf hashes, 32 bytes each (one bytes object: cheap between processes)
    first_bad: int | None = None
    gap: bool = False
    findings: list[tuple[int, str]] = field(default_factory=list)

    def add(self, seq: int, problem: str) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append((seq, problem))

    def bad(self, seq: int | None) -> None:
        if seq is not None and (self.first_bad is None or seq < self.first_bad):
            self.first_bad = seq


# Columns in the order their keys take in the canonical body, so the body can be rebuilt around them.
SCAN = ("SELECT seq, body, leaf_hash, action, actor, agency, agreement, outcome, owner, purpose, request_id, resource,"
        " at FROM audit_entries WHERE seq >= %s AND seq < %s ORDER BY seq")
SCAN_COLUMNS = ("action", "actor", "agency", "agreement", "outcome", "owner", "purpose", "request_id", "resource")
_decode = json.JSONDecoder().decode


def _naive_utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


class _Frames:
    """The canonical text around each row's values; most columns repeat from row to row, so their text is kept.

    Rebuilding the JSON around the columns costs a fraction of parsing it, which keeps a full verify fast.
    """

    def __init__(self, limit: int = 100_000):
        self.heads: dict[tuple, str] = {}
        self.mids: dict[tuple, str] = {}
        self.limit = limit

    def signed_at(self, i: int, r) -> str | None:
        """The body's time if the body is exactly the canonical JSON of this row's columns at seq i (plus detail)."""
        b, hk, mk = r[1], r[3:7], r[7:10]
        head = self.heads.get(hk)
        if head is None:
            head = self._keep(self.heads, hk, frame_head(*hk))
        mid = self.mids.get(mk)
        if mid is None:
            mid = self._keep(self.mids, mk, frame_mid(*mk))
        end = frame_end(r[10], r[11], i)
        cut = len(b) - len(end) - len(mid)  # where the columns after the time (and detail) begin
        if cut <= len(head) or not (b.startswith(head) and b.endswith(end) and b.startswith(mid, cut)):
            return None
        stop = b.find('"', len(head))
        if stop < 0 or not (stop + 1 == cut or b.startswith(',"detail":{', stop + 1)):
            return None
        return b[len(head):stop]

    def _keep(self, cache: dict, key: tuple, text: str) -> str:
        if len(cache) > self.limit:
            cache.clear()
        cache[key] = text
        return text


def _same_time(signed: str, column) -> bool:
    """The body's ISO time and the column hold the same instant (SQLite returns the column as text)."""
    if isinstance(column, str) and signed.endswith("+00:00") and len(column) == 26:
        frac = column[19:]  # isoformat() leaves out a zero microsecond part
        return signed == column[:10] + "T" + column[11:19] + ("" if frac == ".000000" else frac) + "+00:00"
    try:
        return _naive_utc(signed) == _naive_utc(column)
    except (TypeError, ValueError):
        return False


def _diagnose(scan: Scan, i: int, row, leaf: bytes) -> int | None:
    """Say what is wrong with row i, if anything; returns the first bad seq it proves."""
    if leaf != row[2]:
        scan.add(i, "entry was changed: its leaf hash does not match its body")
        return i
    at = _Frames().signed_at(i, row)
    if at is not None:
        if _same_time(at, row[12]):
            return None
        scan.add(i, f"column at was changed: the signed entry says {at!r}")
        return i
    try:
        body = _decode(row[1])
    except ValueError:
        body = {}
    claimed = body.get("seq") if isinstance(body, dict) else None
    if claimed != i:
        # The body was hashed at position `claimed`: something was inserted, deleted or moved before here.
        scan.add(i, f"entry stored at {i} says it is entry {claimed}: entries inserted, deleted or moved")
        return min(i, claimed) if isinstance(claimed, int) and claimed >= 0 else i
    for name, value in zip(SCAN_COLUMNS, row[3:12]):
        if body.get(name) != value:
            scan.add(i, f"column {name} was changed: the signed entry says {body.get(name)!r}")
            return i
    scan.add(i, "entry body is not in canonical form")
    return i


def _check_rows(scan: Scan, first: int, rows, leaves: list[bytes], frames: _Frames) -> int | None:
    """Row-level checks of a batch starting at seq `first`; returns the first bad seq they prove, if any."""
    bad = None
    if leaves != [r[2] for r in rows]:
        bad = next(k for k, r in enumerate(rows) if leaves[k] != r[2])
    last_ok = (None, None)  # entries of one transaction share a time: compare it once
    for k, r in enumerate(rows[:bad]):
        at = frames.signed_at(first + k, r)
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
        seq = _diagnose(scan, first + k, rows[k], leaves[k])
        found = seq if found is None or (seq is not None and seq < found) else found
        if len(scan.findings) >= MAX_FINDINGS:
            break
    return found


def _batches(conn: Connection, start: int, stop: int, batch: int):
    """Entries [start, stop) in seq order, in lists of rows; SQLite reads through its driver to skip row processing."""
    sql = SCAN % ((PLACEHOLDER[conn.dialect.paramstyle],) * 2)
    if conn.dialect.name == "sqlite":
        cur = conn.connection.driver_connection.execute(sql, (start, stop))
        try:
            while rows := cur.fetchmany(batch):
                yield rows
        finally:
            cur.close()
        return
    result = conn.execution_options(stream_results=True, yield_per=batch).exec_driver_sql(sql, (start, stop))
    try:
        yield from result.partitions(batch)
    finally:
        result.close()


def scan_range(conn: Connection, start: int, stop: int, batch: int = 20000) -> Scan:
    """Check entries [start, stop): contiguous seq, leaf hash over the body, columns as signed."""
    scan, sha, i, frames = Scan(start), hashlib.sha256, start, _Frames()
    out: list[bytes] = []
    for part in _batches(conn, start, stop, batch):
        if part[0][0] != i or part[-1][0] != i + len(part) - 1:  # seq is unique and sorted: the ends tell all
            cut = next(k for k, r in enumerate(part) if r[0] != i + k)
            scan.add(i + cut, f"entries {i + cut}..{part[cut][0] - 1} are missing (deleted, or renumbered)")
            part, scan.gap = part[:cut], True
        leaves = [sha(b"\x00" + r[1].encode()).digest() for r in part]
        scan.bad(_check_rows(scan, i, part, leaves, frames) if part else None)
        out.extend(leaves)
        i += len(part)
        if scan.gap:
            scan.bad(i)
            break
    if not scan.gap and i < stop:
        scan.add(i, f"entries {i}..{stop - 1} are missing (deleted, or renumbered)")
        scan.gap = True
        scan.bad(i)
    scan.count, scan.leaves = i - start, b"".join(out)
    return scan


def scan_range_at(url: str, start: int, stop: int) -> Scan:
    """scan_range on a connection of its own: the entry point of a verify worker process."""
    from concord.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return scan_range(conn, start, stop)
    finally:
        engine.dispose()
