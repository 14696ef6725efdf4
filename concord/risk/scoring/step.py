"""The risk step the declaration pipeline calls: profiles, rules, watchlists and the model, within the lane budget."""

from __future__ import annotations

from sqlalchemy import and_, select

from concord.clock import Clock
from concord.config import SCREENING_LANE_THRESHOLD
from concord.declarations.models import Declaration, DeclarationVersion
from concord.risk.scoring.compiled import Catalog, ModelSource, Policies
from concord.risk.scoring.assessment import LANE_RANK, Assessment
from concord.risk.scoring.lanes import LaneBudget, floor_of
from concord.risk.models import SEVERITY_RANK, HistoryEntry, RuleHit
from concord.risk.catalogue import history_store
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
        self.hot = history_store.HotImporters()  # busy importers' history rows (history_store.py)

    def invalidate(self) -> None:
        """Recheck rules, watchlists and the model on the next assessment (a catalogue changed here)."""
        self.catalog.invalidate()
        self.models.invalidate()

    def _now(self, session):
        return (self.clock or Clock()).now()

    def score_group(self, session, docs: list) -> list:
        """The learned model's scores of a group commit's declarations, in one call: each a `scored` for `assess`
        (None where it could not be scored with the others; `assess` then scores it alone)."""
        model = self.models.current(session)
        return [None if s is None else (model, *s) for s in self.models.score_group(model, docs)]

    def assess(self, session, snapshot, doc: dict, *, declaration_id: str, uow=None, scored=None) -> Assessment:
        """Lane, score, reasons and versions for one declaration version; rule hits are added to the session and
        its history rows staged in `uow` (the lodging's unit of work; without one, inserted through `session`).
        `scored`: the model's score of this document from `score_group`, used if that model is still current."""
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
        # read only if a rule names `history`: one query, in this transaction (catalogue/history_store.py)
        staged = None if uow is None else uow.staged.get(HistoryEntry.__table__)  # this group's earlier lodgings
        rule_hits = rules.evaluate(doc, snapshot.rates, now, history_store.DatabaseHistory(session, self.hot, staged),
                                   declaration_id)
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
        if scored is not None and scored[0] is model:
            score, riskiest = scored[1:]
        else:
            score, riskiest = self.models.score(model, doc)
        scale = getattr(model, "version", None)
        if model is not None and not self.budget.has_window(office, scale):
            self._seed(session, office, policy, scale)
        decision = self.budget.decide(office, None if model is None else score, forced, policy, scale)
        if model is not None:
            reasons.append(self._model_reason(score, decision, riskiest, declaration_id))
        if decision.random:
            reasons.append({"kind": "random", "lane": policy.exploration_lane, "forced": False,
                            "reason": "selected at random for control, so the model also learns from trade it would "
                                      "not select"})
        self._record_hits(session, rule_hits, declaration_id, now)
        self._record_history(session, uow, doc, snapshot.rates, declaration_id, now)
        versions = {"rules": rules.version, "watchlists": watchlists.version, "model": scale,
                    "profiles": snapshot.profiles.version}
        if self.screening is not None:
            versions["screening"] = self.screening.versions()
        return Assessment(decision.lane, round(score, 6), reasons, versions, random=decision.random)

    @staticmethod
    def _model_reason(score: float, decision, riskiest, declaration_id: str) -> dict:
        """The model's reason. Its explanation (TreeSHAP, most of the model's cost per lodging) is computed only
        where an officer works on the declaration (any lane but green: forced, drawn or earned); a green one, most
        of them, keeps its riskiest item's inputs, which explain it exactly on request (`explanation` in
        declarations/queries.py), and are never shown (declarations/views.py)."""
        reason = {"kind": "model", "score": round(score, 6), "lane": decision.by_score, "forced": False,
                  "threshold": decision.thresholds.get(decision.by_score)}
        if decision.lane != "green" or riskiest.inputs is None:
            reason["contributions"] = riskiest.explain()
        else:
            reason["explanation"] = f"on request: GET /api/v1/declarations/{declaration_id.rpartition('/')[0]}" \
                                    "/explanation"
            reason["inputs"] = dict(riskiest.inputs(), item=riskiest.item)
        return reason

    def _record_history(self, session, uow, doc: dict, rates, declaration_id: str, now) -> None:
        """Every pipeline assessment joins the history, whether or not a rule reads it yet: a rule activated
        later reads the past as it was."""
        _, _, version = declaration_id.rpartition("/")
        if not version.isdigit():
            return  # an assessment outside the pipeline (a what-if, a selection estimate): not lodged
        rows = history_store.entries(doc, base_values(doc, rates), now, declaration_id)
        history_store.record(session, rows, declaration_id, now, replace=int(version) > 1,
                             stage=None if uow is None else uow.stage)

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
