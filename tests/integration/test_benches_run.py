"""The benchmarks still run (tiny sizes): a refactoring once broke one, and nothing noticed until it was run."""

from concord.declarations import bench as ingest
from concord.risk import bench_engine


def test_ingest_bench_runs_the_upload_path_and_its_baselines():
    out = ingest.run(count=300, batch=120, chunk=50)
    assert out["declarations"] == 300 and out["rows_written"] > 300 * 5
    assert out["pipeline_declarations_per_s"] > 0 and out["raw_insert_declarations_per_s"] > 0
    assert out["raw_insert_bare_tables_declarations_per_s"] > 0


def test_risk_engine_bench_documents_are_valid_declarations():
    docs = bench_engine._documents(5, seed=3)
    assert len(docs) == 5 and all(d["items"] and d["lrn"] for d in docs)
