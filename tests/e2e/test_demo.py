"""`concord demo` through the real handlers: every status reachable, every agency engaged, the log verifies."""

from concord.demo.run import run_demo


def test_demo_runs_the_main_job(tmp_path):
    summary = run_demo(tmp_path / "demo.db", 120, seed=7)
    assert summary["declarations"] == 120
    assert summary["by_status"]["released"] > 60 and summary["released"] == summary["by_status"]["released"]
    assert {"CUS", "NPPO", "VET", "FDA", "STD", "POL", "ENV", "MAR"} <= set(summary["by_agency"])
    assert summary["median_hours_lodgement_to_release"] > 0
    assert summary["audit_log"]["verified"] and summary["audit_log"]["entries"] == summary["audit_log"]["checkpoint_size"]
