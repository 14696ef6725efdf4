"""Tampering matrix: every way an editor of the database can change the log is caught by `verify` and by `witness`.

Each case starts from the same log (40 entries, a checkpoint every 10, signed by a signer that keeps its last
checkpoint outside the database) and a witness copy kept at 40 entries; then tampers, then asks both.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from concord.audit.checkpoints import Checkpointer, NoteSigner, latest_checkpoint
from concord.audit.signer import SignerRefused, SignerState
from concord.audit.witness import local_view, witness_local
from test_audit_log import INSERT, ORIGIN, Log, forged_row, shift

TRIED: list[tuple[str, bool, bool]] = []


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    log = Log(url, tmp_path / "audit.key")
    log.append(40)
    yield log
    log.engine.dispose()


def _rewrite_with_new_key(log: Log, tmp_path) -> None:
    """The attacker rebuilds the tree over a forged entry 17 and signs every checkpoint again with a key of its own."""
    log.sql("DELETE FROM audit_entries WHERE seq = 17")
    log.sql(INSERT, **forged_row(17, "declaration/REWRITTEN{}"))
    log.sql("DELETE FROM audit_checkpoints")
    log.sql("DELETE FROM audit_nodes")
    forger = Checkpointer(log.sessions, NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), log.clock)
    forger.issue()


def _replace_latest_checkpoint(log: Log, tmp_path) -> None:
    """The latest checkpoint swapped for one over a forged root, signed by another key."""
    from concord.audit.note import Checkpoint

    forged = NoteSigner(ORIGIN, Ed25519PrivateKey.generate()).sign(Checkpoint(ORIGIN, 40, bytes(32)))
    log.sql("UPDATE audit_checkpoints SET note = :n, root = :r WHERE size = 40", n=forged, r=bytes(32))


CASES = {
    "edit an entry's body": lambda log, _: log.sql(
        "UPDATE audit_entries SET body = replace(body, 'cleared', 'refused') WHERE seq = 17"),
    "edit an entry's column": lambda log, _: log.sql("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 17"),
    "edit an entry with its hash and columns": lambda log, _: (
        log.sql("DELETE FROM audit_entries WHERE seq = 17"), log.sql(INSERT, **forged_row(17, "declaration/X{}"))),
    "delete an entry": lambda log, _: log.sql("DELETE FROM audit_entries WHERE seq = 17"),
    "delete an entry and renumber the rest": lambda log, _: (
        log.sql("DELETE FROM audit_entries WHERE seq = 17"), shift(log, 18, -1), log.sql(
            "UPDATE audit_head SET size = 39")),
    "truncate": lambda log, _: (log.sql("DELETE FROM audit_entries WHERE seq >= 30"),
                                log.sql("UPDATE audit_head SET size = 30")),
    "truncate with the checkpoints that cover it": lambda log, _: (
        log.sql("DELETE FROM audit_entries WHERE seq >= 20"), log.sql("DELETE FROM audit_checkpoints WHERE size > 20"),
        log.sql("UPDATE audit_head SET size = 20")),
    "append after the last checkpoint": lambda log, _: (
        log.sql(INSERT, **forged_row(40, "declaration/EXTRA{}")), log.sql("UPDATE audit_head SET size = 41")),
    "rewrite the tree with a new key": _rewrite_with_new_key,
    "replace the head (log size)": lambda log, _: log.sql("UPDATE audit_head SET size = 35"),
    "replace the latest checkpoint": _replace_latest_checkpoint,
    "remove the latest checkpoints": lambda log, _: log.sql("DELETE FROM audit_checkpoints WHERE size > 20"),
}


@pytest.fixture
def kept(log, tmp_path):
    """What the outside world holds before the tampering: the signer's state and a witness copy at 40 entries."""
    state = SignerState(tmp_path / "signer.last", log.signer.vkey)
    with log.sessions() as s:
        state.keep(latest_checkpoint(s).note)
        note, leaves, _, _ = local_view(s)
    return state, note, leaves


@pytest.mark.parametrize("case", sorted(CASES))
def test_verify_and_the_witness_each_catch_every_tampering(log, kept, tmp_path, case):
    state, note, leaves = kept
    CASES[case](log, tmp_path)
    with log.engine.connect() as conn:
        from concord.audit.verify import verify_log

        report = verify_log(conn, log.signer.vkey, kept=state.last())
    with log.sessions() as s:
        witnessed = witness_local(s, note, log.signer.vkey, leaves)
    TRIED.append((case, not report.ok, not witnessed.ok))
    assert not report.ok, (case, report)
    assert not witnessed.ok, (case, witnessed)


def test_the_untouched_log_passes_both(log, kept):
    state, note, leaves = kept
    log.append(10)  # honest growth after the copy was kept
    with log.engine.connect() as conn:
        from concord.audit.verify import verify_log

        assert verify_log(conn, log.signer.vkey, kept=state.last()).status == "ok"
    with log.sessions() as s:
        report = witness_local(s, note, log.signer.vkey, leaves)
    assert report.ok and report.current_size == 50, report


@pytest.mark.parametrize("case", ["rewrite the tree with a new key", "truncate with the checkpoints that cover it"])
def test_the_signer_refuses_to_sign_over_a_rewritten_or_rolled_back_log(log, kept, tmp_path, case):
    state = kept[0]
    CASES[case](log, tmp_path)
    with log.engine.connect() as conn:  # then the log grows, and the signer is asked to sign it
        size = conn.scalar(text("SELECT count(*) FROM audit_entries"))
    log.sql(INSERT, **forged_row(size, "declaration/NEXT{}"))
    log.sql("UPDATE audit_head SET size = :n", n=size + 1)
    signer = Checkpointer(log.sessions, log.signer, log.clock, state=state)
    with pytest.raises(SignerRefused):
        signer.issue()


def test_zz_tampering_figures(capsys):
    """Prints "tampering cases tried / found" for the report (the cases above assert each one)."""
    if not TRIED:
        pytest.skip("run with the matrix")
    found_v = sum(v for _, v, _ in TRIED)
    found_w = sum(w for _, _, w in TRIED)
    with capsys.disabled():
        print(f"\ntampering cases tried {len(TRIED)}: verify found {found_v}, witness found {found_w}")
    assert found_v == found_w == len(TRIED)
