"""What a hunt leaves for new declarations: watchlist entries for what the shared watchlists can say (parties,
containers, vessels, HS and origin pairs) and one rule for the rest (other conveyances, HS or origin alone, the
indicators' own CEL rule). Both are the risk engine's own catalogues, owned by the issuing agency, and lapse at the
hunt's `valid_until` without anyone removing them."""

from __future__ import annotations

import json
import re

from concord.errors import InvalidDocument, Problem
from concord.hunting.indicators import Indicators
from concord.hunting.keys import conveyance_key
from concord.ids import new_id

SEVERITY = {"red": "high", "yellow": "medium"}  # watchlist severities map back to these lanes (WATCHLIST_LANES)
_IDENTIFIER = re.compile(r"^(?=.*\d)[A-Za-z0-9./ -]+$")  # EORI, TIN, VAT: letters and digits, no spaces inside names


def _entries(ind: Indicators) -> tuple[list[tuple[str, dict, str]], list[str]]:
    """(kind, value, pointer) of each watchlist entry, and the CEL clauses for what no entry can say."""
    entries, clauses = [], []
    for i, p in enumerate(ind.parties):
        key = "identifier" if _IDENTIFIER.match(p) else "name"
        entries.append(("party", {key: p}, f"/indicators/parties/{i}"))
    entries += [("container", {"number": c}, f"/indicators/containers/{i}") for i, c in enumerate(ind.containers)]
    for i, c in enumerate(ind.conveyances):
        if (v := conveyance_key(c)).startswith("IMO"):
            entries.append(("vessel", {"imo": v}, f"/indicators/conveyances/{i}"))
        else:
            clauses.append(f"transport.conveyance == {json.dumps(c)}")
    pairs = [(h, o) for h in ind.hs for o in ind.origins]
    if pairs and all(len(h) % 2 == 0 for h in ind.hs):
        entries += [("hs_origin", {"hs_prefix": h, "origin": o}, "/indicators/hs") for h, o in pairs]
    elif ind.hs or ind.origins:
        goods = []
        if ind.hs:
            goods.append("(" + " || ".join(f"i.hs_code.startsWith({json.dumps(h)})" for h in ind.hs) + ")")
        if ind.origins:
            goods.append(f"i.origin in {json.dumps(list(ind.origins))}")
        clauses.append("items.exists(i, " + " && ".join(goods) + ")")
    if ind.rule:
        clauses.append(f"({ind.rule})")
    return entries, clauses


def expression(ind: Indicators) -> str | None:
    """The CEL rule a hunt installs for what its watchlist entries cannot say, if anything."""
    clauses = _entries(ind)[1]
    return " || ".join(clauses) if clauses else None


def rule_set(ind: Indicators, lane: str):
    """The indicators' own CEL rule, compiled as the risk engine runs it (checked: a faulty rule is a 422)."""
    from datetime import datetime, timezone

    from concord.risk.catalogue.rules import CompiledRule, RuleSet, compile_rule

    try:
        program = compile_rule(ind.rule)
    except InvalidDocument as e:
        raise InvalidDocument("the hunt's rule has faults; nothing was stored", [
            Problem("/indicators/rule", p.message) for p in e.problems]) from None
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return RuleSet([CompiledRule("HUNT", 1, "hunt", "", "high", lane, epoch, None, program, ind.rule)], 0)


def install(uow, hunt, ind: Indicators, lane: str) -> tuple[list[str], str | None]:
    """Write the entries and the rule in the hunt's transaction; returns their ids."""
    from concord.risk.handlers import bump
    from concord.risk.models import RiskRule, WatchlistEntry
    from concord.risk.schemas import canonical_value

    s, now = uow.session, uow.clock.now()
    entries, clauses = _entries(ind)
    reason = f"hunt {hunt.id} of {hunt.agency} ({hunt.source})"
    ids = []
    for kind, value, pointer in entries:
        try:
            value = canonical_value(kind, value)
        except InvalidDocument as e:
            raise InvalidDocument("the indicators have faults; nothing was stored",
                                  [Problem(pointer, p.message) for p in e.problems]) from None
        entry = WatchlistEntry(id=new_id("WLE"), version=1, agency=hunt.agency, kind=kind, value=value, reason=reason,
                               severity=SEVERITY[lane], expires_at=hunt.valid_until, created_by=hunt.started_by,
                               created_at=now, removed_at=None, removed_by=None)
        s.add(entry)
        ids.append(entry.id)
    if ids:
        bump(s, "watchlists", now)
    rule_id = None
    if clauses:
        from concord.risk.catalogue.rules import compile_rule

        source = " || ".join(clauses)
        try:
            compile_rule(source)
        except InvalidDocument as e:
            raise InvalidDocument("the hunt's rule has faults; nothing was stored", [
                Problem("/indicators/rule", p.message) for p in e.problems]) from None
        rule_id = "HUNT-" + hunt.id.upper()
        s.add(RiskRule(id=rule_id, version=1, name=f"hunt {hunt.source}"[:200], expression=source, rationale=reason,
                       author=hunt.started_by, agency=hunt.agency, severity="high", lane=lane, valid_from=now,
                       valid_until=hunt.valid_until, active=True, created_at=now, retired_at=None, retired_by=None))
        bump(s, "rules", now)
    return ids, rule_id
