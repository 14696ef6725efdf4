"""Indicator keys: what a declaration can be hunted by, as short strings in one index (models.DeclarationKey).

| key | from |
|---|---|
| `p:<identifier>` | declarant, importer, exporter id (case, spaces, dots and dashes ignored) |
| `n:<name>` | their names (accents, case and punctuation ignored) |
| `c:<number>` | containers |
| `v:<conveyance>` | the conveyance (`IMO` + 7 digits for a vessel) |
| `h:<hs code>` | each item's HS code: an HS prefix is the range `h:0803` .. `h:0804` |
| `o:<origin>:<hs code>` | each item's origin with its HS code: origin alone, or origin and HS prefix, is a range |
"""

from __future__ import annotations

import re

from concord.risk.catalogue.watchlists import PARTIES, normalize_identifier, normalize_name, normalize_number

_IMO = re.compile(r"^(?:IMO)?(\d{7})$")


def conveyance_key(value: str) -> str:
    """A conveyance as the index holds it: a vessel's IMO number with its prefix, anything else normalized."""
    v = normalize_identifier(value)
    m = _IMO.match(v)
    return "IMO" + m.group(1) if m else v


def keys_of(document: dict) -> set[str]:
    """Every indicator key of one declaration document."""
    keys = set()
    for role in PARTIES:
        party = document[role]
        keys.add("p:" + normalize_identifier(party["id"]))
        keys.add("n:" + normalize_name(party["name"]))
    transport = document["transport"]
    for number in transport.get("containers") or ():
        keys.add("c:" + normalize_number(number))
    if transport.get("conveyance"):
        keys.add("v:" + conveyance_key(transport["conveyance"]))
    for item in document["items"]:
        keys.add("h:" + item["hs_code"])
        keys.add(f"o:{item['origin']}:{item['hs_code']}")
    return keys


def stage_keys(uow, declaration_id: str, document: dict, *, replace: bool = False) -> None:
    """Stage the keys of a lodged (or, with `replace`, amended) declaration in the lodging's transaction."""
    from sqlalchemy import delete

    from concord.hunting.models import DeclarationKey

    if replace:
        uow.session.execute(delete(DeclarationKey).where(DeclarationKey.declaration_id == declaration_id))
    rows = uow.staged.setdefault(DeclarationKey.__table__, [])  # uow.stage, many rows at once
    rows.extend({"key": k, "declaration_id": declaration_id} for k in keys_of(document))


def upper_bound(prefix: str) -> str:
    """The first key after every key that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
