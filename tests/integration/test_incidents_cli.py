"""`concord incidents|operations|notices`: the same handlers and access rule as the API, from the command line."""

import json
from types import SimpleNamespace

from typer.testing import CliRunner

from concord.cli import app as cli
from concord.config import get_settings


def test_report_share_notify_and_work_a_case_from_the_cli(sqlite_concord, tmp_path, monkeypatch):
    hub = sqlite_concord  # the demo config loaded; the CLI opens the same database
    monkeypatch.setenv("CONCORD_DATABASE_URL", hub.settings.resolved_database_url())
    monkeypatch.setenv("CONCORD_VAR_DIR", str(hub.settings.var_dir))
    get_settings.cache_clear()
    try:
        story(tmp_path)
    finally:
        get_settings.cache_clear()  # the environment is restored after the test: settings read from it again


def story(tmp_path):
    def run(*args):
        r = CliRunner().invoke(cli, list(args))
        return SimpleNamespace(returncode=r.exit_code, stdout=r.stdout, stderr=r.output)
    (tmp_path / "seizure.yaml").write_text(
        "category: seizure\ntitle: Cocaine in banana boxes\nsummary: S3CR3T informant\n"
        "occurred_at: 2026-11-02T06:00:00+00:00\nlocation: {office: NLRTM}\n"
        "found: [{goods: cocaine, hs_code: '293979', origin: EC, concealment: false floor}]\n"
        "containers: [MSCU1234566]\nindicators: {containers: [MSCU1234566]}\n")
    out = run("incidents", "report", str(tmp_path / "seizure.yaml"), "--as", "nppo-officer")
    assert out.returncode == 0, out.stderr
    inc = json.loads(out.stdout)["id"]
    police = run("incidents", "show", inc, "--as", "pol-officer", "--purpose", "criminal_investigation")
    assert police.returncode == 0 and "false floor" in police.stdout and "S3CR3T" not in police.stdout
    hidden = run("incidents", "show", inc, "--as", "mar-officer", "--purpose", "criminal_investigation")
    assert hidden.returncode == 2 and f"incident {inc} not found" in hidden.stderr
    (tmp_path / "notice.json").write_text(json.dumps({
        "title": "Bananas from Ecuador", "purpose": "public_health", "indicators": {"origins": ["EC"]},
        "recommended_action": "inspect", "valid_until": "2099-01-01T00:00:00+00:00",
        "feedback_due_at": "2098-01-01T00:00:00+00:00"}))
    notice = json.loads(run("notices", "issue", str(tmp_path / "notice.json"), "--as", "nppo-officer").stdout)
    assert notice["recipients"] == ["FDA"]
    out = run("notices", "feedback", notice["id"], "--action", "inspected", "--result", "seizure", "--as",
              "fda-officer")
    assert out.returncode == 0, out.stderr
    (tmp_path / "op.yaml").write_text(
        "name: Banana Split\nstarts_at: 2026-01-01T00:00:00+00:00\nends_at: 2099-01-01T00:00:00+00:00\n"
        "members: [{user_id: pol-officer, role: member}]\n")
    op = json.loads(run("operations", "open", str(tmp_path / "op.yaml"), "--as", "nppo-officer").stdout)["id"]
    out = run("operations", "task", op, "Trace the consignee", "--owner", "pol-officer", "--due",
              "2026-01-02T00:00:00+00:00", "--as", "nppo-officer")
    assert out.returncode == 0, out.stderr
    assert json.loads(run("operations", "escalate").stdout) == {"escalated": 1}
    shown = json.loads(run("operations", "show", op, "--as", "pol-officer").stdout)
    assert shown["tasks"][0]["escalation"] == 2  # no supervisor: straight to the lead agency
    assert run("operations", "show", op, "--as", "fda-officer").returncode == 2
