"""`concord bench NAME`: every benchmark, printed as one JSON object (indented unless --json)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Benchmarks that print figures beside a baseline.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="print one JSON object on one line")


def _postgres(help_text: str = "PostgreSQL server URL (its postgres database): run on a fresh database there "
                                "instead of SQLite"):
    return typer.Option(None, callback=_server, help=help_text)


def _server(url: str | None) -> str | None:
    """A PostgreSQL server's URL (--postgres), checked before the bench starts: PostgreSQL answers there, or the
    command says what to fix (it failed with a traceback, some benches after minutes of SQLite runs)."""
    if url is None or url == "postgresql":  # bench soak --database postgresql: the local server
        return url
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    if not plain.startswith("postgresql://"):
        raise typer.BadParameter(f"{url!r} is not a PostgreSQL URL: give postgresql://USER@HOST:PORT/postgres")
    try:
        psycopg.connect(plain, connect_timeout=5).close()
    except psycopg.Error as e:
        cause = str(e).strip().splitlines()
        raise typer.BadParameter(f"PostgreSQL does not answer at {url}: {cause[0] if cause else type(e).__name__}")
    return url


def _print(figures: dict, json_output: bool) -> None:
    from concord.cliutil import finite

    typer.echo(json.dumps(finite(figures), indent=None if json_output else 2, ensure_ascii=False, allow_nan=False))


@app.command("ingest")
def bench_ingest(json_output: bool = JSON, count: int = 20000,
                 batch: int = typer.Option(1000, help="declarations per upload (NDJSON)"),
                 transaction: int = typer.Option(500, help="declarations per transaction (the API's uploads: 100)")):
    """Bulk uploads: declarations/s through validation, risk, routing and a durable commit, beside raw inserts."""
    from concord.bench.ingest import run

    _print(run(count, batch, transaction), json_output)


@app.command("edifact")
def bench_edifact(json_output: bool = JSON, count: int = 2000,
                  per_interchange: int = typer.Option(500, help="messages per interchange (and declarations per "
                                                                 "NDJSON upload)")):
    """CUSDEC messages/s into lodged declarations beside the JSON path (NDJSON uploads), round-trip fidelity."""
    from concord.bench.edifact import run

    _print(run(count, per_interchange), json_output)


@app.command("pause")
def bench_pause(json_output: bool = JSON, groups: int = 150,
                postgres: str = _postgres()):
    """What a pause costs: group commits back to back, beside the same after the thread has slept 1 or 4 ms."""
    from concord.bench.ingest import pause_cost

    _print(pause_cost(groups, postgres=postgres), json_output)


@app.command("http")
def bench_http(json_output: bool = JSON, seconds: float = 8.0, connections: int = 32,
               postgres: str = _postgres(),
               at: list[int] = typer.Option([], help="also measure latency at this rate (declarations/s); repeatable"),
               workers: int = typer.Option(1, min=1, help="`concord serve --workers N` (PostgreSQL)"),
               compare: bool = typer.Option(False, "--compare", help="one run of SQLite with one worker, PostgreSQL "
                                            "with one and PostgreSQL with --workers (2 unless given), at --at rates "
                                            "(300 and 500 unless given); --postgres defaults to the local server"),
               server: str = typer.Option("uvicorn", help="`concord serve --server`: uvicorn or granian"),
               model: bool = typer.Option(False, "--model", help="with an active learned model (trained first on "
                                                                "synthetic declarations), as a deployment would run"),
               relay_process: bool = typer.Option(True, "--relay-process/--relay-in-worker", help="PostgreSQL: the "
                                                  "outbox relay in a process of its own (the default), or in each "
                                                  "worker (CONCORD_RELAY_PROCESS=false)")):
    """Declarations/s over HTTP, and p99 latency at 70 % of that rate (loopback)."""
    from concord.bench.http import compare as compare_runs
    from concord.bench.http import run

    if compare:
        _print(compare_runs(seconds, connections, postgres, tuple(at) or (300, 500), max(workers, 2), server, model,
                            relay_process), json_output)
    elif workers > 1 and not postgres:
        raise typer.BadParameter("several workers need PostgreSQL: add --postgres URL", param_hint="--workers")
    else:
        _print(run(seconds, connections, postgres, tuple(at), workers, server, model, relay_process), json_output)


@app.command("soak")
def bench_soak(json_output: bool = JSON, minutes: float = typer.Option(10.0, help="how long to hold the load"),
               rate: float = typer.Option(None, help="declarations/s to hold (default: 70 % of the maximum measured "
                                                     "first)"),
               seconds: float = typer.Option(8.0, help="length of the maximum-rate run"),
               window: float = typer.Option(60.0, help="seconds per reported window (p99, errors, RSS, outbox lag)"),
               database: str = typer.Option("sqlite", help="sqlite, postgresql (the server at 127.0.0.1:5432) or "
                                                            "a PostgreSQL server's URL: the soak creates its own "
                                                            "database there and drops it after"),
               postgres: str = _postgres("the same as --database URL (kept for older scripts)"),
               workers: int = typer.Option(1, help="`concord serve --workers N` (PostgreSQL only)"),
               model: bool = typer.Option(False, "--model", help="with an active learned model, as bench http")):
    """The server held at 70 % of its maximum for N minutes: errors, p99, CPU per lodging and event-loop stalls per
    minute, RSS growth, outbox lag."""
    from concord.bench.soak import run

    try:
        target = _server(postgres or (None if database == "sqlite" else database))
    except typer.BadParameter as e:
        raise typer.BadParameter(e.message, param_hint="'--database'") from None
    if workers > 1 and target is None:
        raise typer.BadParameter("--workers above 1 needs --database postgresql: SQLite serves one worker")
    _print(run(minutes, rate, seconds, postgres=target, window_s=window, workers=workers, model=model), json_output)


@app.command("audit")
def bench_audit(json_output: bool = JSON, appends: int = typer.Option(50000, help="entries appended through group "
                                                                                  "commit"),
                entries: int = typer.Option(1_000_000, help="log size for the verify and proof figures"),
                proofs: int = 20000):
    """Durable audit appends/s with group commit beside raw inserts; full verify; inclusion proofs/s."""
    from concord.bench.audit import run

    _print(run(appends=appends, entries=entries, proofs=proofs), json_output)


@app.command("audit-flood")
def bench_audit_flood(json_output: bool = JSON, requests: int = 5000):
    """Audit entries written for a flood of refused tokens and of denied reads (counted summaries), and requests/s."""
    from concord.bench.audit_flood import run

    _print(run(requests), json_output)


@app.command("relay")
def bench_relay(json_output: bool = JSON, count: int = 2000, rounds: int = 3,
                postgres: str = _postgres()):
    """The outbox relay: events cut for each audience per second, beside the same events published whole; and the
    notification store writing them."""
    from concord.bench.relay import run

    _print(run(count, rounds, postgres), json_output)


@app.command("access")
def bench_access(json_output: bool = JSON, declarations: int = 2000, reads: int = 5000):
    """The access check's cost on a single read (authorize + redaction), beside the plain read."""
    from concord.bench.access import run

    _print(run(declarations, reads), json_output)


