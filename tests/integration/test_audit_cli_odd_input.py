"""Odd input to `concord audit` (an empty kept checkpoint, a mistyped key or URL, a path that cannot be a witness
copy, sizes beyond the database's integers, a signer interval of 0 or NaN): each is refused with one line that says
what to fix and exit 2; never a traceback, and never an "ok" about a log that was not checked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from concord.access.deps import current_subject
from concord.app import create_app
from concord.audit.api import router
from concord.audit.witness import witness_local, witness_remote
from concord.cli import app as cli
from concord.config import get_settings
from concord.errors import ConcordError
from test_audit_api_cli import AUDITOR
from test_audit_api_cli import hub as audited  # noqa: F401 - a fixture, used by name

SIZE_MAX = str((1 << 63) - 1)


@pytest.fixture
def hub(audited, monkeypatch):
    """The audit API test's hub (entries and a signed checkpoint), which the CLI opens through the environment."""
    c = audited
    monkeypatch.setenv("CONCORD_DATABASE_URL", c.settings.resolved_database_url())
    monkeypatch.setenv("CONCORD_VAR_DIR", str(c.settings.var_dir))
    get_settings.cache_clear()
    yield c
    get_settings.cache_clear()


def run(*args):
    return CliRunner().invoke(cli, ["audit", *[str(a) for a in args]])


def refused(result, *words):
    """Exit 2, one line starting with error:, naming `words`; no traceback, nothing on stdout (no verdict)."""
    text = " ".join(result.stderr.split())
    assert result.exit_code == 2 and text.startswith("error:") and "Traceback" not in text, (result.exit_code, text,
                                                                                              result.exception)
    assert text.count("error:") == 1 and not result.stdout, (text, result.stdout)
    assert all(w in text for w in words), text


def usage_error(result, *words):
    """Exit 2 from click's own check of an option's range: no traceback."""
    text = " ".join(result.stderr.split())
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (result.exit_code, result.exception)
    assert all(w in text for w in words), text


def vkey() -> str:
    return run("key").stdout.strip()


def kept_file(tmp_path: Path) -> Path:
    kept = tmp_path / "kept.txt"
    kept.write_text(run("checkpoint").stdout)
    return kept


def test_an_empty_kept_checkpoint_is_refused_not_compared_with_the_log_itself(hub, tmp_path):
    for i, text in enumerate(["", "\n\n"]):  # blanked, or truncated to its newlines
        empty = tmp_path / f"empty{i}.txt"
        empty.write_text(text)
        refused(run("witness", empty), f"{empty} is empty: not a kept checkpoint")
        refused(run("witness", empty, "--json"), "is empty")
        refused(run("verify", "--kept", empty), f"{empty} is empty: not a kept checkpoint")
    # The library's callers too: only None ("nothing kept yet") takes the latest checkpoint on trust.
    key = vkey()
    with hub.sessions() as s:
        assert witness_local(s, None, key).ok
        assert not witness_local(s, "", key).ok
    app = create_app(hub, background=False)
    app.include_router(router)
    app.dependency_overrides[current_subject] = lambda: AUDITOR
    api = TestClient(app)
    api.base_url = "http://testserver/api/v1/audit/"
    assert witness_remote("", None, key, client=api).ok
    assert not witness_remote("", "", key, client=api).ok
    # A witness copy whose kept checkpoint was blanked fails; it does not move on to the hub's latest.
    w = tmp_path / "w"
    assert run("witness-init", w, "--name", "witness.vet.example/concord", "--key", key).exit_code == 0
    assert run("witness", w).exit_code == 0
    (w / "checkpoint").write_text("")
    blanked = run("witness", w, "--json")
    assert blanked.exit_code == 1 and json.loads(blanked.stdout)["ok"] is False


def test_a_mistyped_key_is_refused_not_reported_as_a_failed_log(hub, tmp_path):
    refused(run("verify", "--key", "garbage"), "--key", "name+keyid+base64", "concord audit key")
    refused(run("verify", "--key", "garbage", "--json"), "--key", "name+keyid+base64")
    name, kid, material = vkey().split("+", 2)
    refused(run("verify", "--key", f"{name}+00000000+{material}"), "--key", "key id does not match")
    refused(run("witness", kept_file(tmp_path), "--key", "garbage"), "--key", "name+keyid+base64")
    assert run("verify", "--key", vkey()).exit_code == 0


