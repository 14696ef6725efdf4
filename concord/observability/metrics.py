"""Prometheus metrics in the text exposition format, written here: a few counters and histograms do not need a
client library and its process-wide registry.

Who may read them (docs/operations.md): the hub's administrators only, with a bearer token like any other exit.
The labels are route templates, methods, status codes, lanes and delivery states: hub-wide counts with no agency,
trader, office or declaration in them, so that even an administrator's scrape carries nothing an agreement
governs. With several workers (`concord serve --workers N`) the scrape sums every worker's counters
(observability/workers.py); the gauges read from the database are the hub's, the process gauges per worker."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import defaultdict
from datetime import timezone

REQUESTS, DURATION = "concord_http_requests_total", "concord_http_request_duration_seconds"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HELP = {
    "concord_http_requests_total": ("counter", "HTTP requests answered, by method, route template and status"),
    "concord_http_request_duration_seconds": ("histogram", "time to answer an HTTP request, by method and route"),
    "concord_lodgings_total": ("counter", "declarations lodged one by one over the API (POST answered 201; replays "
                                          "and NDJSON uploads not counted)"),
    "concord_lanes_total": ("counter", "risk assessments by lane (green, yellow, red...), this process"),
    "concord_outbox_unpublished_events": ("gauge", "events committed and not yet published by the relay"),
    "concord_outbox_lag_seconds": ("gauge", "age of the oldest event not yet published (0 when none)"),
    "concord_audit_checkpoint_age_seconds": ("gauge", "seconds since the last signed audit checkpoint"),
    "concord_audit_unsigned_entries": ("gauge", "audit entries after the last signed checkpoint"),
    "concord_webhook_deliveries": ("gauge", "webhook deliveries by state (pending, delivered, dead)"),
    "concord_sse_streams_open": ("gauge", "notification streams open (on every worker)"),
    "concord_rule_evaluation_errors_total": ("counter", "risk rules and hunt indicators that failed on a lodged "
                                                       "declaration (a field they read is absent): they did not hit; "
                                                       "the log names the first of each rule version"),
    "concord_event_loop_stalls_total": ("counter", "times the event loop did not run for CONCORD_STALL_LOG_MS or "
                                                   "more (each logged with every thread's stack)"),
    "concord_process_resident_memory_bytes": ("gauge", "resident set size of each worker process (by pid) and of "
                                                       "the relay process (worker=\"relay\")"),
    "concord_workers_reporting": ("gauge", "worker processes whose counters this scrape sums (alive ones)"),
    "concord_risk_model_score_psi": ("gauge", "the learned model's score drift (PSI) at its last hourly check, by "
                                              "model version (alert at 0.25)"),
}


class Registry:
    """Counters and histograms of this process; thread-safe (the thread pool and the loop both count)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counters: dict[tuple, float] = defaultdict(float)
        self.histograms: dict[tuple, list] = {}

    def inc(self, name: str, labels: tuple = (), by: float = 1.0) -> None:
        with self.lock:
            self.counters[(name, labels)] += by

    def observe(self, name: str, labels: tuple, value: float) -> None:
        with self.lock:
            self._observe(name, labels, value)

    def _observe(self, name: str, labels: tuple, value: float) -> None:
        h = self.histograms.get((name, labels))
        if h is None:
            h = self.histograms[(name, labels)] = [0] * (len(BUCKETS) + 1) + [0.0, 0]
        h[bisect_left(BUCKETS, value)] += 1  # the slot past the last bucket counts only towards +Inf
        h[-2] += value
        h[-1] += 1

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request: its count, its duration, and a lodging if it was one (one lock for all)."""
        with self.lock:
            self.counters[(REQUESTS, (("method", method), ("route", route), ("status", str(status))))] += 1
            self._observe(DURATION, (("method", method), ("route", route)), seconds)
            if status == 201 and method == "POST" and route == "/api/v1/declarations":
                self.counters[("concord_lodgings_total", ())] += 1


METRICS = Registry()


def count_lane(event) -> bool:
    """A bus `when` that counts the lane of each risk assessment and runs no handler (no unit of work)."""
    METRICS.inc("concord_lanes_total", (("lane", str(event.lane)),))
    return False


def unreached(event, uow) -> None:
    """The handler count_lane stands guard for: never called."""


class Measured:
    """Counts and times every request (the fast lodging lane included) by route template, never by raw path:
    a path carries declaration ids, and one series per id would be both a leak and a flood."""

    def __init__(self, app, fast_paths: set):
        self.app, self.fast_paths = app, fast_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def send_and_see(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is None:
                route = scope["path"] if scope["path"] in self.fast_paths else "unmatched"
            METRICS.request(scope.get("method", ""), route, status[0], time.perf_counter() - start)


def _labels(labels: tuple, extra: tuple = ()) -> str:
    pairs = [*labels, *extra]
    if not pairs:
        return ""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, v in pairs)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(pairs, quoted)) + "}"


def _seconds_since(moment, now) -> float:
    if moment.tzinfo is None:  # stored naive, in UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (now - moment).total_seconds())


def gauges(app) -> dict[tuple, float]:
    """What the database and the process say now: outbox lag, checkpoint age, webhook deliveries, streams."""
    now = app.clock.now()
    values: dict[tuple, float] = {}
    from sqlalchemy import func, select

    from concord.audit.models import AuditCheckpoint, AuditHead
    from concord.messaging.models import EventRecord as E
    from concord.notifications.models import WebhookDelivery as W

    with app.engine.connect() as conn:  # each query uses an index: the partial outbox one, the primary keys
        waiting = E.published_at.is_(None)
        unpublished = conn.execute(select(func.count()).select_from(E).where(waiting)).scalar()
        values[("concord_outbox_unpublished_events", ())] = unpublished or 0
        oldest = conn.execute(select(E.occurred_at).where(waiting).order_by(E.seq).limit(1)).scalar()
        values[("concord_outbox_lag_seconds", ())] = _seconds_since(oldest, now) if oldest else 0.0
        last = conn.execute(select(AuditCheckpoint.size, AuditCheckpoint.issued_at)
                            .order_by(AuditCheckpoint.size.desc()).limit(1)).first()
        size = conn.execute(select(func.max(AuditHead.size))).scalar() or 0
        if last is not None:
            values[("concord_audit_checkpoint_age_seconds", ())] = _seconds_since(last.issued_at, now)
        values[("concord_audit_unsigned_entries", ())] = max(0, size - (last.size if last is not None else 0))
        for state, n in conn.execute(select(W.status, func.count()).group_by(W.status)):
            values[("concord_webhook_deliveries", (("state", state),))] = n
    values |= process_gauges(app)
    from concord.risk.handlers import DRIFT_GAUGE

    for version, drift in list(DRIFT_GAUGE.items()):
        values[("concord_risk_model_score_psi", (("model_version", str(version)),))] = drift["score_psi"]
    return values


def process_gauges(app) -> dict[tuple, float]:
    """This process's own gauges: its notification streams and its memory (labelled by pid)."""
    import os

    values = {}
    notifications = getattr(app, "notifications", None)
    if notifications is not None:
        values[("concord_sse_streams_open", ())] = notifications.streams.count()
    values[("concord_process_resident_memory_bytes", (("worker", str(os.getpid())),))] = resident_memory()
    return values


