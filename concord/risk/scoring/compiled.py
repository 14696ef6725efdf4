"""What the risk step reads, compiled once per version: rules, watchlists, the active model, lane policies."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, NamedTuple

from sqlalchemy import inspect, select

from concord.errors import NotFound
from concord.risk.scoring.lanes import LanePolicy
from concord.risk.models import RiskCatalog, RiskRule, WatchlistEntry
from concord.risk.catalogue.rules import RuleSet
from concord.risk.schemas import LaneConfig
from concord.risk.catalogue.watchlists import CompiledWatchlists, ExactNames

log = logging.getLogger(__name__)


class Catalog:
    """Compiled rules and watchlists; their versions are rechecked at most once per `ttl` seconds."""

    def __init__(self, ttl: float = 1.0, names=ExactNames):
        self.ttl, self.names = ttl, names
        self.rules = RuleSet([], 0)
        self.watchlists = CompiledWatchlists([], 0, names)
        self._checked = -float("inf")
        self._present: bool | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._checked = -float("inf")

    def current(self, session, now) -> tuple[RuleSet, CompiledWatchlists]:
        if time.monotonic() - self._checked < self.ttl:
            return self.rules, self.watchlists
        with self._lock:
            if self._present is None:
                # A database not yet upgraded to the risk tables assesses with profiles and the model only.
                self._present = inspect(session.connection()).has_table(RiskCatalog.__tablename__)
            if self._present:
                versions = dict(session.execute(select(RiskCatalog.name, RiskCatalog.version)).all())
                if versions.get("rules", 0) != self.rules.version:
                    rows = session.scalars(select(RiskRule).where(RiskRule.active).order_by(RiskRule.id))
                    self.rules = RuleSet.from_rows(rows, versions.get("rules", 0))
                if versions.get("watchlists", 0) != self.watchlists.version:
                    rows = session.scalars(select(WatchlistEntry).where(
                        WatchlistEntry.removed_at.is_(None),
                        WatchlistEntry.expires_at.is_(None) | (WatchlistEntry.expires_at > now)))
                    self.watchlists = CompiledWatchlists.from_rows(rows, versions.get("watchlists", 0), self.names)
            self._checked = time.monotonic()
            return self.rules, self.watchlists


def registry_model(session, root):
    """The active model of the registry under `root`, or None while there is none."""
    try:
        from concord.risk.learning.registry import active_model
    except ImportError:  # the learned model is an optional part
        return None
    model = active_model(session, root)
    if model is not None and session is not None and not getattr(model, "caught_up", True):
        # outcomes recorded since it was trained (while another version scored, or before a restart)
        from concord.risk.learning.hub import catch_up

        try:
            log.info("risk model %s caught up with %d recorded goods outcomes", model.version, catch_up(model, session))
        except Exception:  # noqa: BLE001 - a database without the outcomes table: score with the trained history
            log.exception("the risk model could not read the recorded outcomes; it scores with its trained history")
        model.caught_up = True
    return model


class ModelSource:
    """The active learned model, rechecked at most once per `ttl`; `load(session)` returns it or None."""

    def __init__(self, ttl: float = 1.0, load=None, top: int = 5, root=None):
        self.ttl, self.top, self.root = ttl, top, root
        self.load = load or (lambda session: registry_model(session, root))
        self.model = None
        self._checked = -float("inf")
        self._failed = False

    def invalidate(self) -> None:
        self._checked = -float("inf")

    def current(self, session):
        if time.monotonic() - self._checked < self.ttl:
            return self.model
        try:
            self.model = self.load(session)
            self._failed = False
            if self.model is not None and session is not None:
                self._follow(session)
        except Exception:  # noqa: BLE001 - a broken registry must not stop lodging: assess without the model
            if not self._failed:
                log.exception("the active risk model could not be loaded; assessing without it")
            self._failed, self.model = True, None
        self._checked = time.monotonic()
        return self.model

    def _follow(self, session) -> None:
        """Outcomes another worker recorded since the last recheck join the model's history (hub.OutcomeFeed)."""
        from concord.risk.learning.hub import follow_outcomes

        try:
            follow_outcomes(self.model, session)
        except Exception:  # noqa: BLE001 - never stop lodging for it: the next recheck reads them again
            log.exception("the risk model could not read the outcomes recorded since its last recheck")

    def score(self, model, doc: dict):
        """The declaration's score (its riskiest item's), and that item (`Explainable`): its top feature
        contributions now, or its inputs to store and explain exactly on request (explaining costs more than
        scoring, so the step explains only where an officer reads it)."""
        if model is None:
            return 0.0, None
        records = _records(doc)
        if hasattr(model, "assess_many"):  # the learned model: features once for the scores and the explanation
            return self._assessed(model, [records])[0]
        scores = model.score_records(records)
        worst = max(range(len(scores)), key=scores.__getitem__)
        return float(scores[worst]), Explainable(worst, lambda: model.explain(records[worst], self.top), None)

    def score_group(self, model, docs: list) -> list:
        """`score` for a group commit's declarations in one call of the learned model (a quarter of the CPU per
        declaration for 8): [(score, Explainable)], or Nones where each is to be scored alone."""
        if model is None or not hasattr(model, "assess_many") or len(docs) < 2:
            return [None] * len(docs)
        try:
            return self._assessed(model, [_records(doc) for doc in docs])
        except Exception as e:  # noqa: BLE001 - scored one by one instead: a document the model cannot read fails alone
            log.warning("a group of %d declarations could not be scored together (%s); each is scored alone",
                        len(docs), type(e).__name__)  # the kind, not the text: it may quote a document's values
            return [None] * len(docs)

    def _assessed(self, model, declarations: list) -> list:
        return [(float(scores[worst]), Explainable(worst, riskiest.explain, riskiest.inputs))
                for scores, worst, riskiest in model.assess_many(declarations, self.top)]

    def explain_stored(self, session, version: str, item: int, inputs: dict) -> list[dict]:
        """An item's explanation from the inputs stored at its assessment, by the model version that assessed
        it: the active one, or the registry's copy of an earlier one (seconds to load; on request only)."""
        model = self.current(session)
        if getattr(model, "version", None) != version:
            model = self._registered(version)
        return [dict(c, item=item) for c in _contributions(model.explain_inputs(inputs, self.top))]

    def _registered(self, version: str):
        from concord.risk.learning.registry import load_model

        try:
            if self.root is not None:
                return load_model(self.root, version)
        except NotFound:
            pass
        raise NotFound(f"risk model {version} is no longer in the registry: its explanations are gone with it")