def test_an_unreachable_or_malformed_url_is_one_line(hub, tmp_path, monkeypatch):
    kept, key = kept_file(tmp_path), vkey()
    url = "http://127.0.0.1:1/api/v1/audit"
    refused(run("witness", kept, "--url", url, "--key", key), f"cannot reach {url}: connection refused")
    refused(run("witness", kept, "--url", "notaurl", "--key", key), "--url must be an http:// or https:// URL")
    # A server that answers, but not as the audit API (a wrong path, another service).
    real = httpx.Client
    for status, body, words in [(404, "not here", ["answered 404", "check --url"]),
                                (200, "<html>hello</html>", ["did not answer as a Concord audit API"])]:
        transport = httpx.MockTransport(lambda request, status=status, body=body: httpx.Response(status, text=body))
        monkeypatch.setattr(httpx, "Client", lambda *a, transport=transport, **kw: real(*a, transport=transport, **kw))
        refused(run("witness", kept, "--url", "http://hub.example/api/v1/audit", "--key", key), *words)


def test_witness_init_refuses_a_file_an_uncreatable_path_and_a_bad_name(hub, tmp_path):
    key, name = vkey(), "witness.vet.example/concord"
    existing = tmp_path / "existing"
    existing.write_text("mine")
    refused(run("witness-init", existing, "--name", name, "--key", key),
            f"{existing} exists: choose a new directory for the witness's copy")
    assert existing.read_text() == "mine"
    refused(run("witness-init", existing / "w", "--name", name, "--key", key), f"cannot create {existing / 'w'}")
    if Path("/proc").is_dir():
        refused(run("witness-init", "/proc/nope", "--name", name, "--key", key), "cannot create /proc/nope")
    for bad in ["", "witness vet", "witness+vet"]:
        w = tmp_path / f"w{len(bad)}"
        result = run("witness-init", w, "--name", bad, "--key", key)
        refused(result, "--name must not be empty" if not bad else "no spaces and no '+'")
        assert not w.exists()  # nothing half made
    refused(run("witness-init", tmp_path / "wk", "--name", name, "--key", "garbage"), "--key", "name+keyid+base64")
    assert run("witness-init", tmp_path / "ok", "--name", name, "--key", key).exit_code == 0
    refused(run("witness-init", tmp_path / "ok", "--name", name, "--key", key), "already holds a witness copy")


def test_sizes_beyond_the_databases_integers_are_refused_cleanly(hub):
    huge = "99999999999999999999999"
    usage_error(run("prove", "inclusion", "0", "--size", huge), "--size", SIZE_MAX)
    usage_error(run("prove", "consistency", "1", huge), "new", SIZE_MAX)
    usage_error(run("prove", "consistency", huge, huge), "old", SIZE_MAX)
    largest = run("prove", "inclusion", "0", "--size", SIZE_MAX)  # still looked up: `concord` prints it as one line
    assert isinstance(largest.exception, ConcordError) and "no inclusion proof" in str(largest.exception)


def test_the_signer_interval_must_be_a_positive_finite_number_of_seconds(hub, monkeypatch):
    def no_sleep(seconds):  # were the interval accepted, the loop would sleep (or spin): stop it here
        raise RuntimeError(f"the signer slept {seconds}")

    monkeypatch.setattr(time, "sleep", no_sleep)
    for every in ["-1", "0", "0.01", "nan", "inf", "1e300"]:
        result = run("sign", f"--every={every}")
        refused(result, "--every", "seconds between checkpoints")
        assert "signing as" not in result.stderr  # refused before the signer starts
    assert run("sign", "--every", "0.1", "--once").exit_code == 0


def test_an_empty_or_reversed_consistency_range_is_said_once(hub):
    for old, new in [("0", "15"), ("5", "3"), ("0", "0")]:
        result = run("prove", "consistency", old, new)
        refused(result, f"no consistency proof from size {old} to {new}", "need 0 < OLD <= NEW")
        assert result.stderr.count("no consistency proof") == 1, result.stderr
    assert run("prove", "consistency", "1", "3").exit_code == 0
