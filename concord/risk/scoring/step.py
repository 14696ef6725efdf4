"""The risk step the declaration pipeline calls: profiles, rules, watchlists and the model, within the lane budget."""

from __future__ import annotations

from datetime import timedelta, timezone

from sqlalchemy import and_, select

from concord.clock import Clock
from concord.config import SCREENING_LANE_THRESHOLD
from concord.declarations.models import Declaration, DeclarationVersion
from concord.risk.scoring.compiled import Catalog, ModelSource, Policies
from concord.risk.scoring.assessment import LANE_RANK, Assessment
from concord.risk.scoring.lanes import LaneBudget, floor_of
from concord.risk.models import SEVERITY_RANK, RuleHit
from concord.risk.catalogue.history import DeclarationHistory
from concord.risk.catalogue.rules import base_values
from concord.risk.catalogue.watchlists import ExactNames, NoNames

WATCHLIST_LANES = {"critical": "red", "high": "red", "medium": "yellow", "low": "yellow"}


class RiskStep:
    """Assesses one declaration version; everything it reads is compiled and cached, so it stays within a few ms."""

    def __init__(self, *, clock: Clock | None = None, rng=None, budget: LaneBudget | None = None,
                 models: ModelSource | None = None, model_root=None, screening=None, names=None, ttl: float = 1.0,
                 strong_match: float = SCREENING_LANE_THRESHOLD):
        self.clock = clock
        self.strong_match = strong_match  # a fuzzy party-name match below this is reported but never forces a lane
        self.budget = budget or LaneBudget(rng)
        # With party screening plugged in, it matches the names (fuzzy, with decisions on false positives);
        # the step keeps the exact identifier index, so no entry is reported twice.
        self.screening = screening
        self.catalog = Catalog(ttl, names or (NoNames if screening is not None else ExactNames))
        # No registry directory, no model: a test or a tool never picks up whatever model the host has active.
        self.models = models or ModelSource(ttl, load=None if model_root else (lambda _: None), root=model_root)
        self.policies = Policies()
        self.history = DeclarationHistory()
        self._seeded = False

    def invalidate(self) -> None:
        """Recheck rules, watchlists and the model on the next assessment (a catalogue changed here)."""
        self.catalog.invalidate()
        self.models.invalidate()

    def _now(self, session):
        return (self.clock or Clock()).now()

    def assess(self, session, snapshot, doc: dict, *, declaration_id: str) -> Assessment:
        """Lane, score, reasons and versions for one declaration version; rule hits are added to the session."""
        now = self._now(session)
        rules, watchlists = self.catalog.current(session, now)
        model = self.models.current(session)
        office = doc["office_of_entry"]
        policy = self.policies.of(snapshot, office)
        force_rank = SEVERITY_RANK[policy.force_severity]
        reasons: list[dict] = []
        forced = None

        def add(reason: dict, lane: str, forcing: bool) -> None:
            nonlocal forced
            reason.update(lane=lane, forced=forcing)
            reasons.append(reason)
            if forcing and (forced is None or LANE_RANK[lane] > LANE_RANK[forced]):
                forced = lane

        for p in snapshot.profiles.profiles:
            if items := p.criteria.matching_items(doc, snapshot.rates):
                add({"kind": "profile", "id": p.id, "reason": p.reason, "items": items}, p.lane, True)
        if rules.reads_history and not self._seeded:
            self._seed_history(session, now, snapshot.rates)
        elif not rules.reads_history and self._seeded:  # no rule reads it any more: free it, seed again if one does
            self.history, self._seeded = DeclarationHistory(), False
        rule_hits = rules.evaluate(doc, snapshot.rates, now, self.history, declaration_id)
        for r in rule_hits:
            add({"kind": "rule", "id": r.id, "version": r.version, "name": r.name, "severity": r.severity},
                r.lane, SEVERITY_RANK[r.severity] >= force_rank)
        for h in watchlists.match(doc, now):
            e = h.entry
            strong = h.score >= self.strong_match
            add({"kind": "watchlist", "entry_id": e.id, "entry_version": e.version, "agency": e.agency,
                 "list": e.kind, "pointer": h.pointer, "matched": h.matched, "score": round(h.score, 4),
                 "severity": e.severity, "reason": e.reason}, WATCHLIST_LANES[e.severity],
                strong and SEVERITY_RANK[e.severity] >= force_rank)
        if self.screening is not None:
            for r in self.screening.screen_parties(session, doc):
                add(dict(r), r.get("force_lane") or r.get("lane") or "yellow", r.get("force_lane") is not None)
        score, contributions = self.models.score(model, doc)
        scale = getattr(model, "version", None)
        if model is not None and not self.budget.has_window(office, scale):
            self._seed(session, office, policy, scale)
        decision = self.budget.decide(office, None if model is None else score, forced, policy, scale)
        if model is not None:
            reasons.append({"kind": "model", "score": round(score, 6), "lane": decision.by_score, "forced": False,
                            "threshold": decision.thresholds.get(decision.by_score), "contributions": contributions})
        if decision.random:
            reasons.append({"kind": "random", "lane": policy.exploration_lane, "forced": False,
                            "reason": "selected at random for control, so the model also learns from trade it would "
                                      "not select"})
        self._record_hits(session, rule_hits, declaration_id, now)
        if self._seeded:  # while a rule reads history; before that, the database is the history (see _seed_history)
            self.history.record(doc, base_values(doc, snapshot.rates), now, declaration_id)
        versions = {"rules": rules.version, "watchlists": watchlists.version, "model": scale,
                    "profiles": snapshot.profiles.version}
        if self.screening is not None:
            versions["screening"] = self.screening.versions()
        return Assessment(decision.lane, round(score, 6), reasons, versions, random=decision.random)

    def _seed_history(self, session, now, rates) -> None:
        """When a rule first reads history: the declarations lodged in the store's horizon, from the database;
        from then on the step records each declaration it assesses."""
        self._seeded = True
        since = now - timedelta(seconds=self.history.horizon)
        q = (select(Declaration.id, Declaration.version, Declaration.lodged_at, DeclarationVersion.document)
             .join(DeclarationVersion, and_(DeclarationVersion.declaration_id == Declaration.id,
                                            DeclarationVersion.version == Declaration.version))
             .where(Declaration.lodged_at >= since, Declaration.lodged_at < now))
        for did, version, lodged_at, doc in session.execute(q):
            if lodged_at.tzinfo is None:
                lodged_at = lodged_at.replace(tzinfo=timezone.utc)
            self.history.record(doc, base_values(doc, rates), lodged_at, f"{did}/{version}")

    def _record_hits(self, session, hits, declaration_id: str, now) -> None:
        if not hits:
            return
        did, _, version = declaration_id.rpartition("/")
        if not did or not version.isdigit():
            return  # an assessment outside the pipeline (a bench, a what-if): nothing to count
        session.add_all([RuleHit(rule_id=r.id, rule_version=r.version, declaration_id=did,
                                 declaration_version=int(version), hit_at=now) for r in hits])

    def _seed(self, session, office: str, policy, scale) -> None:
        """Start the office's window from its latest stored assessments under the same model."""
        q = (select(DeclarationVersion.risk)
             .join(Declaration, and_(Declaration.id == DeclarationVersion.declaration_id,
                                     Declaration.version == DeclarationVersion.version))
             .where(Declaration.office_of_entry == office).order_by(Declaration.id.desc()).limit(policy.window))
        rows = [r for r in session.scalars(q) if (r.get("versions") or {}).get("model") == scale]
        with self.budget.lock:
            if self.budget.has_window(office, scale):
                return  # another thread seeded it meanwhile
            window = self.budget.window(office, policy, scale)
            for risk in reversed(rows):
                window.add(float(risk.get("score") or 0.0), floor_of(risk), LANE_RANK.get(risk.get("lane"), 0))
