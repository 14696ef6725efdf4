"""The agreements in force, cached for the access check; any change invalidates the cache at once."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from concord.agreements.models import LIVE, AccessGrant, SharingAgreement


@dataclass(frozen=True)
class Scope:
    agreement: str  # "KEY/vN", written into the audit entry of every read it allows
    provider: str
    recipients: frozenset
    purposes: frozenset
    resource: str
    fields: tuple[str, ...]
    hs_chapters: frozenset
    origins: frozenset
    offices: frozenset
    valid_from: datetime
    valid_until: datetime
    categories: frozenset = frozenset()  # incident scopes: the categories shared (empty: all)

    def in_force(self, at: datetime) -> bool:
        return self.valid_from <= at < self.valid_until

    def covers(self, hs_chapters: str, origins: str, office: str) -> bool:
        """Does the condition hold for a declaration with these denormalized facets (",08,03,")?"""
        if self.hs_chapters and not any(f",{c}," in hs_chapters for c in self.hs_chapters):
            return False
        if self.origins and not any(f",{o}," in origins for o in self.origins):
            return False
        return not self.offices or office in self.offices

    def admits(self, category: str | None) -> bool:
        """Does the scope share records of this category (incidents; other records have none)?"""
        return not self.categories or category in self.categories


class AgreementBook:
    """Active agreements as scopes; reloaded on invalidate() and at most every `ttl` s for other processes."""

    def __init__(self, session_factory=None, ttl: float = 1.0):
        self.session_factory = session_factory
        self.ttl = ttl
        self._scopes: list[Scope] | None = None
        self._grant_holders: frozenset = frozenset()
        self._loaded = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._scopes = None

    def scopes(self) -> list[Scope]:
        scopes = self._scopes
        if scopes is not None and time.monotonic() - self._loaded < self.ttl:
            return scopes
        with self._lock:
            scopes = self._scopes  # another thread may have loaded them while this one waited for the lock
            if scopes is not None and time.monotonic() - self._loaded < self.ttl:
                return scopes
            return self._load()

    def _load(self) -> list[Scope]:
        with self.session_factory() as s:
            rows = s.scalars(select(SharingAgreement).where(SharingAgreement.status == LIVE)).all()
            self._grant_holders = frozenset(s.scalars(select(AccessGrant.requester_agency).distinct().where(
                AccessGrant.status.in_(("granted", "open")))))
            self._scopes = [scope_of(a, sc) for a in rows for sc in a.scopes]
            self._loaded = time.monotonic()
            return self._scopes

    def may_hold_grants(self, agency: str | None) -> bool:
        """False when the agency holds no granted request or open break-glass: the grant query is skipped."""
        self.scopes()
        return agency in self._grant_holders

    def matching(self, agency: str | None, resource: str, purpose: str | None, at: datetime,
                 provider: str | None = None) -> list[Scope]:
        """Scopes that let `agency` see `resource` data (of `provider`) for `purpose` now."""
        if agency is None or purpose is None:
            return []
        return [s for s in self.scopes() if agency in s.recipients and s.resource == resource
                and purpose in s.purposes and s.in_force(at) and (provider is None or s.provider == provider)]


def scope_of(a: SharingAgreement, sc: dict) -> Scope:
    cond = sc.get("condition") or {}
    return Scope(f"{a.key}/v{a.version}", a.provider, frozenset(a.recipients), frozenset(a.purposes), sc["resource"],
                 tuple(sc["fields"]), frozenset(cond.get("hs_chapters") or ()), frozenset(cond.get("origins") or ()),
                 frozenset(cond.get("offices") or ()), a.valid_from, a.valid_until,
                 frozenset(cond.get("categories") or ()))
