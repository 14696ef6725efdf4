"""Counted summaries: a flood of like events (refused tokens, denied reads) becomes a few audit entries, not one each.

Per key (a client address, or a user and the agency whose data it was denied) and fixed window: the first event
is written at once, so a lone attempt is in the log as soon as it happens; the rest of the window is counted and
written as one entry when the window closes (on the key's next event after it, or by the periodic flush). Each
entry says how many events it stands for (`detail.count`), so the counts of a key add up to every attempt made.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from concord.clock import Clock
from concord.messaging.uow import AuditNote

OVERFLOW = ("overflow",)  # more open keys than we keep: the excess is counted under one key, never dropped


@dataclass
class Window:
    start: datetime
    count: int = 0  # events not yet written
    limited: int = 0  # of those, answered 429
    total: int = 0  # events in the window, written or not
    first_at: datetime | None = None
    last_at: datetime | None = None
    samples: list[str] = field(default_factory=list)


class Summaries:
    """Counts events per key and window; note(key) -> one AuditNote for the entry to write (or None)."""

    def __init__(self, clock: Clock, window_s: float, make_note, *, limit: int | None = None, max_keys: int = 50_000,
                 max_samples: int = 10):
        self.clock, self.window = clock, timedelta(seconds=window_s)
        self.make_note, self.limit = make_note, limit  # make_note(key, window, count) -> AuditNote
        self.max_keys, self.max_samples = max_keys, max_samples
        self._open: dict[tuple, Window] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: tuple) -> int | None:
        """Seconds until the key's window closes, if it has used up its limit in this window; else None."""
        now = self.clock.now()
        with self._lock:
            w = self._open.get(key)
            if self.limit is None or w is None or w.total < self.limit or now >= w.start + self.window:
                return None
            return max(1, math.ceil((w.start + self.window - now).total_seconds()))

    def hit(self, key: tuple, sample: str | None = None, *, limited: bool = False) -> list[AuditNote]:
        """Count one event; returns the entries to write now (the window's first event, a closed window's rest)."""
        now, out = self.clock.now(), []
        with self._lock:
            if key not in self._open and len(self._open) >= self.max_keys:
                out += self._close_due(now)
                key = key if len(self._open) < self.max_keys else OVERFLOW
            w = self._open.get(key)
            if w is not None and now >= w.start + self.window:
                out += self._close(key, w)
                w = None
            if w is None:
                w = self._open[key] = Window(now)
            w.count, w.total, w.last_at = w.count + 1, w.total + 1, now
            w.first_at = w.first_at or now
            w.limited += limited
            if sample and sample not in w.samples and len(w.samples) < self.max_samples:
                w.samples.append(sample)
            if w.total == 1:  # the first of its window: in the log at once
                out.append(self._note(key, w))
        return out

    def flush(self, everything: bool = False) -> list[AuditNote]:
        """Entries for every window that has closed (every open window, at shutdown)."""
        with self._lock:
            if everything:
                return [n for key, w in list(self._open.items()) for n in self._close(key, w)]
            return self._close_due(self.clock.now())

    def _close_due(self, now: datetime) -> list[AuditNote]:
        return [n for key, w in list(self._open.items()) if now >= w.start + self.window for n in self._close(key, w)]

    def _close(self, key: tuple, w: Window) -> list[AuditNote]:
        del self._open[key]
        return [self._note(key, w)] if w.count else []

    def _note(self, key: tuple, w: Window) -> AuditNote:
        note = self.make_note(key, w)
        note.detail = {**note.detail, "count": w.count, "first_at": w.first_at.isoformat(),
                       "last_at": w.last_at.isoformat(), "window_s": self.window.total_seconds()}
        if w.limited:
            note.detail["limited"] = w.limited
        w.count, w.limited, w.first_at, w.samples = 0, 0, None, []
        return note


def write_notes(app, notes: list[AuditNote], request_id: str | None = None) -> None:
    """Append summary entries in a transaction of their own."""
    if not notes:
        return
    with app.uow(request_id=request_id) as uow:
        uow.audit_notes.extend(notes)
        uow.commit()


def refused_token_note(key: tuple, w: Window) -> AuditNote:
    """Refused authentication from one client: `auth:token:refused` on `client/<address>`."""
    client = key[1] if key != OVERFLOW else "*"
    return AuditNote("auth:token:refused", f"client/{client}"[:120], outcome="refused",
                     detail={"token_ids": list(w.samples)} if w.samples else {})


def denied_read_note(key: tuple, w: Window) -> AuditNote:
    """Reads a user was denied (404 out of scope, a purpose no agreement covers), per whose data it was."""
    if key == OVERFLOW:
        return AuditNote("record:read", "record/*", outcome="denied")
    _, actor, agency, owner, action, purpose, kind = key
    one = w.count == 1 and len(w.samples) == 1
    return AuditNote(action, w.samples[0] if one else f"{kind}/*", outcome="denied", purpose=purpose,
                     actor=actor, agency=agency, owner=owner, detail={} if one else {"resources": list(w.samples)})


def register(app) -> None:
    """Wire the refused-token and denied-read summaries into a Concord, with their periodic flush."""
    s = app.settings
    refusals = Summaries(app.clock, s.audit_summary_window_s, refused_token_note, limit=s.auth_refusal_limit)
    denials = Summaries(app.clock, s.audit_summary_window_s, denied_read_note, max_samples=20)
    app.auth_refusals, app.read_denials = refusals, denials

    def flush(everything: bool = False) -> None:
        write_notes(app, refusals.flush(everything) + denials.flush(everything))

    app.periodic["audit-summaries"] = (min(5.0, s.audit_summary_window_s), flush)
    app.on_stop.append(lambda: flush(everything=True))
