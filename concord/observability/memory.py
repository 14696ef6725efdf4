"""What grows in a server's memory, for a soak's RSS growth: CONCORD_MEMORY_TRACE_S=N starts tracemalloc and logs,
every N seconds, the source lines whose allocations grew most since the first snapshot (taken N seconds after the
start, once the caches and pools have filled). A debugging aid: tracemalloc slows every allocation, so a run with
it measures memory, not speed. Off (0) by default."""

from __future__ import annotations

import logging
import threading
import tracemalloc

log = logging.getLogger(__name__)


class MemoryTrace:
    def __init__(self, every_s: float, top: int = 25, frames: int = 6):
        self.every_s, self.top, self.frames = every_s, top, frames
        self._stop = threading.Event()

    def _run(self) -> None:
        first = None
        while not self._stop.wait(self.every_s):
            snap = tracemalloc.take_snapshot().filter_traces((
                tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib*")))
            if first is None:
                first = snap
                continue
            diff = snap.compare_to(first, "traceback")[: self.top]
            total = sum(s.size for s in snap.statistics("filename")) / 2**20
            lines = [f"traced {total:.1f} MB; grown since the first snapshot, by where it was allocated:"]
            for stat in diff:
                lines.append(f"{stat.size_diff / 2**10:+.0f} KiB in {stat.count_diff:+d} blocks")
                lines += ["    " + line for line in stat.traceback.format(limit=self.frames)]
            log.warning("\n".join(lines))

    def start(self) -> "MemoryTrace":
        tracemalloc.start(self.frames)
        threading.Thread(target=self._run, name="memory-trace", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        tracemalloc.stop()