@app.command("risk")
def bench_risk(json_output: bool = JSON, models: Path = typer.Option(None, "--models"),
               data: Path = typer.Option(Path("../shared/data/kcs"), "--data")):
    """Declarations scored per second in batch, and p99 of one assessment, beside raw LightGBM on a prebuilt matrix."""
    from concord.bench.risk import run

    _print(run(models, data), json_output)


@app.command("schemes")
def bench_schemes(json_output: bool = JSON, count: int = typer.Option(30000, help="declarations generated"),
                  seed: int = 0):
    """Per-scheme recall at a 10 % inspection budget on the scheme benchmark, beside a reference model."""
    from concord.bench.schemes import run

    _print(run(count, seed), json_output)


@app.command("kcs-confirm")
def bench_kcs_confirm(json_output: bool = JSON, data: Path = typer.Option(Path("../shared/data/kcs"), "--data"),
                      resamples: int = typer.Option(400, min=50, max=5000)):
    """The never-seen goods lines' headline again, on time splits of train.csv and valid.csv (test.csv unread)."""
    from concord.bench.confirm import run
    from concord.cliutil import fail
    from concord.errors import ConcordError

    if not (data / "train.csv").is_file() or not (data / "valid.csv").is_file():
        raise typer.BadParameter(f"{data} has no train.csv and valid.csv; give --data ../shared/data/kcs")
    try:
        _print(run(data, resamples), json_output)
    except ConcordError as e:  # a file that is not KCS's, or does not cover the folds' months
        fail(e)


