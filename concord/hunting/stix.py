"""Hunts' indicators as STIX 2.1 bundles (the `stix2` library) and back, with TLP 2.0 markings from the agreements.

A hunt becomes one Indicator: a STIX pattern over Concord's own cyber-observable-like types (STIX has none for
trade), one observation per indicator list, joined by OR:

| Indicators | STIX pattern |
|---|---|
| parties | `[x-concord-party:identifier = 'NL823456781']` |
| containers | `[x-concord-container:number = 'MSCU1234566']` |
| conveyances | `[x-concord-conveyance:id = 'IMO9074729']` |
| hs, origins | `[x-concord-goods-item:hs_code LIKE '0803%' AND x-concord-goods-item:origin IN ('EC')]` |
| rule (CEL) | the property `x_concord_cel_rule` (a STIX pattern cannot say it) |

TLP 2.0 (the OASIS marking definitions, by their fixed ids) is derived from what lets the recipient see the hunt:
its own agency's hunts are TLP:AMBER (its organisation and those it works with, on need to know); another agency's
hunt under an agreement takes the agreement's `handling.onward_sharing`: forbidden or with_permission ->
TLP:AMBER+STRICT (the recipient's organisation only: TLP cannot ask for the owner's permission, so the stricter
label), allowed -> TLP:GREEN; several agreements: the strictest. Nothing goes out as TLP:CLEAR, and a recipient that
no agreement covers receives nothing."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import stix2

from concord.errors import InvalidDocument, Problem
from concord.hunting.indicators import Indicators

NAMESPACE = uuid.UUID("6b3c4a38-1f5e-4f0e-9a57-2f7f4c0e6d21")  # Concord's: ids stay the same on every export
TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP_IDS = {"clear": "94868c89-83c2-464b-929b-a1a8aa3c8487", "green": "bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
           "amber": "55d920b0-5e8b-4f79-9ee9-91f868d9b421", "amber+strict": "939a9414-2ddd-4d32-a0cd-375ea402b003",
           "red": "e828b379-4e03-4974-9ac4-e53a884c97c1"}
STRICTNESS = ("clear", "green", "amber", "amber+strict", "red")
ONWARD_TLP = {"allowed": "green", "with_permission": "amber+strict", "forbidden": "amber+strict"}
OWN_TLP = "amber"
MAX_OBJECTS = 10_000  # per imported bundle


def tlp_marking(level: str) -> stix2.v21.MarkingDefinition:
    """The OASIS TLP 2.0 marking definition of a level."""
    return stix2.v21.MarkingDefinition(
        id=f"marking-definition--{TLP_IDS[level]}", created="2022-10-01T00:00:00.000Z", name=f"TLP:{level.upper()}",
        extensions={TLP_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}}, allow_custom=True)


def strictest(levels) -> str:
    return max(levels, key=STRICTNESS.index)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern_of(ind: Indicators) -> str | None:
    """The STIX pattern of the indicators' lists (None when only a CEL rule is given)."""
    observations = [f"[x-concord-party:identifier = {_quote(p)}]" for p in ind.parties]
    observations += [f"[x-concord-container:number = {_quote(c)}]" for c in ind.containers]
    observations += [f"[x-concord-conveyance:id = {_quote(c)}]" for c in ind.conveyances]
    goods = []
    if ind.hs:
        goods.append(" OR ".join(f"x-concord-goods-item:hs_code LIKE {_quote(h + '%')}" for h in ind.hs))
    if ind.origins:
        goods.append(f"x-concord-goods-item:origin IN ({', '.join(_quote(o) for o in ind.origins)})")
    if goods:
        observations.append("[" + " AND ".join(f"({g})" if " OR " in g else g for g in goods) + "]")
    return " OR ".join(observations) or None


def indicator_of(hunt, identity_id: str, marking_id: str) -> stix2.v21.Indicator:
    """One hunt as a STIX Indicator, with a stable id derived from the hunt's."""
    ind = Indicators.model_validate(hunt.indicators)
    pattern = pattern_of(ind) or "[x-concord-declaration:id != '']"  # a rule alone: the pattern says "any"
    extra = {"x_concord_cel_rule": ind.rule} if ind.rule else {}
    return stix2.v21.Indicator(
        id=f"indicator--{uuid.uuid5(NAMESPACE, hunt.id)}", created=hunt.started_at, modified=hunt.started_at,
        name=f"{hunt.agency} hunt on {hunt.source}", pattern=pattern, pattern_type="stix",
        valid_from=hunt.started_at, valid_until=hunt.valid_until, indicator_types=["malicious-activity"],
        created_by_ref=identity_id, object_marking_refs=[marking_id],
        external_references=[{"source_name": "concord", "external_id": hunt.id, "description": hunt.source}],
        allow_custom=True, **extra)


def identity_of(agency: str, name: str | None = None) -> stix2.v21.Identity:
    return stix2.v21.Identity(id=f"identity--{uuid.uuid5(NAMESPACE, 'agency/' + agency)}", name=name or agency,
                              identity_class="organization", created="2026-01-01T00:00:00.000Z",
                              modified="2026-01-01T00:00:00.000Z")


