"""The audit API and `concord audit` on a wired hub: proofs verify where they are received, tampering exits 1."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from concord.access.deps import current_subject
from concord.access.identity import Subject
from concord.app import create_app
from concord.audit.api import router
from concord.audit.checkpoints import Checkpointer, signer_from_settings
from concord.audit.cli import app as cli
from concord.audit.merkle import verify_consistency, verify_inclusion
from concord.audit.note import verify_checkpoint
from concord.audit.witness import witness_remote
from concord.config import get_settings
from concord.messaging.uow import AuditNote

AUDITOR = Subject("aud-1", "CUS", None, frozenset({"auditor"}), lead=True)
TRADER = Subject("trader-1", None, "T1", frozenset({"trader"}))


@pytest.fixture
def hub(sqlite_concord):
    """The demo hub with some entries of its own and a signed checkpoint."""
    c = sqlite_concord
    with c.sessions() as s:
        for i in range(3):
            c.audit_log.append(s, [AuditNote("declaration:read", f"declaration/D{i}", actor="pol-1", agency="POL",
                                             owner="CUS", purpose="criminal_investigation")], c.clock.now(), "req")
        s.commit()
    Checkpointer(c.sessions, signer_from_settings(c.settings), c.clock).issue()
    return c


def client_for(hub, subject: Subject) -> TestClient:
    app = create_app(hub, background=False)
    app.include_router(router)
    app.dependency_overrides[current_subject] = lambda: subject
    return TestClient(app)


def test_checkpoint_and_proofs_verify_on_the_receiving_side(hub):
    api = client_for(hub, AUDITOR)
    latest = api.get("/api/v1/audit/checkpoint").json()
    cp = verify_checkpoint(latest["note"], latest["vkey"])
    assert cp.size == latest["size"] > 3
    for seq in (0, cp.size - 1):
        p = api.get("/api/v1/audit/proofs/inclusion", params={"seq": seq}).json()
        verify_inclusion(seq, cp.size, base64.b64decode(p["leaf_hash"]), [base64.b64decode(h) for h in p["proof"]],
                         cp.root)
    c = api.get("/api/v1/audit/proofs/consistency", params={"old": 2}).json()
    verify_consistency(2, cp.size, [base64.b64decode(h) for h in c["proof"]], base64.b64decode(c["old_root"]), cp.root)
    assert api.get("/api/v1/audit/proofs/inclusion", params={"seq": 10**6}).status_code == 422


def test_entries_are_scoped_and_reading_them_is_logged(hub):
    api = client_for(hub, AUDITOR)
    size = api.get("/api/v1/audit/checkpoint").json()["size"]
    got = api.get(f"/api/v1/audit/entries/{size - 1}").json()
    assert got["entry"]["agency"] == "POL" and got["entry"]["seq"] == size - 1
    assert client_for(hub, TRADER).get(f"/api/v1/audit/entries/{size - 1}").status_code == 404
    with hub.sessions() as s:
        assert s.scalar(text("SELECT action FROM audit_entries ORDER BY seq DESC LIMIT 1")) == "audit:entry:read"


def test_a_remote_witness_checks_the_hub_over_http(hub):
    api = client_for(hub, AUDITOR)
    kept = api.get("/api/v1/audit/checkpoint").json()
    with hub.sessions() as s:
        hub.audit_log.append(s, [AuditNote("auth:token:issued", "user/u1")], hub.clock.now(), "req")
        s.commit()
    Checkpointer(hub.sessions, signer_from_settings(hub.settings), hub.clock).issue()
    api.base_url = "http://testserver/api/v1/audit/"
    report = witness_remote("", kept["note"], kept["vkey"], client=api)
    assert report.ok and report.current_size == kept["size"] + 1


@pytest.fixture
def env(hub, monkeypatch):
    monkeypatch.setenv("CONCORD_DATABASE_URL", hub.settings.resolved_database_url())
    monkeypatch.setenv("CONCORD_VAR_DIR", str(hub.settings.var_dir))
    get_settings.cache_clear()
    yield hub
    get_settings.cache_clear()


def test_the_cli_issues_proves_witnesses_and_verifies(env, tmp_path):
    run = CliRunner().invoke
    note = run(cli, ["checkpoint"])
    assert note.exit_code == 0 and note.output.startswith("concord.local/audit\n")
    kept = tmp_path / "kept.txt"
    kept.write_text(note.output)
    size = int(note.output.split("\n")[1])
    assert run(cli, ["verify"]).exit_code == 0
    assert json.loads(run(cli, ["prove", "inclusion", "1", "--json"]).output)["size"] == size
    assert run(cli, ["prove", "consistency", "1", str(size)]).exit_code == 0
    assert run(cli, ["witness", str(kept)]).exit_code == 0
    assert "+" in run(cli, ["key"]).output
    with env.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET purpose = 'curiosity' WHERE seq = 2"))
    result = run(cli, ["verify", "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["first_bad_seq"] == 2


def test_a_witness_copy_over_http_catches_an_edited_body_and_cosigns_what_it_checked(hub, tmp_path):
    from concord.audit.witness_copy import WitnessCopy
    from concord.audit.cosign import verify_cosignature
    from concord.audit.witness import check_leaves, remote_view

    api = client_for(hub, AUDITOR)
    api.base_url = "http://testserver/api/v1/audit/"
    vkey = api.get("key").json()["vkey"]
    copy = WitnessCopy.create(tmp_path / "pol-witness", vkey, "witness.pol.example/concord")
    note, leaves = remote_view(api, vkey, {})
    first = check_leaves(note, None, leaves, note, vkey)  # a new witness takes the first checkpoint on trust
    line = copy.keep(first, leaves, 1767600000)

    # The hub keeps cosignatures only from witness keys it is configured with.
    size = first.current_size
    assert api.post("cosignatures", json={"size": size, "cosignature": line}).status_code == 422
    hub.settings = hub.settings.model_copy(update={"audit_witness_keys": copy.cosigner.vkey})
    assert api.post("cosignatures", json={"size": size, "cosignature": line}).status_code == 201
    served = api.get("checkpoint").json()["note"]
    assert verify_cosignature(served, copy.cosigner.vkey) == 1767600000
    assert verify_checkpoint(served, vkey).size == size

    with hub.engine.begin() as conn:  # an entry's body edited in place, its stored hash and the tree left alone
        seq = conn.scalar(text("SELECT min(seq) FROM audit_entries WHERE purpose = 'criminal_investigation'"))
        conn.execute(text("UPDATE audit_entries SET body = replace(body, 'criminal_investigation', 'curiosity') "
                          "WHERE seq = :s"), {"s": seq})
    kept_note, kept_leaves = copy.kept()
    note, leaves = remote_view(api, vkey, {})
    report = check_leaves(kept_note, kept_leaves, leaves, note, vkey)
    assert not report.ok and report.first_bad_seq == seq, report
    # The old witness, a consistency proof from the hub's stored tree, cannot see it.
    assert witness_remote_proof_only(api, kept_note, vkey)


def witness_remote_proof_only(api, kept_note, vkey) -> bool:
    from concord.audit.witness import check_extends

    current = api.get("checkpoint").json()
    old = verify_checkpoint(kept_note, vkey).size
    proof = api.get("proofs/consistency", params={"old": old, "new": current["size"]}).json()["proof"]
    return check_extends(kept_note, current["note"], [base64.b64decode(p) for p in proof], vkey).ok


def test_with_an_external_signer_the_web_process_never_reads_the_key(hub, tmp_path, monkeypatch):
    settings = hub.settings.model_copy(update={"audit_signer": "external"})
    env = {"CONCORD_DATABASE_URL": settings.resolved_database_url(), "CONCORD_VAR_DIR": str(settings.var_dir),
           "CONCORD_AUDIT_SIGNER": "external"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        assert CliRunner().invoke(cli, ["sign", "--once"]).exit_code == 0  # the signer user's process
        key_file = settings.resolved_audit_key_file()
        vkey = settings.resolved_audit_vkey_file().read_text().strip()
        key_file.rename(tmp_path / "elsewhere.key")  # out of the web process's reach
        hub.settings = settings
        api = client_for(hub, AUDITOR)
        assert api.get("/api/v1/audit/key").json()["vkey"] == vkey
        assert verify_checkpoint(api.get("/api/v1/audit/checkpoint").json()["note"], vkey)
        assert not key_file.exists()  # serving did not mint a key
        state = settings.resolved_audit_state_file()
        assert state.exists() and (state.stat().st_mode & 0o077) == 0
    finally:
        get_settings.cache_clear()


def test_the_cli_witness_copy_cosigns_then_catches_a_truncation(env, tmp_path):
    from concord.audit.cosign import verify_cosignature

    run = CliRunner().invoke
    vkey = run(cli, ["key"]).output.strip()
    init = run(cli, ["witness-init", str(tmp_path / "w"), "--name", "witness.vet.example/concord", "--key", vkey])
    assert init.exit_code == 0, init.output
    first = run(cli, ["witness", str(tmp_path / "w"), "--json", "--submit"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.output)
    assert out["status"] == "ok" and out["cosignature"].startswith("\u2014 witness.vet.example/concord ")
    stored = run(cli, ["checkpoint"]).output
    assert verify_cosignature(stored, init.output.strip()) > 0  # submitted into the hub's stored note
    with env.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq >= 5"))
        conn.execute(text("UPDATE audit_head SET size = 5"))
    again = run(cli, ["witness", str(tmp_path / "w"), "--json"])
    assert again.exit_code == 1 and json.loads(again.output)["first_bad_seq"] == 5
