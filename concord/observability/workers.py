"""Metrics across the workers of one server: each publishes its counters to a file, a scrape sums them all.

With `concord serve --workers N` a scrape of /metrics reaches one worker, chosen by the kernel's accept. So each
worker writes its registry every second to `CONCORD_METRICS_DIR/<pid>.json` (a directory per server run, made by
`concord serve`), and the worker that answers adds every other worker's file to its own live counts. What a
scrape shows is therefore up to a second old for the other workers. A worker that died keeps its file: its
counts stay in the sums, so the counters never go backwards when uvicorn replaces it; its process gauges (memory,
streams) are dropped once its file is older than STALE seconds."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

EVERY = 1.0  # seconds between a worker's publications
STALE = 5 * EVERY  # a file not rewritten for this long is a dead worker's: its counters stay, its gauges go


def snapshot(registry, gauges: dict, role: str = "worker") -> dict:
    """A worker's (or the relay process's) counters, histograms and process gauges, as JSON-ready lists."""
    with registry.lock:
        counters = [[n, [list(p) for p in labels], v] for (n, labels), v in registry.counters.items()]
        histograms = [[n, [list(p) for p in labels], list(h)] for (n, labels), h in registry.histograms.items()]
    return {"pid": os.getpid(), "role": role, "counters": counters, "histograms": histograms,
            "gauges": [[n, [list(p) for p in labels], v] for (n, labels), v in gauges.items()]}


def publish_job(directory: Path, registry, process_gauges, role: str = "worker"):
    """A job writing this process's snapshot to its file (atomically: a reader never sees half a file)."""
    directory = Path(directory)

    def publish() -> None:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{os.getpid()}.json"
        part = path.with_suffix(".part")
        part.write_text(json.dumps(snapshot(registry, process_gauges(), role)))
        os.replace(part, path)
    return publish


def others(directory: Path) -> list[dict]:
    """The other workers' last snapshots, each with `fresh` (its worker is alive) set."""
    found, now, me = [], time.time(), os.getpid()
    for path in Path(directory).glob("*.json"):
        if path.stem == str(me):
            continue
        try:
            data = json.loads(path.read_text())
            data["fresh"] = now - path.stat().st_mtime < STALE
        except (OSError, ValueError):  # replaced or removed while read: the next scrape reads it
            continue
        found.append(data)
    return found


def key(name: str, labels) -> tuple:
    return name, tuple(tuple(p) for p in labels)
