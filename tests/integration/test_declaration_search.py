"""The console's search and list at scale: newest first, reading only what a page needs, honest about what it did
not count, and never finding a declaration by a value the subject's view hides (SQLite and PostgreSQL)."""

from sqlalchemy import func, select

from concord.access.policy import declaration_scope
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.models import Declaration
from concord.declarations.queries import list_declarations
from concord.declarations.schemas import parse_declaration
from concord.declarations.search import search_declarations
from support import declaration, item, subjects


def lodge(app, count: int) -> list[str]:
    """`count` banana declarations (customs and plant health), a minute apart, oldest first."""
    ids = []
    for n in range(count):
        doc = parse_declaration(declaration(lrn=f"LRN-SRCH-{n:03d}", items=[
            item("080390", "Fresh bananas", "EC", documents=["N851"])])).model_dump(mode="json")
        ids.append(app.bus.handle(SubmitDeclaration(document=doc), subject=subjects(app)["hollandfoods"])["id"])
        app.clock.advance(minutes=1)
    return ids


def test_search_reads_until_the_page_is_full_and_says_the_total_is_a_lower_bound(concord):
    ids, who = lodge(concord, 6), subjects(concord)
    with concord.sessions() as s:
        first = search_declarations(s, who["cus-officer"], "srch", limit=1, access=concord.access)
        last = search_declarations(s, who["cus-officer"], "srch", limit=1, offset=5, access=concord.access)
    assert [i["id"] for i in first["items"]] == [ids[-1]]  # newest first
    assert first["more"] and not first["complete"] and 2 <= first["total"] < 6  # stopped: "at least"
    assert [i["id"] for i in last["items"]] == [ids[0]]
    assert not last["more"] and last["complete"] and last["total"] == 6


def test_past_its_window_the_search_finds_whole_indexed_values_only(concord):
    ids, who = lodge(concord, 4), subjects(concord)
    with concord.sessions() as s:
        whole = search_declarations(s, who["cus-officer"], "LRN-SRCH-000", limit=5, window=2, access=concord.access)
        part = search_declarations(s, who["cus-officer"], "SRCH-000", limit=5, window=2, access=concord.access)
        inside = search_declarations(s, who["cus-officer"], "SRCH-003", limit=5, window=2, access=concord.access)
    assert [i["id"] for i in whole["items"]] == [ids[0]] and not whole["complete"]
    assert part["items"] == [] and not part["complete"]  # not an indexed value, and older than the window
    assert [i["id"] for i in inside["items"]] == [ids[3]]  # within the window any part of a value matches


def test_an_indexed_value_the_view_hides_finds_nothing(concord):
    ids, who = lodge(concord, 3), subjects(concord)
    with concord.sessions() as s:  # the importer's EORI is indexed (declaration_keys) but not in plant health's view
        nppo = search_declarations(s, who["nppo-officer"], "NL823456781", limit=5, window=1, access=concord.access)
        customs = search_declarations(s, who["cus-officer"], "NL823456781", limit=5, window=1, access=concord.access)
        container = search_declarations(s, who["nppo-officer"], "MSCU1234566", limit=5, window=1, access=concord.access)
    assert nppo["items"] == [] and nppo["total"] == 0
    assert [i["id"] for i in customs["items"]] == ids[::-1]
    assert [i["id"] for i in container["items"]] == ids[::-1]  # the container is in its view


def test_the_consoles_count_stops_at_its_cap_and_both_forms_of_the_scope_agree(concord):
    lodge(concord, 6)
    who = subjects(concord)
    with concord.sessions() as s:
        capped = list_declarations(s, who["cus-officer"], limit=2, count_cap=3, access=concord.access)
        deep = list_declarations(s, who["cus-officer"], limit=2, offset=4, count_cap=3, access=concord.access)
        assert "complete" not in list_declarations(s, who["cus-officer"], access=concord.access)  # the API's
        for user, subject in who.items():
            rows = [s.scalar(select(func.count()).select_from(Declaration).where(declaration_scope(
                subject, session=s, access=concord.access, as_set=as_set))) for as_set in (False, True)]
            assert rows[0] == rows[1], user
    assert capped["total"] == 3 and not capped["complete"] and capped["more"] and len(capped["items"]) == 2
    assert deep["total"] == 6 and deep["complete"] and not deep["more"] and len(deep["items"]) == 2
