"""The benchmarks still run (tiny sizes): a refactoring once broke one, and nothing noticed until it was run."""

from concord.bench import ingest
from concord.bench import risk_step as bench_engine


def test_ingest_bench_runs_the_upload_path_and_its_baselines():
    out = ingest.run(count=300, batch=120, chunk=50)
    assert out["declarations"] == 300 and out["rows_written"] > 300 * 5
    assert out["pipeline_declarations_per_s"] > 0 and out["raw_insert_declarations_per_s"] > 0
    assert out["raw_insert_bare_tables_declarations_per_s"] > 0


def test_risk_engine_bench_documents_are_valid_declarations():
    docs = bench_engine._documents(5, seed=3)
    assert len(docs) == 5 and all(d["items"] and d["lrn"] for d in docs)


def test_pause_bench_compares_each_case_with_work_done_back_to_back():
    out = ingest.pause_cost(groups=4, sizes=(1, 2), pauses=(0.0, 0.002))
    for case in ("groups_of_1", "groups_of_2", "baseline_plain_python_json"):
        runs = out[case]
        assert set(runs) == {"back_to_back", "after_2_ms_sleep"}
        assert runs["back_to_back"]["cpu_vs_back_to_back"] == 1.0
        assert runs["after_2_ms_sleep"]["cpu_ms_p50"] > 0


def test_every_benchmark_is_a_concord_bench_command():
    from typer.testing import CliRunner

    from concord.cli import app

    listed = CliRunner().invoke(app, ["bench", "--help"], terminal_width=200).output
    for name in ("ingest", "pause", "http", "audit", "access", "risk", "risk-engine", "screening", "screening-hub",
                 "audit-flood", "relay", "schemes"):
        assert f" {name} " in listed, name


def test_access_bench_runs_through_the_cli_and_prints_one_json_object():
    import json

    from typer.testing import CliRunner

    from concord.cli import app

    out = CliRunner().invoke(app, ["bench", "access", "--json", "--declarations", "20", "--reads", "20"])
    assert out.exit_code == 0, out.output
    figures = json.loads(out.stdout)
    assert figures["declarations"] == 20 and figures["cases"]["read without check (baseline)"]["p99_ms"] > 0


def test_audit_bench_runs_small():
    from concord.bench import audit

    out = audit.run(appends=200, producers=2, in_flight=8, entries=300, proofs=20)
    assert out["appends_group_commit"]["per_second"] > 0 and out["baseline_raw_batched_inserts"]
    assert out["inclusion_proofs"]["proofs"] == 20


def test_audit_flood_bench_runs_small_and_counts_instead_of_logging_each_request():
    from concord.bench import audit_flood

    out = audit_flood.run(60)
    assert out["refused_entries"] <= 2 and out["denied_entries"] <= 2, out


def test_relay_bench_runs_small():
    from concord.bench import relay

    out = relay.run(20, 1)
    assert out["cut_messages_per_event"] >= 1 and out["whole_messages_per_event"] == 1, out
