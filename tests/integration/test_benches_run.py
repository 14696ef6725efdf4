"""The benchmarks still run (tiny sizes): a refactoring once broke one, and nothing noticed until it was run."""

import pytest

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


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_pause_bench_compares_each_case_with_work_done_back_to_back(database, request):
    server = request.getfixturevalue("pg_server") and "postgresql://postgres@127.0.0.1:5432/postgres" \
        if database == "postgresql" else None
    out = ingest.pause_cost(groups=4, sizes=(1, 2), pauses=(0.0, 0.002), postgres=server)
    assert out["database"] == database
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
                 "audit-flood", "relay", "edifact", "hunt", "alerts", "console", "schemes", "cluster", "soak",
                 "kcs-confirm"):
        assert f" {name} " in listed, name


@pytest.mark.parametrize("command", [["http"], ["pause"], ["relay"], ["alerts"], ["soak", "--postgres"],
                                     ["soak", "--database"]])
def test_a_postgres_url_that_cannot_serve_is_refused_before_the_bench_starts(command):
    from typer.testing import CliRunner

    from concord.cli import app

    option = command[1:] or ["--postgres"]
    for url, said in [("localhost:5432", "is not a PostgreSQL URL: give postgresql://"),
                      ("postgresql://postgres@127.0.0.1:1/postgres", "PostgreSQL does not answer at")]:
        out = CliRunner().invoke(app, ["bench", command[0], *option, url], terminal_width=400)
        shown = " ".join(out.output.replace("│", " ").split())  # the error box wraps at 80 columns
        assert out.exit_code == 2 and said in shown, out.output
        assert f"Invalid value for '{option[0]}'" in shown and "Traceback" not in shown, out.output


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
    assert out["store_us_per_declaration"] > 0 and "store_backend_cpu_us_per_declaration" not in out, out


def test_relay_bench_on_postgresql_reports_the_stores_backend_cpu(pg_server):
    from concord.bench import relay

    out = relay.run(20, 1, "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    assert out["database"] == "postgresql" and out["store_backend_cpu_us_per_declaration"] >= 0, out


def test_edifact_bench_lodges_both_paths_and_measures_the_round_trip():
    from concord.bench import edifact as bench_edifact

    out = bench_edifact.run(count=20, per_interchange=10)
    assert out["cusdec_messages_per_s"] > 0 and out["json_declarations_per_s"] > 0
    trip = out["round_trip"]
    assert trip["documents"] == 20 and trip["fields_kept"] == trip["fields"] > 20 * 20


def test_hunt_bench_runs_small_and_the_index_finds_what_the_scan_finds():
    from concord.bench import hunt

    out = hunt.run(declarations=3000)
    assert out["declarations"] == 3000 and out["seconds"] > 0 and out["baseline"]["seconds"] > 0
    assert out["matches"] == out["baseline"]["matches"] > 0, out


def test_alerts_bench_runs_small_and_delivers_to_no_one_else():
    from concord.bench import alerts

    out = alerts.run(subscribers=12, declarations=4, rate=4.0, deliveries=60)
    assert out["subscribers"] == 12 and out["events"] > 0 and out["wrongly_delivered"] == 0, out
    assert out["delivered"] == out["expected"] > 0 and out["p99_ms"] > 0, out
    hooks = out["webhooks"]
    assert hooks["signed"]["deliveries"] == hooks["unsigned_baseline"]["deliveries"] == 60, hooks


def test_console_bench_runs_small_and_times_every_screen_beside_the_api():
    from concord.bench import console

    out = console.run(count=12, requests=2, bulk=1030)  # two uploads
    assert out["declarations"] == 1042 and out["bulk_lodged"] == 1030
    assert len(out["pages"]) == 20 and all(p["p95_ms"] > 0 and p["bytes"] > 500 for p in out["pages"].values())
    assert all(p["first_visit_ms"] > 0 and p["max_ms"] >= p["p95_ms"] for p in out["pages"].values())
    assert set(out["baseline_api_json"]) == {"api_tasks (NPPO)", "api_declaration (CUS)"}
    assert out["p95_is_the_slowest_sample"] and set(out["full_collection_ms"]) == {
        "unsettled_heap_before_start", "served_heap_after_timing"}


@pytest.mark.nats  # its own nats-server processes on free ports, not the server on 4222
def test_cluster_bench_runs_small_through_the_cli():
    import json

    from typer.testing import CliRunner

    from concord.bench.nats_cluster import nats_server_binary
    from concord.cli import app

    if nats_server_binary() is None:
        pytest.skip("nats-server is not installed")
    out = CliRunner().invoke(app, ["bench", "cluster", "--json", "--rate", "40", "--seconds", "2"])
    assert out.exit_code == 0, out.output
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["lodgings_acknowledged"] == 80 and figures["killed"] and figures["lost"] == 0, figures
    assert figures["messages_delivered"] == figures["messages_owed"] > 80, figures


def test_soak_bench_measures_each_window_and_the_memory():
    """Tiny: a 1-second maximum, then two 2-second windows at 70 % of it."""
    from concord.bench import soak

    out = soak.run(minutes=4 / 60, seconds=1.0, window_s=2.0)
    assert out["windows"] == 2 and len(out["per_window"]) == 2
    assert out["max_declarations_per_s"] > 0 and abs(out["rate"] - 0.7 * out["max_declarations_per_s"]) <= 1
    assert out["errors"] == 0 and out["requests"] > 0
    assert out["rss_mb_start"] > 0 and out["rss_mb_end"] > 0 and out["rss_growth"] is not None
    assert all(w["outbox"]["lag_s"] >= 0 and w["p99_ms"] > 0 for w in out["per_window"])
    assert all(w["server_cpu_ms_per_lodging"] > 0 and isinstance(w["loop_stalls"], list) for w in out["per_window"])
    assert out["loop_stalls"] >= 0 and out["database"] == "sqlite"


def test_soak_bench_on_postgresql_with_two_workers(pg_server):
    """Tiny, on its own database of the local PostgreSQL server (created and dropped by the bench)."""
    from concord.bench import soak

    out = soak.run(minutes=4 / 60, rate=30, window_s=2.0, postgres="postgresql", workers=2)
    assert out["database"] == "postgresql" and out["workers"] == 2 and out["windows"] == 2
    assert out["errors"] == 0 and out["requests"] > 0 and out["rss_mb_start"] > 0
    assert all(isinstance(w["event_loop_busy"], list) and len(w["event_loop_busy"]) == 2 for w in out["per_window"])