def resident_memory(pid: int | str = "self") -> int:
    """Resident set size in bytes from /proc (Linux); 0 elsewhere."""
    import os

    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def exposition(app) -> str:
    """The text exposition format (version 0.0.4) of this process's counters and the hub's gauges."""
    series: dict[str, list[str]] = defaultdict(list)
    with METRICS.lock:
        counters, histograms = dict(METRICS.counters), {k: list(v) for k, v in METRICS.histograms.items()}
    hub_gauges = gauges(app)
    directory = getattr(getattr(app, "settings", None), "metrics_dir", None)
    if directory is not None:  # several workers: the others' last published counts added to this one's
        from concord.observability.workers import key, others

        reporting = 1
        for worker in others(directory):
            for name, labels, value in worker["counters"]:
                counters[key(name, labels)] = counters.get(key(name, labels), 0.0) + value
            for name, labels, h in worker["histograms"]:
                mine = histograms.setdefault(key(name, labels), [0] * len(h))
                histograms[key(name, labels)] = [a + b for a, b in zip(mine, h)]
            if worker["fresh"]:
                reporting += worker.get("role", "worker") == "worker"
                for name, labels, value in worker["gauges"]:
                    k = key(name, labels)
                    hub_gauges[k] = hub_gauges.get(k, 0.0) + value if not labels else value
        hub_gauges[("concord_workers_reporting", ())] = reporting
    for (name, labels), value in counters.items():
        series[name].append(f"{name}{_labels(labels)} {value:g}")
    for (name, labels), h in histograms.items():
        running = 0
        for bound, n in zip(BUCKETS, h):
            running += n
            series[name].append(f"{name}_bucket{_labels(labels, (('le', f'{bound:g}'),))} {running}")
        series[name].append(f"{name}_bucket{_labels(labels, (('le', '+Inf'),))} {h[-1]}")
        series[name].append(f"{name}_sum{_labels(labels)} {h[-2]:.6f}")
        series[name].append(f"{name}_count{_labels(labels)} {h[-1]}")
    for (name, labels), value in hub_gauges.items():
        series[name].append(f"{name}{_labels(labels)} {value:g}")
    lines = []
    for name, (kind, help_text) in HELP.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *series.get(name, [])]
    return "\n".join(lines) + "\n"
