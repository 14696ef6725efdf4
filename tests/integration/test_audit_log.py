"""The audit log on a real database: verify finds every kind of tampering and names the first bad entry."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

import concord.audit.models  # noqa: F401  (registers the audit tables on Base.metadata)
from concord.audit import proofs
from concord.audit.canonical import canonical_entry
from concord.audit.checkpoints import Checkpointer, NoteSigner, latest_checkpoint, load_or_create_key
from concord.audit.group import GroupCommitter
from concord.audit.log import AuditLog
from concord.audit.merkle import leaf_hash
from concord.audit.verify import verify_log
from concord.audit.witness import witness_local
from concord.clock import FixedClock
from concord.db import Base, make_engine, make_session_factory
from concord.messaging.uow import AuditNote

ORIGIN = "test.concord.local/audit"


class Log:
    """A database with an audit log: 40 entries appended 5 at a time, a checkpoint after every 10."""

    def __init__(self, url: str, key_path):
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.clock = FixedClock()
        self.signer = NoteSigner(ORIGIN, load_or_create_key(key_path))
        self.checkpointer = Checkpointer(self.sessions, self.signer, self.clock)

    def append(self, count: int, *, every: int = 10, resource: str = "declaration/D{}") -> None:
        for _ in range(0, count, 5):
            with self.sessions() as s:
                size = s.scalar(text("SELECT count(*) FROM audit_entries"))
                notes = [note(size + k, resource) for k in range(5)]
                AuditLog().append(s, notes, self.clock.advance(seconds=1), f"req_{size}")
                s.commit()
            if (size + 5) % every == 0:
                self.checkpointer.issue()

    def sql(self, statement: str, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(statement), params)

    def verify(self):
        with self.engine.connect() as conn:
            return verify_log(conn, self.signer.vkey)


def note(i: int, resource: str = "declaration/D{}") -> AuditNote:
    return AuditNote("declaration:decision:recorded", resource.format(i), actor=f"usr-{i % 3}", agency="NPPO",
                     purpose="clearance", agreement="MOU-1", owner="CUS", detail={"decision": "cleared", "n": i})


def forged_row(seq: int, resource: str) -> dict:
    """A well-formed entry an attacker builds for position seq: canonical body, matching leaf hash."""
    at = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    n = note(seq, resource)
    body = canonical_entry(seq, at, n, "req_forged")
    return dict(seq=seq, at=at.replace(tzinfo=None), actor=n.actor, agency=n.agency, action=n.action,
                resource=n.resource, purpose=n.purpose, agreement=n.agreement, outcome=n.outcome, owner=n.owner,
                request_id="req_forged", body=body.decode(), leaf_hash=leaf_hash(body))


INSERT = ("INSERT INTO audit_entries (seq, at, actor, agency, action, resource, purpose, agreement, outcome, owner,"
          " request_id, body, leaf_hash) VALUES (:seq, :at, :actor, :agency, :action, :resource, :purpose,"
          " :agreement, :outcome, :owner, :request_id, :body, :leaf_hash)")


def shift(log: Log, first: int, by: int) -> None:
    """Renumber entries from `first` by `by`, through negative numbers so the primary key never collides."""
    log.sql("UPDATE audit_entries SET seq = -(seq + :by) - 1 WHERE seq >= :first", by=by, first=first)
    log.sql("UPDATE audit_entries SET seq = -(seq + 1) WHERE seq < 0")


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    log = Log(url, tmp_path / "audit.key")
    log.append(40)
    yield log
    log.engine.dispose()


def test_an_untouched_log_verifies(log):
    report = log.verify()
    assert report.ok and report.first_bad_seq is None
    assert (report.entries, report.checkpoints, report.verified_size) == (40, 4, 40)


@pytest.mark.parametrize("tamper, first_bad, exact", [
    ("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 17", 17, True),
    ("UPDATE audit_entries SET owner = NULL WHERE seq = 17", 17, True),
    ("UPDATE audit_entries SET at = :later WHERE seq = 17", 17, True),
    ("UPDATE audit_entries SET body = replace(body, 'cleared', 'refused') WHERE seq = 17", 17, True),
    ("DELETE FROM audit_entries WHERE seq = 17", 17, True),
    ("DELETE FROM audit_entries WHERE seq >= 30", 30, True),
    ("UPDATE audit_head SET size = 30", 30, True),
])
def test_a_changed_deleted_or_truncated_entry_is_found(log, tamper, first_bad, exact):
    log.sql(tamper, **({"later": datetime(2027, 1, 1)} if ":later" in tamper else {}))
    if "size = 30" in tamper:  # a truncation that also fixes up the head: the signed checkpoint still knows
        log.sql("DELETE FROM audit_entries WHERE seq >= 30")
    report = log.verify()
    assert not report.ok
    assert (report.first_bad_seq, report.exact) == (first_bad, exact), report.findings


def test_a_deleted_entry_with_the_rest_renumbered_is_found(log):
    log.sql("DELETE FROM audit_entries WHERE seq = 17")
    shift(log, 18, -1)
    assert log.verify().first_bad_seq == 17


def test_an_inserted_entry_is_found(log):
    shift(log, 17, 1)
    log.sql(INSERT, **forged_row(17, "declaration/FORGED{}"))
    log.sql("UPDATE audit_head SET size = size + 1")
    report = log.verify()
    assert (report.ok, report.first_bad_seq, report.exact) == (False, 17, True), report.findings


def test_reordered_entries_are_found(log):
    log.sql("UPDATE audit_entries SET seq = -1 WHERE seq = 17")
    log.sql("UPDATE audit_entries SET seq = 17 WHERE seq = 23")
    log.sql("UPDATE audit_entries SET seq = 23 WHERE seq = -1")
    assert log.verify().first_bad_seq == 17


def test_a_consistent_rewrite_is_caught_by_the_checkpoint_that_covers_it(log):
    # Body, leaf hash and columns rewritten together: only the signed root can tell, to the checkpoint interval.
    log.sql("DELETE FROM audit_entries WHERE seq = 17")
    log.sql(INSERT, **forged_row(17, "declaration/REWRITTEN{}"))
    report = log.verify()
    assert (report.ok, report.first_bad_seq, report.exact, report.verified_size) == (False, 10, False, 10)


def test_an_entry_added_behind_the_logs_back_is_found(log):
    log.sql(INSERT, **forged_row(40, "declaration/EXTRA{}"))
    assert log.verify().first_bad_seq == 40


def test_a_forged_checkpoint_signature_is_found(log):
    log.sql("UPDATE audit_checkpoints SET note = replace(note, '\u2014 ', '\u2014 x') WHERE size = 20")
    report = log.verify()
    assert not report.ok and any("checkpoint 20" in f.problem for f in report.findings)


def test_every_entry_has_an_inclusion_proof_and_sizes_are_consistent(log):
    with log.sessions() as s:
        for seq in range(40):
            assert proofs.inclusion(s, seq)["size"] == 40
            proofs.inclusion(s, seq, size=max(seq + 1, 10))  # any size the stored nodes cover
        for old in (1, 7, 10, 16, 33, 40):
            proofs.consistency(s, old, 40)
        with pytest.raises(proofs.ProofUnavailable):
            proofs.inclusion(s, 40, 40)
        with pytest.raises(proofs.ProofUnavailable):
            proofs.consistency(s, 41, 40)


def test_a_witness_accepts_growth_and_catches_a_rewritten_history(log, tmp_path):
    with log.sessions() as s:
        kept = latest_checkpoint(s).note
    log.append(20)
    with log.sessions() as s:
        assert witness_local(s, kept, log.signer.vkey).ok
    # The hub rebuilds its log with entry 5 changed and signs it again with the same key.
    other = Log(f"sqlite:///{tmp_path / 'rewritten.db'}", tmp_path / "audit.key")
    other.append(10)
    with other.sessions() as s:
        AuditLog().append(s, [note(999)], other.clock.now(), "req")
        s.commit()
    other.append(54, every=5)
    with other.sessions() as s:
        report = witness_local(s, kept, log.signer.vkey)
    assert not report.ok and "rewritten" in report.reason


def test_the_checkpointer_signs_within_its_interval_while_entries_arrive(log):
    ticker = log.checkpointer.run_every(0.05)
    try:
        log.append(5, every=10**9)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with log.sessions() as s:
                if latest_checkpoint(s).size == 45:
                    break
            time.sleep(0.02)
    finally:
        ticker.stop()
    with log.sessions() as s:
        assert latest_checkpoint(s).size == 45
    assert log.verify().ok


def test_group_commit_gives_every_caller_its_own_durable_entries(log):
    committer = GroupCommitter(log.sessions, AuditLog(), log.clock)
    got: list[list[int]] = []
    lock = threading.Lock()

    def caller(k: int) -> None:
        for j in range(10):
            seqs = committer.record([note(k * 100 + j), note(k * 100 + j)], request_id=f"req_{k}_{j}")
            with lock:
                got.append(seqs)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    committer.close()
    assert sorted(s for seqs in got for s in seqs) == list(range(40, 200))
    assert all(b == a + 1 for a, b in got)
    log.checkpointer.issue()
    assert log.verify().ok