def objects_of(shared: list[tuple[object, str]], names: dict | None = None) -> list:
    """STIX objects for hunts, each with its TLP level: the indicators, their agencies, the markings used."""
    names = names or {}
    identities = {h.agency: identity_of(h.agency, names.get(h.agency)) for h, _ in shared}
    markings = {level: tlp_marking(level) for _, level in shared}
    indicators = [indicator_of(h, identities[h.agency].id, markings[level].id) for h, level in shared]
    return [*markings.values(), *identities.values(), *indicators]


def bundle_of(shared: list[tuple[object, str]], names: dict | None = None) -> stix2.v21.Bundle:
    return stix2.v21.Bundle(objects_of(shared, names), allow_custom=True)


_LIKE = re.compile(r"^'(\d{2,10})%'$")
_VALUE = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _values(raw: str) -> list[str]:
    return [v.replace("\\'", "'").replace("\\\\", "\\") for v in _VALUE.findall(raw)]


def indicators_from_pattern(pattern: str, rule: str | None = None) -> Indicators:
    """Indicators back from a pattern in the shape pattern_of writes (other comparisons are refused)."""
    from stix2patterns.pattern import Pattern

    out = {"parties": [], "containers": [], "conveyances": [], "hs": [], "origins": []}
    places = {("x-concord-party", "identifier"): "parties", ("x-concord-party", "name"): "parties",
              ("x-concord-container", "number"): "containers", ("x-concord-conveyance", "id"): "conveyances",
              ("x-concord-goods-item", "origin"): "origins"}
    for kind, comparisons in Pattern(pattern).inspect().comparisons.items():
        for path, op, raw in comparisons:
            name = ".".join(str(p) for p in path)
            if (kind, name) == ("x-concord-goods-item", "hs_code") and op == "LIKE" and _LIKE.match(raw):
                out["hs"].append(_LIKE.match(raw).group(1))
            elif (kind, name) in places and op in ("=", "IN"):
                out[places[(kind, name)]] += _values(raw)
            elif (kind, name, op) != ("x-concord-declaration", "id", "!="):
                raise ValueError(f"{kind}:{name} {op} is not a Concord indicator")
    return Indicators(**{k: list(dict.fromkeys(v)) for k, v in out.items()}, rule=rule)


def read_bundle(text: str | bytes) -> list[dict]:
    """The indicators of a STIX 2.1 bundle, parsed by the stix2 library: [{"id", "name", "indicators",
    "valid_until", "tlp"}]; a faulty bundle or pattern is an InvalidDocument with the object's place."""
    try:
        bundle = stix2.parse(text, allow_custom=True)
    except Exception as e:  # noqa: BLE001 - the library raises many kinds; each is the file's fault
        raise InvalidDocument("not a STIX 2.1 bundle; nothing was imported", [Problem("", str(e)[:300])]) from None
    objects = getattr(bundle, "objects", None) or []
    if getattr(bundle, "type", None) != "bundle" or len(objects) > MAX_OBJECTS:
        raise InvalidDocument("not a STIX 2.1 bundle; nothing was imported", [Problem(
            "/objects", f"give a bundle of at most {MAX_OBJECTS:,} objects")])
    levels = {o.id: _tlp_level(o) for o in objects if o.type == "marking-definition"}
    found, problems = [], []
    for i, o in enumerate(objects):
        if o.type != "indicator":
            continue
        if o.pattern_type != "stix":
            problems.append(Problem(f"/objects/{i}/pattern_type", "only STIX patterns are read"))
            continue
        try:
            ind = indicators_from_pattern(o.pattern, o.get("x_concord_cel_rule"))
        except Exception as e:  # noqa: BLE001 - a pattern this hub cannot act on
            problems.append(Problem(f"/objects/{i}/pattern", str(e)[:300]))
            continue
        marks = [levels.get(m) for m in o.get("object_marking_refs", []) if levels.get(m)]
        until = o.get("valid_until")
        found.append({"id": o.id, "name": o.get("name"), "indicators": ind,
                      "valid_until": until.astimezone(timezone.utc) if isinstance(until, datetime) else None,
                      "tlp": strictest(marks) if marks else None})
    if problems:
        raise InvalidDocument("the bundle has indicators this hub cannot read; nothing was imported", problems)
    return found


def _tlp_level(marking) -> str | None:
    ext = (marking.get("extensions") or {}).get(TLP_EXTENSION)
    if ext and ext.get("tlp_2_0") in STRICTNESS:
        return ext["tlp_2_0"]
    for level, uid in TLP_IDS.items():
        if marking.id.endswith(uid):
            return level
    if marking.get("definition_type") == "tlp":  # TLP 1.0 (white, green, amber, red)
        level = marking.definition.get("tlp")
        return "clear" if level == "white" else level if level in STRICTNESS else None
    return None
