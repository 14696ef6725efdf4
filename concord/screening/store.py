"""Storing a loaded list as a new version: entries keep their ids, only what changed moves."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select, update

from concord.errors import Conflict, ProblemList, pointer
from concord.ids import new_id
from concord.screening.lists import Watchlist
from concord.screening.models import ScreeningEntry, ScreeningList
from concord.screening.sources import default_ref, entry_id, record_of


@dataclass
class Counts:
    """How a reload changed the list."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0


def refs_of(records: list[dict], watchlist: Watchlist) -> list[str]:
    """Each entry's ref: the record's own id, else a hash of its name and qualifiers; duplicates are faults."""
    problems, refs, seen = ProblemList(), [], {}
    for entry in watchlist.entries:
        own = str(records[entry.row].get("id") or "").strip()
        ref = own or default_ref(entry)
        if ref in seen:
            if own:
                problems.add(pointer(entry.row, "id"), f"id '{own}' is also used by row {seen[ref]}; ids are unique")
                continue
            ref = f"{ref}#{entry.row}"  # the same name and qualifiers twice without ids: keep both rows
        seen[ref] = entry.row
        refs.append(ref)
    problems.raise_if_any("the list has faults; nothing was loaded")
    return refs


def store_list(uow, *, name: str, owner: str, sharing: str | None, source: str, watchlist: Watchlist,
               refs: list[str]) -> tuple[ScreeningList, Counts]:
    """Create the list or its next version; add, change and remove entries by their stable ids."""
    s, now, who = uow.session, uow.clock.now(), uow.subject.user_id if uow.subject else "system"
    lst = s.scalars(select(ScreeningList).where(ScreeningList.name == name).with_for_update()).first()
    if lst is None:
        lst = ScreeningList(id=new_id("SCL"), name=name, version=0, entry_count=0, sharing=sharing or "hit_no_hit")
        s.add(lst)
    elif lst.owner_agency != owner:
        raise Conflict(f"list '{name}' belongs to {lst.owner_agency}; load {owner}'s list under another name")
    lst.version += 1
    lst.owner_agency, lst.sharing = owner, sharing or lst.sharing  # deny by default: a new list shares hit / no-hit
    lst.source, lst.loaded_by, lst.loaded_at = source, who, now
    lst.entry_count = len(refs)
    s.flush()
    version, counts = lst.version, Counts()
    stored = {r.id: (r.version, r.removed_in) for r in s.execute(
        select(ScreeningEntry.id, ScreeningEntry.version, ScreeningEntry.removed_in)
        .where(ScreeningEntry.list_id == lst.id))}
    changes, present = [], set()
    for entry, ref in zip(watchlist.entries, refs):
        entry = replace(entry, id=entry_id(lst.id, ref), list_id=lst.id)
        present.add(entry.id)
        row = {"id": entry.id, "version": entry.version, "record": record_of(entry), "changed_in": version,
               "removed_in": None}
        if entry.id not in stored:
            uow.stage(ScreeningEntry, row | {"list_id": lst.id, "ref": ref})
            counts.added += 1
        elif stored[entry.id] != (entry.version, None):
            changes.append(row)
            counts.changed += 1
        else:
            counts.unchanged += 1
    gone = [{"id": i, "changed_in": version, "removed_in": version} for i, (_, removed) in stored.items()
            if i not in present and removed is None]
    counts.removed = len(gone)
    for rows in (changes, gone):
        if rows:
            s.execute(update(ScreeningEntry), rows)  # bulk UPDATE by primary key
    return lst, counts
