"""The coordination config in force, compiled once per config version for the hot path."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concord.agencies.models import Agency, ConfigVersion
from concord.errors import ConcordError
from concord.risk.catalogue.profiles import ProfileAssessor
from concord.routing.criteria import Rates
from concord.routing.engine import RoutingEngine
from concord.routing.models import RoutingRule


class NotConfigured(ConcordError):
    status = 503
    code = "not_configured"


@dataclass
class Snapshot:
    version: int
    lead: str
    agencies: dict[str, Agency]
    routing: RoutingEngine
    profiles: ProfileAssessor
    rates: Rates
    document: dict
    offices: frozenset = frozenset()  # UN/LOCODEs without spaces; empty: the config names none

    def office_problem(self, office: str) -> str | None:
        """Why a declaration may not name this office of entry (None: it may)."""
        if self.offices and office.replace(" ", "") not in self.offices:
            return (f"'{office}' is not an office of entry of this administration; the offices are "
                    f"{', '.join(sorted(self.offices))}")
        return None


class Directory:
    """Caches the compiled config; rechecks the version at most once per `ttl` seconds."""

    def __init__(self, ttl: float = 1.0):
        self.ttl = ttl
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._checked = 0.0

    def current(self, session: Session) -> Snapshot:
        if self._snapshot is not None and time.monotonic() - self._checked < self.ttl:
            return self._snapshot
        with self._lock:
            version = session.scalar(select(func.max(ConfigVersion.version)))
            if version is None:
                raise NotConfigured("no coordination config is loaded; run `concord config load FILE` first")
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = self._compile(session, version)
            self._checked = time.monotonic()
            return self._snapshot

    def _compile(self, session: Session, version: int) -> Snapshot:
        doc = session.get(ConfigVersion, version).document
        rates = Rates(doc.get("base_currency", "EUR"), {k: v for k, v in doc.get("exchange_rates", {}).items()})
        agencies = {a.code: a for a in session.scalars(select(Agency).where(Agency.active))}
        for a in agencies.values():
            session.expunge(a)
        rules = session.scalars(select(RoutingRule).where(RoutingRule.active).order_by(RoutingRule.id)).all()
        lead = next(a.code for a in agencies.values() if a.role == "lead")
        return Snapshot(version, lead, agencies, RoutingEngine.from_rows(rules, rates, version),
                        ProfileAssessor.from_config(doc.get("risk", {}), rates, f"config-v{version}"), rates, doc,
                        frozenset(o["code"] for o in doc.get("offices") or ()))
