"""Event-loop stalls, logged as they happen: how long the loop did not run, and where every thread was.

A server whose p99 jumps for a second in the middle of a steady load has a loop that did not run for that second:
a blocking call on it, or another thread holding the GIL. A heartbeat on the loop and a watchdog thread find
both: when the heartbeat is late by more than the threshold (CONCORD_STALL_LOG_MS; 0 turns it off), the watchdog
logs one warning when the loop runs again: how long it stood still, the stack of each thread and the periodic
jobs running as the stall was seen, and the garbage collections of 10 ms or more during it (a full collection
holds the GIL and shows in no stack). `concord_event_loop_stalls_total` counts them for /metrics. The heartbeat costs one wake-up every 50 ms."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
import traceback
from collections import deque

log = logging.getLogger(__name__)

RUNNING: dict[str, float] = {}  # periodic job name -> when its current run started (app._periodic keeps it)


def _stacks(limit: int = 40) -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        name = names.get(ident, str(ident))
        if name == "stall-watchdog":
            continue
        stack = traceback.format_stack(frame, limit=limit)
        out.append(f"--- thread {name}\n" + "".join(stack))
    return "\n".join(out)


class StallWatch:
    """A heartbeat on the running loop and a watchdog thread that logs a stall once per stall."""

    def __init__(self, threshold_s: float, beat_s: float = 0.05):
        self.threshold_s, self.beat_s = threshold_s, beat_s
        self.last = time.monotonic()
        self.stalls = 0
        self.longest_s = 0.0
        self._stop = threading.Event()
        self._task = None
        self._gc_started = 0.0
        self.collections: deque = deque(maxlen=64)  # (ended at, generation, seconds) of collections of 10 ms or more

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
        else:
            took = time.monotonic() - self._gc_started
            if took >= 0.01:
                self.collections.append((time.monotonic(), info.get("generation"), took))

    async def _beat(self) -> None:
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(self.beat_s)

    def _watch(self) -> None:
        stalled = None  # (the last heartbeat before the stall, what was seen during it): logged when it ends
        while not self._stop.wait(self.threshold_s / 4):
            last = self.last
            if stalled is not None and last != stalled[0]:  # the loop ran again: the whole stall, logged once
                took = last - stalled[0] - self.beat_s
                self.longest_s = max(self.longest_s, took)
                collected = ", ".join(f"gen{g} {t * 1000:.0f} ms" for at, g, t in list(self.collections)
                                      if stalled[0] <= at <= last) or "none"
                log.warning("event loop stalled for %.0f ms; periodic jobs running: %s; garbage collections: "
                            "%s\n%s", took * 1000, stalled[1], collected, stalled[2])
                stalled = None
            late = time.monotonic() - last - self.beat_s
            if stalled is None and late >= self.threshold_s:  # the stacks now, while the loop is still stuck
                self.stalls += 1
                from concord.observability.metrics import METRICS

                METRICS.inc("concord_event_loop_stalls_total")
                jobs = ", ".join(f"{n} (for {time.monotonic() - t:.2f} s)" for n, t in list(RUNNING.items()))
                stalled = (last, jobs or "none", _stacks())

    def start(self) -> "StallWatch":
        gc.callbacks.append(self._gc)
        self._task = asyncio.get_running_loop().create_task(self._beat())
        threading.Thread(target=self._watch, name="stall-watchdog", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        if self._task is not None:
            self._task.cancel()