def _records(doc: dict) -> list:
    from concord.risk.learning.datasets import record_from_declaration

    return [record_from_declaration(doc, i) for i in range(len(doc["items"]))]


class Explainable(NamedTuple):
    """A declaration's riskiest item after scoring: `explain()` its contributions now, `inputs()` (None if the
    model keeps none) what explains it exactly later."""

    item: int
    explained: Callable[[], list]
    inputs: Callable[[], dict] | None

    def explain(self) -> list[dict]:
        return [dict(c, item=self.item) for c in _contributions(self.explained())]


def _contributions(explained) -> list[dict]:
    """Contributions as dicts whatever shape the model returns: dicts, (feature, value) pairs, or a mapping."""
    if isinstance(explained, dict):
        explained = list(explained.items())
    out = []
    for c in explained or ():
        if isinstance(c, dict):
            out.append(dict(c))
        else:
            feature, value = c[0], c[1]
            out.append({"feature": str(feature), "contribution": round(float(value), 6)})
    return out


class Policies:
    """Lane policies per office from the config's `risk` section, rebuilt when the config version changes."""

    def __init__(self):
        self._version = None
        self._default = LanePolicy()
        self._offices: dict[str, LanePolicy] = {}

    def of(self, snapshot, office: str) -> LanePolicy:
        if self._version != snapshot.version:
            risk = (snapshot.document or {}).get("risk") or {}
            cfg = LaneConfig.model_validate(risk.get("lanes") or {})
            common = dict(exploration=float(risk.get("random_inspection_rate", 0.0)),
                          exploration_lane=cfg.exploration_lane, window=cfg.window, force_severity=cfg.force_severity)
            self._default = LanePolicy(targets=cfg.targets.model_dump(), **common)
            self._offices = {o: LanePolicy(targets=t.model_dump(), **common) for o, t in cfg.offices.items()}
            self._version = snapshot.version
        return self._offices.get(office, self._default)
