"""The model and the hub: outcomes Concord recorded as training labels, a loaded model caught up at once,
champion against challenger on recent outcomes, drift raised to the risk unit."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import select, tuple_

from concord.declarations.models import Declaration, DeclarationVersion
from concord.errors import Conflict
from concord.risk.learning.datasets import labelled_records, record_from_declaration
from concord.risk.models import InspectionOutcome

log = logging.getLogger(__name__)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def hub_outcomes(session, since: datetime | None = None) -> list[tuple[datetime, list]]:
    """Outcomes recorded in Concord (after `since`), as (recorded at, labelled goods items), oldest first.

    Several agencies may inspect one declaration version: it is irregular if any of them found it so,
    and the revenue recovered is their sum."""
    return [(at, records) for at, _, records in _outcomes(session, since)]


def _outcomes(session, since: datetime | None = None) -> list[tuple[datetime, str, list]]:
    query = select(InspectionOutcome, DeclarationVersion.document).join(
        DeclarationVersion, (DeclarationVersion.declaration_id == InspectionOutcome.declaration_id)
        & (DeclarationVersion.version == InspectionOutcome.version)).order_by(InspectionOutcome.recorded_at)
    if since is not None:
        query = query.where(InspectionOutcome.recorded_at > since)
    found: dict[tuple, dict] = {}
    for outcome, document in session.execute(query):
        f = found.setdefault((outcome.declaration_id, outcome.version),
                             {"doc": document, "fraud": False, "revenue": None, "at": outcome.recorded_at})
        f["fraud"] |= outcome.result == "irregular"
        if outcome.revenue_recovered is not None:
            f["revenue"] = (f["revenue"] or 0.0) + float(outcome.revenue_recovered)
        f["at"] = max(f["at"], outcome.recorded_at)
    return [(_utc(f["at"]), key[0], labelled_records(f["doc"], f["fraud"], revenue=f["revenue"]))
            for key, f in found.items()]


def hub_declarations(session, limit: int = 200_000) -> list:
    """The latest declarations lodged, as lodged, as records without outcomes (for price and party statistics)."""
    return [r for _, _, records in lodged(session, limit) for r in records]


def lodged(session, limit: int = 200_000) -> list[tuple[str, datetime, list]]:
    """The latest declarations lodged: (id, lodged at, their goods items as records). An amendment is not a second
    consignment: each declaration counts once, as lodged, as the live feed (DeclarationFeed) counts it."""
    rows = session.execute(
        select(Declaration.id, Declaration.lodged_at, DeclarationVersion.document)
        .join(DeclarationVersion, DeclarationVersion.declaration_id == Declaration.id)
        .where(DeclarationVersion.version == 1).order_by(Declaration.lodged_at.desc(), Declaration.id.desc())
        .limit(limit))
    return [(d, at, _items(doc)) for d, at, doc in rows]


def _items(doc: dict) -> list:
    """A lodged document's goods items as records; none for one that cannot be read (logged: it must not stop the
    others, nor every later pull)."""
    try:
        return [record_from_declaration(doc, i) for i in range(len(doc.get("items") or ()))]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # the error's kind only: its text may quote the document's values, which a log line must not carry
        log.warning("declaration %s left out of the risk model's statistics (%s)", doc.get("id") or doc.get("lrn"),
                    type(exc).__name__)
        return []


class DeclarationFeed:
    """The declarations lodged in Concord, as they arrive, into one loaded model's price and party statistics
    (first-time importer, a new importer-broker-seller combination, the goods' usual price): every worker reads
    them from the database each second (a periodic job, off the lodging path), its own and the others' alike, so
    two workers score the next declaration of a party alike.

    New declarations are those lodged after the last one read, less `LAG` seconds for a group commit that ends
    after a later one (read again, skipped by id); at most `CHUNK` per pull, so that a model loaded on a busy hub
    catches up over a few pulls rather than in one long one. Events older than `exact_days` fold per key (the
    live model asks as of each declaration's time: exact within that window, its memory bounded by the keys)."""

    LAG = 10.0
    CHUNK = 2_000

    def __init__(self, since: datetime | None, exact_days: float = 7.0):
        self.since = since  # as the column gives it; None: from the first declaration
        self.exact = timedelta(days=exact_days)
        self.seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def pull(self, model, session, now: datetime) -> int:
        """Add up to CHUNK declarations not yet read to the model's statistics; the goods items added."""
        with self._lock:
            query = select(Declaration.id, Declaration.lodged_at).order_by(Declaration.lodged_at, Declaration.id)
            if self.since is not None:
                query = query.where(Declaration.lodged_at > self.since - timedelta(seconds=self.LAG))
            new = [r for r in session.execute(query.limit(len(self.seen) + self.CHUNK))
                   if r.id not in self.seen][:self.CHUNK]
            if not new:
                return 0
            documents = session.execute(select(DeclarationVersion.document).where(
                DeclarationVersion.version == 1, DeclarationVersion.declaration_id.in_([r.id for r in new]))).scalars()
            records = [r for doc in documents for r in _items(doc)]
            model.record_declarations(records, fold_before=(_utc(now) - self.exact).timestamp())
            self.seen.update((r.id, r.lodged_at) for r in new)
            latest = max(r.lodged_at for r in new)
            self.since = latest if self.since is None else max(self.since, latest)
            horizon = self.since - timedelta(seconds=self.LAG)
            self.seen = {k: at for k, at in self.seen.items() if at > horizon}
            return len(records)


def follow_declarations(model, session, now: datetime, exact_days: float = 7.0) -> int:
    """Declarations lodged since the model's training (or the last pull) into its statistics; the items added."""
    feed = getattr(model, "declaration_feed", None)
    if feed is None:
        since = model.info.get("declarations_until")
        feed = DeclarationFeed(datetime.fromisoformat(since) if since else None, exact_days)  # as the column gave it
        # trained on the hub: the declarations it read are in the file, not to be added again (those of its last
        # LAG seconds by id: one that committed after the training read may bear an earlier time)
        feed.seen = {d: feed.since for d in model.info.get("declarations_last", ())}
        model.declaration_feed = feed
    return feed.pull(model, session, now)


class OutcomeFeed:
    """The outcomes recorded in Concord, as they arrive, into one loaded model's history: those since its
    training when it loads (after a restart or an activation), then each new one, whichever worker recorded it.

    Every worker adds the same events (one per outcome row, in the same order of arrival it reads), so two
    workers score the next declaration of a line alike. New rows are those recorded after the last one read,
    less `LAG` seconds for a transaction that commits after a later one (read again, skipped by id)."""

    LAG = 60.0

    def __init__(self, since: datetime | None):
        self.since = since  # naive UTC, as the column holds it; None: from the first outcome
        self.seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def pull(self, model, session) -> int:
        """Add the outcomes not yet read to the model's history; the goods items added."""
        with self._lock:
            query = select(InspectionOutcome.id, InspectionOutcome.declaration_id, InspectionOutcome.version,
                           InspectionOutcome.result, InspectionOutcome.revenue_recovered,
                           InspectionOutcome.recorded_at).order_by(InspectionOutcome.recorded_at, InspectionOutcome.id)
            if self.since is not None:
                query = query.where(InspectionOutcome.recorded_at > self.since - timedelta(seconds=self.LAG))
            new = [r for r in session.execute(query) if r.id not in self.seen]
            if not new:
                return 0
            documents = dict(((d, v), doc) for d, v, doc in session.execute(
                select(DeclarationVersion.declaration_id, DeclarationVersion.version, DeclarationVersion.document)
                .where(tuple_(DeclarationVersion.declaration_id, DeclarationVersion.version)
                       .in_({(r.declaration_id, r.version) for r in new}))))
            records = []
            for r in new:
                self.seen[r.id] = r.recorded_at
                doc = documents.get((r.declaration_id, r.version))
                if doc is None:
                    continue
                revenue = None if r.revenue_recovered is None else float(r.revenue_recovered)
                records += labelled_records(doc, r.result == "irregular", revenue=revenue)
            model.record_outcomes(records)  # at once: a catch-up of thousands is one batch, not thousands
            added = len(records)
            latest = max(r.recorded_at for r in new)
            self.since = latest if self.since is None else max(self.since, latest)
            horizon = self.since - timedelta(seconds=self.LAG)
            self.seen = {k: at for k, at in self.seen.items() if at > horizon}
            return added


def catch_up(model, session) -> int:
    """Outcomes recorded in Concord that the model file does not hold become its history now (all of them for a
    model trained on files, those after its training for one trained on the hub's outcomes), and the model
    follows new ones from then on (`OutcomeFeed`). Returns the goods items added."""
    since = model.info.get("outcomes_until")
    model.outcome_feed = OutcomeFeed(_utc(datetime.fromisoformat(since)).replace(tzinfo=None) if since else None)
    if since:  # trained on the hub: the outcomes up to its last one are in the file, not to be added again
        model.outcome_feed.seen = {r.id: r.recorded_at for r in session.execute(
            select(InspectionOutcome.id, InspectionOutcome.recorded_at).where(
                InspectionOutcome.recorded_at > model.outcome_feed.since - timedelta(seconds=OutcomeFeed.LAG),
                InspectionOutcome.recorded_at <= model.outcome_feed.since))}
    return model.outcome_feed.pull(model, session)


def follow_outcomes(model, session) -> int:
    """New outcomes into a loaded model's history (a no-op for a model that does not follow them)."""
    feed = getattr(model, "outcome_feed", None)
    return 0 if feed is None else feed.pull(model, session)


MIN_VALID_EACH = 3  # irregular and compliant outcomes in the part a hub-trained model is checked on


def train_from_hub(session, params: dict | None = None, valid_share: float = 0.2, progress=None,
                   new_lines: str = "valid"):
    """Train on the outcomes Concord recorded: the latest `valid_share` of them (by declaration time) stop
    the boosting; every stored declaration feeds the price and party statistics."""
    from concord.errors import ConcordError
    from concord.risk.learning.history import HistoryProfiles
    from concord.risk.learning.model import fit

    outcomes = hub_outcomes(session)
    records = sorted((r for _, rs in outcomes for r in rs), key=lambda r: r.ts)
    if len(records) < 20 or len({r.fraud for r in records}) < 2:
        raise ConcordError(f"the hub holds {len(records)} labelled goods items; training needs at least 20, "
                           "with both irregular and compliant outcomes")
    cut = int(len(records) * (1 - valid_share))
    irregular = sum(r.fraud for r in records[cut:])
    if min(irregular, len(records) - cut - irregular) < MIN_VALID_EACH:  # a model nobody could check: not registered
        raise ConcordError(
            f"the latest {round(valid_share * 100)} % of the hub's outcomes ({len(records) - cut} goods items), on "
            f"which a model is checked, hold {irregular} irregular and {len(records) - cut - irregular} compliant; "
            f"checking needs at least {MIN_VALID_EACH} of each. Record more inspection outcomes, or train on "
            "historical files (--train and --valid)")
    profiles = HistoryProfiles().observe(records)
    labelled = {r.declaration_id for r in records}
    read = lodged(session)
    declared = [r for _, _, rs in read for r in rs if r.declaration_id not in labelled]
    profiles.add_declarations(declared)
    model = fit(records[:cut], records[cut:], profiles, params, progress=progress, declared=records + declared,
                new_lines=new_lines)
    model.info["outcomes_until"] = max(at for at, _ in outcomes).isoformat()
    model.info["source"] = "hub"
    if read:  # where the live feed (DeclarationFeed) takes over
        until = read[0][1]
        model.info["declarations_until"] = until.isoformat()
        last = until - timedelta(seconds=DeclarationFeed.LAG)
        model.info["declarations_last"] = [d for d, at, _ in read if at > last]
    return model


def challenge(champion, challenger, recent, margin: float = 0.0) -> dict:
    """Champion against challenger on recent labelled records: both rank them as of each record's time
    (neither reads a record's own outcome). The challenger may be activated if its AUC is at least the
    champion's minus `margin`; records inside the challenger's training period are left out (it learnt them)."""
    from concord.risk.learning.metrics import selection_metrics

    trained_to = ((challenger.info.get("periods") or {}).get("valid") or [None, None])[1]
    if trained_to:
        recent = [r for r in recent if r.when.date().isoformat() > trained_to]
    recent = [r for r in recent if r.fraud is not None]
    y = np.array([r.fraud for r in recent])
    if len(recent) < 20:
        return {"records": len(recent), "decided": False,
                "reason": f"{len(recent)} recent outcomes after the challenger's training period: too few to compare "
                          "(at least 20)"}
    if len(set(y.tolist())) < 2:  # AUC needs both; "too few" would send the user looking for more of the same
        return {"records": len(recent), "decided": False,
                "reason": f"the {len(recent)} recent outcomes after the challenger's training period are all "
                          f"{'irregular' if y[0] else 'compliant'}: comparing two rankings needs both"}
    c = np.array([r.critical or 0 for r in recent])
    a = selection_metrics(y, c, champion.score_records(recent))
    b = selection_metrics(y, c, challenger.score_records(recent))
    keep = ("auc", "precision@5", "precision@10")
    return {"records": len(recent), "decided": True, "champion": {k: round(a[k], 4) for k in keep},
            "challenger": {k: round(b[k], 4) for k in keep}, "wins": b["auc"] >= a["auc"] - margin}


class ChallengerLost(Conflict):
    """A new model that ranks recent outcomes worse than the active one."""

    code = "challenger_lost"


def require_win(result: dict) -> None:
    if not result.get("decided"):
        raise ChallengerLost(f"not activated: {result['reason']}; give more recent outcomes, or --force")
    if not result["wins"]:
        raise ChallengerLost(f"not activated: on {result['records']} recent outcomes the challenger's AUC "
                             f"{result['challenger']['auc']} is below the active model's {result['champion']['auc']}"
                             "; --force activates it anyway")
