"""Search within a subject's view of declarations: by any value the view shows (an LRN, container, conveyance, party,
office, code), newest first, reading no more than a page needs."""

from __future__ import annotations

from sqlalchemy import String, cast, func, or_, select, tuple_

from concord.access.exits import cut
from concord.access.policy import authorize, declaration_scope
from concord.declarations import views
from concord.declarations.models import Declaration as D, DeclarationVersion as V
from concord.declarations.queries import _lens, _texts, lodged_between, note_read
from concord.errors import InvalidDocument, Problem
from concord.hunting.keys import conveyance_key
from concord.hunting.models import DeclarationKey
from concord.risk.catalogue.watchlists import normalize_identifier, normalize_name

NEWEST = (D.lodged_at.desc(), D.id.desc())


def search_declarations(session, subject, term: str, *, status: str | None = None, limit: int = 50, offset: int = 0,
                        purpose: str | None = None, reads: list | None = None, access, window: int = 2000,
                        lodged_from=None, lodged_to=None) -> dict:
    """Declarations the subject may see whose *visible* values hold `term`, newest first.

    A declaration is kept only where the term is in the subject's cut of it, before paging, so a search can never
    reveal a field the view hides. The view is read newest first, a batch at a time (its ids through an index, then
    the documents of that batch that hold the term), until this page and one more are found, and at most `window`
    declarations; past the window only indexed values are looked up (an exact LRN, container, conveyance, party
    identifier or name). `more`: a next page exists; `total`: matches found so far; `complete`: that is all of them."""
    if not 1 <= limit <= 500:
        raise InvalidDocument("bad page size", [Problem("/limit", "limit must be between 1 and 500")])
    term = term.strip()[:70]
    needle = term.lower()
    like = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    scope = [declaration_scope(subject, purpose, session=session, access=access)]
    if status:
        scope.append(D.status == status)
    scope += lodged_between(lodged_from, lodged_to)  # the window then counts from the period's newest
    want, found, read, last, ended, batch = offset + limit + 1, [], 0, None, False, 4 * limit

    def keep(rows):
        for d, document in sorted(rows, key=lambda r: (r[0].lodged_at, r[0].id), reverse=True):
            decision = authorize(subject, "read", d, purpose, session=session, access=access)
            if not decision.allowed:  # the scope and the rule agree; this guards against any drift between them
                continue
            seen = cut(views.export_row(d, document), _lens(session, subject, decision, purpose, None, access))
            if any(needle in value.lower() for value in _texts(seen)):  # values only: never a field's name
                found.append((d, decision))

    while len(found) < want and read < window and not ended:
        size = min(batch, window - read)
        page = session.execute(select(D.id, D.lodged_at).where(*scope, *_after(last)).order_by(*NEWEST)
                               .limit(size)).all()
        if page:
            keep(session.execute(select(D, V.document).join(V, (V.declaration_id == D.id) & (V.version == D.version))
                                 .where(D.id.in_(ids := [r.id for r in page]), V.declaration_id.in_(ids),
                                        or_(func.lower(D.lrn).like(like, escape="\\"),
                                            func.lower(cast(V.document, String)).like(like, escape="\\")))).all())
            last = (page[-1].lodged_at, page[-1].id)
        read, ended, batch = read + len(page), len(page) < size, min(4 * batch, 1000)
    if len(found) < want and not ended:  # older than the window: indexed values only
        keep(session.execute(select(D, V.document).join(V, (V.declaration_id == D.id) & (V.version == D.version))
                             .where(*scope, *_after(last), or_(D.lrn.in_(sorted({term, term.upper()})),
                                                               D.id.in_(select(DeclarationKey.declaration_id)
                                                                        .where(DeclarationKey.key.in_(_keys(term))))))
                             .order_by(*NEWEST).limit(want - len(found))).all())
    items = []
    for d, decision in found[offset:offset + limit]:
        note_read(reads, f"declaration/{d.id}", decision)
        items.append(cut(views.list_item(d), _lens(session, subject, decision, purpose, reads, access)))
    return {"total": len(found), "limit": limit, "offset": offset, "items": items, "complete": ended,
            "more": len(found) > offset + limit}


def _after(last) -> list:
    return [] if last is None else [tuple_(D.lodged_at, D.id) < last]


def _keys(term: str) -> set[str]:
    """The declaration_keys (concord.hunting.keys) a term would be if it were a whole indexed value."""
    keys = {"c:" + normalize_identifier(term), "p:" + normalize_identifier(term), "v:" + conveyance_key(term)}
    if name := normalize_name(term):
        keys.add("n:" + name)
    return keys