@app.command("risk-engine")
def bench_risk_engine(json_output: bool = JSON, models: Path = typer.Option(None, "--models")):
    """The whole risk step (profiles, CEL rules, watchlists, screening, model) per assessment, beside profiles only."""
    from concord.bench.risk_step import run

    _print(run(models=models), json_output)


def _screening_data() -> Path:
    from concord.bench.screening import DATA

    return DATA


@app.command("screening")
def bench_screening(json_output: bool = JSON,
                    data: Path = typer.Option(None, help="the screening benchmark folder (../shared/data/screening)"),
                    threshold: float = typer.Option(None, help="match threshold (default: the hub's)"),
                    negatives: int = typer.Option(0, help="screen only this many negatives (0: all 100,000)"),
                    large: int = typer.Option(100_000, help="entries in the synthetic large list")):
    """Party screening: UN recall, false alarms, name pairs F1, beside brute-force rapidfuzz."""
    from concord.bench.screening import run
    from concord.screening.matching import DEFAULT_THRESHOLD

    data = data or _screening_data()
    if not data.is_dir():
        raise typer.BadParameter(f"{data} not found; give --data ../shared/data/screening")
    _print(run(data, DEFAULT_THRESHOLD if threshold is None else threshold, negatives or None, large), json_output)


@app.command("screening-hub")
def bench_screening_hub(json_output: bool = JSON, synthetic: int = typer.Option(0, min=0),
                        declarations: int = typer.Option(2000, min=1), data: Path = typer.Option(None)):
    """Screening inside the hub: time per declaration (3 parties) through PartyScreening, beside the bare index."""
    from concord.bench.screening_hub import run

    _print(run(data or _screening_data(), synthetic, declarations), json_output)


@app.command("hunt")
def bench_hunt(json_output: bool = JSON, declarations: int = typer.Option(1_000_000, min=100),
               seed: int = 1):
    """A hunt over N stored declarations through the key index, beside a plain SQL scan of the same documents."""
    from concord.bench.hunt import run

    _print(run(declarations, seed), json_output)


@app.command("alerts")
def bench_alerts(json_output: bool = JSON, subscribers: int = 1000,
                 declarations: int = typer.Option(100, help="lodged over HTTP during the run, at --rate"),
                 rate: float = typer.Option(10.0, help="lodgings per second"),
                 deliveries: int = typer.Option(5000, help="webhook deliveries, signed and unsigned"),
                 postgres: str = _postgres("PostgreSQL server URL (its postgres database): the streams on a "
                                           "fresh database there instead of SQLite"),
                 relay_process: bool = typer.Option(True, "--relay-process/--relay-in-worker",
                                                    help="with --postgres: the relay in a process of its own (the "
                                                         "default), or in the worker")):
    """Notifications: SSE fan-out to N subscribers (p99 from lodging to arrival; wrongly delivered), and webhook
    deliveries/s with Standard Webhooks signatures beside the same unsigned."""
    from concord.bench.alerts import run

    _print(run(subscribers, declarations, rate, deliveries, postgres, relay_process), json_output)


@app.command("console")
def bench_console(json_output: bool = JSON, declarations: int = 240, requests: int = typer.Option(
                      40, min=1, help="timed samples a page, after its first visit (under 20, p95 is the slowest)"),
                  bulk: int = typer.Option(0, min=0, help="then lodge this many more through the bulk upload path "
                                                          "(100000: the issue's size), open tasks and all")):
    """Console pages at the demo's size: server time per page (first visit apart; p50, p95, slowest; the collector's
    pauses among them) and weight, beside the API's JSON reads."""
    from concord.bench.console import run

    _print(run(declarations, requests, bulk=bulk), json_output)


@app.command("cluster")
def bench_cluster(json_output: bool = JSON, rate: float = typer.Option(100.0, help="lodgings per second"),
                  seconds: float = typer.Option(15.0, help="how long to lodge"),
                  kill_at: float = typer.Option(0.3, help="share of the run after which the stream leader is "
                                                          "killed (kill -9)")):
    """A three-node JetStream cluster, one node killed mid-run: lodgings acknowledged and failed, messages owed,
    delivered once after deduplication, duplicates before it, lost; longest lodging pause before and after."""
    from concord.bench.cluster import run

    out = run(rate, seconds, kill_at)
    out.pop("_raw")
    _print(out, json_output)
