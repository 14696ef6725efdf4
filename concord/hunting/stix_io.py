"""STIX exports and imports on the hub: what a subject receives as a bundle; a bundle's indicators as hunts."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from concord.hunting import exchange, sharing
from concord.hunting.messages import StartHunt
from concord.hunting.models import Hunt
from concord.hunting.stix import bundle_of, read_bundle

DEFAULT_DAYS = 30  # how long an imported indicator without valid_until hunts


def export_bundle(session, subject, purpose, app, reads: list) -> dict:
    """Every hunt the subject receives, and every incident and notice it may read (each cut to its view), each
    marked with the TLP level its sharing basis gives."""
    agencies = app.directory.current(session).agencies
    shared = []
    for agency, (level, decision) in sharing.providers_for(session, subject, agencies, purpose, app.access).items():
        for h in session.scalars(select(Hunt).where(Hunt.agency == agency).order_by(Hunt.started_at, Hunt.id)):
            shared.append((h, level))
            if decision.basis != "own-agency":
                reads.append((f"hunt/{h.id}", decision))
    names = {code: a.name for code, a in agencies.items()}
    bundle = json.loads(bundle_of(shared, names).serialize())
    bundle.setdefault("objects", [])  # the library leaves an empty bundle without the list
    seen = {o["id"] for o in bundle["objects"]}
    records = exchange.incidents(session, subject, purpose, app.access, reads=reads) + exchange.notices(
        session, subject, app.access, reads=reads)
    bundle["objects"] += [o for o, _ in exchange.plain(records) if o["id"] not in seen]
    return bundle


def import_bundle(app, subject, text: str | bytes, *, hunt: bool, lookback_days: int = 30,
                  action: dict | None = None) -> list[dict]:
    """The bundle's indicators; with `hunt`, each starts a hunt of the subject's agency (source `stix/<id>`)."""
    found = read_bundle(text)
    out = []
    for f in found:
        entry = {"id": f["id"], "name": f["name"], "tlp": f["tlp"],
                 "indicators": f["indicators"].model_dump(mode="json", exclude_defaults=True),
                 "valid_until": f["valid_until"].isoformat() if f["valid_until"] else None}
        if hunt:
            until = f["valid_until"] or app.clock.now() + timedelta(days=DEFAULT_DAYS)
            started = app.bus.handle(StartHunt(
                agency=subject.agency, source=f"stix/{f['id'].split('--')[-1][:70]}",
                indicators=f["indicators"].model_dump(mode="json"), valid_until=until.isoformat(),
                lookback_days=lookback_days, action=action or {}), subject=subject)
            entry["hunt_id"] = started["id"]
        out.append(entry)
    return out
